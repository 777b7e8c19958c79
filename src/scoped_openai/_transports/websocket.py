"""The WebSocket seam: one small Protocol, and an opener that picks the backend's adapter.

Everything above this seam (``_ws_pool.py``, the fake server's in-memory mode) sees only
``WebSocket``: text frames in and out, a close code when the peer closes, an ``aclose`` that
never raises (and ``KeepAlive``'s ping, where the engine needs one). The Protocol, its
constants and the helpers the engines share live in ``ws_base`` (re-exported here), so the
engines never import this module, which imports them to choose one. The engines sit beside
it, one concern each, and are the only modules that import a WebSocket library (``ENGINES``
names them):

- ``ws_sansio`` (``"websockets"``, the default on both backends): the ``websockets`` package's
  sans-IO protocol over anyio TCP/TLS streams, read in the consumer's own task; the cheapest
  per frame of the candidates measured (``benchmarks/ws_engines.py``).
- ``ws_trio`` (``"trio-websocket"``, trio only): trio-websocket, the trio-native client.
- ``ws_httpx`` (``"httpx-ws"``, asyncio only): httpx-ws over the caller's
  ``httpx.AsyncClient`` (its TLS, proxy and mount settings).
- ``ws_memory``: an in-memory pair for deterministic tests (no sockets, no time).

trio-websocket and httpx-ws run their reader in a task group the library opens *inside* its
context manager, so they cannot live in an ``@asynccontextmanager`` generator of ours (DESIGN
§3: never ``yield`` inside a task group or cancel scope). They are class-based context
managers instead:
``__aenter__`` enters the library's context manager and ``__aexit__`` exits it, in the same
task, properly nested. ``__aexit__`` also unwraps the ``ExceptionGroup`` the library's task
group may raise (``resolve_exit``), so callers never see one.

Errors are ours (``scoped_openai._errors``): a rejected handshake is the typed status error
(401 -> ``AuthenticationError``...), an unreachable host is ``APIConnectionError``, a slow
handshake is ``APITimeoutError(phase="connect")``, a close from the peer is ``WebSocketClosed``
with its code. Messages name the URL's scheme, host and path; never headers (the API key) and
never the query string (Azure accepts ``api-key`` there).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Literal

import httpx

# The seam's names live in ws_base (the engines import them from there); the layers above
# import them from here.
from .ws_base import (
    ABNORMAL_CLOSURE,
    CLOSE_TIMEOUT,
    IdleWatch,
    KeepAlive,
    WebSocket,
    WebSocketClosed,
    WebSocketConnector,
    describe_url,
    handshake_rejected,
    leaf_exceptions,
    raise_unwrapped,
)

__all__ = [
    "ABNORMAL_CLOSURE",
    "CLOSE_TIMEOUT",
    "ENGINES",
    "IdleWatch",
    "KeepAlive",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketConnector",
    "WebSocketEngine",
    "current_async_library",
    "default_connector",
    "describe_url",
    "handshake_rejected",
    "leaf_exceptions",
    "open_websocket",
    "raise_unwrapped",
]

#: The WebSocket engines ``open_websocket`` can use; ``"auto"`` is the default one.
WebSocketEngine = Literal["auto", "websockets", "trio-websocket", "httpx-ws"]
ENGINES: tuple[WebSocketEngine, ...] = ("auto", "websockets", "trio-websocket", "httpx-ws")


def open_websocket(
    url: str,
    headers: Mapping[str, str],
    *,
    client: httpx.AsyncClient | None,
    connect_timeout: float,
    engine: WebSocketEngine = "auto",
    ssl_context: ssl.SSLContext | None = None,
) -> AbstractAsyncContextManager[WebSocket]:
    """Open a client WebSocket with the chosen engine (module docstring).

    ``engine="auto"`` (and ``"websockets"``) is the sans-IO engine on both backends: its own
    TCP and TLS (``ssl_context``, default httpx's CA bundle) and the proxy the environment
    gives httpx for the URL; ``client`` is not used. ``"trio-websocket"`` (trio only) does its
    own TCP and TLS with the system's CA store; ``"httpx-ws"`` (asyncio only) goes through
    ``client`` (its TLS, proxy and limits), or a private client closed on exit when
    ``client`` is None. ``ws``/``wss`` and ``http``/``https`` URLs are both accepted.

    Entering the context performs the handshake, bounded by ``connect_timeout`` seconds in
    total; leaving it closes the socket (bounded by ``CLOSE_TIMEOUT``).

    Raises (on entering):
        APIStatusError: The server rejected the upgrade; the subclass follows the status
            (401 ``AuthenticationError``, 429 ``RateLimitError``...), with the API's error body.
        APITimeoutError: The handshake took longer than ``connect_timeout`` (phase
            ``"connect"``).
        APIConnectionError: The host could not be reached or the handshake failed.
        RuntimeError: The engine does not run on this backend, or is not installed.

    Cancellation: a cancel while entering abandons the handshake and closes whatever was
    opened; no socket leaks. Leaving the block closes the socket even while being cancelled.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown WebSocket engine {engine!r}; choose one of {ENGINES}")
    return _OpenWebSocket(url, dict(headers), client, connect_timeout, engine, ssl_context)


def default_connector(
    client: httpx.AsyncClient | None,
    connect_timeout: float,
    engine: WebSocketEngine = "auto",
    ssl_context: ssl.SSLContext | None = None,
) -> WebSocketConnector:
    """The production ``WebSocketConnector``: ``open_websocket`` with these settings bound."""
    if engine not in ENGINES:
        raise ValueError(f"unknown WebSocket engine {engine!r}; choose one of {ENGINES}")
    return _Connector(client, connect_timeout, engine, ssl_context)


class _Connector:
    """``default_connector``'s connector: one object per instance, not a closure (a function,
    a tuple and a cell per setting, each an object CPython's full collection walks)."""

    __slots__ = ("_client", "_connect_timeout", "_engine", "_ssl")

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        connect_timeout: float,
        engine: WebSocketEngine,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._client = client
        self._connect_timeout = connect_timeout
        self._engine = engine
        self._ssl = ssl_context

    def __call__(
        self, url: str, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[WebSocket]:
        return open_websocket(
            url,
            headers,
            client=self._client,
            connect_timeout=self._connect_timeout,
            engine=self._engine,
            ssl_context=self._ssl,
        )


class _OpenWebSocket:
    """Picks the engine when entered (the running backend is only known inside a task)."""

    __slots__ = ("_client", "_connect_timeout", "_engine", "_headers", "_impl", "_ssl", "_url")

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        client: httpx.AsyncClient | None,
        connect_timeout: float,
        engine: WebSocketEngine,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._url = url
        self._headers = headers
        self._client = client
        self._connect_timeout = connect_timeout
        self._engine = engine
        self._ssl = ssl_context
        self._impl: AbstractAsyncContextManager[WebSocket] | None = None

    async def __aenter__(self) -> WebSocket:
        if self._impl is not None:
            raise RuntimeError("this open_websocket() context was already entered")
        self._impl = self._choose(current_async_library())
        return await self._impl.__aenter__()

    def _choose(self, backend: str) -> AbstractAsyncContextManager[WebSocket]:
        engine = self._engine
        if engine in ("auto", "websockets"):
            from .ws_sansio import SansIOWebSocketConnection

            return SansIOWebSocketConnection(
                self._url,
                self._headers,
                connect_timeout=self._connect_timeout,
                ssl_context=self._ssl,
            )
        if engine == "trio-websocket":
            if backend != "trio":
                raise RuntimeError("the trio-websocket engine runs under trio only")
            try:
                from .ws_trio import TrioWebSocketConnection
            except ImportError as exc:
                raise RuntimeError(
                    "the trio-websocket engine needs trio-websocket: "
                    "pip install 'scoped-openai[trio]'"
                ) from exc
            return TrioWebSocketConnection(
                self._url, self._headers, connect_timeout=self._connect_timeout
            )
        if backend != "asyncio":
            raise RuntimeError("the httpx-ws engine runs under asyncio only")
        from .ws_httpx import HttpxWebSocketConnection

        return HttpxWebSocketConnection(
            self._url, self._headers, client=self._client, connect_timeout=self._connect_timeout
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._impl is not None, "__aexit__ without __aenter__"
        return await self._impl.__aexit__(exc_type, exc, tb)


def current_async_library() -> str:
    """``"trio"`` or ``"asyncio"`` (sniffio's answer; sniffio comes with trio)."""
    try:
        import sniffio
    except ImportError:  # no sniffio means no trio: asyncio is the only backend left
        return "asyncio"
    return sniffio.current_async_library()

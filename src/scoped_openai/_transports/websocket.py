"""The WebSocket seam: one small Protocol, and an opener that picks the backend's adapter.

Everything above this seam (``_ws_pool.py``, the fake server's in-memory mode) sees only
``WebSocket``: text frames in and out, a close code when the peer closes, an ``aclose`` that
never raises (and ``KeepAlive``'s ping, where the engine needs one). The engines sit beside
this module, one concern each, and are the only modules that import a WebSocket library
(``ENGINES`` names them):

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

import json
import os
import ssl
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Literal, NoReturn, Protocol, runtime_checkable
from urllib.parse import urlsplit

import anyio
import httpx

from .._errors import (
    APIConnectionError,
    APIStatusError,
    ProtocolError,
    WebSocketClosed,
    status_error,
)
from .http import ERROR_BODY_LIMIT, retry_after_seconds

__all__ = [
    "CLOSE_TIMEOUT",
    "ENGINES",
    "KeepAlive",
    "WebSocketEngine",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketConnector",
    "default_connector",
    "open_websocket",
]

#: Seconds a polite close (send our close frame, wait for the peer's) may take before the
#: adapter drops the TCP connection instead. Closing is cleanup: it must stay small.
CLOSE_TIMEOUT = 2.0

#: The WebSocket engines ``open_websocket`` can use; ``"auto"`` is the default one.
WebSocketEngine = Literal["auto", "websockets", "trio-websocket", "httpx-ws"]
ENGINES: tuple[WebSocketEngine, ...] = ("auto", "websockets", "trio-websocket", "httpx-ws")

#: The abnormal-closure code (RFC 6455 §7.4.1): the connection dropped without a close frame.
ABNORMAL_CLOSURE = 1006


@runtime_checkable
class WebSocket(Protocol):
    """A client WebSocket that speaks text frames (the Responses API's JSON events).

    Implementations: ``ws_sansio.SansIOWebSocket``, ``ws_trio.TrioWebSocket``,
    ``ws_httpx.HttpxWebSocket``, ``ws_memory.MemoryWebSocket``.
    """

    @property
    def closed(self) -> bool:
        """True once either side started closing, or the connection dropped."""
        ...

    async def send_text(self, text: str) -> None:
        """Send one text frame.

        Raises:
            WebSocketClosed: The socket is closed (by either side) or dropped.
            APIConnectionError: The network failed while sending.

        Cancellation: the frame may or may not have been written; treat the socket as
        unusable (retire it) after a cancelled send.
        """
        ...

    async def receive_text(self) -> str:
        """Wait for the next text frame and return it.

        Frames the peer sent before closing are still delivered; after them, and on every
        later call, the close is raised.

        Raises:
            WebSocketClosed: The peer closed the socket (with its code and reason), the
                connection dropped (code 1006), or we closed it.
            ProtocolError: The peer sent a binary frame (the socket stays usable).
            APIConnectionError: Another transport failure.

        Cancellation: nothing is lost; a frame not yet returned stays queued for the next call.
        """
        ...

    def receive_text_nowait(self) -> str | None:
        """A text frame that already arrived, or None when none is queued (or the adapter
        cannot tell without waiting). Never waits; a close is left for ``receive_text``.

        It lets a turn take a burst of frames in one wait instead of one wait per frame.

        Raises:
            ProtocolError: The queued frame is a binary frame (the socket stays usable).
        """
        ...

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket: send a close frame with ``code``, then drop the connection.

        Idempotent, never raises, and bounded (``CLOSE_TIMEOUT``): if the peer does not
        answer in time the connection is dropped without waiting.

        Cancellation: shielded; the close completes (within its bound) even when the caller
        is being cancelled, and the cancellation is delivered at the caller's next checkpoint.
        """
        ...


@runtime_checkable
class KeepAlive(Protocol):
    """A ``WebSocket`` that can be kept alive from outside (``_ws_pool.py`` pings an idle
    socket between turns); engines that keep themselves alive (httpx-ws) leave it out."""

    async def ping(self) -> None:
        """Keep the connection alive while idle: send a ping (or an unsolicited pong, a
        heartbeat RFC 6455 §5.5.3 allows) without waiting for an answer. A no-op on a closed
        socket and where the engine keeps itself alive.

        Cancellation: shielded and bounded like a close frame (a frame is never cut in half).
        """
        ...


#: Opens a WebSocket to ``url`` with ``headers``: the seam ``_ws_pool.py`` depends on.
#: ``default_connector`` gives the real one; tests pass one that hands out in-memory pairs.
WebSocketConnector = Callable[[str, Mapping[str, str]], AbstractAsyncContextManager[WebSocket]]


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

    def connect(url: str, headers: Mapping[str, str]) -> AbstractAsyncContextManager[WebSocket]:
        return open_websocket(
            url,
            headers,
            client=client,
            connect_timeout=connect_timeout,
            engine=engine,
            ssl_context=ssl_context,
        )

    return connect


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


# --- helpers shared by the adapters -------------------------------------------------------


def websocket_target(url: str) -> tuple[str, int, bool, str, str]:
    """``(host, port, tls, host_header, resource)`` of a ws/wss (or http/https) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss", "http", "https"):
        raise ValueError(f"a WebSocket URL must start with ws:// or wss://, not {parts.scheme}://")
    host = parts.hostname
    if not host:
        raise ValueError("the WebSocket URL has no host")
    tls = parts.scheme in ("wss", "https")
    default_port = 443 if tls else 80
    port = parts.port or default_port
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, port, tls, host_header, resource


def binary_frame_error(size: int) -> ProtocolError:
    """The error a binary message is (the Responses API sends JSON text only)."""
    return ProtocolError(
        f"the server sent a binary WebSocket frame ({size} bytes); "
        "the Responses API sends JSON text frames only"
    )


def http_url(url: str) -> str:
    """httpx routes (mounts, proxies) by ``http``/``https``: map ``ws``/``wss`` onto them."""
    if url.startswith("wss://"):
        return "https://" + url[len("wss://") :]
    if url.startswith("ws://"):
        return "http://" + url[len("ws://") :]
    return url


def describe_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no userinfo, no query (it may hold a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"


def handshake_rejected(
    status_code: int,
    headers: httpx.Headers | Iterable[tuple[bytes, bytes]],
    body: bytes | None,
    where: str,
) -> APIStatusError:
    """The typed error for a refused upgrade, built from the API's error body."""
    if not isinstance(headers, httpx.Headers):
        headers = httpx.Headers(list(headers))
    text = (body or b"")[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    try:
        parsed: object = json.loads(text)
    except ValueError:
        parsed = None
    error = status_error(
        status_code,
        parsed,
        request_id=headers.get("x-request-id"),
        retry_after=retry_after_seconds(headers),
        raw_text=text,
    )
    error.add_note(f"the WebSocket handshake with {where} was refused")
    return error


def connect_failed(exc: BaseException, where: str) -> APIConnectionError:
    """The error for a host that cannot be reached, in the same words on every engine: the
    operating system's reason (``Connection refused``, a DNS failure), not the engine's."""
    return APIConnectionError(f"the WebSocket connection to {where} failed: {_os_reason(exc)}")


def _os_reason(exc: BaseException) -> str:
    """The first operating-system error under ``exc`` (causes and groups), in words."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        errno = getattr(current, "errno", None)
        if isinstance(current, OSError) and errno is not None:
            # Positive errnos have the OS's short text; resolver errors carry their own.
            return os.strerror(errno) if errno > 0 else str(current.strerror)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return str(exc) or type(exc).__name__


def leaf_exceptions(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside ``exc`` (itself, if it is not a group)."""
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[BaseException] = []
        for inner in exc.exceptions:
            leaves.extend(leaf_exceptions(inner))
        return leaves
    return [exc]


def resolve_exit(
    raised: BaseException,
    body_exc: BaseException | None,
    map_error: Callable[[BaseException], BaseException],
) -> bool:
    """Decide what leaves an adapter's ``__aexit__`` after the library's exit raised ``raised``.

    If the library merely wrapped the block's own exception ``body_exc``, return False so it
    propagates unchanged (a cancellation stays a cancellation). Otherwise raise what
    ``raise_unwrapped`` picks. Never suppresses, never lets an ``ExceptionGroup`` out.
    """
    if body_exc is not None and any(leaf is body_exc for leaf in leaf_exceptions(raised)):
        return False
    raise_unwrapped(raised, map_error)


def raise_unwrapped(
    raised: BaseException, map_error: Callable[[BaseException], BaseException]
) -> NoReturn:
    """Raise one exception out of ``raised`` (maybe a group), mapped to ours.

    In order of precedence: a ``KeyboardInterrupt``/``SystemExit``/other non-``Exception``;
    the first error, mapped by ``map_error`` (chained to it); a cancellation.
    """
    leaves = leaf_exceptions(raised)
    cancelled = anyio.get_cancelled_exc_class()
    for leaf in leaves:
        if not isinstance(leaf, Exception | cancelled):
            raise leaf
    for leaf in leaves:
        if isinstance(leaf, Exception):
            mapped = map_error(leaf)
            if mapped is leaf:
                raise leaf
            raise mapped from leaf
    raise leaves[0]

"""The WebSocket seam: one small Protocol, and an opener that picks the backend's adapter.

Everything above this seam (``_connection.py``, the fake server's in-memory mode) sees only
``WebSocket``: text frames in and out, a close code when the peer closes, an ``aclose`` that
never raises. The adapters sit beside this module, one concern each, and are the only modules
that import a WebSocket library:

- ``ws_trio``: trio-websocket, the trio-native client (used when running under trio).
- ``ws_httpx``: httpx-ws over the caller's ``httpx.AsyncClient`` (used under asyncio).
- ``ws_memory``: an in-memory pair for deterministic tests (no sockets, no time).

Both real adapters run their reader in a task group the library opens *inside* its context
manager, so they cannot live in an ``@asynccontextmanager`` generator of ours (DESIGN §3: never
``yield`` inside a task group or cancel scope). They are class-based context managers instead:
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
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import NoReturn, Protocol, runtime_checkable
from urllib.parse import urlsplit

import anyio
import httpx

from .._errors import APIConnectionError, APIStatusError, status_error
from .http import ERROR_BODY_LIMIT, retry_after_seconds

__all__ = [
    "CLOSE_TIMEOUT",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketConnector",
    "default_connector",
    "open_websocket",
]

#: Seconds a polite close (send our close frame, wait for the peer's) may take before the
#: adapter drops the TCP connection instead. Closing is cleanup: it must stay small.
CLOSE_TIMEOUT = 2.0

#: The abnormal-closure code (RFC 6455 §7.4.1): the connection dropped without a close frame.
ABNORMAL_CLOSURE = 1006


class WebSocketClosed(APIConnectionError):
    """The WebSocket is closed: the peer closed it, it dropped, or we closed it.

    Attributes:
        code: The WebSocket close code (1000 normal, 1006 dropped without a close frame,
            1011 server error...), or None when no code is known. Unlike ``APIError.code``
            (the API's error-code string) this is the RFC 6455 integer.
        reason: The close reason the peer sent, or ``""``.
    """

    # Narrowed on purpose: for a close, the meaningful code is the WebSocket's integer one.
    code: int | None  # type: ignore[assignment]

    def __init__(self, code: int | None, reason: str = "") -> None:
        if code is None:
            detail = "no close code"
        elif reason:
            detail = f"code {code}: {reason}"
        else:
            detail = f"code {code}"
        super().__init__(f"the WebSocket closed ({detail})")
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.message  # the close code is in the message already

    def __reduce__(self) -> tuple[type[WebSocketClosed], tuple[int | None, str]]:
        return (type(self), (self.code, self.reason))


@runtime_checkable
class WebSocket(Protocol):
    """A client WebSocket that speaks text frames (the Responses API's JSON events).

    Implementations: ``ws_trio.TrioWebSocket``, ``ws_httpx.HttpxWebSocket``,
    ``ws_memory.MemoryWebSocket``.
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


#: Opens a WebSocket to ``url`` with ``headers``: the seam ``_connection.py`` depends on.
#: ``default_connector`` gives the real one; tests pass one that hands out in-memory pairs.
WebSocketConnector = Callable[[str, Mapping[str, str]], AbstractAsyncContextManager[WebSocket]]


def open_websocket(
    url: str,
    headers: Mapping[str, str],
    *,
    client: httpx.AsyncClient | None,
    connect_timeout: float,
) -> AbstractAsyncContextManager[WebSocket]:
    """Open a client WebSocket with the running backend's adapter.

    Under trio this is trio-websocket (``client`` is not used: trio-websocket does its own
    TCP and TLS); under asyncio it is httpx-ws over ``client`` (its TLS, proxy and limits), or
    over a private client that is closed on exit when ``client`` is None. ``ws``/``wss`` and
    ``http``/``https`` URLs are both accepted.

    Entering the context performs the handshake, bounded by ``connect_timeout`` seconds in
    total; leaving it closes the socket (bounded by ``CLOSE_TIMEOUT``) and the adapter's
    background reader.

    Raises (on entering):
        APIStatusError: The server rejected the upgrade; the subclass follows the status
            (401 ``AuthenticationError``, 429 ``RateLimitError``...), with the API's error body.
        APITimeoutError: The handshake took longer than ``connect_timeout`` (phase
            ``"connect"``).
        APIConnectionError: The host could not be reached or the handshake failed.

    Cancellation: a cancel while entering abandons the handshake and closes whatever was
    opened; no socket leaks. Leaving the block closes the socket even while being cancelled.
    """
    return _OpenWebSocket(url, dict(headers), client, connect_timeout)


def default_connector(
    client: httpx.AsyncClient | None, connect_timeout: float
) -> WebSocketConnector:
    """The production ``WebSocketConnector``: ``open_websocket`` bound to a client and timeout."""

    def connect(url: str, headers: Mapping[str, str]) -> AbstractAsyncContextManager[WebSocket]:
        return open_websocket(url, headers, client=client, connect_timeout=connect_timeout)

    return connect


class _OpenWebSocket:
    """Picks the adapter when entered (the running backend is only known inside a task)."""

    __slots__ = ("_client", "_connect_timeout", "_headers", "_impl", "_url")

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        client: httpx.AsyncClient | None,
        connect_timeout: float,
    ) -> None:
        self._url = url
        self._headers = headers
        self._client = client
        self._connect_timeout = connect_timeout
        self._impl: AbstractAsyncContextManager[WebSocket] | None = None

    async def __aenter__(self) -> WebSocket:
        if self._impl is not None:
            raise RuntimeError("this open_websocket() context was already entered")
        impl: AbstractAsyncContextManager[WebSocket]
        if current_async_library() == "trio":
            try:
                from .ws_trio import TrioWebSocketConnection
            except ImportError as exc:
                raise RuntimeError(
                    "WebSocket mode under trio needs trio-websocket: "
                    "pip install 'scoped-openai[trio]'"
                ) from exc
            impl = TrioWebSocketConnection(
                self._url, self._headers, connect_timeout=self._connect_timeout
            )
        else:
            from .ws_httpx import HttpxWebSocketConnection

            impl = HttpxWebSocketConnection(
                self._url,
                self._headers,
                client=self._client,
                connect_timeout=self._connect_timeout,
            )
        self._impl = impl
        return await impl.__aenter__()

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

"""What the WebSocket engines share: the seam's Protocol, its constants and helpers.

``websocket.py`` is the seam the layers above see (it re-exports these names) and the opener
that picks an engine; the engines (``ws_sansio``, ``ws_trio``, ``ws_httpx``, ``ws_memory``)
import from here, so no engine imports the module that imports it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import NoReturn, Protocol, runtime_checkable
from urllib.parse import urlsplit

import anyio
import httpx

from .._errors import APIConnectionError, APIStatusError, ProtocolError, WebSocketClosed
from .refusal import refusal_error

__all__ = [
    "ABNORMAL_CLOSURE",
    "CLOSE_TIMEOUT",
    "IdleWatch",
    "KeepAlive",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketConnector",
    "binary_frame_error",
    "check_accept",
    "connect_failed",
    "describe_url",
    "handshake_key",
    "handshake_rejected",
    "http_url",
    "leaf_exceptions",
    "raise_unwrapped",
    "resolve_exit",
    "websocket_target",
]

#: Seconds a polite close (send our close frame, wait for the peer's) may take before the
#: adapter drops the TCP connection instead. Closing is cleanup: it must stay small.
CLOSE_TIMEOUT = 2.0

#: RFC 6455 §1.3: the GUID the server appends to our key to prove it speaks WebSocket.
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

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


@runtime_checkable
class IdleWatch(Protocol):
    """A ``WebSocket`` whose arriving bytes can be watched without reading them
    (``ws_sansio`` on asyncio, plain or under TLS): between turns ``_ws_pool.py`` waits for
    bytes instead of inside a read, so a turn that starts reads the socket itself at once
    (the first frame needs no hand-over from another task, and nothing is cancelled)."""

    def watch_incoming(self, wake: Callable[[], object] | None) -> bool:
        """Call ``wake`` (from the event loop's callback, so it must not block) whenever
        bytes, the end of the stream or the connection's loss arrive, until called with
        None (True). Returns False, and watches nothing, when ``receive_text`` would not
        wait for the network now: read instead."""
        ...

    async def receive_arrived(self) -> str | None:
        """After ``watch_incoming`` said read: take in what arrived (one read, which does not
        wait when bytes are here) and return the next text message, or None when what came
        completed none (a pong, a ping answered, part of a frame), so the caller watches
        again instead of waiting inside a read. Raises as ``receive_text`` does."""
        ...


#: Opens a WebSocket to ``url`` with ``headers``: the seam ``_ws_pool.py`` depends on.
#: ``default_connector`` gives the real one; tests pass one that hands out in-memory pairs.
WebSocketConnector = Callable[[str, Mapping[str, str]], AbstractAsyncContextManager[WebSocket]]


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


def handshake_key() -> bytes:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64 (RFC 6455 §4.1)."""
    return base64.b64encode(os.urandom(16))  # what secrets.token_bytes returns; secrets and
    # hmac are not imported for it


def check_accept(accept: bytes | None, key: bytes, where: str) -> None:
    """Raise ``ProtocolError`` unless ``accept`` (the 101's ``Sec-WebSocket-Accept``) is the
    proof a WebSocket server gives for ``key`` (RFC 6455 §1.3)."""
    if accept != base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest()):
        raise ProtocolError(
            f"the server at {where} answered 101 without a valid Sec-WebSocket-Accept header"
        )


def handshake_rejected(
    status_code: int,
    headers: httpx.Headers | Iterable[tuple[bytes, bytes]],
    body: bytes | None,
    where: str,
) -> APIStatusError:
    """The error for a handshake answered with ``status_code`` instead of 101.

    A redirect or an error status is the shared refusal (``refusal.refusal_error``: never
    followed; the status's class with the API's error body); a success that is not 101 (a
    proxy's or a plain server's page) says the server does not speak WebSocket there: an
    ``APIStatusError`` with that status, which ``streaming=True`` takes as "no WebSocket
    here" and falls back on (``_ws_fallback``).
    """
    if status_code < 300:
        headers = headers if isinstance(headers, httpx.Headers) else httpx.Headers(list(headers))
        return APIStatusError(
            f"HTTP {status_code}: the WebSocket handshake with {where} was answered with "
            f"HTTP {status_code} instead of 101: the server does not speak WebSocket there",
            status_code=status_code,
            request_id=headers.get("x-request-id"),
        )
    return refusal_error(
        status_code, headers, body or b"", where=f"the WebSocket handshake with {where}"
    )


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

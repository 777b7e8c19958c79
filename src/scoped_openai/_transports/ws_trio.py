"""The trio WebSocket adapter: trio-websocket, the trio-native client.

We use trio-websocket's lower-level public API (``wrap_client_stream`` over a TCP/TLS stream
we open and own, in a nursery we own) rather than ``open_websocket_url``, because that
context manager has three flaws for a long-lived client:

- its ``connect_timeout`` fires, but its reader task stays in its nursery waiting for bytes,
  so a server that accepts TCP and never answers the upgrade hangs the caller anyway;
- after a rejection (``ConnectionRejected``) or a timeout, the TCP stream is never closed
  (a leaked socket, a ``ResourceWarning``);
- when the server closes first, its reader exits without closing the stream and
  ``aclose()`` then returns early, so that socket leaks too.

How each concern is handled here:

- **Nursery across the yield.** The reader task lives in our nursery, which stays open while
  the caller's block runs, so ``TrioWebSocketConnection`` is a class-based context manager:
  ``__aenter__`` opens the nursery, ``__aexit__`` closes it, in the same task, properly nested
  (DESIGN §3).
- **Handshake timeout.** ``trio.fail_after(connect_timeout)`` runs *inside* our nursery
  (cancel scopes must nest; one around the nursery could not be exited before it), around
  TCP connect, TLS and the upgrade. On any failure the nursery is cancelled (ending the
  reader) and the stream closed. A timeout is ``APITimeoutError(phase="connect")``.
- **Rejection.** trio-websocket raises ``ConnectionRejected(status_code, headers, body)`` from
  its reader task, which cancels the handshake; the nursery's error wins over that
  cancellation and becomes the typed status error with the API's error body. ``OSError``
  (refused, unreachable, DNS) is ``APIConnectionError``.
- **ExceptionGroup.** trio nurseries raise groups; ``__aexit__`` and the failure path pass
  them through ``websocket.resolve_exit``/``raise_unwrapped``, so none escapes.
- **Close codes.** ``ConnectionClosed.reason`` (``CloseReason(code, reason)``; 1006 when the
  TCP connection dropped) becomes ``WebSocketClosed(code, reason)``. trio-websocket records
  *our* close as code 1000 whatever we sent; the adapter reports the code we sent.
- **Close.** ``aclose`` sends the close frame and waits for the peer's, bounded by
  ``move_on_after(CLOSE_TIMEOUT, shield=True)``, then closes the stream forcefully in every
  case (which also ends the reader task).
- **Limits.** The library's defaults (a 1-message queue, 1 MiB messages) are raised: a
  ``response.completed`` event repeats the whole response and its instructions.
- **Keep-alive**: ``ping`` sends an unsolicited pong (a heartbeat, RFC 6455 §5.5.3):
  trio-websocket's own ``ping`` waits for the answer, which an idle socket cannot promise.
  Pings from the server are answered by its reader. ``client`` (httpx) is not used under trio:
  TLS uses the system's default ``ssl`` context.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import NoReturn

import trio
import trio_websocket

from .._compat import trio_websocket_queue
from .._errors import APIConnectionError, APITimeoutError, ScopedOpenAIError
from .ws_base import (
    CLOSE_TIMEOUT,
    WebSocketClosed,
    binary_frame_error,
    connect_failed,
    describe_url,
    handshake_rejected,
    raise_unwrapped,
    resolve_exit,
    websocket_target,
)

__all__ = ["TrioWebSocket", "TrioWebSocketConnection"]

#: Messages trio-websocket buffers before its reader waits for us.
MESSAGE_QUEUE_SIZE = 256
#: Largest message accepted; larger ones close the socket with 1009 (Message Too Big).
MAX_MESSAGE_SIZE = 16 * 2**20

TrioStream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds: once per process, not per socket.
    return ssl.create_default_context()


def _closed(exc: trio_websocket.ConnectionClosed) -> WebSocketClosed:
    reason = exc.reason
    if reason is None:
        return WebSocketClosed(None)
    return WebSocketClosed(reason.code, reason.reason or "")


def map_trio_websocket_error(
    exc: BaseException, where: str = "the server", connect_timeout: float | None = None
) -> BaseException:
    """Our exception for a trio-websocket or trio network failure; anything else unchanged."""
    if isinstance(exc, ScopedOpenAIError):
        return exc
    if isinstance(exc, trio_websocket.ConnectionClosed):
        return _closed(exc)
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return handshake_rejected(exc.status_code, exc.headers, exc.body, where)
    if isinstance(exc, trio.TooSlowError | trio_websocket.ConnectionTimeout):
        within = f" within {connect_timeout:g} s" if connect_timeout is not None else ""
        return APITimeoutError(
            f"the WebSocket handshake with {where} did not complete{within}",
            phase="connect",
            seconds=connect_timeout,
        )
    if isinstance(exc, trio_websocket.HandshakeError):
        return APIConnectionError(f"the WebSocket handshake with {where} failed")
    if isinstance(exc, OSError | trio.BrokenResourceError):
        return connect_failed(exc, where)
    return exc


async def _close_stream(stream: TrioStream) -> None:
    """Close ``stream`` at once, without raising (not even an outer cancellation)."""
    # aclose_forcefully() closes the socket but then re-raises a cancellation from an outer
    # scope; the shield keeps it in, and the caller's next checkpoint delivers it.
    with trio.CancelScope(shield=True):
        await trio.aclose_forcefully(stream)


class TrioWebSocket:
    """The ``WebSocket`` over one trio-websocket connection (see the module docstring)."""

    __slots__ = ("_aclosed", "_connection", "_queue", "_sent_close", "_stream")

    def __init__(self, connection: trio_websocket.WebSocketConnection, stream: TrioStream) -> None:
        self._connection = connection
        self._stream = stream
        # No public non-blocking read: without the queue, every frame is one receive_text.
        self._queue = trio_websocket_queue(connection)
        self._aclosed = False
        # The close we initiated (trio-websocket would report it as 1000 whatever we sent).
        self._sent_close: tuple[int, str] | None = None

    @property
    def closed(self) -> bool:
        """True once a close was seen or sent, or the connection dropped."""
        return self._aclosed or self._connection.closed is not None

    def _error(self, exc: trio_websocket.ConnectionClosed) -> WebSocketClosed:
        if self._sent_close is not None:
            return WebSocketClosed(*self._sent_close)
        return _closed(exc)

    async def send_text(self, text: str) -> None:
        """Send one text frame (see ``WebSocket.send_text``)."""
        try:
            await self._connection.send_message(text)
        except trio_websocket.ConnectionClosed as exc:
            raise self._error(exc) from None

    async def receive_text(self) -> str:
        """Return the next text frame (see ``WebSocket.receive_text``)."""
        try:
            message = await self._connection.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise self._error(exc) from None
        if isinstance(message, bytes):
            raise binary_frame_error(len(message))
        return message

    def receive_text_nowait(self) -> str | None:
        """A frame trio-websocket already queued, or None (see ``WebSocket``)."""
        queue = self._queue
        if queue is None:
            return None
        try:
            message = queue.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return None  # a close is reported by the next receive_text
        if isinstance(message, bytes):
            raise binary_frame_error(len(message))
        return message

    async def ping(self) -> None:
        """A heartbeat while idle: an unsolicited pong (see ``KeepAlive.ping``)."""
        if self.closed:
            return
        with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
            with contextlib.suppress(trio_websocket.ConnectionClosed):
                await self._connection.pong()

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame, wait (bounded) for the peer's, drop TCP (``WebSocket.aclose``)."""
        if self._aclosed:
            return
        self._aclosed = True
        if self._connection.closed is None:  # we initiate; else the peer's close stands
            self._sent_close = (code, reason)
        with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
            # Best effort: a failure here still ends in the forceful close below.
            with contextlib.suppress(Exception):
                await self._connection.aclose(code, reason or None)
        # trio-websocket leaves the stream open when the server closed first: close it here,
        # which also ends its reader task.
        await _close_stream(self._stream)


class TrioWebSocketConnection:
    """Async context manager: handshake on enter, bounded close on exit (module docstring)."""

    __slots__ = ("_connect_timeout", "_headers", "_nursery_cm", "_url", "_websocket", "_where")

    def __init__(self, url: str, headers: dict[str, str], *, connect_timeout: float) -> None:
        self._url = url
        self._where = describe_url(url)
        self._headers = headers
        self._connect_timeout = connect_timeout
        self._websocket: TrioWebSocket | None = None
        self._nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = None

    def _map(self, exc: BaseException) -> BaseException:
        return map_trio_websocket_error(exc, self._where, self._connect_timeout)

    async def __aenter__(self) -> TrioWebSocket:
        host, port, tls, host_header, resource = websocket_target(self._url)
        # UTF-8 cannot fail (latin-1 could, with the offending header value in the message).
        extra_headers = [
            (name.encode("utf-8"), value.encode("utf-8")) for name, value in self._headers.items()
        ]
        nursery_cm = trio.open_nursery()
        nursery = await nursery_cm.__aenter__()
        stream: TrioStream | None = None
        try:
            # Inside the nursery, so the deadline's scope nests properly.
            with trio.fail_after(self._connect_timeout):
                if tls:
                    stream = await trio.open_ssl_over_tcp_stream(
                        host, port, ssl_context=_default_ssl_context(), https_compatible=True
                    )
                else:
                    stream = await trio.open_tcp_stream(host, port)
                connection = await trio_websocket.wrap_client_stream(
                    nursery,
                    stream,
                    host_header,
                    resource,
                    extra_headers=extra_headers,
                    message_queue_size=MESSAGE_QUEUE_SIZE,
                    max_message_size=MAX_MESSAGE_SIZE,
                )
        except BaseException as exc:
            if stream is not None:
                await _close_stream(stream)
            await self._abandon(nursery_cm, nursery, exc)
        self._nursery_cm = nursery_cm
        self._websocket = TrioWebSocket(connection, stream)
        return self._websocket

    async def _abandon(
        self,
        nursery_cm: AbstractAsyncContextManager[trio.Nursery],
        nursery: trio.Nursery,
        exc: BaseException,
    ) -> NoReturn:
        """Cancel the reader, close the nursery, raise the most telling error as ours.

        A rejection is raised by the reader task (it cancels the handshake in the body), so
        the nursery's errors win over the body's: ``ConnectionRejected`` over ``Cancelled``.
        """
        nursery.cancel_scope.cancel()
        try:
            await nursery_cm.__aexit__(type(exc), exc, exc.__traceback__)
        except BaseException as raised:
            raise_unwrapped(raised, self._map)
        # The nursery absorbed ``exc`` (a cancellation, caught by its own cancelled scope);
        # re-raise it: the caller's scope is what cancelled us.
        mapped = self._map(exc)
        if mapped is exc:
            raise exc
        raise mapped from None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._nursery_cm is not None, "__aexit__ without __aenter__"
        assert self._websocket is not None
        # The socket's aclose closes the stream in every case, which ends the reader task, so
        # the nursery then exits without being cancelled.
        await self._websocket.aclose()
        try:
            suppressed = await self._nursery_cm.__aexit__(exc_type, exc, tb)
        except BaseException as raised:
            return resolve_exit(raised, exc, self._map)
        return bool(suppressed)

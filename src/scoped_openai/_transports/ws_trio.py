"""The trio WebSocket adapter: trio-websocket, the trio-native client.

How trio-websocket's quirks are handled:

- **Nursery across the yield.** ``open_websocket_url`` is an ``@asynccontextmanager`` that
  yields inside its own nursery (its reader task). ``TrioWebSocketConnection`` is therefore a
  class-based context manager: ``__aenter__`` enters the library's context manager and
  ``__aexit__`` exits it, in the same task, properly nested (DESIGN §3).
- **Handshake timeout.** An ``anyio.fail_after`` around entering would be exited while the
  library's nursery is still open, which trio forbids (cancel scopes must nest), so the bound
  is trio-websocket's own ``connect_timeout`` (it covers TCP, TLS and the upgrade) and its
  ``ConnectionTimeout`` becomes ``APITimeoutError(phase="connect")``. trio-websocket waits for
  the handshake's completion only, so a server that drops the TCP connection mid-handshake is
  also reported when ``connect_timeout`` expires.
- **Rejection.** ``ConnectionRejected(status_code, headers, body)`` becomes the typed status
  error, with the API's error body; other ``HandshakeError``/``OSError`` become
  ``APIConnectionError``.
- **ExceptionGroup.** trio-websocket already unwraps its nursery's group; ``__aexit__`` still
  passes anything it raises through ``websocket.resolve_exit`` so no group can escape.
- **Close codes.** ``ConnectionClosed.reason`` (``CloseReason(code, reason)``; 1006 when the
  TCP connection dropped) becomes ``WebSocketClosed(code, reason)``. trio-websocket records
  *our* close as code 1000 whatever we sent; the adapter reports the code we sent.
- **Close.** trio-websocket waits for the peer's close frame; ``aclose`` bounds that with
  ``move_on_after(CLOSE_TIMEOUT, shield=True)`` (on timeout the library drops TCP), so the
  library's own close on exit returns at once.
- **Limits.** The library's defaults (a 1-message queue, 1 MiB messages) are raised: a
  ``response.completed`` event repeats the whole response and its instructions.
- No keepalive pings (trio-websocket sends none); ``client`` (httpx) is not used under trio.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import NoReturn

import trio
import trio_websocket

from .._errors import APIConnectionError, APITimeoutError, ProtocolError, ScopedOpenAIError
from .websocket import (
    CLOSE_TIMEOUT,
    WebSocketClosed,
    describe_url,
    handshake_rejected,
    raise_unwrapped,
    resolve_exit,
)

__all__ = ["TrioWebSocket", "TrioWebSocketConnection"]

#: Messages trio-websocket buffers before its reader waits for us.
MESSAGE_QUEUE_SIZE = 256
#: Largest message accepted; larger ones close the socket with 1009 (Message Too Big).
MAX_MESSAGE_SIZE = 16 * 2**20


def ws_url(url: str) -> str:
    """trio-websocket takes ``ws``/``wss`` only: map ``http``/``https`` onto them."""
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    return url


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
    if isinstance(exc, trio_websocket.ConnectionTimeout | trio.TooSlowError):
        within = f" within {connect_timeout:g} s" if connect_timeout is not None else ""
        return APITimeoutError(
            f"the WebSocket handshake with {where} did not complete{within}",
            phase="connect",
            seconds=connect_timeout,
        )
    if isinstance(exc, trio_websocket.HandshakeError):
        cause = exc.__cause__
        detail = f": {cause}" if isinstance(cause, OSError) else ""
        return APIConnectionError(f"the WebSocket handshake with {where} failed{detail}")
    if isinstance(exc, OSError | trio.BrokenResourceError):
        return APIConnectionError(f"the WebSocket connection to {where} failed: {exc}")
    return exc


class TrioWebSocket:
    """The ``WebSocket`` over one trio-websocket connection (see the module docstring)."""

    __slots__ = ("_aclosed", "_connection", "_sent_close")

    def __init__(self, connection: trio_websocket.WebSocketConnection) -> None:
        self._connection = connection
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
            raise ProtocolError(
                f"the server sent a binary WebSocket frame ({len(message)} bytes); "
                "the Responses API sends JSON text frames only"
            )
        return message

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame, wait (bounded) for the peer's (see ``WebSocket.aclose``)."""
        if self._aclosed:
            return
        self._aclosed = True
        if self._connection.closed is None:  # we initiate; else the peer's close stands
            self._sent_close = (code, reason)
        with trio.move_on_after(CLOSE_TIMEOUT, shield=True):
            # Best effort: on any failure or timeout trio-websocket closes TCP regardless.
            with contextlib.suppress(Exception):
                await self._connection.aclose(code, reason or None)


class TrioWebSocketConnection:
    """Async context manager: handshake on enter, bounded close on exit (module docstring)."""

    __slots__ = ("_connect_timeout", "_headers", "_nursery_cm", "_url", "_websocket", "_where")

    def __init__(self, url: str, headers: dict[str, str], *, connect_timeout: float) -> None:
        self._url = ws_url(url)
        self._where = describe_url(url)
        self._headers = headers
        self._connect_timeout = connect_timeout
        self._websocket: TrioWebSocket | None = None
        self._nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = None

    def _map(self, exc: BaseException) -> BaseException:
        return map_trio_websocket_error(exc, self._where, self._connect_timeout)

    async def __aenter__(self) -> TrioWebSocket:
        # UTF-8 cannot fail (latin-1 could, with the offending header value in the message).
        extra_headers = [
            (name.encode("utf-8"), value.encode("utf-8")) for name, value in self._headers.items()
        ]
        nursery_cm = trio.open_nursery()
        nursery = await nursery_cm.__aenter__()
        try:
            # Inside the nursery, so the deadline's scope nests properly; the reader task the
            # library starts in ``nursery`` is cancelled below when the handshake fails.
            with trio.fail_after(self._connect_timeout):
                connection = await trio_websocket.connect_websocket_url(
                    nursery,
                    self._url,
                    extra_headers=extra_headers,
                    message_queue_size=MESSAGE_QUEUE_SIZE,
                    max_message_size=MAX_MESSAGE_SIZE,
                )
        except BaseException as exc:
            await self._abandon(nursery_cm, nursery, exc)
        self._nursery_cm = nursery_cm
        self._websocket = TrioWebSocket(connection)
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
        # The nursery absorbed ``exc`` (a cancellation of its own scope): re-raise it.
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
        # Bounded polite close; it closes the TCP stream in every case, which ends the
        # library's reader task, so the nursery then exits without being cancelled.
        await self._websocket.aclose()
        try:
            suppressed = await self._nursery_cm.__aexit__(exc_type, exc, tb)
        except BaseException as raised:
            return resolve_exit(raised, exc, self._map)
        # trio's nursery "suppresses" a Cancelled only when its own scope caught it; ours is
        # never cancelled here, so this is False in practice; pass trio's answer through.
        return bool(suppressed)

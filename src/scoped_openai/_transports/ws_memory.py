"""An in-memory WebSocket pair for deterministic tests: no sockets, no threads, no time.

``memory_websocket_pair()`` returns two connected ``MemoryWebSocket`` ends built on anyio
memory object streams, so tests run the same on asyncio and on trio's ``MockClock``. The
semantics follow a real WebSocket closely enough for the layers above the seam:

- frames are delivered in order; frames sent before a close are still received;
- ``aclose(code, reason)`` on one end makes the other end's pending or next ``receive_text``
  raise ``WebSocketClosed(code, reason)`` (after the frames already queued), and its
  ``send_text`` raise at once;
- ``abort()`` drops the "connection" without a close frame: the peer sees code 1006;
- after its own close, an end raises ``WebSocketClosed`` with the code it sent.

``MemoryConnector`` is a ``WebSocketConnector`` that makes a fresh pair per connection and
hands the server ends to whoever awaits ``accept()`` (the fake server's in-memory mode).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._errors import ProtocolError
from .ws_base import ABNORMAL_CLOSURE, WebSocketClosed

__all__ = ["MemoryConnector", "MemoryWebSocket", "memory_websocket_pair"]


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


_Frame = str | bytes | _Close


class MemoryWebSocket:
    """One end of an in-memory WebSocket pair (implements ``WebSocket``).

    Attributes:
        url: The URL the client asked for (as seen by the server end), or ``""``.
        request_headers: The handshake headers the client sent (as seen by the server end).
        sent_frames: Data frames this end sent (close frames are not counted).
        received_frames: Data frames this end received and returned (or rejected as binary).
    """

    __slots__ = (
        "_close",
        "_peer",
        "_receive",
        "_send",
        "name",
        "received_frames",
        "request_headers",
        "sent_frames",
        "url",
    )

    def __init__(
        self,
        name: str,
        send: MemoryObjectSendStream[_Frame],
        receive: MemoryObjectReceiveStream[_Frame],
    ) -> None:
        self.name = name
        self._send = send
        self._receive = receive
        self._peer: MemoryWebSocket | None = None
        # The close this end sent or received: every later send/receive raises it.
        self._close: _Close | None = None
        self.url = ""
        self.request_headers: dict[str, str] = {}
        self.sent_frames = 0
        self.received_frames = 0

    def __repr__(self) -> str:
        return f"<MemoryWebSocket {self.name} closed={self.closed}>"

    @property
    def closed(self) -> bool:
        """True once this end or its peer closed or aborted."""
        peer = self._peer
        return self._close is not None or (peer is not None and peer._close is not None)

    async def send_text(self, text: str) -> None:
        """Queue one text frame for the peer (see ``WebSocket.send_text``)."""
        await anyio.lowlevel.checkpoint()
        self._send_frame(text)

    async def send_bytes(self, data: bytes) -> None:
        """Queue one binary frame: the peer's ``receive_text`` raises ``ProtocolError``."""
        await anyio.lowlevel.checkpoint()
        self._send_frame(data)

    def _send_frame(self, frame: str | bytes) -> None:
        if self._close is not None:
            raise WebSocketClosed(self._close.code, self._close.reason)
        peer = self._peer
        if peer is not None and peer._close is not None:
            # The peer closed: a real socket refuses to send once its close frame arrived.
            raise WebSocketClosed(peer._close.code, peer._close.reason)
        try:
            self._send.send_nowait(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise WebSocketClosed(ABNORMAL_CLOSURE, "the peer went away") from None
        self.sent_frames += 1

    async def receive_text(self) -> str:
        """Return the next text frame (see ``WebSocket.receive_text``)."""
        if self._close is not None:
            await anyio.lowlevel.checkpoint()
            raise WebSocketClosed(self._close.code, self._close.reason)
        try:
            frame = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            # Only reachable if the peer vanished without its close frame (it always sends
            # one); report the abnormal closure a real socket would.
            self._close = _Close(ABNORMAL_CLOSURE, "")
            raise WebSocketClosed(ABNORMAL_CLOSURE) from None
        text = self._text(frame)
        if text is None:
            assert self._close is not None
            raise WebSocketClosed(self._close.code, self._close.reason)
        return text

    def receive_text_nowait(self) -> str | None:
        """A frame already queued, or None (see ``WebSocket.receive_text_nowait``)."""
        if self._close is not None:
            return None
        try:
            frame = self._receive.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return None
        return self._text(frame)

    def _text(self, frame: _Frame) -> str | None:
        """The text of a received frame; None for a close (recorded, the end shut)."""
        if isinstance(frame, _Close):
            self._close = frame
            self._shut()
            return None
        self.received_frames += 1
        if isinstance(frame, bytes):
            raise ProtocolError(
                f"the server sent a binary WebSocket frame ({len(frame)} bytes); "
                "the Responses API sends JSON text frames only"
            )
        return frame

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close this end; the peer sees ``WebSocketClosed(code, reason)``.

        Idempotent, never raises, never blocks (see ``WebSocket.aclose``).

        Cancellation: not a cancellation point; the close always happens.
        """
        self._close_with(_Close(code, reason))
        await anyio.lowlevel.cancel_shielded_checkpoint()

    def abort(self) -> None:
        """Drop the connection without a close frame: the peer sees code 1006."""
        self._close_with(_Close(ABNORMAL_CLOSURE, "the connection was aborted"))

    def _close_with(self, close: _Close) -> None:
        if self._close is not None:
            self._shut()
            return
        peer = self._peer
        if peer is not None and peer._close is not None:
            self._close = peer._close  # the peer closed first: its close stands
        else:
            self._close = close
            # Unbounded buffer: never WouldBlock. Closed only if the peer vanished.
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._send.send_nowait(close)
        self._shut()

    def _shut(self) -> None:
        # Closing both streams drops frames queued for us and tells the peer nothing more
        # comes; memory streams left open would warn (ResourceWarning) when collected.
        self._send.close()
        self._receive.close()

    async def __aenter__(self) -> MemoryWebSocket:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def memory_websocket_pair(
    url: str = "", headers: Mapping[str, str] | None = None
) -> tuple[MemoryWebSocket, MemoryWebSocket]:
    """Two connected in-memory WebSocket ends: ``(client, server)``.

    Args:
        url: Recorded on both ends as ``url`` (what the client asked for).
        headers: Recorded on both ends as ``request_headers`` (the client's handshake).

    Both ends buffer without limit, so ``send_text`` never waits for the peer. Close both
    ends (``aclose`` or ``async with``) when done.
    """
    to_server_send, to_server_receive = anyio.create_memory_object_stream[_Frame](math.inf)
    to_client_send, to_client_receive = anyio.create_memory_object_stream[_Frame](math.inf)
    client = MemoryWebSocket("client", to_server_send, to_client_receive)
    server = MemoryWebSocket("server", to_client_send, to_server_receive)
    client._peer = server
    server._peer = client
    for end in (client, server):
        end.url = url
        end.request_headers = dict(headers or {})
    return client, server


class MemoryConnector:
    """A ``WebSocketConnector`` whose every connection is a fresh in-memory pair.

    ``connector(url, headers)`` returns a context manager; entering it makes a pair, queues
    the server end for ``accept()`` and returns the client end; leaving it closes the client
    end (code 1000). Use ``async with MemoryConnector() as connector`` (or ``aclose()``) so
    server ends nobody accepted are closed too.

    Attributes:
        connections: How many connections were opened so far.
    """

    __slots__ = ("_accept_receive", "_accept_send", "connections")

    def __init__(self) -> None:
        self._accept_send, self._accept_receive = anyio.create_memory_object_stream[
            MemoryWebSocket
        ](math.inf)
        self.connections = 0

    def __call__(self, url: str, headers: Mapping[str, str]) -> _MemoryConnection:
        return _MemoryConnection(self, url, dict(headers))

    def _connect(self, url: str, headers: dict[str, str]) -> MemoryWebSocket:
        client, server = memory_websocket_pair(url, headers)
        try:
            self._accept_send.send_nowait(server)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            client.abort()
            server.abort()
            raise WebSocketClosed(ABNORMAL_CLOSURE, "the in-memory server is closed") from None
        self.connections += 1
        return client

    async def accept(self) -> MemoryWebSocket:
        """Wait for the next connection and return its server end.

        Cancellation: nothing is lost; the connection stays queued for the next call.
        """
        return await self._accept_receive.receive()

    async def aclose(self) -> None:
        """Stop accepting; close the server ends nobody accepted. Idempotent."""
        self._accept_send.close()
        while True:
            try:
                server = self._accept_receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            await server.aclose()
        self._accept_receive.close()

    async def __aenter__(self) -> MemoryConnector:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _MemoryConnection:
    """What ``MemoryConnector(url, headers)`` returns: connects on enter, closes on exit."""

    __slots__ = ("_connector", "_headers", "_url", "_websocket")

    def __init__(self, connector: MemoryConnector, url: str, headers: dict[str, str]) -> None:
        self._connector = connector
        self._url = url
        self._headers = headers
        self._websocket: MemoryWebSocket | None = None

    async def __aenter__(self) -> MemoryWebSocket:
        await anyio.lowlevel.checkpoint()
        self._websocket = self._connector._connect(self._url, self._headers)
        return self._websocket

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._websocket is not None:
            await self._websocket.aclose()

"""The sans-IO WebSocket engine: the ``websockets`` package's protocol over an anyio stream.

One code path on asyncio and trio, and no task of its own: bytes are read in the task that
calls ``receive_text`` (the consumer's); unfragmented text frames are decoded straight from
them (``ws_frames``), every other frame goes whole and in order to ``websockets``' sans-IO
``Protocol`` (control frames, fragments, limits, protocol errors); the text messages of that
one read are kept for ``receive_text_nowait``. So a paused consumer reads nothing: the socket
never reads ahead of it beyond one read of ``READ_SIZE`` bytes (the rest waits in the
kernel's buffer) and, on asyncio, what ``read_ahead`` lets the socket queue between two
reads (``READ_AHEAD`` bytes and what one socket read brings, at most).

- **Handshake**: TCP, proxy tunnel and TLS from ``ws_dial``; the upgrade request with our
  headers and the bounded answer from ``ws_handshake`` (typed refusals with the API's error
  body, no redirects followed); all of it under ``connect_timeout``.
- **Frames**: text messages (fragmented ones reassembled by us, the protocol bounding their
  total at ``MAX_MESSAGE_SIZE``); a binary message is a ``ProtocolError`` in its place
  (the socket stays usable); pings are answered at once; a pong, solicited or not, is
  ignored.
- **Closes**: the peer's close frame is ``WebSocketClosed(code, reason)`` after the messages
  before it; a connection lost without one is 1006; a message over the limit is a
  ``LimitExceededError`` that names it (the socket is closed with 1009); a protocol violation is a
  ``ProtocolError`` (closed with 1002).
- **Our close**: a close frame, then the peer's answer and its end of the connection, bounded
  by ``CLOSE_TIMEOUT``, then the stream is dropped in every case.
- **Keep-alive**: ``ping`` sends a ping and returns (the pong is ignored); the pool calls it
  when a socket is idle between turns.
- **Idle watch** (asyncio): ``watch_incoming`` calls back when bytes arrive, reading
  nothing, so between turns the pool waits for bytes instead of inside a read and a turn
  that starts reads the socket itself (``_ws_slot.SocketSlot``). On a plain socket and
  under TLS directly over one (``wss://``, also through a proxy's tunnel once the proxy
  answered), where input TLS already holds (a record read with the previous one) means
  read, not watch; bytes that wake the watch and hold no message (a TLS session ticket, a
  key update) leave the slot's task in a read, whose frame a turn takes over as before.
  Not where the proxy sent bytes right behind its answer (``ws_dial.BufferedStream``), nor
  on trio (nothing calls back): those sockets are read between turns.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.tls import TLSStream
from websockets.client import ClientProtocol
from websockets.exceptions import PayloadTooBig
from websockets.exceptions import ProtocolError as WebSocketsProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from .._compat import (
    asyncio_protocol_has_input,
    asyncio_socket_reader,
    asyncio_socket_receiver,
    asyncio_socket_writer,
    tls_buffered_input,
    trio_socket_writer,
)
from .._errors import APITimeoutError, LimitExceededError, ProtocolError
from .._tls import shared_tls_context
from .ws_base import (
    ABNORMAL_CLOSURE,
    CLOSE_TIMEOUT,
    WebSocketClosed,
    binary_frame_error,
    describe_url,
    websocket_target,
)
from .ws_dial import BufferedStream, dial
from .ws_frames import frame_size, masked_text_frame, simple_text_frames
from .ws_handshake import upgrade

__all__ = ["MAX_MESSAGE_SIZE", "SansIOWebSocket", "SansIOWebSocketConnection"]

#: Largest message accepted (all its fragments together): a ``response.completed`` event
#: repeats the whole response and its instructions. Larger ones close the socket with 1009.
MAX_MESSAGE_SIZE = 16 * 2**20
#: Bytes per network read: the most the socket reads ahead of a consumer that stopped.
READ_SIZE = 64 * 1024
#: asyncio: bytes anyio's socket stream may queue between two reads (``read_ahead``).
READ_AHEAD = 64 * 1024

_TEXT, _BINARY, _CONT, _CLOSE = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.CLOSE
_NETWORK_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


def _protocol_for(url: str) -> ClientProtocol:
    # OPEN: the handshake was ours (ws_handshake); the protocol only frames from here on.
    return ClientProtocol(
        parse_uri(url.replace("http", "ws", 1) if url.startswith("http") else url),
        state=State.OPEN,
        max_size=MAX_MESSAGE_SIZE,
    )


def read_ahead(
    stream: anyio.abc.ByteStream, limit: int, notify: Callable[[], None] | None = None
) -> bool:
    """On asyncio, let the socket under ``stream`` keep reading between two ``receive``
    calls while less than ``limit`` bytes wait in anyio's queue; True when it applies.
    ``notify`` is called after bytes, the end of the stream or the connection's loss
    arrive (``SansIOWebSocket.watch_incoming``).

    anyio's asyncio socket stream stops reading when a ``receive`` returns and starts again
    at the next one, taking the socket out of the event loop's selector and putting it back
    for every read: a warm turn reads its first frames in a few reads, and that churn cost
    about 0.12 ms of its time to first token on this project's 2-core machine
    (``benchmarks/bench_ws_turn_start.py``; aiohttp keeps reading, with flow control). Here
    the stream's pause is kept only once ``limit`` bytes are queued, and data arriving past
    that pauses the socket too: memory stays bounded (``limit`` and what one socket read
    brings) however long the reader pauses; a ``receive`` that waits resumes reading. Under
    TLS and the proxy's buffered stream the socket stream is found beneath. On trio a
    ``receive`` reads the socket itself (nothing queues): nothing to do. The anyio internals
    used are pinned by ``tests/transports/test_compat.py``.
    """
    while True:
        if isinstance(stream, TLSStream):
            stream = stream.transport_stream  # type: ignore[assignment]
        elif isinstance(stream, BufferedStream):
            stream = stream.inner
        else:
            break
    reader = asyncio_socket_reader(stream)
    if reader is None:
        return False
    protocol, transport, queue = reader
    hooks = _ReadAheadHooks(protocol, transport, queue, limit, notify)
    transport.pause_reading = hooks.pause_when_full
    protocol.data_received = hooks.data_received
    if notify is not None:
        protocol.eof_received = hooks.eof_received
        protocol.connection_lost = hooks.connection_lost
    if not transport.is_closing() and sum(map(len, queue)) < limit:
        transport.resume_reading()  # paused by the handshake's read
    return True


class _ReadAheadHooks:
    """``read_ahead``'s replacements for the transport's ``pause_reading`` and the
    protocol's ``data_received`` (anyio's, then ``pause_when_full``, then ``notify``) and,
    with ``notify``, ``eof_received`` and ``connection_lost`` (anyio's, then ``notify``).

    One object per socket rather than a closure per hook: every function, closure cell and
    tuple a socket holds is an object CPython's full collection walks, and a pool keeps two
    sockets per instance (1,000 sessions: 2,000 sockets)."""

    __slots__ = ("_eof", "_limit", "_lost", "_notify", "_pause", "_queue", "_received")

    def __init__(
        self,
        protocol: Any,
        transport: Any,
        queue: deque[bytes],
        limit: int,
        notify: Callable[[], None] | None,
    ) -> None:
        self._queue = queue
        self._limit = limit
        self._pause: Callable[[], None] = transport.pause_reading
        self._received: Callable[[bytes], None] = protocol.data_received
        self._notify = notify
        self._eof: Callable[[], bool | None] | None = None
        self._lost: Callable[[Exception | None], None] | None = None
        if notify is not None:
            self._eof, self._lost = protocol.eof_received, protocol.connection_lost

    def pause_when_full(self) -> None:
        if sum(map(len, self._queue)) >= self._limit:
            self._pause()

    def data_received(self, data: bytes) -> None:
        self._received(data)
        self.pause_when_full()
        notify = self._notify
        if notify is not None:
            notify()

    # The two below are installed only with ``notify`` (so ``_eof`` and ``_lost`` are set).

    def eof_received(self) -> bool | None:
        keep_open = self._eof() if self._eof is not None else None
        if self._notify is not None:
            self._notify()
        return keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is not None:
            self._lost(exc)
        if self._notify is not None:
            self._notify()


class SansIOWebSocket:
    """The ``WebSocket`` over one anyio byte stream (see the module docstring)."""

    __slots__ = (
        "_aclosed",
        "_close",
        "_direct",
        "_error",
        "_fragments",
        "_messages",
        "_owed",
        "_pending",
        "_protocol",
        "_receive",
        "_send_lock",
        "_stream",
        "_tls_input",
        "_trio_write",
        "_wake",
        "_watched",
    )

    def __init__(self, stream: anyio.abc.ByteStream, protocol: ClientProtocol) -> None:
        self._stream = stream
        self._protocol = protocol
        #: Messages of reads already done, in order: text, or the error a binary one is.
        self._messages: deque[str | ProtocolError] = deque()
        self._fragments: list[bytes] = []  # an unfinished fragmented message
        self._owed = 0  # bytes the protocol still needs to finish the frame it is parsing
        self._pending = b""  # the start of a frame header that was cut off
        self._close: tuple[int | None, str] | None = None  # seen, sent, or lost
        self._error: ProtocolError | None = None  # raised once, before the close
        self._aclosed = False
        # Taken at once when free: a yield before the write would delay every request.
        self._send_lock = anyio.Lock(fast_acquire=True)
        #: asyncio, no TLS: writes that need not wait go to the transport without anyio's
        #: checkpoints (``asyncio_socket_writer``); None: every write through ``send``.
        self._direct = asyncio_socket_writer(stream)
        #: trio, no TLS: the same, without trio's checkpoint after the write
        #: (``trio_socket_writer``); it may write part, ``send`` writes the rest.
        self._trio_write = trio_socket_writer(stream) if self._direct is None else None
        #: A network read: anyio's ``receive``, or on a plain asyncio socket the same
        #: without its reader guard and pause (``asyncio_socket_receiver``).
        receiver = asyncio_socket_receiver(stream)
        self._receive = receiver or stream.receive
        #: ``watch_incoming``'s callback, and what it watches: anyio's protocol and
        #: transport under a plain asyncio socket stream, or under TLS over one (None: this
        #: socket is not watched). Watched only where the socket stream's receiver is
        #: found: the watch reads the same names (``read_event``, ``is_at_eof``), which a
        #: newer anyio may have moved.
        self._wake: Callable[[], object] | None = None
        self._watched: tuple[Any, Any] | None = None
        #: Under TLS: whether TLS holds input no watch on the socket sees (None: plain, or
        #: a TLS stream whose buffer cannot be seen, which is then not watched).
        self._tls_input = tls_buffered_input(stream)
        beneath: anyio.abc.ByteStream = stream
        if self._tls_input is None:
            watchable = self._direct is not None and receiver is not None
        else:  # over a proxy's buffered stream (``ws_dial``): not watched
            beneath = cast(anyio.abc.ByteStream, cast(TLSStream, stream).transport_stream)
            watchable = asyncio_socket_receiver(beneath) is not None
        if watchable and read_ahead(stream, READ_AHEAD, self._notify):
            reader = asyncio_socket_reader(beneath)
            assert reader is not None  # read_ahead found it
            self._watched = reader[0], reader[1]
        else:
            read_ahead(stream, READ_AHEAD)

    @property
    def closed(self) -> bool:
        """True once a close was seen or sent, or the connection dropped."""
        return self._close is not None or self._aclosed

    def _closed_error(self) -> Exception:
        error, self._error = self._error, None
        if error is not None:
            return error
        code, reason = self._close or (None, "")
        return WebSocketClosed(code, reason)

    async def send_text(self, text: str) -> None:
        """Send one text frame (see ``WebSocket.send_text``)."""
        if self.closed:
            raise self._closed_error()
        if self._protocol.state is not State.OPEN:  # what its send_text raises InvalidState for
            raise WebSocketClosed(None, "the peer is closing the WebSocket")
        # Framed here, not by the protocol (which keeps no state for a whole data frame it
        # sends), and written at once when nothing else is being written: the turn's
        # request is on the wire sooner. Control frames keep anyio's send. A task already
        # cancelled sends nothing, as anyio's send would not: the direct writes have no
        # checkpoint of their own.
        await anyio.lowlevel.checkpoint_if_cancelled()
        rest = self._write_now(masked_text_frame(text.encode("utf-8")))
        if rest:
            await self._send(rest)
        if self._close is not None:
            raise self._closed_error()

    async def receive_text(self) -> str:
        """Return the next text message (see ``WebSocket.receive_text``)."""
        messages = self._messages
        while not messages:
            if self.closed:
                raise self._closed_error()
            await self._read()
        message = messages.popleft()
        if type(message) is str:
            return message
        raise message  # type: ignore[misc]  # a binary message's ProtocolError

    def receive_text_nowait(self) -> str | None:
        """A message an earlier read already got, or None (see ``WebSocket``)."""
        messages = self._messages
        if not messages:
            return None
        message = messages.popleft()
        if type(message) is str:
            return message
        raise message  # type: ignore[misc]

    async def receive_arrived(self) -> str | None:
        """The next text message if what arrived completes one, else None (see
        ``IdleWatch``): one read, parsed, no wait for more."""
        if not self._messages:
            if self.closed:
                raise self._closed_error()
            await self._read()
        return self.receive_text_nowait()

    def watch_incoming(self, wake: Callable[[], object] | None) -> bool:
        """Call ``wake`` whenever bytes (or the connection's end) arrive, until called with
        None; False, and nothing watched, when ``receive_text`` would not wait for the
        network now (a message, bytes or the end already here) or this socket cannot be
        watched (only asyncio's socket stream can, plain or under TLS). See ``IdleWatch``."""
        watched = self._watched
        if watched is None:
            return False
        if wake is None:
            self._wake = None
            return True
        protocol, transport = watched
        tls_input = self._tls_input
        if (
            self._messages
            or self.closed
            or asyncio_protocol_has_input(protocol)
            or transport.is_closing()
            or (tls_input is not None and tls_input())
        ):
            self._wake = None
            return False
        self._wake = wake
        return True

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None:
            wake()

    async def ping(self) -> None:
        """Send a keep-alive ping; the pong is not awaited (see ``WebSocket.ping``)."""
        if not self.closed:
            self._protocol.send_ping(b"")
            await self._flush(shield=True)

    async def _read(self) -> None:
        """One network read, parsed (see ``absorb``)."""
        try:
            data: bytes | None = await self._receive(READ_SIZE)
        except anyio.EndOfStream:
            data = None
        except _NETWORK_ERRORS:
            self._lost()
            return
        if data is not None and not self._route(data):
            return  # simple text frames only: the protocol saw nothing, owes nothing
        await self._answer(data)

    async def absorb(self, data: bytes | None) -> None:
        """Parse bytes read from the network (None: its end): keep their messages, answer
        control frames at once. Also takes the bytes that arrived right behind the 101."""
        if data is None or self._route(data):
            await self._answer(data)

    async def _answer(self, data: bytes | None) -> None:
        """After the protocol was fed ``data`` (None: the end, fed here): write what it
        queued (a pong, the answer to a close), note its failure."""
        protocol = self._protocol
        if data is None:
            if self._pending:  # part of a frame header: the protocol reports the cut
                protocol.receive_data(self._pending)
            protocol.receive_eof()
        writes = protocol.data_to_send()
        if writes:  # a pong, the answer to a close, a close after a failure
            await self._write(writes, shield=True)
        # parser_exc: pinned in tests/transports/test_compat.py.
        if protocol.parser_exc is not None and self._close is None:
            self._failed(protocol.parser_exc)

    def _route(self, data: bytes) -> bool:
        """Decode simple text frames here (``ws_frames``); hand every other frame to the
        protocol whole and in order (``_owed``: bytes it still needs to finish one), taking
        its events at once so messages keep the wire's order. True when the protocol was
        fed (it may have something to write or a failure to report: ``_answer``)."""
        protocol = self._protocol
        fed = False
        if self._pending:  # at most the 13 bytes of an unfinished header
            data, self._pending = self._pending + data, b""
        while data:
            owed = self._owed
            if owed:
                chunk, data = data[:owed], data[owed:]
                self._owed = owed - len(chunk)
                protocol.receive_data(chunk)
                fed = True
                self._take(protocol.events_received())  # type: ignore[arg-type]
                if protocol.state is not State.OPEN or protocol.parser_exc is not None:
                    return fed  # closing or failed: what follows is nobody's
                continue
            if not self._fragments:  # inside a fragmented message, all goes to the protocol
                used = simple_text_frames(data, self._messages.append)
                if used:
                    data = data[used:]
                    if not data:
                        return fed
            size = frame_size(data)
            if size is None:
                self._pending = data
                return fed
            self._owed = size
        return fed

    def _take(self, frames: list[Frame]) -> None:
        append = self._messages.append
        for frame in frames:
            opcode = frame.opcode
            if opcode is _TEXT and frame.fin:
                append(_decode(frame.data))  # type: ignore[arg-type]  # bytes here
            elif opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                self._fragment(opcode, frame.data, frame.fin)  # type: ignore[arg-type]
            elif opcode is _CLOSE:
                received = self._protocol.close_rcvd
                if self._close is None and received is not None:
                    self._close = (received.code, received.reason)
            # PING: the protocol queued the pong. PONG: nothing to do (RFC 6455 §5.5.3).

    def _fragment(self, opcode: Opcode, data: bytes, fin: bool) -> None:
        """Collect a fragmented message (the protocol bounds its total size)."""
        if opcode is not _CONT:
            self._fragments = [bytes([opcode]), data]  # the first item remembers the kind
        else:
            self._fragments.append(data)
        if not fin:
            return
        kind, *parts = self._fragments
        self._fragments = []
        if kind[0] == _TEXT:
            self._messages.append(_decode(b"".join(parts)))
        else:
            self._messages.append(binary_frame_error(sum(map(len, parts))))

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, PayloadTooBig):
            self._error = LimitExceededError(
                "the server sent a WebSocket message over the size limit; the socket was "
                "closed with 1009",
                limit="MAX_MESSAGE_SIZE",
                value=MAX_MESSAGE_SIZE,
            )
            self._close = (1009, "message too big")
        elif isinstance(exc, WebSocketsProtocolError | UnicodeDecodeError):
            self._error = ProtocolError(f"the server broke the WebSocket protocol: {exc}")
            self._close = (1002, "protocol error")
        else:  # EOFError: the connection ended without a close frame
            self._lost()

    def _lost(self) -> None:
        if self._close is None:
            self._close = (ABNORMAL_CLOSURE, "the connection was lost")

    async def _flush(self, *, shield: bool) -> None:
        """Write what the protocol queued (see ``_write``)."""
        await self._write(self._protocol.data_to_send(), shield=shield)

    async def _write(self, writes: list[bytes], *, shield: bool) -> None:
        """Write ``writes``. Control frames are written shielded (a cancel must not cut a
        frame in half); a cancelled data send leaves the socket lost."""
        data = b"".join(writes)  # an end-of-stream marker is b"": we close, not half-close
        if not data:
            return
        if not shield:
            await self._send(data)
            return
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + CLOSE_TIMEOUT
            await self._send(data)
        if scope.cancelled_caught:
            self._lost()

    def _write_now(self, data: bytes) -> bytes:
        """Write what of ``data`` can go without waiting (``asyncio_socket_writer``,
        ``trio_socket_writer``); return the rest, to go through ``_send`` (all of it for
        another engine, a write in progress, writing paused; nothing once the connection
        is lost)."""
        if self._send_lock.locked():
            return data
        try:
            direct = self._direct
            if direct is not None:
                return b"" if direct(data) else data
            trio_write = self._trio_write
            if trio_write is not None:
                return data[trio_write(data) :]
        except (RuntimeError, OSError):  # the transport is shutting down
            self._lost()
            return b""
        return data

    async def _send(self, data: bytes) -> None:
        async with self._send_lock:
            try:
                await self._stream.send(data)
            except _NETWORK_ERRORS:
                self._lost()
            except BaseException:
                self._lost()  # part of a frame may be on the wire: nothing can follow
                raise

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close frame, the peer's answer, drop the stream (see ``WebSocket.aclose``)."""
        if self._aclosed:
            return
        self._aclosed = True
        protocol = self._protocol
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            if protocol.state is State.OPEN and self._close is None:
                self._close = (code, reason)
                protocol.send_close(code, reason)
                # Written at once where it can be (as a request is): anyio's send yields a
                # loop step after the write, and a barge-in's close runs beside the next
                # turn's first token.
                rest = self._write_now(b"".join(protocol.data_to_send()))
                if rest:
                    await self._write([rest], shield=False)
            # Wait for the peer's close frame and its end of the connection (read as every
            # other read is: ``_receive``, without anyio's reader guard and pause).
            receive = self._receive
            while protocol.state is not State.CLOSED and protocol.parser_exc is None:
                try:
                    data = await receive(READ_SIZE)
                except anyio.EndOfStream:
                    break
                except _NETWORK_ERRORS:
                    break
                protocol.receive_data(data)
                protocol.events_received()  # late messages: nobody reads them any more
                await self._flush(shield=False)
        with anyio.CancelScope(shield=True):
            # The stream's own close, shielded: it never waits for the peer (TLS without
            # close_notify, then the socket). aclose_forcefully's cancel would format the
            # closing task's repr on asyncio, about 20 us per socket for nothing.
            await self._stream.aclose()


def _decode(data: bytes) -> str | ProtocolError:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ProtocolError(f"the server sent a text WebSocket message that is not UTF-8: {exc}")


class SansIOWebSocketConnection:
    """Async context manager: dial and handshake on enter, bounded close on exit.

    Args:
        url: ``ws``/``wss`` (or ``http``/``https``) URL of the WebSocket.
        headers: Headers of the upgrade request (auth, extra headers).
        connect_timeout: Seconds for TCP, proxy tunnel, TLS and the upgrade together.
        ssl_context: TLS trust for ``wss`` (default: the process's shared context, httpx's
            trust, which ``OpenAILLM`` loads without holding the event loop).
    """

    __slots__ = ("_connect_timeout", "_headers", "_ssl_context", "_url", "_websocket", "_where")

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        connect_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._url = url
        self._where = describe_url(url)
        self._headers = headers
        self._connect_timeout = connect_timeout
        self._ssl_context = ssl_context
        self._websocket: SansIOWebSocket | None = None

    async def __aenter__(self) -> SansIOWebSocket:
        if self._websocket is not None:
            raise RuntimeError("this WebSocket context was already entered")
        host, port, tls, host_header, resource = websocket_target(self._url)
        context = self._ssl_context or shared_tls_context()
        stream: anyio.abc.ByteStream | None = None
        try:
            with anyio.fail_after(self._connect_timeout):
                stream = await dial(
                    host, port, tls=tls, ssl_context=context, url=self._url, where=self._where
                )
                leftover = await upgrade(stream, host_header, resource, self._headers, self._where)
        except BaseException as exc:
            if stream is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.aclose_forcefully(stream)
            if isinstance(exc, TimeoutError):
                raise APITimeoutError(
                    f"the WebSocket handshake with {self._where} did not complete within "
                    f"{self._connect_timeout:g} s",
                    phase="connect",
                    seconds=self._connect_timeout,
                ) from None
            raise
        websocket = SansIOWebSocket(stream, _protocol_for(self._url))
        if leftover:  # frames the server sent right behind its 101
            await websocket.absorb(leftover)
        self._websocket = websocket
        return websocket

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._websocket is not None, "__aexit__ without __aenter__"
        await self._websocket.aclose()

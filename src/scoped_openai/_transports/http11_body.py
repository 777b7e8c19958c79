"""A streamed HTTP/1.1 body read straight from its connection's h11 state machine (our own
client only).

httpx hands a streamed body over through five async generators (httpx's bound stream and
response stream, httpcore's pool stream, connection stream and ``_receive_response_body``),
and httpcore opens an exception-mapping context manager around every h11 event, paid by
every client that reads a body through httpx: taken away, a Chat Completions chunk cost
our client about 2.8 µs less (13.6 -> 10.8 µs, ``bench_client.py --only cpu``, six
alternating runs, both backends). ``Http11Body.next_piece`` asks the same
``h11.Connection`` for the same events and reads the socket through the same network
stream (our ``ScopedReadStream``, whose reads open the turn's cancel scope), with none of
those layers; inside a turn's step it reads the socket under httpcore's stream itself
(``_read_socket``), in the step's one scope, with httpcore's read timeout and errors.
What it leaves is exactly what httpcore's loop leaves: after the body's end
h11 is done with the response, so closing the httpx response hands the connection back to
the pool as before; a body left mid-way (a barge-in, an error) leaves h11 mid-body, and
closing the response drops the connection as before. The rest of a body a turn stopped
reading is read, if at all, by httpx's own iterator over the same h11 state.

Errors are httpx's, as the generators would have raised them: h11's protocol errors and
httpcore's read errors become the httpx exception of the same name.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import h11
import httpcore
import httpx

from .._compat import httpcore_socket_receive
from .._deadlines import native_scope_and_clock
from .http_backend import LAST_CHUNK, ScopedReadStream

#: What httpcore reads per network read (``AsyncHTTP11Connection.READ_NUM_BYTES``).
READ_SIZE = 64 * 1024

_DATA = h11.Data
_NEED_DATA = h11.NEED_DATA


class Http11Body:
    """The pieces of one HTTP/1.1 body, read from its ``h11.Connection`` (``next_piece``).

    Args:
        state: The connection's h11 state machine, past the response's head.
        stream: The connection's network stream (ours).
        timeout: httpx's read timeout for the request (None: none).
    """

    __slots__ = ("_clock", "_errors", "_read", "_receive", "_state", "_stream", "_timeout", "ended")

    def __init__(self, state: h11.Connection, stream: ScopedReadStream, timeout: float | None):
        self._state = state
        self._stream = stream
        self._timeout = timeout
        self._clock = native_scope_and_clock()[1]
        # The socket under httpcore's stream, read in the step's one scope (``_read_socket``);
        # httpcore's ``read`` (a second scope per read) where httpcore moved it.
        direct = httpcore_socket_receive(stream.inner) if type(stream) is ScopedReadStream else None
        self._receive: Callable[[int], Awaitable[bytes]] | None = None
        self._errors: tuple[type[BaseException], ...] = ()
        if direct is not None:
            self._receive, self._errors = direct
        self._read = stream.read if direct is None else self._read_socket
        #: The body's end was read: h11 is done with the response (httpx's iterator must not
        #: read it again: it would wait for the connection's next response).
        self.ended = False

    async def next_piece(self) -> bytes:
        """The next piece of the body (as httpx would hand it over).

        Raises:
            StopAsyncIteration: The body ended.
            httpx.HTTPError: The connection failed or the server broke HTTP/1.1.

        Cancellation: as a read of httpx's iterator: the connection is left mid-body, and
        closing the response drops it.
        """
        state = self._state
        try:
            while True:
                event: Any = state.next_event()
                if type(event) is _DATA:
                    return bytes(event.data)
                if event is not _NEED_DATA:
                    # EndOfMessage (or PAUSED after it): the body is over. A server that
                    # closes mid-body is h11's RemoteProtocolError, raised above.
                    self.ended = True
                    raise StopAsyncIteration
                state.receive_data(await self._read(READ_SIZE, self._timeout))
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except httpcore.TimeoutException as exc:
            raise _httpx_error(exc, httpx.TimeoutException) from exc
        except httpcore.NetworkError as exc:
            raise _httpx_error(exc, httpx.NetworkError) from exc

    async def _read_socket(self, max_bytes: int, timeout: float | None) -> bytes:  # noqa: ASYNC109
        """httpcore's ``read`` of the socket, in the bound step's scope, which also ends at
        the read timeout: one scope per read where httpcore's ``read`` would open its own
        ``fail_after`` inside the step's and map errors through a context manager.

        Raises:
            httpcore.ReadTimeout: The read timeout passed (nothing cancelled the step).
            httpcore.ReadError: The connection broke or was closed.
            WaitEnded: The step was cancelled (a barge-in or a deadline).

        Cancellation: as ``ScopedReadStream.read``.
        """
        stream = self._stream
        wait = stream.wait
        receive = self._receive
        if wait is None or receive is None:  # no step bound: httpcore's own read, as before
            return await stream.read(max_bytes, timeout)
        read_deadline = math.inf if timeout is None else self._clock() + timeout
        try:
            data = await wait.receive(receive, max_bytes, read_deadline)
        except anyio.EndOfStream:
            data = b""  # as httpcore returns it
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except self._errors as exc:
            raise httpcore.ReadError(str(exc)) from exc
        stream.end_read = data.endswith(LAST_CHUNK) or data == LAST_CHUNK[2:]
        return data


def _httpx_error(exc: Exception, default: type[httpx.TransportError]) -> httpx.TransportError:
    """httpx's exception of the same name as httpcore's ``exc`` (httpx's own mapping)."""
    kind = getattr(httpx, type(exc).__name__, default)
    if not (isinstance(kind, type) and issubclass(kind, httpx.TransportError)):
        kind = default
    return kind(str(exc))

"""Network reads that open the turn's cancel scope themselves (our own HTTP client only).

A stream step waits under a cancel scope, the barge-in's and the deadlines' (``_stream``).
Over HTTP/1.1 a step reads one HTTP chunk through the response's byte stream, but h11 hands
most chunks over from its buffer: in the benchmark's 20,000-chunk reply only about 65 steps reach
the socket, and only those can wait. A scope per step costs about 3.6 µs (asyncio) and
7.2 µs (trio) on every chunk, so on our own client the scope moves down to where the task
can wait: httpcore's network backend is wrapped (``ScopedReadBackend``) and each socket read
made while a turn's step is bound to the connection (``ReadWait``) runs in a scope of its
own, outside httpcore's ``fail_after`` (so the scopes nest in order). A body read by
``Http11Body`` goes one step further (``ReadWait.receive``): it reads the socket under
httpcore's stream in that one scope, which also ends at the read timeout, leaving out
httpcore's own timeout scope and error-mapping context manager (a scope costs about 1.9 µs
on asyncio and 4.6 µs on trio per read).

A read by anyone else (the background drain after a complete reply, a request between
turns) finds no step bound and opens nothing. HTTP/2 bodies keep the per-step scope: turns
share the connection there, and a turn waits for its data on httpcore's read lock while
another turn's task reads for it, a wait no read of its own would put in a scope.
httpcore is not imported here (``_transports.http`` decides when it is): the wrappers only
delegate to the streams httpcore's own backend makes, with httpcore's signatures (hence
its ``timeout`` arguments). One more thing they do on the way: an HTTP/1.1 ``POST``'s head
is held until its body is written and both go out in one write (``ScopedReadStream.write``):
httpcore writes them apart, and on this project's machine the second send cost a warm
turn about 0.1 ms of CPU before its first token (a system call, httpcore's write scope,
and a server woken twice).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar

_T = TypeVar("_T")

#: A chunked body's end without trailers: the end of a chunk, the last chunk, a blank line.
LAST_CHUNK = b"\r\n0\r\n\r\n"


class ReadWatcher(Protocol):
    """Who enforces a step's deadline from outside (the turn's ``TurnDeadlines`` and its
    watchdog): told at the step's first read that reaches the socket, where the task can
    wait, rather than on every step (most are served from h11's buffer)."""

    def reading(self) -> None:
        """A read of the step is about to wait: watch its deadline until the step ends."""


class WaitEnded(BaseException):
    """A read's turn scope caught its cancel (a barge-in or a deadline).

    Raised out of the read so it leaves httpcore and httpx the way a cancellation does: a
    ``BaseException``, which httpcore answers by dropping the connection (shielded, as for a
    cancel) and which neither maps to an error. The step's ``ReadWait`` swallows it on exit,
    as a cancel scope swallows its own cancellation.
    """


class ReadWait:
    """One turn's wait as the step sees it, when its connection's reads open the scope.

    It stands in for the step's cancel scope: ``cancel()`` and ``deadline`` are what the
    stream, the barge-in and ``TurnDeadlines`` use on a scope; entering it binds the step to
    the connection's stream, leaving unbinds it and swallows ``WaitEnded``. One per body,
    armed again for every step (``arm``).

    Attributes:
        cancel_called: A barge-in or a deadline cancelled this step's wait.
        deadline: When this step's reads end (the watchdog's waits keep ``inf``).
        scope: The scope of the read waiting right now, if any.
    """

    __slots__ = ("_new_scope", "_stream", "_watcher", "cancel_called", "deadline", "scope")

    def __init__(self, stream: ScopedReadStream) -> None:
        self._stream = stream
        self._new_scope: Callable[..., Any] | None = None
        self._watcher: ReadWatcher | None = None
        self.cancel_called = False
        self.deadline = math.inf
        self.scope: Any = None

    def arm(
        self, new_scope: Callable[..., Any], deadline: float, watcher: ReadWatcher | None = None
    ) -> ReadWait:
        """Ready for the next step: reads open ``new_scope(deadline=deadline)``; the
        ``watcher``, if any, is told before the first of them."""
        self._new_scope = new_scope
        self._watcher = watcher
        self.deadline = deadline
        self.cancel_called = False
        return self

    def cancel(self) -> None:
        """Cancel the read waiting now, and every read left in this step."""
        self.cancel_called = True
        scope = self.scope
        if scope is not None:
            scope.cancel()

    def __enter__(self) -> ReadWait:
        self._stream.wait = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._stream.wait = None
        return exc_type is WaitEnded

    def _open_scope(self, deadline: float) -> Any:
        """A read's scope, ending at ``deadline``; the watcher told at the step's first.

        Raises:
            WaitEnded: The wait was cancelled already.
        """
        if self.cancel_called:
            raise WaitEnded
        assert self._new_scope is not None, "a read before arm()"
        if self._watcher is not None:
            self._watcher.reading()
            self._watcher = None  # watched until the step ends
        return self._new_scope(deadline=deadline)

    async def run(self, fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """``await fn(*args)`` in a scope this wait cancels.

        Raises:
            WaitEnded: The wait was cancelled (before or during the call).

        Cancellation: a cancel from outside (the caller's own scope) passes through.
        """
        scope = self.scope = self._open_scope(self.deadline)
        try:
            with scope:
                return await fn(*args)
        finally:
            self.scope = None
        raise WaitEnded  # reached only when the scope caught its own cancel

    async def receive(
        self,
        receive: Callable[[int], Awaitable[bytes]],
        max_bytes: int,
        read_deadline: float,
    ) -> bytes:
        """``await receive(max_bytes)`` in one scope that this wait cancels and that also
        ends at ``read_deadline`` (the read timeout, on the scope's clock): the work of
        ``run`` and of httpcore's own timeout scope in one scope.

        Raises:
            WaitEnded: The wait was cancelled, or its own deadline came first.
            TimeoutError: The read timeout came first (nothing cancelled the wait).

        Cancellation: a cancel from outside (the caller's own scope) passes through.
        """
        deadline = self.deadline
        scope = self.scope = self._open_scope(
            read_deadline if read_deadline < deadline else deadline
        )
        try:
            with scope:
                return await receive(max_bytes)
        finally:
            self.scope = None
        # Reached only when the scope caught its own cancel.
        if read_deadline < deadline and not self.cancel_called:
            raise TimeoutError
        raise WaitEnded


class ScopedReadStream:
    """An httpcore network stream whose reads run in the bound step's scope, if any.

    Attributes:
        wait: The step bound to this connection right now (None between steps).
    """

    __slots__ = ("_head", "_inner", "end_read", "wait")

    @property
    def inner(self) -> Any:
        """httpcore's own network stream under this one."""
        return self._inner

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._head: bytes | None = None  # an HTTP/1.1 POST's head, held for its body
        self.wait: ReadWait | None = None
        #: The last read ended with a chunked body's end (``LAST_CHUNK``): reading the rest
        #: of that body needs no network read (``_transports.http`` drains it inline).
        self.end_read = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        """httpcore's read; in the bound step's scope while a step is bound. A request
        head still held (``write``) is sent first.

        Cancellation: as httpcore's; a cancel of the bound step raises ``WaitEnded``.
        """
        if self._head is not None:
            await self.write(b"", timeout)
        wait = self.wait
        if wait is None:
            data: bytes = await self._inner.read(max_bytes, timeout)
        else:
            data = await wait.run(self._inner.read, max_bytes, timeout)
        self.end_read = data.endswith(LAST_CHUNK) or data == LAST_CHUNK[2:]
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """httpcore's write; an HTTP/1.1 ``POST``'s head is held and sent with what is
        written next (its body), one send instead of two.

        httpcore writes a request's head, then its body, then reads: two writes, each a
        timeout scope and a system call, and a server that wakes for the head alone. A head
        is held only until the next write or read (HTTP/2 frames never start with ``POST``).

        Cancellation: as httpcore's (a held head is dropped with the connection).
        """
        head = self._head
        if head is not None:
            self._head = None
            buffer = head + buffer
        elif buffer[:5] == b"POST " and buffer[-4:] == b"\r\n\r\n":
            self._head = buffer
            return
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        """httpcore's close (a request head still held is dropped: the request failed).

        Cancellation: as httpcore's.
        """
        self._head = None
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> ScopedReadStream:
        """The TLS stream over this one, wrapped the same way.

        Cancellation: as httpcore's.
        """
        return ScopedReadStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class ScopedReadBackend:
    """httpcore's network backend, its streams wrapped in ``ScopedReadStream``."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> ScopedReadStream:
        """httpcore's connect, wrapped.

        Cancellation: as httpcore's.
        """
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return ScopedReadStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Any = None,
    ) -> ScopedReadStream:
        """httpcore's connect, wrapped.

        Cancellation: as httpcore's.
        """
        stream = await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return ScopedReadStream(stream)

    async def sleep(self, seconds: float) -> None:
        """httpcore's sleep.

        Cancellation: as httpcore's.
        """
        await self._inner.sleep(seconds)

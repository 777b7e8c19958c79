"""A hostile HTTP server on loopback: a few lines of bytes per test, no framework.

``RawServer(handler)`` listens on ``127.0.0.1`` and runs ``handler(stream)`` for every
connection it accepts, in a task group the ``async with`` block owns: leaving the block
cancels every handler, so a server that never answers cannot outlive its test. Tests bound
themselves with ``anyio.fail_after``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

Handler = Callable[[anyio.abc.SocketStream], Awaitable[None]]

#: Bounds on what a handler reads of a request.
MAX_REQUEST = 1024 * 1024


async def read_request(stream: anyio.abc.SocketStream) -> bytes:
    """The request head and body (by Content-Length), at most ``MAX_REQUEST`` bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
        assert len(data) < MAX_REQUEST
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await stream.receive()
        assert len(body) < MAX_REQUEST
    return head + b"\r\n\r\n" + body


def sse_head() -> bytes:
    """A 200 event-stream head with a chunked body."""
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )


def chunked(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body (empty: the body's end)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class RawServer:
    """Runs ``handler`` per connection on a free loopback port until the block ends.

    Attributes:
        port: The port it listens on.
        requests: Every request head and body read by ``read_request`` through ``serve``.
        connections: Connections accepted.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._task_group: anyio.abc.TaskGroup | None = None
        self._listener: anyio.abc.SocketListener | None = None
        self.port = 0
        self.connections = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> RawServer:
        self._listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = self._listener.extra(SocketAttribute.local_port)
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._listener.serve, self._serve_one)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task_group is not None
        assert self._listener is not None
        self._task_group.cancel_scope.cancel()
        await self._task_group.__aexit__(None, None, None)
        await self._listener.aclose()

    async def _serve_one(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        async with stream:
            # The client going away is what a hostile server shrugs at.
            with contextlib.suppress(
                anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError
            ):
                await self._handler(stream)

"""The one raw server the tests script byte by byte, on real loopback sockets.

``serving(handler)`` listens on ``127.0.0.1`` (TLS with ``tls=``) and runs ``handler(stream)``
for every connection, in a task group the ``async with`` block owns: leaving the block
cancels every handler, so a server that never answers cannot outlive its test (tests bound
themselves with ``anyio.fail_after``). A client that goes away is what such a server shrugs
at. ``RawServer`` is the same listener as an object that knows its URL and counts
connections. What the handlers speak is in ``raw_http`` (HTTP/1.1 heads and chunked bodies)
and ``raw_websocket`` (RFC 6455 frames).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from anyio.streams.tls import TLSListener

Handler = Callable[[anyio.abc.ByteStream], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A listener on 127.0.0.1 (TLS with ``tls``) running ``handler`` per connection;
    yields its port."""
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener: anyio.abc.Listener[Any] = tcp
    if tls is not None:
        listener = TLSListener(tcp, tls, standard_compatible=False)

    async def handle(stream: anyio.abc.ByteStream) -> None:
        # The client went away: what the test checks happened already.
        with contextlib.suppress(
            anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError
        ):
            async with stream:
                await handler(stream)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield port
        tg.cancel_scope.cancel()


class RawServer:
    """``serving(handler)`` as an object: its port, its API base URL, connections accepted.

    Attributes:
        port: The port it listens on (once entered).
        connections: Connections accepted.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._serving: AbstractAsyncContextManager[int] | None = None
        self.port = 0
        self.connections = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _counted(self, stream: anyio.abc.ByteStream) -> None:
        self.connections += 1
        await self._handler(stream)

    async def __aenter__(self) -> RawServer:
        self._serving = serving(self._counted)
        self.port = await self._serving.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._serving is not None
        await self._serving.__aexit__(None, None, None)

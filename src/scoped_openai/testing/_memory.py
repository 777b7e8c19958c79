"""The in-memory HTTP side of the fake: an httpx transport that streams chunk by chunk.

``httpx.ASGITransport`` buffers whole bodies, so it cannot show a stream's timing; this
transport plays a ``Reply`` step by step, with a checkpoint before each chunk (as a network
read would be), so cancellation tests can stop it at any step, on trio's virtual clock too.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx

from ._answer import answer_http
from ._script import Disconnect, Live, Pause, Reply, Stall
from ._state import FakeState


class _ReplyStream(httpx.AsyncByteStream):
    # An iterator class, not an async generator: a generator abandoned mid-body would be
    # left to the garbage collector (trio warns about that) when a client barges in.
    def __init__(self, reply: Reply, fake: FakeState) -> None:
        self._steps = iter(reply.steps)
        self._live: Live | None = None  # a step that makes the body while it plays
        self._fake = fake
        self._closed = False
        fake.counters.bodies_opened += 1
        fake._connections_changed()

    def __aiter__(self) -> _ReplyStream:
        return self

    async def __anext__(self) -> bytes:
        while self._live is not None:
            made = await self._live.next_step()
            if isinstance(made, bytes):
                return made
            self._end_live()
            if isinstance(made, Disconnect):
                raise _dropped()
        for step in self._steps:
            if isinstance(step, bytes):
                await anyio.lowlevel.checkpoint()
                return step
            if isinstance(step, Live):
                self._live = step
                return await self.__anext__()
            if isinstance(step, Pause):
                await anyio.sleep(step.seconds)
            elif isinstance(step, Stall):
                await anyio.sleep_forever()
            elif isinstance(step, Disconnect):
                raise _dropped()
        raise StopAsyncIteration

    def _end_live(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.close()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._end_live()
            self._fake.counters.bodies_closed += 1
            self._fake._connections_changed()


def _dropped() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("peer closed connection without sending complete message body")


class MemoryTransport(httpx.AsyncBaseTransport):
    """Serves a ``FakeOpenAI`` to an ``httpx.AsyncClient`` without sockets."""

    def __init__(self, fake: FakeState) -> None:
        self._fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        await anyio.lowlevel.checkpoint()
        reply = answer_http(
            self._fake,
            request.method,
            request.url.path,
            dict(request.headers),
            dict(request.url.params),
            body,
        )
        return httpx.Response(
            reply.status,
            headers=reply.headers,
            stream=_ReplyStream(reply, self._fake),
            request=request,
        )

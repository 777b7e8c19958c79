"""A body whose end comes after ``[DONE]`` (a proxy that ends bodies late): the turn ends
for the caller at ``[DONE]``, and the connection still goes back to the pool when the end
comes within ``DRAIN_TIMEOUT`` (``_transports.http.StreamedBody.aclose``); a body that
never ends still has its connection dropped. On real loopback sockets, both backends;
where the timing matters, under trio's virtual clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import httpx
import pytest
import trio
import trio.testing

from scoped_openai import ChatContext, OpenAILLM
from scoped_openai._transports.http import (
    DRAIN_INLINE,
    DRAIN_TIMEOUT,
    open_stream,
    with_scoped_reads,
)
from scoped_openai.testing import DONE, chunk
from support.loopback_server import RawServer
from support.raw_http import chunked, read_request, sse_head
from support.turns import contents, turn

#: The body's end after ``[DONE]``: past ``DRAIN_INLINE``, within ``DRAIN_TIMEOUT``.
LATE = 0.05
#: Virtual times are float sums: 0.22 - 0.21 is a hair over 0.01.
EPSILON = 1e-9


def reply(text: str) -> bytes:
    """A 200 event-stream head and one chunk holding ``text`` and ``[DONE]``; no end."""
    return sse_head() + chunked(chunk({"content": text}) + DONE)


async def heard(llm: OpenAILLM, ctx: ChatContext) -> list[str]:
    items, error = await turn(llm, ctx)
    assert error is None
    return contents(items)


@pytest.mark.anyio
@pytest.mark.parametrize("scoped_reads", [True, False], ids=["scoped-reads", "plain"])
async def test_a_body_that_ends_after_the_turn_hands_its_connection_back(
    ctx: ChatContext, scoped_reads: bool
) -> None:
    # The end is sent only once the caller's turn is over, so it is late whatever the
    # machine's speed; a pool of one connection makes turn 2 wait for that connection
    # rather than open another, so no timing is involved: the old inline drain cancelled
    # its read inside httpcore, which dropped the connection.
    ended = anyio.Event()

    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        await stream.send(reply("one"))
        await ended.wait()
        await stream.send(chunked(b""))
        await read_request(stream)
        await stream.send(reply("two") + chunked(b""))

    server = RawServer(handler)
    with anyio.fail_after(10):
        limits = httpx.Limits(max_connections=1)
        async with server, httpx.AsyncClient(limits=limits) as client:
            if scoped_reads:
                with_scoped_reads(client)
            async with OpenAILLM(base_url=server.base_url, client=client) as llm:
                assert await heard(llm, ctx) == ["one"]
                ended.set()
                assert await heard(llm, ctx) == ["two"]
    assert server.connections == 1


@pytest.mark.anyio
@pytest.mark.parametrize("together", [True, False], ids=["end-with-done", "end-later"])
async def test_a_body_end_already_read_is_drained_without_a_task(together: bool) -> None:
    # Our own client notes that its last read ended with the body's end: the drain then
    # needs no network read, so it runs in place; otherwise it goes to the task group.
    ended = anyio.Event()

    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        if together:
            await stream.send(reply("hi") + chunked(b""))
        else:
            await stream.send(reply("hi"))
            await ended.wait()
            await stream.send(chunked(b""))
        await read_request(stream)
        await stream.send(b"HTTP/1.1 204 No Content\r\n\r\n")

    spawned: list[object] = []
    server = RawServer(handler)
    with anyio.fail_after(10):
        async with server, with_scoped_reads(httpx.AsyncClient()) as client:
            async with anyio.create_task_group() as tg:

                def background(fn: Callable[..., Awaitable[None]], *args: object) -> None:
                    spawned.append(fn)
                    tg.start_soon(fn, *args)

                request = client.build_request("POST", server.base_url + "/chat/completions")
                body = await open_stream(client, request, headers_timeout=None)
                read = b""
                while b"[DONE]" not in read:
                    read += await body.next_piece()
                await body.aclose(completed=True, background=background)
                ended.set()
            again = await client.post(server.base_url + "/chat/completions", timeout=None)
    assert len(spawned) == (0 if together else 1)
    assert server.connections == 1  # both ways the connection went back to the pool
    assert again.status_code == 204


def late_ending_server(late: float | None) -> RawServer:
    """Answers every request on a connection with one chunk and ``[DONE]``, then ends the
    body ``late`` seconds later (None: never)."""

    async def handler(stream: anyio.abc.SocketStream) -> None:
        while True:
            await read_request(stream)
            await stream.send(reply("hi"))
            if late is None:
                await trio.sleep_forever()
            await trio.sleep(late)
            await stream.send(chunked(b""))

    return RawServer(handler)


async def turn_ends_at_done(llm: OpenAILLM, ctx: ChatContext) -> None:
    """One turn of ``late_ending_server``: heard whole, over for the caller at most
    ``DRAIN_INLINE`` after ``[DONE]`` whenever the body ends."""
    start = trio.current_time()
    assert await heard(llm, ctx) == ["hi"]
    assert trio.current_time() - start <= DRAIN_INLINE + EPSILON


@pytest.mark.trio
async def test_turns_whose_body_ends_late_share_one_connection(
    autojump_clock: trio.testing.MockClock, ctx: ChatContext
) -> None:
    server = late_ending_server(LATE)
    async with server, OpenAILLM(base_url=server.base_url) as llm:
        for _ in range(3):
            await turn_ends_at_done(llm, ctx)  # not LATE after [DONE]
            await trio.sleep(0.2)  # the agent speaks the reply
    assert server.connections == 1


@pytest.mark.trio
async def test_a_body_that_never_ends_has_its_connection_dropped_after_the_bound(
    autojump_clock: trio.testing.MockClock, ctx: ChatContext
) -> None:
    server = late_ending_server(None)
    async with server, OpenAILLM(base_url=server.base_url) as llm:
        await turn_ends_at_done(llm, ctx)
        await trio.sleep(DRAIN_TIMEOUT + 0.1)
        await turn_ends_at_done(llm, ctx)  # on a new connection
        assert server.connections == 2
        left = trio.current_time()
    # Leaving waits for turn 2's drain, bounded by DRAIN_TIMEOUT.
    assert trio.current_time() - left <= DRAIN_TIMEOUT + EPSILON

"""A barge-in ends the consumer's loop before the cancelled turn is released.

In an ``async with llm.chat(ctx)`` block the release (closing the HTTP body, retiring the
socket, the turn's metrics) is left to the block's exit, which follows the loop at once:
the loop's end does not wait for it. Nothing is lost by that:

- the block's exit releases the turn, and a bare loop, which has no exit to leave it to,
  is released before its loop ends, as before;
- ``aclose()`` from another task, and the next turn from another task, release a turn whose
  loop ended while its block still runs the caller's code, at once (``_turn_owner`` rule e);
- over our own HTTP/1.1 client the socket httpcore dropped as the barge-in unwound its read
  is closed by that release (``ReadWait.close_dropped``), on real loopback sockets.

In-memory transports and trio's virtual clock where timing matters ("at once": at the same
virtual instant); the ``fail_after`` bounds only turn a regression into a failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import pytest
import trio
import trio.testing

from scoped_openai import ChatContext, ChatStream, OpenAILLM
from scoped_openai.testing import Stall, chunk
from support.consumer import Consumer
from support.loopback_server import RawServer
from support.paths import OnPath
from support.raw_http import chunked, read_request, sse_head
from support.turns import turn_text

NO_GUARDS: dict[str, Any] = {"idle_timeout": None, "first_token_timeout": None}
HANG = 5.0
FIRST = chunk({"role": "assistant", "content": "a"})


def turn_held(path: OnPath) -> bool:
    """Whether the first turn still holds its HTTP body or its socket (number 1)."""
    if path.path.transport == "http":
        return path.fake.counters.open_bodies == 1
    return 1 in path.tracker.open_sockets()


class BlockAfterLoop:
    """A consumer whose ``async with`` block goes on after its loop: it records what the
    loop's end left held, then waits for ``leave`` before the block exits."""

    def __init__(self, llm: OpenAILLM, ctx: ChatContext, path: OnPath) -> None:
        self.llm, self.ctx, self.path = llm, ctx, path
        self.first = anyio.Event()
        self.loop_ended = anyio.Event()
        self.leave = anyio.Event()
        self.stream: ChatStream | None = None
        self.held_at_loop_end: bool | None = None

    async def run(self) -> None:
        async with self.llm.chat(self.ctx) as stream:
            self.stream = stream
            async for _ in stream:
                self.first.set()
            self.held_at_loop_end = turn_held(self.path) and stream.metrics is None
            self.loop_ended.set()
            await self.leave.wait()


async def barge_in_while_waiting(
    llm: OpenAILLM, tg: Any, run: Callable[[], Awaitable[None]], first: anyio.Event
) -> None:
    """Start the consumer ``run`` in ``tg``; once it heard its first item and waits on the
    silent server, barge in."""
    tg.start_soon(run)
    await first.wait()
    await anyio.wait_all_tasks_blocked()
    await llm.cancel_current_generation()


@pytest.mark.anyio
async def test_the_block_exit_releases_what_the_barge_in_left(
    path: OnPath, ctx: ChatContext
) -> None:
    path.add_text(["one ", "two "], then=[Stall()])
    async with path.llm(**NO_GUARDS) as llm:
        consumer = BlockAfterLoop(llm, ctx, path)
        with anyio.fail_after(HANG):
            async with anyio.create_task_group() as tg:
                await barge_in_while_waiting(llm, tg, consumer.run, consumer.first)
                await consumer.loop_ended.wait()
                assert consumer.held_at_loop_end is True  # the loop did not wait for it
                consumer.leave.set()
        assert consumer.stream is not None
        assert consumer.stream.cancelled is True
        assert consumer.stream.metrics is not None
        assert consumer.stream.metrics.cancelled is True
        await path.assert_cancelled_turn_released()
        await path.next_turn_after_barge_in(llm, ctx)
    path.assert_all_closed()


@pytest.mark.anyio
async def test_a_bare_loop_is_released_before_its_loop_ends(path: OnPath, ctx: ChatContext) -> None:
    path.add_text(["one ", "two "], then=[Stall()])
    async with path.llm(**NO_GUARDS) as llm:
        consumer = Consumer(llm, ctx, bare=True)
        with anyio.fail_after(HANG):
            async with anyio.create_task_group() as tg:
                await barge_in_while_waiting(llm, tg, consumer.run, consumer.first)
                await consumer.ended.wait()
        assert consumer.stream is not None
        assert consumer.stream.metrics is not None  # reported at the release
        if path.path.transport == "http":
            assert path.fake.counters.open_bodies == 0
        await path.next_turn_after_barge_in(llm, ctx)
    path.assert_all_closed()


@contextlib.asynccontextmanager
async def barged_in_block_held(
    path: OnPath, ctx: ChatContext
) -> AsyncIterator[tuple[OpenAILLM, ChatStream]]:
    """An llm whose first turn a barge-in ended while the consumer's ``async with`` block
    still runs (until this block ends), and that turn's stream."""
    path.add_text(["one ", "two "], then=[Stall()])
    with trio.fail_after(HANG):
        async with path.llm(**NO_GUARDS) as llm, trio.open_nursery() as nursery:
            consumer = BlockAfterLoop(llm, ctx, path)
            await barge_in_while_waiting(llm, nursery, consumer.run, consumer.first)
            await consumer.loop_ended.wait()
            assert consumer.held_at_loop_end is True
            assert consumer.stream is not None
            yield llm, consumer.stream
            consumer.leave.set()


@pytest.mark.trio
async def test_aclose_from_another_task_releases_it_at_once(
    autojump_clock: trio.testing.MockClock, path: OnPath, ctx: ChatContext
) -> None:
    async with barged_in_block_held(path, ctx) as (_, stream):
        asked_at = trio.current_time()
        await stream.aclose()
        assert trio.current_time() == asked_at  # not CLEANUP_TIMEOUT: it released itself
        assert stream.metrics is not None
        await path.assert_cancelled_turn_released()


@pytest.mark.trio
async def test_the_next_turn_from_another_task_does_not_wait_for_the_block(
    autojump_clock: trio.testing.MockClock, path: OnPath, ctx: ChatContext
) -> None:
    # Over a WebSocket the next turn needs the lease: a turn whose loop a barge-in ended is
    # released by that turn (rule e), not waited for until its block exits.
    async with barged_in_block_held(path, ctx) as (llm, stream):
        path.add_text("second")
        asked_at = trio.current_time()
        assert await turn_text(llm, ctx) == "second"
        assert trio.current_time() == asked_at
        assert stream.metrics is not None
    path.assert_all_closed()


@pytest.mark.trio
async def test_the_metrics_end_at_the_loop_end_not_at_the_block_exit(
    autojump_clock: trio.testing.MockClock, path: OnPath, ctx: ChatContext
) -> None:
    # The release waits for the block's exit, but the turn ended with its loop: the
    # caller's own work in the block after the loop is not the turn's duration.
    started_at = trio.current_time()
    async with barged_in_block_held(path, ctx) as (_, stream):
        loop_ended_at = trio.current_time()
        await trio.sleep(1.0)  # the caller's block goes on (virtual time)
    assert stream.metrics is not None
    assert stream.metrics.cancelled is True
    assert stream.metrics.duration <= loop_ended_at - started_at


@pytest.mark.anyio
async def test_over_our_client_the_dropped_socket_closes_at_the_block_exit(
    ctx: ChatContext,
) -> None:
    """The barge-in unwinds the read through httpcore, which drops the connection; its
    socket is closed by the turn's release, at the block's exit, and the server sees it."""
    stall = anyio.Event()
    closed = anyio.Event()

    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        await stream.send(sse_head() + chunked(FIRST))
        try:
            while await stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            closed.set()
        await stall.wait()

    server = RawServer(handler)
    with anyio.fail_after(10):
        async with server, OpenAILLM(base_url=server.base_url, **NO_GUARDS) as llm:
            first, loop_ended, leave = anyio.Event(), anyio.Event(), anyio.Event()
            seen: list[bool] = []

            async def consume() -> None:
                async with llm.chat(ctx) as stream:
                    async for _ in stream:
                        first.set()
                    await anyio.wait_all_tasks_blocked()
                    seen.append(closed.is_set())
                    seen.append(stream._reads is not None and stream._reads.dropped is not None)
                    loop_ended.set()
                    await leave.wait()

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await first.wait()
                await anyio.wait_all_tasks_blocked()  # the consumer waits in its socket read
                await llm.cancel_current_generation()
                await loop_ended.wait()
                leave.set()
            await closed.wait()
            stall.set()
    assert seen == [False, True]  # at the loop's end: dropped by httpcore, not yet closed
    assert server.connections == 1

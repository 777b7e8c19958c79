"""A turn left unfinished is released without the garbage collector.

A bare ``async for ... break`` leaves its stream to whoever still references it; a reference
cycle (an exception's traceback holding the stream's frames, say) keeps it alive until the
cyclic collector runs. Its WebSocket lease and its HTTP response must not wait for that:
the next turn in the same task, a turn in another task once the first task ended, a
barge-in or ``aclose()`` releases them (``_turn_owner``'s rules). Every test here runs with
the collector disabled and keeps the left stream alive in a cycle, so nothing but those
rules can release it; in-memory transports, no sleeps (the ``fail_after`` bounds only turn
a regression into a failure instead of a hang).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from scoped_openai import ChatContext, ChatStream, OpenAILLM
from scoped_openai._ws_pool import RECLAIM_CHECK_INTERVAL
from scoped_openai.testing import CloseSocket, FakeOpenAI, Stall, WSReply
from support.paths import OnPath
from support.turns import turn_text

NO_GUARDS: dict[str, Any] = {"idle_timeout": None, "first_token_timeout": None}
HANG = 5.0  # a regression would wait forever (no guards): fail instead


@pytest.fixture(autouse=True)
def no_collector() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def keep_in_a_cycle(stream: ChatStream) -> None:
    """Keep ``stream`` alive the way a traceback would: in a cycle only the collector frees."""
    cycle: list[Any] = [stream]
    cycle.append(cycle)


async def leave_after_one_item(llm: OpenAILLM, ctx: ChatContext) -> None:
    """The reference's style, left by ``break``; the stream survives in a cycle."""
    stream = llm.chat(ctx)
    async for _ in stream:
        break
    keep_in_a_cycle(stream)


def script_left_then_second(path: OnPath) -> None:
    path.add(path.text(["a ", "b "], then=[Stall()]), path.text("second"))


@pytest.mark.anyio
async def test_a_left_turn_is_released_by_the_next_turn_of_the_same_task(
    path: OnPath, ctx: ChatContext
) -> None:
    script_left_then_second(path)
    async with path.llm(**NO_GUARDS) as llm:
        await leave_after_one_item(llm, ctx)
        with anyio.fail_after(HANG):
            assert await turn_text(llm, ctx) == "second"
        await path.assert_cancelled_turn_released()  # WebSocket: retired, like a barge-in's
    path.assert_all_closed()


@pytest.mark.anyio
async def test_a_left_turn_is_released_once_its_task_has_ended(
    path: OnPath, ctx: ChatContext
) -> None:
    script_left_then_second(path)
    async with path.llm(**NO_GUARDS) as llm:
        async with anyio.create_task_group() as tg:
            tg.start_soon(leave_after_one_item, llm, ctx)
        heard: list[str] = []

        async def next_turn() -> None:
            heard.append(await turn_text(llm, ctx))

        with anyio.fail_after(HANG):
            async with anyio.create_task_group() as tg:
                tg.start_soon(next_turn)
        assert heard == ["second"]
        await path.assert_cancelled_turn_released()
    path.assert_all_closed()


@pytest.mark.anyio
async def test_a_newer_turn_of_the_same_task_supersedes_a_live_stream(
    path: OnPath, ctx: ChatContext
) -> None:
    # One task reads one reply at a time: asking for a new turn ends the one it left, like
    # a barge-in, even while the old stream is still referenced.
    script_left_then_second(path)
    async with path.llm(**NO_GUARDS) as llm:
        old = llm.chat(ctx)
        assert (await old.__anext__()).content == "a "
        with anyio.fail_after(HANG):
            assert await turn_text(llm, ctx) == "second"
        assert old.cancelled is True
        assert [item.content async for item in old] == []
        await path.assert_cancelled_turn_released()
    path.assert_all_closed()


@pytest.mark.anyio
async def test_a_left_turn_is_released_by_a_barge_in(path: OnPath, ctx: ChatContext) -> None:
    path.add(path.text(["a ", "b "], then=[Stall()]))
    async with path.llm(**NO_GUARDS) as llm:
        async with anyio.create_task_group() as tg:
            tg.start_soon(leave_after_one_item, llm, ctx)  # a task that has ended since
        await llm.cancel_current_generation()
        await path.assert_cancelled_turn_released()
    path.assert_all_closed()


@pytest.mark.anyio
async def test_a_left_turn_of_a_live_task_is_released_by_aclose(
    path: OnPath, ctx: ChatContext
) -> None:
    path.add(path.text(["a ", "b "], then=[Stall()]))
    async with path.llm(**NO_GUARDS) as llm:
        await leave_after_one_item(llm, ctx)  # this task goes on: only aclose() may take it
    path.assert_all_closed()


# -- WebSocket only: one response in flight per socket ----------------------------------------


@pytest.mark.trio
async def test_ws_a_turn_waiting_in_another_task_goes_when_the_owner_task_ends(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    make_ws_llm: Callable[..., OpenAILLM],
    ctx: ChatContext,
) -> None:
    # The second turn asks while the first task is alive (its turn may go on), so it waits;
    # nothing announces that the first task ended: the wait looks again, so the turn goes
    # within RECLAIM_CHECK_INTERVAL of the end instead of never.
    fake.add_ws(WSReply.text(["a ", "b "], then=[Stall()]), WSReply.text("second"))
    first_left = trio.Event()
    release_owner = trio.Event()
    heard: list[str] = []

    async def owner() -> None:
        await leave_after_one_item(llm, ctx)
        first_left.set()
        await release_owner.wait()  # alive: the left turn is still this task's

    async def next_turn() -> None:
        heard.append(await turn_text(llm, ctx))

    async with make_ws_llm(**NO_GUARDS) as llm:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(owner)
            await first_left.wait()
            nursery.start_soon(next_turn)
            await trio.sleep(10 * RECLAIM_CHECK_INTERVAL)  # virtual time
            assert heard == []  # one response in flight per socket: it waits
            ended_at = trio.current_time()
            release_owner.set()
        assert heard == ["second"]
        assert trio.current_time() - ended_at <= RECLAIM_CHECK_INTERVAL
    assert fake.ws_open == 0


@pytest.mark.anyio
async def test_ws_a_left_turn_after_a_resend_does_not_block_the_next_turn(
    fake: FakeOpenAI, make_ws_llm: Callable[..., OpenAILLM], ctx: ChatContext
) -> None:
    # A resend on a fresh socket (the first closed before any output) raised and caught a
    # WebSocketClosed inside the turn: its traceback is the cycle that used to hold the
    # stream, and with it the socket, until the collector ran.
    fake.add_ws(
        WSReply([CloseSocket(1011, "overloaded")]),
        WSReply.text(["a", "b"], then=[Stall()]),
        WSReply.text("second"),
    )
    async with make_ws_llm(**NO_GUARDS) as llm:
        async for _ in llm.chat(ctx):
            break
        with anyio.fail_after(HANG):
            assert await turn_text(llm, ctx) == "second"
    assert fake.ws_open == 0


@pytest.mark.anyio
async def test_streams_dropped_unread_leave_bounded_bookkeeping_and_a_barge_in_still_works(
    path: OnPath, ctx: ChatContext
) -> None:
    """A stream made and dropped without being read (no request sent) is freed at once; the
    llm's weak references to such streams are swept, so they stay bounded however many
    there were, and a barge-in still reaches the stream being read."""
    path.add(path.text(["a ", "b "], then=[Stall()]))
    async with path.llm(**NO_GUARDS) as llm:
        for _ in range(500):
            llm.chat(ctx)  # dropped at once: its reference dies with it
        assert len(llm._streams) <= 32  # the sweep's bound, not 500
        items: list[str] = []
        async with llm.chat(ctx) as stream:
            async for item in stream:
                items.append(item.content)
                await llm.cancel_current_generation()
        assert items == ["a "]
        assert stream.cancelled
        await path.assert_cancelled_turn_released()
    path.assert_all_closed()

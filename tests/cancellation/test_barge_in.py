"""Barge-in on every path: ``cancel_current_generation()``, the consumer's own scope and
``ChatStream.aclose()`` end the reply at once, nothing arrives after them, and the next turn
hears exactly its own reply.

What a path does with the cancelled turn is checked by the path (``support.paths``): HTTP
closes the body; the WebSocket retires the socket (closed in the background) and the next
turn goes out on the warm spare, never sending ``response.cancel``. Path-specific barge-ins
(a hanging request, retry backoff; handshakes, the chain, the spare) are in
``test_http_barge_in.py`` and ``test_ws_barge_in.py``.

Cross-backend tests coordinate with events and ``anyio.wait_all_tasks_blocked()``; timing
tests run on trio's virtual clock, where "at once" means "at the same virtual instant" (had
anything waited for the network or a timer, the autojump clock would have moved).
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
import trio
import trio.testing

from scoped_openai import ChatContext
from scoped_openai.testing import FakeOpenAI, Pause, Stall
from support.consumer import Consumer
from support.paths import OnPath

NO_GUARDS: dict[str, Any] = {"idle_timeout": None, "first_token_timeout": None}


# -- cross-backend --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_from_another_task_while_the_server_is_silent(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception]
) -> None:
    path.add_text(["one ", "two "], then=[Stall()])
    async with path.llm(**NO_GUARDS) as llm:
        consumer = Consumer(llm, ctx)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consumer.run)
                await consumer.first.wait()
                await anyio.wait_all_tasks_blocked()  # the consumer waits on the silent server
                assert consumer.heard == ["one ", "two "]
                await llm.cancel_current_generation()
                await consumer.ended.wait()
        assert consumer.error is None
        assert consumer.heard == ["one ", "two "]
        assert consumer.stream is not None
        assert consumer.stream.cancelled is True
        await path.assert_cancelled_turn_released()
        assert errors == []
        await path.next_turn_after_barge_in(llm, ctx)
    path.assert_all_closed()


@pytest.mark.anyio
@pytest.mark.parametrize("bare", [False, True], ids=["async-with", "bare"])
async def test_cancel_before_the_first_item_is_not_lost(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception], bare: bool
) -> None:
    path.add(path.silent())
    async with path.llm(**NO_GUARDS) as llm:
        consumer = Consumer(llm, ctx, bare=bare)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consumer.run)
                await anyio.wait_all_tasks_blocked()
                assert len(path.requests()) == 1
                if path.transport == "http":
                    assert fake.counters.open_bodies == 1  # headers came, the body waits
                await llm.cancel_current_generation()
                await consumer.ended.wait()
        assert consumer.error is None
        assert consumer.heard == []
        assert consumer.stream is not None
        assert consumer.stream.cancelled is True
        await path.assert_cancelled_turn_released()
        assert errors == []
        await path.next_turn_after_barge_in(llm, ctx)


@pytest.mark.anyio
async def test_barge_in_from_the_consumer_between_items(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    path.add_text("one two three four five six", chunk_size=4)
    heard: list[str] = []
    async with path.llm() as llm:
        async with llm.chat(ctx) as stream:
            async for item in stream:
                heard.append(item.content)
                if len(heard) == 2:
                    await llm.cancel_current_generation()
        assert heard == ["one ", "two "]
        assert stream.cancelled is True
        await path.assert_cancelled_turn_released()
        await path.next_turn_after_barge_in(llm, ctx)


@pytest.mark.anyio
@pytest.mark.parametrize("bare", [False, True], ids=["async-with", "bare"])
async def test_cancelling_the_consumer_scope_while_it_waits(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception], bare: bool
) -> None:
    path.add_text(["a"], then=[Stall()])
    async with path.llm(**NO_GUARDS) as llm:
        consumer = Consumer(llm, ctx, bare=bare)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consumer.run)
                await consumer.first.wait()
                await anyio.wait_all_tasks_blocked()
                consumer.scope.cancel()
                await consumer.ended.wait()
        assert consumer.scope.cancelled_caught is True  # the cancellation propagated
        assert consumer.error is None
        assert consumer.heard == ["a"]
        await path.assert_cancelled_turn_released()
        assert errors == []  # a cancellation is not an error
        await path.next_turn_after_barge_in(llm, ctx)


@pytest.mark.anyio
async def test_cancelling_the_consumer_scope_in_the_loop_body(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception]
) -> None:
    # The usual voice-agent barge-in: the task speaking the reply is cancelled while it is
    # busy with an item (e.g. awaiting TTS), not while it waits for the next one. (The bare
    # form, left this way on HTTP, is in test_http_barge_in.py.)
    path.add_text(["a", "b"], then=[Stall()])
    async with path.llm(**NO_GUARDS) as llm:
        reached = False
        with anyio.CancelScope() as scope:
            async with llm.chat(ctx) as stream:
                async for _ in stream:
                    scope.cancel()
                    await anyio.lowlevel.checkpoint()
                    reached = True
        assert scope.cancelled_caught is True
        assert reached is False
        await path.assert_cancelled_turn_released()
        assert errors == []
        await path.next_turn_after_barge_in(llm, ctx)


@pytest.mark.anyio
async def test_stream_aclose_from_another_task_ends_the_iteration(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception]
) -> None:
    # ChatStream.aclose() "stops the stream": a consumer waiting on a silent server must
    # end at once, cleanly, like a barge-in (not hang until a stall guard fires).
    path.add_text(["a"], then=[Stall()])
    async with path.llm(**NO_GUARDS) as llm:
        consumer = Consumer(llm, ctx)
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consumer.run)
                await consumer.first.wait()
                await anyio.wait_all_tasks_blocked()
                assert consumer.stream is not None
                await consumer.stream.aclose()
                await consumer.ended.wait()
        assert consumer.error is None
        assert consumer.heard == ["a"]
        assert consumer.stream.cancelled is True
        await path.assert_cancelled_turn_released()
        assert errors == []
        await path.next_turn_after_barge_in(llm, ctx)


# -- trio's virtual clock -------------------------------------------------------------------


@pytest.mark.trio
async def test_barge_in_before_the_first_chunk_on_the_virtual_clock(
    autojump_clock: trio.testing.MockClock, path: OnPath, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    reply = path.text("late")
    reply.steps.insert(0, Pause(5.0))  # the model thinks for 5 s
    path.add(reply)
    async with path.llm() as llm:
        consumer = Consumer(llm, ctx)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.run)
            await trio.sleep(1.0)
            assert len(path.requests()) == 1
            await llm.cancel_current_generation()
        assert consumer.ended_at == start + 1.0
        assert consumer.heard == []
        assert consumer.stream is not None
        assert consumer.stream.cancelled is True
        await path.assert_cancelled_turn_released()
        await path.next_turn_after_barge_in(llm, ctx)
        assert trio.current_time() == start + 1.0

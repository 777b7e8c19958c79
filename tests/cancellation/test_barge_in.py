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

from scoped_openai import ChatContext, ChatRole
from scoped_openai.testing import (
    DONE,
    FakeOpenAI,
    Pause,
    Reply,
    Stall,
    WSReply,
    chunk,
    usage_chunk,
)
from support.consumer import Consumer
from support.paths import OnPath, Scripted
from support.turns import turn_text
from support.wire_items import msg

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


def burst(path: OnPath, pieces: list[str]) -> Scripted:
    """A reply whose events all arrive together: on HTTP in one network read, on a
    WebSocket as frames all due at once (a burst in the socket's buffer)."""
    if path.path.api != "chat":
        return WSReply.text(pieces)
    body = [chunk({"role": "assistant", "content": ""})]
    body += [chunk({"content": piece}) for piece in pieces]
    body += [chunk({}, finish_reason="stop"), usage_chunk(3, 3), DONE]
    return Reply.raw(b"".join(body))


@pytest.mark.anyio
async def test_barge_in_drops_items_that_arrived_in_the_same_read(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    # Several events at once (normal on a real socket): the consumer hears the first,
    # barges in, and must hear nothing more.
    path.add(burst(path, ["one ", "two ", "three"]))
    heard: list[str] = []
    async with path.llm() as llm:
        await llm.prewarm()
        await anyio.wait_all_tasks_blocked()
        async with llm.chat(ctx) as stream:
            async for item in stream:
                heard.append(item.content)
                await llm.cancel_current_generation()
        assert heard == ["one "]
        assert stream.cancelled is True
        await path.assert_cancelled_turn_released()
        await path.next_turn_after_barge_in(llm, ctx)


@pytest.mark.anyio
async def test_cancel_after_chat_but_before_iterating(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception]
) -> None:
    path.add_text("Hello.")
    async with path.llm() as llm:
        assert await turn_text(llm, ctx) == "Hello."
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "And?")
        stream = llm.chat(ctx)
        await llm.cancel_current_generation()
        assert [item async for item in stream] == []
        assert stream.cancelled is True
        assert len(path.requests()) == 1  # nothing was sent for a reply nobody wants
        path.add_text("More.")
        assert await turn_text(llm, ctx) == "More."
    if path.transport == "ws":
        # Nothing was streaming on the socket: it stays, and so does the chain.
        assert path.tracker.create_sockets == [1, 1]
        assert path.requests()[1]["previous_response_id"] == "resp_fake_1"
    assert errors == []
    path.assert_all_closed()


@pytest.mark.anyio
async def test_cancel_when_nothing_is_streaming_changes_nothing(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception]
) -> None:
    path.add_text("Hello.")
    path.add_text("Fine.")
    async with path.llm() as llm:
        await llm.cancel_current_generation()
        async with llm.chat(ctx) as stream:
            assert [item.content async for item in stream] == ["Hell", "o.", ""]
        await llm.cancel_current_generation()
        assert stream.cancelled is False  # a finished stream is not cancelled after the fact
        if path.transport == "ws":
            await anyio.wait_all_tasks_blocked()
            assert path.tracker.open_sockets() == [1, 2]  # no socket retired
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "How are you?")
        async with llm.chat(ctx) as stream:
            assert [item.content async for item in stream] == ["Fine", ".", ""]
    if path.transport == "ws":
        assert path.tracker.create_sockets == [1, 1]
        second = path.requests()[1]
        assert second["previous_response_id"] == "resp_fake_1"  # the chain is intact
        assert second["input"] == [msg("user", "How are you?")]
        assert len(fake.ws_handshakes) == 2
    assert errors == []
    path.assert_all_closed()


@pytest.mark.anyio
async def test_aclose_from_another_task_ends_the_stream_and_closes_everything(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception]
) -> None:
    path.add_text(["a"], then=[Stall()])
    async with path.llm(**NO_GUARDS) as llm:
        consumer = Consumer(llm, ctx)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consumer.run)
                await consumer.first.wait()
                await anyio.wait_all_tasks_blocked()
                await llm.aclose()
                await consumer.ended.wait()
        assert (consumer.error, consumer.heard) == (None, ["a"])
        await anyio.wait_all_tasks_blocked()
        path.assert_all_closed()
        await llm.aclose()  # idempotent
    path.assert_all_closed()
    assert [f for f in fake.ws_frames if f["type"] != "response.create"] == []
    assert errors == []


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

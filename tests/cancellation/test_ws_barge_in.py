"""Barge-in on the WebSocket path only: the spare, handshakes, ``aclose()`` and the chain
after a barge-in. What every path does is in ``test_barge_in.py``.

The socket that carried a cancelled response is retired (closed in the background) and the
next turn goes out on the warm spare: it never waits for a drain or a handshake, and no event
of the cancelled response can reach it. Our client never sends ``response.cancel`` (it is not
a documented event), whatever the server would do with one (``fake.on_cancel``).

Cross-backend tests coordinate with events and ``anyio.wait_all_tasks_blocked()``; timing
tests run on trio's virtual clock, where "at once" means "at the same virtual instant" (had
anything waited for the network or a timer, the autojump clock would have moved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import trio
import trio.testing

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai._ws_pool import WebSocketPool
from scoped_openai.testing import FakeOpenAI, Stall, WSReply
from support.consumer import Consumer
from support.paths import WS, OnPath
from support.sockets import SocketTracker
from support.turns import turn, turn_text
from support.wire_items import msg

MakeLLM = Callable[..., OpenAILLM]
NO_GUARDS: dict[str, Any] = {"idle_timeout": None, "first_token_timeout": None}
TWENTY = [f"w{n:02d} " for n in range(20)]  # 20 chunks: "w00 ", "w01 ", ...


SYSTEM = msg("system", "You are terse.")
USER1 = msg("user", "Say hello.")


def creates(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [frame for frame in fake.ws_frames if frame["type"] == "response.create"]


def no_cancel_frames(fake: FakeOpenAI) -> bool:
    return [f for f in fake.ws_frames if f["type"] != "response.create"] == []


@pytest.fixture
def ws(fake: FakeOpenAI, ws_tracker: SocketTracker, errors: list[Exception]) -> OnPath:
    """The WebSocket path on ``fake``, for its checks after a barge-in."""
    return OnPath(WS, fake, ws_tracker, errors)


# -- cross-backend --------------------------------------------------------------------------


@pytest.mark.trio
async def test_a_bare_loop_left_by_break_does_not_block_the_next_turn(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
) -> None:
    # The reference's form, left early. The next turn must not wait behind the abandoned
    # stream (which holds the socket's lease) until its first-token deadline.
    fake.add_ws(WSReply.text(["a", "b"], then=[Stall()]), WSReply.text("second"))
    async with make_ws_llm(first_token_timeout=30.0) as llm:
        async for _ in llm.chat(ctx):
            break
        start = trio.current_time()
        items: list[str] = []
        error: BaseException | None = None
        try:
            async with llm.chat(ctx) as stream:
                items = [item.content async for item in stream]
        except Exception as exc:
            error = exc
        assert (error, "".join(items)) == (None, "second")
        assert trio.current_time() == start
    assert ws_tracker.create_sockets[0] == 1
    assert ws_tracker.create_sockets[1] != 1


@pytest.mark.anyio
async def test_a_barge_in_also_ends_a_turn_waiting_for_the_gate(
    fake: FakeOpenAI, make_ws_llm: MakeLLM, ws: OnPath, errors: list[Exception]
) -> None:
    fake.add_ws(WSReply.text(["a"], then=[Stall()]), WSReply.text("never sent"))
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    async with make_ws_llm(**NO_GUARDS) as llm:
        first, second = Consumer(llm, ctx), Consumer(llm, ctx)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(first.run)
                await first.first.wait()
                tg.start_soon(second.run)
                await anyio.wait_all_tasks_blocked()
                await llm.cancel_current_generation()
        assert (first.heard, second.heard) == (["a"], [])
        assert (first.error, second.error) == (None, None)
        assert len(creates(fake)) == 1  # the waiting turn never sent its create
        fake.ws_replies.clear()
        await ws.next_turn_after_barge_in(llm, ctx)
    assert errors == []


# -- the chain after a barge-in -------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
async def test_the_chain_after_a_barge_in(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    store: bool,
) -> None:
    fake.add_ws(
        WSReply.text("Hello."),
        WSReply.text(["one ", "two ", "three ", "four"], then=[Stall()]),
        WSReply.text("Sure."),
    )
    async with make_ws_llm(store=store, **NO_GUARDS) as llm:
        assert await turn_text(llm, ctx) == "Hello."
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "Count.")
        heard: list[str] = []
        async with llm.chat(ctx) as stream:
            async for item in stream:
                heard.append(item.content)
                if len(heard) == 2:
                    await llm.cancel_current_generation()
        assert heard == ["one ", "two "]
        ctx.add_message(ChatRole.ASSISTANT, "one two ")  # what was actually spoken
        ctx.add_message(ChatRole.USER, "Stop.")
        assert await turn_text(llm, ctx) == "Sure."
    _first, interrupted, after = creates(fake)
    assert interrupted["previous_response_id"] == "resp_fake_1"
    assert interrupted["input"] == [msg("user", "Count.")]
    assert ws_tracker.create_sockets == [1, 1, 2]
    if store:
        # The last COMPLETED response, plus every item after it, the spoken text included.
        assert after["previous_response_id"] == "resp_fake_1"
        assert after["input"] == [
            msg("user", "Count."),
            msg("assistant", "one two "),
            msg("user", "Stop."),
        ]
    else:
        assert "previous_response_id" not in after
        assert after["input"] == [
            SYSTEM,
            USER1,
            msg("assistant", "Hello."),
            msg("user", "Count."),
            msg("assistant", "one two "),
            msg("user", "Stop."),
        ]
    assert errors == []


@pytest.mark.anyio
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
async def test_a_barge_in_on_the_last_item_costs_no_extra_round_trip(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    store: bool,
) -> None:
    # The user barges in while the last item (the usage) is being handled: the whole reply
    # was heard. Whatever the client decides about that socket and the chain, the next turn
    # must go out once and be answered (no create refused with previous_response_not_found).
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Fine."))
    async with make_ws_llm(store=store) as llm:
        heard: list[str] = []
        async with llm.chat(ctx) as stream:
            async for item in stream:
                heard.append(item.content)
                if item.usage is not None and item.usage["total_tokens"] and item.content == "":
                    await llm.cancel_current_generation()
        assert "".join(heard) == "Hello."
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "How are you?")
        assert await turn_text(llm, ctx) == "Fine."
    assert len(creates(fake)) == 2
    assert errors == []


# -- trio's virtual clock -------------------------------------------------------------------


@pytest.mark.trio
@pytest.mark.parametrize("on_cancel", ["ignore", "error", "stop"])
async def test_barge_in_on_a_server_that_keeps_streaming(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    on_cancel: str,
) -> None:
    fake.on_cancel = on_cancel  # type: ignore[assignment]
    fake.add_ws(WSReply.text(TWENTY, delay=0.5))  # 10 s of streaming
    # Generous guards: if the barge-in waited for them, the clock would jump to them.
    async with make_ws_llm(idle_timeout=1000.0, first_token_timeout=1000.0) as llm:
        await llm.prewarm()
        await trio.sleep(1.0)  # the spare is open
        assert len(fake.ws_handshakes) == 2
        consumer = Consumer(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.run)
            await trio.sleep(1.75)  # three chunks heard (0.5, 1.0, 1.5 s)
            assert consumer.heard == TWENTY[:3]
            # The replacement spare opens at the barge-in; a slow handshake there would
            # show on the next turn if it were on its critical path.
            fake.ws_handshake_delay = 5.0
            cancelled_at = trio.current_time()
            await llm.cancel_current_generation()
            assert trio.current_time() == cancelled_at  # the call itself returns at once
            await consumer.ended.wait()
        assert consumer.ended_at == cancelled_at
        assert consumer.heard == TWENTY[:3]
        assert consumer.error is None
        assert consumer.stream is not None
        assert consumer.stream.cancelled is True
        # The next turn, at the same instant: on the spare, no handshake, no drain.
        fake.add_ws(WSReply.text("next answer"))
        heard: list[tuple[float, str]] = []
        async with llm.chat(ctx) as stream:
            async for item in stream:
                heard.append((trio.current_time() - cancelled_at, item.content))
        assert heard == [(0.0, "next"), (0.0, " ans"), (0.0, "wer"), (0.0, "")]
        assert len(fake.ws_handshakes) == 2  # the replacement spare is still connecting
        assert ws_tracker.create_sockets == [1, 2]
        await trio.sleep(20.0)  # the old reply would have ended by now
        assert 1 not in ws_tracker.open_sockets()
        assert ws_tracker.open_sockets() == [2, 3]
    assert no_cancel_frames(fake)  # our client never sends response.cancel
    assert [f["type"] for f in fake.ws_frames] == ["response.create", "response.create"]
    assert errors == []
    assert fake.ws_open == 0


@pytest.mark.trio
async def test_cancel_during_the_handshake_returns_at_once(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.ws_handshake_delay = 1000.0
    fake.add_ws(WSReply.text("never"))
    async with make_ws_llm() as llm:
        consumer = Consumer(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.run)
            await trio.sleep(1.0)
            cancelled_at = trio.current_time()
            await llm.cancel_current_generation()
            assert trio.current_time() == cancelled_at
        assert consumer.ended_at == cancelled_at
        assert (consumer.heard, consumer.error) == ([], None)
        assert fake.ws_frames == []
        closing_from = trio.current_time()
    assert trio.current_time() == closing_from  # leaving the block does not wait either
    assert fake.ws_open == 0  # no half-open socket
    assert fake.ws_handshakes == []


@pytest.mark.trio
async def test_aclose_during_the_handshake_returns_at_once(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.ws_handshake_delay = 1000.0
    llm = make_ws_llm()
    async with llm:
        consumer = Consumer(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.run)
            await trio.sleep(1.0)
            closed_at = trio.current_time()
            await llm.aclose()
            assert trio.current_time() == closed_at
        assert consumer.ended_at == closed_at
        assert (consumer.heard, consumer.error) == ([], None)
    assert trio.current_time() == closed_at
    assert fake.ws_open == 0
    assert fake.ws_handshakes == []


@pytest.mark.trio
async def test_a_cancelled_prewarm_leaves_no_half_open_socket(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, make_ws_llm: MakeLLM
) -> None:
    fake.ws_handshake_delay = 1000.0
    async with make_ws_llm() as llm:
        start = trio.current_time()
        with trio.move_on_after(1.0) as scope:
            await llm.prewarm(instructions="You are terse.")
        assert scope.cancelled_caught is True
        assert trio.current_time() == start + 1.0
        closing_from = trio.current_time()
    assert trio.current_time() == closing_from
    assert fake.ws_open == 0
    assert fake.ws_frames == []


@pytest.mark.trio
async def test_a_handshake_abandoned_by_a_cancelled_prewarm_serves_the_first_turn(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
) -> None:
    fake.ws_handshake_delay = 2.0
    fake.add_ws(WSReply.text("ok"))
    async with make_ws_llm() as llm:
        start = trio.current_time()
        with trio.move_on_after(1.0):
            await llm.prewarm()
        async with llm.chat(ctx) as stream:
            heard = [item.content async for item in stream]
        assert heard == ["ok", ""]
        assert trio.current_time() == start + 2.0  # the same handshake, finished in its task
        await trio.sleep(10.0)
        assert len(fake.ws_handshakes) == 2
    assert ws_tracker.create_sockets == [1]
    assert fake.ws_open == 0


@pytest.mark.trio
async def test_repeated_barge_ins_each_take_a_warm_spare(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    # A barge-in every 2.75 s, handshakes take 1 s: every turn finds a warm spare.
    fake.ws_handshake_delay = 1.0
    fake.ws_default = lambda request: WSReply.text(TWENTY, delay=0.5)
    async with make_ws_llm() as llm:
        await llm.prewarm()
        await trio.sleep(5.0)
        first_items: list[float] = []
        for _ in range(5):
            started = trio.current_time()
            consumer = Consumer(llm, ctx)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(consumer.run)
                await consumer.first.wait()
                first_items.append(trio.current_time() - started)
                await trio.sleep(2.25)  # between the 5th chunk (2.5 s) and the 6th (3 s)
                await llm.cancel_current_generation()
            assert consumer.heard == TWENTY[:5]
        assert first_items == [0.5] * 5  # the first chunk's own delay, never a handshake
        assert ws_tracker.create_sockets == [1, 2, 3, 4, 5]
        await trio.sleep(10.0)
        # The last barge-in retired socket 5, promoted the spare (6) for the next turn and
        # opened that turn's spare (7) at once, in the gap between turns.
        assert ws_tracker.open_sockets() == [6, 7]
    assert no_cancel_frames(fake)
    assert errors == []


class _SlowClose:
    """A connector whose sockets take ``CLOSE_RTT`` to close, as a real server's answer to
    the close frame is a round trip away (the fake's in-memory close is immediate)."""

    CLOSE_RTT = 0.2

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, url: str, headers: Any) -> Any:
        return _SlowCloseConnection(self._inner(url, headers))


class _SlowCloseConnection:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def __aenter__(self) -> Any:
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> Any:
        await trio.sleep(_SlowClose.CLOSE_RTT)
        return await self._inner.__aexit__(*exc_info)


async def _prewarmed_pool(llm: OpenAILLM) -> WebSocketPool:
    """``llm``'s pool once its socket and spare are open."""
    await llm.prewarm()
    await trio.sleep(1.0)
    pool = llm._pool
    assert pool is not None
    return pool


async def _barge_in_then_next_turn(llm: OpenAILLM, ctx: ChatContext) -> tuple[float, Consumer]:
    """A turn barged in on at its first item; the time of that barge-in and the next
    turn's consumer, for the caller to start at once."""
    first = Consumer(llm, ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(first.run)
        await first.first.wait()
        await llm.cancel_current_generation()
    return trio.current_time(), Consumer(llm, ctx)


@pytest.mark.trio
async def test_the_spare_a_barge_in_took_is_replaced_at_the_next_turns_first_output(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The turn that starts right after a barge-in runs on the promoted spare, and no
    handshake runs beside its request: the replacement spare opens at its first output
    (here before ``SPARE_DEFER_LIMIT``, made longer than the model's 0.1 s to think).
    A barge-in on that turn then still finds the replacement ready for the turn after."""
    monkeypatch.setattr("scoped_openai._ws_pool.SPARE_DEFER_LIMIT", 0.5)
    fake.ws_handshake_delay = 0.01
    fake.ws_default = lambda request: WSReply.text(TWENTY, delay=0.1)
    async with make_ws_llm(ws_connector=_SlowClose(ws_tracker)) as llm:
        pool = await _prewarmed_pool(llm)
        assert pool.sockets_opened == 2  # the socket and its spare
        for turn_number in range(4):
            consumer = Consumer(llm, ctx)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(consumer.run)
                if turn_number > 0:
                    # Started at once after the barge-in: its request is out, its first
                    # item (0.1 s) is due, the interrupted socket is still closing (0.2 s).
                    await trio.sleep(0.05)
                    assert pool.sockets_opened == 2 + turn_number - 1
                await consumer.first.wait()
                assert pool.sockets_opened == 2 + turn_number  # opened with the first item
                await trio.sleep(0.15)  # between the 2nd chunk (0.2 s) and the 3rd (0.3 s)
                await llm.cancel_current_generation()
            assert consumer.heard == TWENTY[:2]
        # Every turn went on a socket that was open before it started.
        assert ws_tracker.create_sockets == [1, 2, 3, 4]
    assert no_cancel_frames(fake)
    assert errors == []


@pytest.mark.trio
async def test_a_thinking_model_gets_the_deferred_spare_opened_soon_after_the_barge_in(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    """When the turn after a barge-in has no output yet, the deferred spare opens
    ``SPARE_DEFER_LIMIT`` after the barge-in, not at that first output, and not later for
    an interrupted socket that is slow to close."""
    from scoped_openai._ws_pool import SPARE_DEFER_LIMIT

    fake.ws_handshake_delay = 0.01
    fake.ws_default = lambda request: WSReply.text(TWENTY, delay=0.5)
    async with make_ws_llm(ws_connector=_SlowClose(ws_tracker)) as llm:
        pool = await _prewarmed_pool(llm)
        barged_in, second = await _barge_in_then_next_turn(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(second.run)
            await trio.sleep_until(barged_in + SPARE_DEFER_LIMIT / 2)
            assert pool.sockets_opened == 2  # within the limit
            await trio.sleep_until(barged_in + SPARE_DEFER_LIMIT)
            await trio.testing.wait_all_tasks_blocked()
            assert pool.sockets_opened == 3  # the limit passed: opened before the output
            assert trio.current_time() - barged_in < _SlowClose.CLOSE_RTT  # still closing
            assert not second.first.is_set()
            await second.first.wait()
            await llm.cancel_current_generation()
        assert pool.sockets_opened == 3
    assert errors == []


@pytest.mark.trio
async def test_a_second_barge_in_while_the_model_thinks_finds_a_spare_despite_a_slow_close(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Barge in at a turn's first item, start the next turn at once and barge in on it
    while the model still thinks, start a third at once: its first item comes after the
    model's thinking alone, with no handshake waited for, even when the interrupted
    socket takes a second to close (the deferral counts from the barge-in)."""
    monkeypatch.setattr(_SlowClose, "CLOSE_RTT", 1.0)
    fake.ws_handshake_delay = 0.3
    fake.ws_default = lambda request: WSReply.text(TWENTY, delay=2.0)  # a thinking model
    async with make_ws_llm(ws_connector=_SlowClose(ws_tracker), first_token_timeout=None) as llm:
        await _prewarmed_pool(llm)
        _, second = await _barge_in_then_next_turn(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(second.run)
            await trio.sleep(0.5)
            await llm.cancel_current_generation()
        assert second.heard == []
        third = Consumer(llm, ctx)
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(third.run)
            await third.first.wait()
            assert trio.current_time() - started == pytest.approx(2.0)
            await llm.cancel_current_generation()
    assert errors == []


@pytest.mark.trio
async def test_a_turn_ended_before_its_first_output_opens_the_spare_a_barge_in_deferred(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second barge-in before the next turn's first output (and, here, before a longer
    ``SPARE_DEFER_LIMIT``) opens the deferred spare as that turn ends: the turn after it,
    once the user has spoken, waits for no handshake."""
    monkeypatch.setattr("scoped_openai._ws_pool.SPARE_DEFER_LIMIT", 0.5)
    fake.ws_handshake_delay = 0.1
    fake.ws_default = lambda request: WSReply.text(TWENTY, delay=0.5)
    async with make_ws_llm(ws_connector=_SlowClose(ws_tracker)) as llm:
        pool = await _prewarmed_pool(llm)
        _, second = await _barge_in_then_next_turn(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(second.run)
            await trio.sleep(0.1)  # before its first item, the old socket still closing
            assert pool.sockets_opened == 2  # deferred
            await llm.cancel_current_generation()
        assert second.heard == []
        assert pool.sockets_opened == 3  # opened as that turn ended
        await trio.sleep(0.2)  # the user speaks
        started = trio.current_time()
        items, error = await turn(llm, ctx)
        assert error is None
        assert items[0].content == TWENTY[0]
        assert trio.current_time() - started == pytest.approx(10.0)  # 20 chunks, no handshake
        assert ws_tracker.create_sockets == [1, 2, 3]
    assert errors == []


class _SpawnRecorder(trio.abc.Instrument):
    """Names the tasks trio starts while ``recording``."""

    def __init__(self) -> None:
        self.recording = False
        self.spawned: list[str] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        if self.recording:
            self.spawned.append(task.name)


@pytest.mark.trio
async def test_nothing_starts_between_a_barge_in_and_the_next_turns_first_item(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From the barge-in to the first item of the turn started at once after it, no task
    starts: the deferred spare's deadline is kept by the pool's own background task, and
    the replacement spare's task (its handshake) starts once that first item has reached
    the consumer, at its next read. The interrupted socket is closed by its own task,
    woken, not cancelled, and politely (its close frame sent and answered). (Here the
    first item comes before a longer ``SPARE_DEFER_LIMIT``.)"""
    monkeypatch.setattr("scoped_openai._ws_pool.SPARE_DEFER_LIMIT", 0.5)
    fake.ws_default = lambda request: WSReply.text(TWENTY, delay=0.1)
    recorder = _SpawnRecorder()
    trio.lowlevel.add_instrument(recorder)
    try:
        # The interrupted socket still closing at the first item, as over a network.
        async with make_ws_llm(ws_connector=_SlowClose(ws_tracker)) as llm:
            pool = await _prewarmed_pool(llm)
            interrupted = pool._active
            assert interrupted is not None
            first = Consumer(llm, ctx)
            opened_at_first_item: list[int] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(first.run)
                await first.first.wait()
                recorder.recording = True
                await llm.cancel_current_generation()
            assert not interrupted._read_scope.cancel_called  # woken, not cancelled
            heard: list[str] = []
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    if not opened_at_first_item:
                        recorder.recording = False
                        opened_at_first_item.append(pool.sockets_opened)
                    heard.append(item.content)
            assert "".join(heard) == "".join(TWENTY)
            assert recorder.spawned == []
            assert opened_at_first_item == [2]  # the socket and its spare, nothing yet
            assert pool.sockets_opened == 3  # the replacement, after that first item
            await trio.sleep(_SlowClose.CLOSE_RTT)
            assert interrupted.dead
            server_side = interrupted.ws.inner.server  # type: ignore[union-attr]
            assert (server_side.close_code, server_side.closed_by_server) == (1000, False)
    finally:
        trio.lowlevel.remove_instrument(recorder)
    assert errors == []


@pytest.mark.trio
async def test_a_barge_in_right_after_the_deferred_spare_opened_gets_its_own_deadline(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    """Two barge-ins, each at the first item of the turn started at once after the one
    before: the first one's spare opens after the second turn's first item; the second
    one's (with a third turn still thinking) ``SPARE_DEFER_LIMIT`` after that barge-in."""
    from scoped_openai._ws_pool import SPARE_DEFER_LIMIT

    replies = iter([0.1, 0.1, 0.5])
    fake.ws_default = lambda request: WSReply.text(TWENTY, delay=next(replies))
    async with make_ws_llm(ws_connector=_SlowClose(ws_tracker)) as llm:
        pool = await _prewarmed_pool(llm)
        _, second = await _barge_in_then_next_turn(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(second.run)
            await second.first.wait()
            await llm.cancel_current_generation()  # its spare opened as it read on
        barged_in = trio.current_time()
        assert pool.sockets_opened == 3
        third = Consumer(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(third.run)
            await trio.sleep_until(barged_in + SPARE_DEFER_LIMIT / 2)
            assert pool.sockets_opened == 3  # deferred again
            await trio.sleep_until(barged_in + SPARE_DEFER_LIMIT)
            await trio.testing.wait_all_tasks_blocked()
            assert pool.sockets_opened == 4  # the limit passed, the model still thinking
            assert not third.first.is_set()
            await third.first.wait()
            await llm.cancel_current_generation()
        assert pool.sockets_opened == 4
    assert errors == []

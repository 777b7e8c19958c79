"""``TurnMetrics``: once per turn (completed, cancelled, failed) on ``stream.metrics`` and
to ``llm.on("metrics")``; timings checked exactly on trio's virtual clock, the rest on both
backends and both paths."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from scoped_openai import ChatContext, InternalServerError, OpenAILLM, TurnMetrics
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

MakeLLM = Callable[..., OpenAILLM]
PIECES = ["one ", "two ", "three ", "four "]


def listen(llm: OpenAILLM) -> list[TurnMetrics]:
    seen: list[TurnMetrics] = []
    llm.on("metrics", seen.append)
    return seen


@pytest.mark.trio
async def test_a_completed_turn_on_the_virtual_clock(
    autojump_clock: object, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add(Reply.text(PIECES, delay=0.25, usage=(40, 8)))
    async with fake.llm() as llm:
        seen = listen(llm)
        async with llm.chat(ctx) as stream:
            items = [item async for item in stream]
    assert "".join(item.content for item in items) == "one two three four "
    assert seen == [stream.metrics]
    (metrics,) = seen
    assert metrics.ttft == pytest.approx(0.25)  # the first piece came after one pause
    assert metrics.duration == pytest.approx(1.0)  # four pauses
    assert metrics.tokens_per_second == pytest.approx(8.0)
    assert (metrics.prompt_tokens, metrics.completion_tokens, metrics.total_tokens) == (40, 8, 48)
    assert metrics.prompt_cached_tokens == 0
    assert metrics.cancelled is False
    assert metrics.error is None
    assert metrics.retries == 0
    assert metrics.request_id == "chatcmpl-fake"
    assert metrics.path == "chat_completions"
    assert metrics.model == "gpt-4o-mini"


@pytest.mark.trio
async def test_a_barge_in_is_reported_as_cancelled(
    autojump_clock: object, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add(Reply.text(PIECES, delay=0.25))
    async with fake.llm() as llm:
        seen = listen(llm)
        async with llm.chat(ctx) as stream:
            async for item in stream:
                if item.content == "two ":
                    await llm.cancel_current_generation()
    (metrics,) = seen
    assert metrics.cancelled is True
    assert metrics.error is None
    assert metrics.ttft == pytest.approx(0.25)
    assert metrics.duration == pytest.approx(0.5)  # ended at the barge-in, not at the end
    assert metrics.completion_tokens == 0  # the usage never came
    assert metrics.tokens_per_second == 0.0


@pytest.mark.trio
async def test_retries_are_counted_and_ttft_includes_them(
    autojump_clock: object, fake: FakeOpenAI, ctx: ChatContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.0)  # no jitter
    fake.add(Reply.error(503, "busy", headers={"retry-after": "2"}), Reply.text("ok"))
    async with fake.llm(max_retries=1) as llm:
        seen = listen(llm)
        assert [r.content async for r in llm.chat(ctx) if r.content] == ["ok"]
    (metrics,) = seen
    assert metrics.retries == 1
    assert metrics.ttft == pytest.approx(2.0)  # what the caller waited: the Retry-After


@pytest.mark.anyio
async def test_a_failed_turn_is_reported_with_its_error(
    make_llm: MakeLLM, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add(Reply.error(500, "boom"))
    async with make_llm() as llm:
        seen = listen(llm)
        with pytest.raises(InternalServerError):
            async for _ in llm.chat(ctx):
                pass
    (metrics,) = seen
    assert metrics.error == "InternalServerError"
    assert metrics.cancelled is False
    assert metrics.ttft is None


@pytest.mark.anyio
async def test_the_websocket_path(make_ws_llm: MakeLLM, fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.add_ws(WSReply.text(PIECES, usage=(30, 4)))
    async with make_ws_llm() as llm:
        seen = listen(llm)
        await llm.prewarm(instructions="You are terse.")  # a warm-up is not a turn
        assert seen == []
        async with llm.chat(ctx) as stream:
            [item async for item in stream]
    (metrics,) = seen
    assert metrics is stream.metrics
    assert metrics.path == "responses_websocket"
    assert metrics.request_id == stream.assembler.response_id
    assert metrics.request_id is not None
    assert (metrics.prompt_tokens, metrics.completion_tokens) == (30, 4)
    assert metrics.ttft is not None
    assert metrics.cancelled is False


@pytest.mark.anyio
async def test_one_report_per_turn_over_several_turns(
    make_llm: MakeLLM, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add(Reply.text("a"), Reply.text("b"), Reply.text("c"))
    async with make_llm() as llm:
        seen = listen(llm)
        for _ in range(3):
            async for _ in llm.chat(ctx):
                pass
    assert len(seen) == 3
    assert all(not m.cancelled and m.error is None for m in seen)


def test_an_unknown_event_name_is_refused(fake: FakeOpenAI) -> None:
    llm = fake.llm()
    with pytest.raises(ValueError, match="unknown event 'metric'"):
        llm.on("metric", print)  # type: ignore[call-overload]


@pytest.mark.trio
async def test_a_bare_loop_left_by_break_is_reported_once_as_cancelled(
    autojump_clock: object, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add(Reply.text(PIECES, delay=0.25))
    async with fake.llm() as llm:
        seen = listen(llm)
        async for item in llm.chat(ctx):  # the reference's style: the stream is dropped
            if item.content == "two ":
                break
        assert seen == []  # nothing runs at the drop (no finalizer)
        await llm.cancel_current_generation()  # releases what the drop left, and reports it
        assert len(seen) == 1
        await llm.cancel_current_generation()  # nothing left: no second report
    (metrics,) = seen
    assert metrics.cancelled is True
    assert metrics.ttft == pytest.approx(0.25)
    assert metrics.duration == pytest.approx(0.5)

"""Barge-in on the HTTP path only: a request that hangs, retry backoff, a bare loop's
cancelled body, an llm used without ``async with``, httpx's generators. What every path does
is in ``test_barge_in.py``.

Cross-backend tests (anyio, asyncio and trio) coordinate with events and
``anyio.wait_all_tasks_blocked()``; timing tests run on trio's virtual clock, where "ends at
once" means "ends at the same virtual instant": had the stream waited for the network or a
timer, the autojump clock would have moved.
"""

from __future__ import annotations

import gc
import sys
import textwrap
import warnings
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import trio

from scoped_openai import ChatContext, OpenAILLM
from scoped_openai.testing import (
    FakeOpenAI,
    RecordedRequest,
    Reply,
    Stall,
)
from support.consumer import Consumer

MakeLLM = Callable[..., OpenAILLM]
NO_GUARDS: dict[str, Any] = {"idle_timeout": None, "first_token_timeout": None}


async def next_turn_works(fake: FakeOpenAI, llm: OpenAILLM, ctx: ChatContext) -> None:
    fake.add(Reply.text("next answer"))
    assert [item.content async for item in llm.chat(ctx)] == ["next", " ans", "wer", ""]
    assert fake.counters.open_bodies == 0


class StallingTransport(httpx.AsyncBaseTransport):
    """Never answers the first request (a connect or handshake that hangs); then the fake."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.inner = fake.transport()
        self.calls = 0
        self.stalled = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            self.stalled.set()
            await anyio.sleep_forever()
        return await self.inner.handle_async_request(request)


# -- cross-backend --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_while_the_request_itself_hangs(
    fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception]
) -> None:
    transport = StallingTransport(fake)
    llm = fake.llm(client=httpx.AsyncClient(transport=transport), **NO_GUARDS)
    llm.on("error", errors.append)
    async with llm:
        consumer = Consumer(llm, ctx)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consumer.run)
                await transport.stalled.wait()
                await anyio.wait_all_tasks_blocked()
                await llm.cancel_current_generation()
                await consumer.ended.wait()
        assert consumer.error is None
        assert consumer.heard == []
        assert consumer.stream is not None
        assert consumer.stream.cancelled is True
        assert errors == []
        await next_turn_works(fake, llm, ctx)
    assert transport.calls == 2


@pytest.mark.anyio
async def test_a_bare_loop_whose_body_is_cancelled_is_released_by_the_next_barge_in(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, errors: list[Exception]
) -> None:
    # The voice-agent barge-in of test_barge_in.py (the task speaking the reply is cancelled
    # while busy with an item), in the reference's bare form.
    fake.add(Reply.text(["a", "b"], then=[Stall()]))
    async with make_llm(**NO_GUARDS) as llm:
        reached = False
        with anyio.CancelScope() as scope:
            async for _ in llm.chat(ctx):
                scope.cancel()
                await anyio.lowlevel.checkpoint()
                reached = True
        assert scope.cancelled_caught is True
        assert reached is False
        # Nothing of ours runs when a bare loop's body is cancelled (Python does not
        # close an async iterator left that way): the next barge-in releases it.
        assert fake.counters.open_bodies == 1
        await llm.cancel_current_generation()
        assert fake.counters.open_bodies == 0
        assert errors == []
        await next_turn_works(fake, llm, ctx)


@pytest.mark.anyio
async def test_leaving_early_finalizes_the_response_iterator(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    # A stream left early must close what it iterated, not leave an async generator for
    # the garbage collector (trio warns about those: ResourceWarning).
    fake.add(Reply.text("one two three four", chunk_size=4))
    async with make_llm() as llm:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with llm.chat(ctx) as stream:
                async for _ in stream:
                    break
            assert stream.cancelled is True
            del stream
            gc.collect()
        # httpx's own nested generators are finalized by trio with a warning (the filter in
        # pyproject.toml, encode/httpx#3686); none of ours may be left to the collector.
        ours = [
            str(w.message)
            for w in caught
            if issubclass(w.category, ResourceWarning)
            and not str(w.message).startswith(
                ("Async generator 'httpx.", "Async generator 'httpcore.")
            )
        ]
        assert ours == []
        assert fake.counters.open_bodies == 0
        await next_turn_works(fake, llm, ctx)


@pytest.mark.anyio
async def test_aclose_from_another_task_ends_the_stream_of_an_llm_without_async_with(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    fake.add(Reply.text(["a"], then=[Stall()]))
    llm = make_llm(**NO_GUARDS)
    consumer = Consumer(llm, ctx)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer.run)
            await consumer.first.wait()
            await anyio.wait_all_tasks_blocked()
            await llm.aclose()
            await consumer.ended.wait()
    assert consumer.error is None
    assert consumer.heard == ["a"]
    assert fake.counters.open_bodies == 0


# -- trio's virtual clock -------------------------------------------------------------------


def test_fake_docstring_example_runs_as_written() -> None:
    # The example in FakeOpenAI's docstring is executed as written, so it cannot drift.
    doc = sys.modules[FakeOpenAI.__module__].__doc__
    assert doc is not None
    block: list[str] = []
    for line in doc.split("::", 1)[1].splitlines():
        if line.strip() and not line.startswith(" "):
            break  # the first example ends where the prose resumes
        block.append(line)
    example = textwrap.dedent("\n".join(block))
    namespace: dict[str, Any] = {}
    exec(compile(example, "<FakeOpenAI example>", "exec"), namespace)
    clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(namespace["test_barge_in_stops_the_reply"], clock, clock=clock)


@pytest.mark.trio
async def test_barge_in_ends_at_the_same_virtual_instant(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    fake.add(Reply.text(["a"], then=[Stall()]))
    # Generous guards: if the barge-in waited for them, the clock would jump to them.
    async with make_llm(idle_timeout=1000.0, first_token_timeout=1000.0) as llm:
        consumer = Consumer(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.run)
            await trio.sleep(1.0)  # virtual: the consumer is surely waiting on the network
            assert consumer.heard == ["a"]
            cancelled_at = trio.current_time()
            await llm.cancel_current_generation()
            await consumer.ended.wait()
        assert consumer.ended_at == cancelled_at
        assert trio.current_time() == cancelled_at
        assert consumer.error is None
        assert consumer.stream is not None
        assert consumer.stream.cancelled is True
        assert fake.counters.open_bodies == 0
        await next_turn_works(fake, llm, ctx)


@pytest.mark.trio
async def test_barge_in_during_retry_backoff(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    times: list[float] = []

    def answer(request: RecordedRequest) -> Reply:
        times.append(trio.current_time())
        return Reply.error(429, "slow down", headers={"retry-after": "30"})

    fake.default = answer
    async with make_llm(max_retries=3) as llm:
        consumer = Consumer(llm, ctx)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.run)
            await trio.sleep(1.0)  # the consumer sleeps in the 30 s backoff
            await llm.cancel_current_generation()
        assert consumer.ended_at == start + 1.0
        assert consumer.error is None
        assert consumer.heard == []
        assert times == [start]  # the resend never happened
        await trio.sleep(100.0)
        assert times == [start]
        fake.default = None
        await next_turn_works(fake, llm, ctx)


@pytest.mark.trio
async def test_consumer_deadline_cancels_a_stalled_stream(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    errors: list[Exception],
) -> None:
    fake.add(Reply.text(["a"], then=[Stall()]))
    heard: list[str] = []
    async with make_llm(**NO_GUARDS) as llm:
        start = trio.current_time()
        with trio.move_on_after(2.0) as scope:
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    heard.append(item.content)
        assert scope.cancelled_caught is True
        assert trio.current_time() - start == pytest.approx(2.0, abs=1e-9)
        assert heard == ["a"]
        assert fake.counters.open_bodies == 0
        assert errors == []
        await next_turn_works(fake, llm, ctx)


@pytest.mark.trio
async def test_barge_in_while_the_request_hangs_on_the_virtual_clock(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    transport = StallingTransport(fake)
    async with fake.llm(client=httpx.AsyncClient(transport=transport)) as llm:
        consumer = Consumer(llm, ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer.run)
            await trio.sleep(1.0)
            cancelled_at = trio.current_time()
            await llm.cancel_current_generation()
        assert consumer.ended_at == cancelled_at
        assert consumer.heard == []
        await next_turn_works(fake, llm, ctx)

"""Issue 16, point 4: a burst of items that arrived in one read is not handed out in one
scheduler step once it runs longer than ``BURST_BUDGET``, and a barge-in during the
checkpoint it gives way at ends the iteration at once.

The source below hands its whole reply over in one read that does not suspend (what a
network read of 20 buffered chunks looks like to the stream); the stream's clock is replaced
by a fake one that moves by a fixed amount per reading, so where the budget runs out is
exact. A ticker task counts the scheduler steps it gets between the items: it can only
run when the consumer gives the loop back. Runs on both backends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anyio
import anyio.lowlevel
import pytest

from scoped_openai import ChatStream, _stream
from scoped_openai._assembly import Assembler
from scoped_openai._events import ChoiceFinished, Event, StreamDone, TextDelta
from scoped_openai._retry_plan import RetryPlan
from scoped_openai._turn_owner import TurnOwner

pytestmark = pytest.mark.anyio

WORDS = 20


class BurstSource:
    """A turn whose first read brings the whole reply (``WORDS`` deltas and the end)."""

    def __init__(self) -> None:
        self.closed: bool | None = None  # the ``completed`` it was closed with

    async def start(self, owner: TurnOwner, plan: RetryPlan | None) -> None:
        pass

    async def receive(self, out: list[Event]) -> bool:
        out.extend(TextDelta(f"w{i} ") for i in range(WORDS))
        out.append(ChoiceFinished("stop"))
        out.append(StreamDone())
        return True

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        return None

    async def aclose(self, *, completed: bool) -> None:
        self.closed = completed

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        pass


def new_stream(source: BurstSource, monkeypatch: pytest.MonkeyPatch, step: float) -> ChatStream:
    """A stream whose burst clock moves by ``step`` seconds at every reading."""
    ticks: Iterator[float] = (i * step for i in range(1_000_000))
    monkeypatch.setattr(_stream, "burst_clock", lambda: lambda: next(ticks))
    return ChatStream(
        source,
        Assembler(),
        idle_timeout=None,
        first_token_timeout=None,
        on_error=lambda error: None,
        on_close=lambda _: None,
    )


async def steps_seen(stream: ChatStream) -> list[int]:
    """For each item, how many times a ticker task had run before it was handed out."""
    ticks = 0
    seen: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.lowlevel.checkpoint()
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.lowlevel.checkpoint()  # the ticker is running
        async for _ in stream:
            seen.append(ticks)
        tg.cancel_scope.cancel()
    return seen


async def consume_with_barge_in(
    stream: ChatStream, heard: list[str], ready: Callable[[], bool]
) -> list[int]:
    """Iterate ``stream`` into ``heard`` while another task barges in at the first moment
    the consumer waits with ``ready()`` true; how much had been heard then."""
    heard_at_barge_in: list[int] = []

    async def barge_in() -> None:
        while not (stream.waiting and ready()):
            await anyio.lowlevel.checkpoint()
        heard_at_barge_in.append(len(heard))
        stream.cancel()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(barge_in)
            async for item in stream:
                heard.append(item.content)
    return heard_at_barge_in


async def test_a_burst_within_the_budget_is_one_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # The counterpart of the next test: the ticker does see a burst handed out in one step.
    source = BurstSource()
    seen = await steps_seen(new_stream(source, monkeypatch, 0.0))
    assert len(seen) == WORDS
    assert len(set(seen)) == 1
    assert source.closed is True


async def test_a_burst_over_the_budget_gives_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each reading moves the clock by 40% of the budget: every few items, a checkpoint.
    source = BurstSource()
    seen = await steps_seen(new_stream(source, monkeypatch, _stream.BURST_BUDGET * 0.4))
    assert len(seen) == WORDS
    # A few items per step, not one step for the lot. Trio orders a batch's tasks at
    # random, so the ticker may run after the consumer in a batch: a run of equal counts
    # can span two steps.
    longest_run = max(seen.count(count) for count in set(seen))
    assert len(set(seen)) > 1
    assert longest_run < WORDS // 2
    assert source.closed is True  # nothing else changed: the turn completed


async def test_a_barge_in_at_the_checkpoint_ends_the_iteration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = BurstSource()
    stream = new_stream(source, monkeypatch, _stream.BURST_BUDGET * 0.4)
    heard: list[str] = []
    # It can run only while the consumer gives way inside the burst.
    heard_at_barge_in = await consume_with_barge_in(stream, heard, lambda: bool(heard))
    assert heard_at_barge_in == [len(heard)]  # nothing was handed out after the barge-in
    assert 0 < len(heard) < WORDS
    assert stream.cancelled
    assert source.closed is False
    assert stream.assembler.spoken == "".join(heard)  # what was built but not heard is unsaid

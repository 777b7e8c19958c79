"""Issue 18, item 10: no item is returned after a barge-in, even when the read had completed.

Under trio, a cancel that lands after a wait completed but before the waiting task ran
cancels nothing (the wait is over), so the stream must look at its barge-in flag again
after every wait. The source below makes that moment exact: the test completes the
consumer's wait (``ready.set()``) and barges in before the consumer runs, with no
checkpoint in between. The stream is the one every path returns (``ChatStream``), so this
holds for HTTP and WebSocket alike. Runs on both backends (asyncio delivers the
cancellation to a completed wait, trio does not: this failed on trio before the fix).
"""

from __future__ import annotations

import anyio
import pytest

from scoped_openai import ChatStream
from scoped_openai._assembly import Assembler
from scoped_openai._events import Event, TextDelta
from scoped_openai._retry_plan import RetryPlan
from scoped_openai._turn_owner import TurnOwner

pytestmark = pytest.mark.anyio


class HeldSource:
    """A turn whose first read returns at once and whose second waits for ``ready``."""

    def __init__(self) -> None:
        self.waiting = anyio.Event()
        self.ready = anyio.Event()
        self.reads = 0
        self.closed = False

    async def start(self, owner: TurnOwner, plan: RetryPlan | None) -> None:
        pass

    async def receive(self, out: list[Event]) -> bool:
        self.reads += 1
        if self.reads > 1:
            self.waiting.set()
            await self.ready.wait()
        out.append(TextDelta(f"word{self.reads} "))
        return True

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        return None

    async def aclose(self, *, completed: bool) -> None:
        self.closed = True

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        pass


async def test_no_item_after_a_barge_in_that_lands_after_the_read_completed() -> None:
    source = HeldSource()
    errors: list[Exception] = []
    stream = ChatStream(
        source,
        Assembler(),
        idle_timeout=None,
        first_token_timeout=None,
        on_error=errors.append,
        on_close=lambda _: None,
    )
    heard: list[str] = []

    async def consume() -> None:
        async for item in stream:
            heard.append(item.content)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await source.waiting.wait()  # the consumer waits in its second read
            source.ready.set()  # ... which completes now,
            stream.cancel()  # and the user barges in before the consumer runs.
    assert heard == ["word1 "]
    assert stream.cancelled
    assert source.closed
    assert stream.assembler.spoken == "word1 "  # the dropped word was never heard
    assert errors == []

"""A barge-in releases the cancelled turn before the consumer's loop ends, also inside an
``async with llm.chat(ctx)`` block whose code goes on after the loop: the HTTP body is
closed or the socket retired (so the server stops generating, and billing, at once), and
the turn's metrics are reported, by the time the loop has ended. Leaving the release to the
block's exit was measured (0.1-0.3 ms sooner to the loop's end) and not kept: a block that
awaits something after its loop (a TTS flush, a log write) kept the reply streaming until
then.

In-memory transports; the ``fail_after`` bounds only turn a regression into a failure.
"""

from __future__ import annotations

import anyio
import pytest

from scoped_openai import ChatContext, ChatStream, OpenAILLM
from scoped_openai.testing import Stall
from support.paths import OnPath

NO_GUARDS = {"idle_timeout": None, "first_token_timeout": None}
HANG = 5.0


def turn_held(path: OnPath) -> bool:
    """Whether the first turn still holds its HTTP body. (A retired socket closes in the
    background: the WebSocket's release is checked by the metrics and, while the block
    still runs, by ``assert_cancelled_turn_released``.)"""
    return path.path.transport == "http" and path.fake.counters.open_bodies == 1


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
        self.metrics_at_loop_end = False

    async def run(self) -> None:
        async with self.llm.chat(self.ctx) as stream:
            self.stream = stream
            async for _ in stream:
                self.first.set()
            self.held_at_loop_end = turn_held(self.path)
            self.metrics_at_loop_end = stream.metrics is not None
            self.loop_ended.set()
            await self.leave.wait()


@pytest.mark.anyio
async def test_the_loop_end_has_released_the_barged_in_turn(path: OnPath, ctx: ChatContext) -> None:
    path.add_text(["one ", "two "], then=[Stall()])
    async with path.llm(**NO_GUARDS) as llm:
        consumer = BlockAfterLoop(llm, ctx, path)
        with anyio.fail_after(HANG):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consumer.run)
                await consumer.first.wait()
                await anyio.wait_all_tasks_blocked()  # waiting on the silent server
                await llm.cancel_current_generation()
                await consumer.loop_ended.wait()
                # The block still runs the caller's code: the turn is released already.
                assert consumer.held_at_loop_end is False
                assert consumer.metrics_at_loop_end is True
                await path.assert_cancelled_turn_released()
                consumer.leave.set()
        assert consumer.stream is not None
        assert consumer.stream.metrics is not None
        assert consumer.stream.metrics.cancelled is True
        await path.next_turn_after_barge_in(llm, ctx)
    path.assert_all_closed()

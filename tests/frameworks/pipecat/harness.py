"""A real Pipecat pipeline around one LLM service, as Pipecat's own tests build it.

``source -> llm -> sink`` runs in a ``PipelineWorker`` under a ``WorkerRunner`` (Pipecat
1.14's names for ``PipelineTask``/``PipelineRunner``, which are deprecated aliases now).
The sink records every frame that reaches the end of the pipeline; the source records every
frame pushed upstream (``ErrorFrame``s). Waits are for frames, each bounded by ``WAIT`` so
that only a broken test ever hits the bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    StartFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

#: The bound on every wait; a passing test never comes near it.
WAIT = 10.0

F = TypeVar("F", bound=Frame)


class Recorder(FrameProcessor):  # type: ignore[misc]
    """Passes frames on and records those travelling ``direction``, with arrival times."""

    def __init__(self, direction: FrameDirection) -> None:
        super().__init__(enable_direct_mode=True)
        self._direction = direction
        self.frames: list[Frame] = []
        self.times: list[float] = []
        self._changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self._direction and not isinstance(frame, StartFrame):
            self.frames.append(frame)
            self.times.append(time.perf_counter())
            async with self._changed:
                self._changed.notify_all()
        await self.push_frame(frame, direction)

    async def wait_for_error(self, count: int = 1) -> ErrorFrame:
        return await self.wait_for(ErrorFrame, count)

    def of(self, kind: type[F]) -> list[F]:
        return [frame for frame in self.frames if isinstance(frame, kind)]

    async def wait_for(self, kind: type[F], count: int = 1) -> F:
        """The ``count``-th frame of ``kind`` (waits for it)."""
        with anyio.fail_after(WAIT):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.of(kind)) >= count)
        return self.of(kind)[count - 1]


class Harness:
    """A running pipeline: push frames in, read what came out."""

    def __init__(self, worker: PipelineWorker, source: Recorder, sink: Recorder) -> None:
        self.worker = worker
        self.source = source  # records upstream frames (errors)
        self.sink = sink  # records downstream frames

    async def push(self, frame: Frame) -> None:
        await self.worker.queue_frame(frame)

    async def push_context(self, context: LLMContext) -> None:
        await self.push(LLMContextFrame(context))

    async def reply(self, context: LLMContext, number: int) -> str:
        """Ask for reply ``number`` (1-based count of responses so far) and return its text."""
        await self.push_context(context)
        await self.sink.wait_for(LLMFullResponseEndFrame, number)
        return self.text_of(number)

    def text_of(self, number: int) -> str:
        """The text of response ``number``: the LLMTextFrames before its end frame."""
        texts: list[list[str]] = [[]]
        for frame in self.sink.frames:
            if isinstance(frame, LLMTextFrame):
                texts[-1].append(frame.text)
            elif isinstance(frame, LLMFullResponseEndFrame):
                texts.append([])
        return "".join(texts[number - 1])

    @property
    def errors(self) -> list[ErrorFrame]:
        return self.source.of(ErrorFrame)


@asynccontextmanager
async def running(llm: Any, *, end: str = "end", **worker_kwargs: Any) -> AsyncIterator[Harness]:
    """Run ``source -> llm -> sink``; on exit, end it with an ``EndFrame`` (``end="cancel"``:
    cancel the worker, as a hang-up does) and wait until the runner has finished."""
    source = Recorder(FrameDirection.UPSTREAM)
    sink = Recorder(FrameDirection.DOWNSTREAM)
    worker = PipelineWorker(
        Pipeline([source, llm, sink]),
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        cancel_on_idle_timeout=False,
        **worker_kwargs,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")  # type: ignore[misc]
    async def _started(worker: Any, frame: Frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    finished = anyio.Event()

    async def run() -> None:
        await runner.add_workers(worker)
        await runner.run()
        finished.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(WAIT):
            await started.wait()
        harness = Harness(worker, source, sink)
        try:
            yield harness
        finally:
            if end == "cancel":
                await worker.cancel()
            else:
                await worker.queue_frame(EndFrame())
            with anyio.fail_after(WAIT):
                await finished.wait()


def user_context(text: str = "Say hello.") -> LLMContext:
    return LLMContext(messages=[{"role": "user", "content": text}])

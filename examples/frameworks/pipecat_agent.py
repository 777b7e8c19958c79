"""A Pipecat pipeline whose LLM streams through scoped-openai, with a barge-in.

Runs against the embedded fake server (no API key needed; with OPENAI_API_KEY set it talks
to OpenAI instead). The printer stands in for TTS. The first reply is cut off by an
``InterruptionFrame`` two words in (what Pipecat sends when the user starts talking): the
reply stops at once and the next turn answers cleanly.

    pip install 'scoped-openai[pipecat]'
    python examples/frameworks/pipecat_agent.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings

from loguru import logger

with warnings.catch_warnings():  # Pipecat imports the stdlib's deprecated audioop on 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from pipecat.frames.frames import (
        EndFrame,
        Frame,
        InterruptionFrame,
        LLMContextFrame,
        LLMFullResponseEndFrame,
        LLMTextFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.workers.runner import WorkerRunner

from scoped_openai.integrations.pipecat import OpenAILLMService
from scoped_openai.testing import FakeOpenAI, Reply

STORY = "Once upon a time there was a lighthouse keeper who counted the waves every night."


class Printer(FrameProcessor):
    """Prints the reply as it streams (a TTS would speak it) and counts words heard."""

    def __init__(self) -> None:
        super().__init__()
        self.words = 0
        self.replies = 0
        self.heard_two_words = asyncio.Event()
        self.reply_done = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame):
            print(frame.text, end="", flush=True)
            self.words += frame.text.count(" ")
            if self.words >= 2:
                self.heard_two_words.set()
        elif isinstance(frame, InterruptionFrame):
            print(" [user barged in]")
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.replies += 1
            self.reply_done.set()
        await self.push_frame(frame, direction)


async def main() -> None:
    fake = FakeOpenAI()
    fake.add(Reply.text(STORY, chunk_size=6, delay=0.05), Reply.text("Sure: waves, counted."))
    async with fake.serve() as server:
        if os.getenv("OPENAI_API_KEY"):
            llm = OpenAILLMService(model="gpt-4o-mini", system_instruction="Be brief.")
        else:
            print(f"(no OPENAI_API_KEY: using the embedded fake at {server.base_url})")
            llm = OpenAILLMService(base_url=server.base_url, api_key="sk-example-fake")
        printer = Printer()
        worker = PipelineWorker(Pipeline([llm, printer]), cancel_on_idle_timeout=False)
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        context = LLMContext(messages=[{"role": "user", "content": "Tell me a story."}])

        async def converse() -> None:
            await worker.queue_frame(LLMContextFrame(context))
            await printer.heard_two_words.wait()
            await worker.queue_frame(InterruptionFrame())  # the user starts talking
            context.add_message({"role": "user", "content": "Just the short version."})
            printer.reply_done.clear()
            await worker.queue_frame(LLMContextFrame(context))
            while printer.replies < 2:
                await printer.reply_done.wait()
                printer.reply_done.clear()
            print()
            await worker.queue_frame(EndFrame())

        await asyncio.wait_for(asyncio.gather(runner.run(), converse()), timeout=30)


if __name__ == "__main__":
    logger.remove()  # Pipecat logs every frame link at DEBUG
    logger.add(sys.stderr, level="WARNING")
    asyncio.run(main())

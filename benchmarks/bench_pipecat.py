"""Benchmark: Pipecat's own OpenAI services against ours, inside a real Pipecat pipeline.

Run with ``python benchmarks/bench_pipecat.py [--quick]`` (``nox -s bench`` runs it). Needs
``pipecat-ai[openai]==1.14.0``: when it is missing and ``uv`` is on the PATH it is installed
into this interpreter first; otherwise the benchmark says so and skips.

The fake server runs in its own process (``_serverproc``), so the CPU figures are the client
process's alone. Every plugin runs in the same pipeline, ``llm -> sink``, driven by a
``PipelineWorker`` under a ``WorkerRunner``; times are taken when frames reach the sink:

- CPU per chunk: process CPU over a 4,000-chunk reply, per ``LLMTextFrame``. The floor is
  the same pipeline with a processor that pushes 4,000 ``LLMTextFrame``s with no network:
  what Pipecat itself costs per frame.
- warm TTFT: ``LLMContextFrame`` queued -> first ``LLMTextFrame`` at the sink, turns 2-11.
- interruption: ``InterruptionFrame`` queued -> it reaches the sink (Pipecat delivers it after
  the LLM's reply task has been cancelled), on a paced server (50 chunks/s) and on one that
  stalls after three chunks; then the next turn's first token, queued right away.

Peers: HTTP, ``pipecat.services.openai.llm.OpenAILLMService`` (openai SDK, Chat Completions)
against ours; WebSocket, ``pipecat.services.openai.responses.llm.OpenAIResponsesLLMService``
against ours with ``streaming=True``. Every figure is a median over the trials, all in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import math
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PIPECAT = "pipecat-ai[openai]==1.14.0"
#: How long the turn after an interruption may take before the plugin counts as not
#: recovering (Pipecat's WebSocket service drains the cancelled reply first, 5 s per read).
NEXT_TURN_BOUND = 30.0


def ensure_pipecat() -> bool:
    """Import Pipecat, installing it with uv when it is missing; False: skip (reason printed)."""
    if importlib.util.find_spec("pipecat") is None:
        uv = shutil.which("uv")
        if uv is None:
            print(f"bench_pipecat: skipped: Pipecat is not installed (pip install '{PIPECAT}')")
            return False
        print(f"bench_pipecat: installing {PIPECAT} into {sys.executable}")
        done = subprocess.run([uv, "pip", "install", "-q", "-p", sys.executable, PIPECAT])
        if done.returncode != 0:
            print("bench_pipecat: skipped: installing Pipecat failed")
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials, shorter replies")
    args, _ = parser.parse_known_args()  # nox -s bench passes every bench its arguments
    if not ensure_pipecat():
        return
    from loguru import logger

    logger.remove()  # Pipecat logs every frame link at DEBUG
    logger.add(sys.stderr, level="ERROR")
    with warnings.catch_warnings():  # the stdlib's audioop, imported by Pipecat on 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        import pipecat.audio.utils  # noqa: F401
    asyncio.run(run_all(quick=args.quick))


# --- the pipeline ---------------------------------------------------------------------------


async def run_all(*, quick: bool) -> None:
    from _serverproc import ServerProcess

    trials = 3 if quick else 8
    chunks = 1_000 if quick else 4_000
    rows: dict[str, dict[str, float]] = {}
    with ServerProcess() as server:
        for label, make in plugins(server.base_url):
            rows[label] = await measure(make, trials=trials, chunks=chunks)
            print(f"  {label}: done", file=sys.stderr)
        floor = await cpu_floor(chunks, trials)
    report(rows, floor, trials, chunks)


def plugins(base_url: str) -> list[tuple[str, Callable[[], Any]]]:
    from pipecat.services.openai.llm import OpenAILLMService as PipecatHTTP
    from pipecat.services.openai.responses.llm import OpenAIResponsesLLMService as PipecatWS

    from scoped_openai.integrations.pipecat import OpenAILLMService as Ours

    ws_url = base_url.replace("http://", "ws://") + "/responses"
    key = "sk-bench-0000"
    return [
        (
            "http pipecat",
            lambda: PipecatHTTP(
                api_key=key, base_url=base_url, settings=PipecatHTTP.Settings(model="gpt-4o-mini")
            ),
        ),
        ("http ours", lambda: Ours(api_key=key, base_url=base_url, model="gpt-4o-mini")),
        (
            "ws ours",
            lambda: Ours(api_key=key, base_url=base_url, model="gpt-4o-mini", streaming=True),
        ),
        # Last: after a stall it never ends cleanly, and the pipeline has to be cancelled.
        (
            "ws pipecat",
            lambda: PipecatWS(
                api_key=key, ws_url=ws_url, settings=PipecatWS.Settings(model="gpt-4o-mini")
            ),
        ),
    ]


class Sink:
    """The pipeline's last processor: timestamps of the frames the benchmark waits for."""

    def __new__(cls) -> Any:
        from pipecat.frames.frames import (
            InterruptionFrame,
            LLMFullResponseEndFrame,
            LLMTextFrame,
        )
        from pipecat.processors.frame_processor import FrameProcessor

        class _Sink(FrameProcessor):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__(enable_direct_mode=True)
                self.texts = 0
                self.wanted = 3
                self.enough = asyncio.Event()  # set at ``wanted`` text frames
                self.first_text = asyncio.Event()
                self.ended = asyncio.Event()
                self.interrupted = asyncio.Event()
                self.at: dict[str, float] = {}

            def reset(self) -> None:
                self.texts = 0
                for event in (self.first_text, self.enough, self.ended, self.interrupted):
                    event.clear()
                self.at.clear()

            async def process_frame(self, frame: Any, direction: Any) -> None:
                await super().process_frame(frame, direction)
                now = time.perf_counter()
                if isinstance(frame, LLMTextFrame):
                    self.texts += 1
                    if self.texts == self.wanted:
                        self.enough.set()
                    if not self.first_text.is_set():
                        self.at["first_text"] = now
                        self.first_text.set()
                elif isinstance(frame, LLMFullResponseEndFrame):
                    self.at["end"] = now
                    self.ended.set()
                elif isinstance(frame, InterruptionFrame):
                    self.at["interrupted"] = now
                    self.interrupted.set()
                await self.push_frame(frame, direction)

        return _Sink()


class Running:
    """``async with Running(processor) as (worker, sink)``: the pipeline, ended on exit."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.ended_cleanly = True  # False: the pipeline had to be cancelled to end

    async def __aenter__(self) -> tuple[Any, Any]:
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineWorker
        from pipecat.workers.runner import WorkerRunner

        self.sink = Sink()
        # No RTVI: its observer re-scans the bot's unfinished sentence on every text frame
        # (quadratic in a sentence's length), which would swamp what the plugins cost.
        self.worker = PipelineWorker(
            Pipeline([self.processor, self.sink]), cancel_on_idle_timeout=False, enable_rtvi=False
        )
        started = asyncio.Event()

        @self.worker.event_handler("on_pipeline_started")  # type: ignore[misc]
        async def _started(worker: Any, frame: Any) -> None:
            started.set()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        self.task = asyncio.ensure_future(runner.run())
        await asyncio.wait_for(started.wait(), 30)
        return self.worker, self.sink

    async def __aexit__(self, *exc: object) -> None:
        from pipecat.frames.frames import EndFrame

        await self.worker.queue_frame(EndFrame())
        done, _ = await asyncio.wait({self.task}, timeout=10)
        if not done:  # a plugin stuck in a reply never lets the EndFrame through
            self.ended_cleanly = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.worker.cancel(), 10)
            done, _ = await asyncio.wait({self.task}, timeout=10)
            if not done:  # nor a CancelFrame: stop the runner's task itself
                self.task.cancel()
                await asyncio.wait({self.task}, timeout=10)
        client = getattr(self.processor, "_client", None)
        if client is not None and hasattr(client, "close"):
            await client.close()  # Pipecat's own services leave their openai client open


def context(spec: Any, turn: int) -> Any:
    from pipecat.frames.frames import LLMContextFrame
    from pipecat.processors.aggregators.llm_context import LLMContext

    messages = [{"role": "user", "content": spec.user_text(turn)}]
    return LLMContextFrame(LLMContext(messages=messages))


async def turn(worker: Any, sink: Any, spec: Any, number: int) -> tuple[float, float]:
    """One whole reply: (seconds to the first text frame, process CPU seconds)."""
    sink.reset()
    cpu, start = time.process_time(), time.perf_counter()
    await worker.queue_frame(context(spec, number))
    await asyncio.wait_for(sink.ended.wait(), 120)
    return sink.at["first_text"] - start, time.process_time() - cpu


async def interruption(worker: Any, sink: Any, spec: Any, number: int) -> tuple[float, float]:
    """Interrupt after three text frames: (queued -> at the sink, next turn's first token)."""
    from _spec import Spec
    from pipecat.frames.frames import InterruptionFrame

    sink.reset()
    await worker.queue_frame(context(spec, number))
    await asyncio.wait_for(sink.enough.wait(), 30)  # three text frames heard
    start = time.perf_counter()
    await worker.queue_frame(InterruptionFrame())
    await asyncio.wait_for(sink.interrupted.wait(), NEXT_TURN_BOUND)
    stopped = sink.at["interrupted"] - start
    sink.reset()
    start = time.perf_counter()
    await worker.queue_frame(context(Spec(chunks=20), number + 1))
    await asyncio.wait_for(sink.first_text.wait(), NEXT_TURN_BOUND)
    next_token = sink.at["first_text"] - start
    await asyncio.wait_for(sink.ended.wait(), NEXT_TURN_BOUND)
    return stopped, next_token


async def measure(make: Callable[[], Any], *, trials: int, chunks: int) -> dict[str, float]:
    from _spec import Spec

    out: dict[str, float] = {}
    cpu: list[float] = []
    ttft: list[float] = []
    running = Running(make())
    async with running as (worker, sink):
        await turn(worker, sink, Spec(chunks=20), 0)  # warm-up: connection, imports
        for number in range(1, 11):
            ttft.append((await turn(worker, sink, Spec(chunks=20), number))[0])
        for number in range(trials):
            cpu.append((await turn(worker, sink, Spec(chunks=chunks), 100 + number))[1] / chunks)
        for name, spec in (("paced", Spec(chunks=500, pace=50)), ("stalled", Spec(stall=3))):
            stops, nexts = [], []
            for number in range(trials):
                try:
                    stop, nxt = await interruption(worker, sink, spec, 200 + 2 * number)
                except TimeoutError:
                    # No first token within NEXT_TURN_BOUND: this plugin does not recover
                    # (every later trial would wait the same); recorded as such.
                    stops, nexts = stops or [math.nan], [math.inf]
                    break
                stops.append(stop)
                nexts.append(nxt)
            out[f"interrupt_{name}"] = statistics.median(stops)
            out[f"next_token_{name}"] = statistics.median(nexts)
    out["ended_cleanly"] = float(running.ended_cleanly)
    out["cpu_per_chunk"] = statistics.median(cpu)
    out["ttft"] = statistics.median(ttft)
    return out


async def cpu_floor(chunks: int, trials: int) -> float:
    """Pipecat's own cost per LLMTextFrame: a processor pushes them with no network."""
    from pipecat.frames.frames import (
        LLMContextFrame,
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        LLMTextFrame,
    )
    from pipecat.processors.frame_processor import FrameProcessor

    class Pusher(FrameProcessor):  # type: ignore[misc]
        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, LLMContextFrame):
                await self.push_frame(LLMFullResponseStartFrame())
                for _ in range(chunks):
                    await self.push_frame(LLMTextFrame("tok "))
                await self.push_frame(LLMFullResponseEndFrame())
            else:
                await self.push_frame(frame, direction)

    from _spec import Spec

    costs = []
    async with Running(Pusher()) as (worker, sink):
        for number in range(trials):
            costs.append((await turn(worker, sink, Spec(chunks=chunks), number))[1] / chunks)
    return statistics.median(costs)


def ms(value: float) -> str:
    if math.isinf(value):
        return f"none in {NEXT_TURN_BOUND:.0f} s"
    return "-" if math.isnan(value) else f"{value * 1e3:.2f} ms"


def report(rows: dict[str, dict[str, float]], floor: float, trials: int, chunks: int) -> None:
    print(
        f"\nPipecat 1.14 pipeline, fake server in its own process; medians "
        f"(TTFT: turns 2-11; others: {trials} trials; CPU: {chunks}-chunk replies)"
    )
    print(f"Pipecat's own cost per LLMTextFrame (no network): {floor * 1e6:.1f} us\n")
    header = (
        "| plugin | CPU/chunk (x floor) | warm TTFT | interruption, paced | next first token |"
        " interruption, stalled | next first token |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|")
    for label, row in rows.items():
        print(
            f"| {label} | {row['cpu_per_chunk'] * 1e6:.1f} us ({row['cpu_per_chunk'] / floor:.2f}x)"
            f" | {ms(row['ttft'])}"
            f" | {ms(row['interrupt_paced'])} | {ms(row['next_token_paced'])}"
            f" | {ms(row['interrupt_stalled'])} | {ms(row['next_token_stalled'])} |"
        )
    for label, row in rows.items():
        if not row["ended_cleanly"]:
            print(f"{label}: the pipeline did not end on its EndFrame and had to be cancelled")


if __name__ == "__main__":
    main()

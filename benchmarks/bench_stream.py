"""Benchmark: the stream's own CPU per item, over an in-memory turn (no network, no parser).

``ChatStream.__anext__`` runs once per item on every path: it opens the step's cancel scope
(the barge-in's), sets the read deadline, waits in the source and feeds the assembler. Here
the source's ``receive`` appends one text delta and returns at once, so what is timed is the
stream's bookkeeping plus the assembly; the floor, measured in the same run, is the same
``receive`` and ``Assembler.feed`` called in a plain loop. Both deadline mechanisms are
timed: the llm's watchdog task (inside ``async with OpenAILLM``) and the scope's own
deadline (an llm used without ``async with``).

The script only uses names that exist before and after the deadline refactor, so the same
script measures either tree (``PYTHONPATH=<tree>/src python benchmarks/bench_stream.py``).
Medians of ``--repeats`` turns of ``--items`` items each.

Run: ``nox -s bench`` or ``python benchmarks/bench_stream.py [--quick] [--backend ...]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import anyio

from scoped_openai._assembly import Assembler
from scoped_openai._events import Event, StreamDone, TextDelta
from scoped_openai._stream import ChatStream
from scoped_openai._watchdog import Watchdog


class InMemoryTurn:
    """A turn of ``items`` text deltas then the end marker, each read returning at once."""

    def __init__(self, items: int) -> None:
        self._left = items
        self._delta = TextDelta("word ")

    async def start(self, *_: object) -> None:  # (owner, plan) since the pool's lease
        pass

    async def receive(self, out: list[Event]) -> bool:
        self._left -= 1
        out.append(self._delta if self._left >= 0 else StreamDone())
        return True

    def plan_retry(self, error: Exception, attempt: int) -> None:
        return None

    def retry_delay(self, error: Exception, attempt: int) -> float | None:  # the older tree
        return None

    async def aclose(self, *, completed: bool) -> None:
        pass

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        pass

    def abandon(self) -> None:  # the older tree
        pass


async def stream_us(items: int, watchdog: Watchdog | None) -> float:
    """CPU µs per item of one turn through ``ChatStream`` (deadlines as the llm sets them)."""
    stream = ChatStream(
        InMemoryTurn(items),
        Assembler(),
        idle_timeout=15.0,
        first_token_timeout=60.0,
        turn_timeout=None,
        on_error=lambda error: None,
        on_close=lambda stream: None,
        watchdog=watchdog,
    )
    start = time.process_time()
    async for _ in stream:
        pass
    return (time.process_time() - start) / items * 1e6


async def floor_us(items: int) -> float:
    """CPU µs per item of the same reads and assembly without the stream."""
    source = InMemoryTurn(items)
    assembler = Assembler()
    events: list[Event] = []
    out: list[Any] = []
    start = time.process_time()
    while not assembler.done:
        await source.receive(events)
        for event in events:
            assembler.feed(event, out)
        events.clear()
        out.clear()
    return (time.process_time() - start) / items * 1e6


async def measure(items: int, repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {"floor": [], "watchdog": [], "scope": []}
    async with anyio.create_task_group() as task_group:
        watchdog = Watchdog(task_group)
        for _ in range(repeats):  # interleaved, so drift hits all three alike
            samples["floor"].append(await floor_us(items))
            samples["watchdog"].append(await stream_us(items, watchdog))
            samples["scope"].append(await stream_us(items, None))
        watchdog.close()
    row = {f"{name}_us": statistics.median(values) for name, values in samples.items()}
    row["watchdog_minus_floor_us"] = row["watchdog_us"] - row["floor_us"]
    row["scope_minus_floor_us"] = row["scope_us"] - row["floor_us"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer items (a smoke run)")
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    args, _ = parser.parse_known_args()  # nox -s bench passes bench_client's options too
    items, repeats = (2_000, 5) if args.quick else (args.items, args.repeats)
    backends = ("asyncio", "trio") if args.backend == "both" else (args.backend,)
    results = {backend: anyio.run(measure, items, repeats, backend=backend) for backend in backends}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

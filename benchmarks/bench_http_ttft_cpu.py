"""Micro-benchmark: the client CPU of a warm turn over HTTP (Chat Completions, or the Responses
API with ``--path responses``/``responses-store``), up to its first item, ours against the
floor in the same process.

The TTFT figure (``_fig_ttft``) is wall time, which on a shared machine is the scheduler's
more than ours. This measures what is ours to change: ``process_time`` from just before the
request (``llm.chat(ctx)`` for ours, the floor's ``client.stream`` with ``json=``) to the
first content item, on warm connections to the fake server in its own process, with each
client's context growing by a user and an assistant message per turn as in ``_fig_ttft``
(about 10 KB of JSON by turn 50). Turns of the two clients alternate, the first of each
pair alternating too. Quoted: per round the median of turns 1-10 and of 41-50, then the
median over rounds, ours minus the floor, and each client's growth from turns 1-10 to 41-50
(what the TTFT growth rows compare). The floor on the Responses paths is
``FloorResponsesHTTP``, chained on ``previous_response_id`` with ``responses-store`` as ours.

Run: ``python benchmarks/bench_http_ttft_cpu.py [--backend trio] [--rounds 3]
[--path responses-store]``; the same script measures another tree with
``PYTHONPATH=<tree>/src``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable

import anyio
from _floor import FloorHTTP
from _floor_responses import FloorResponsesHTTP
from _ours import RESPONSES_PATHS, Ours
from _serverproc import ServerProcess
from _spec import Spec

from scoped_openai import ChatRole

REPLY = Spec(chunks=20)
TURNS = 50
WINDOW = 10


async def ours_turn(ours: Ours, turn_no: int) -> float:
    """CPU seconds from ``chat()`` to the first content item; the reply joins the context."""
    assert ours.llm is not None
    ours.ctx.add_message(ChatRole.USER, REPLY.user_text(turn_no))
    parts: list[str] = []
    cpu = 0.0
    start = time.process_time()
    async with ours.llm.chat(ours.ctx) as stream:
        async for item in stream:
            if item.content:
                if not parts:
                    cpu = time.process_time() - start
                parts.append(item.content)
    ours.ctx.add_message(ChatRole.ASSISTANT, "".join(parts))
    return cpu


async def floor_turn(floor: FloorHTTP, turn_no: int) -> float:
    """The same for the floor (``FloorHTTP``'s own stream loop)."""
    floor.messages.append({"role": "user", "content": REPLY.user_text(turn_no)})
    parts: list[str] = []
    cpu = 0.0
    start = time.process_time()

    def on_item(content: str) -> None:
        nonlocal cpu
        if not parts:
            cpu = time.process_time() - start
        parts.append(content)

    await floor._stream(floor.messages, on_item)
    floor.messages.append({"role": "assistant", "content": "".join(parts)})
    return cpu


def make_floor(base_url: str, path: str) -> FloorHTTP:
    if path in RESPONSES_PATHS:
        return FloorResponsesHTTP(base_url, chain=path == "responses-store")
    return FloorHTTP(base_url)


async def one_round(base_url: str, path: str) -> dict[str, tuple[float, float]]:
    """Per client: the median CPU (ms) to the first item of turns 1-10 and 41-50."""
    samples: dict[str, list[float]] = {"ours": [], "floor": []}
    async with Ours(base_url, path=path) as ours, make_floor(base_url, path) as floor:
        turns: dict[str, Callable[[int], Awaitable[float]]] = {
            "ours": lambda n: ours_turn(ours, n),
            "floor": lambda n: floor_turn(floor, n),
        }
        for run in turns.values():  # warm the connections, untimed
            await run(0)
        ours.ctx = ours._fresh()
        await floor.reset()
        for turn_no in range(TURNS):
            order = list(turns) if turn_no % 2 == 0 else list(reversed(turns))
            for name in order:
                samples[name].append(await turns[name](turn_no) * 1e3)
    return {
        name: (statistics.median(cpu[:WINDOW]), statistics.median(cpu[-WINDOW:]))
        for name, cpu in samples.items()
    }


async def main(rounds: int, path: str) -> None:
    results: list[dict[str, tuple[float, float]]] = []
    with ServerProcess() as server:
        for _ in range(rounds):
            results.append(await one_round(server.base_url, path))

    def median(name: str, window: int) -> float:
        return statistics.median(result[name][window] for result in results)

    for name in ("ours", "floor"):
        print(
            f"{name:6s} CPU to the first item: turns 1-10 {median(name, 0):.3f} ms, "
            f"41-50 {median(name, 1):.3f} ms"
        )
    first = median("ours", 0) - median("floor", 0)
    last = median("ours", 1) - median("floor", 1)
    print(f"ours - floor: turns 1-10 {first:+.3f} ms, 41-50 {last:+.3f} ms")
    growth = {name: median(name, 1) - median(name, 0) for name in ("ours", "floor")}
    print(f"growth 1-10 -> 41-50: ours {growth['ours']:+.3f} ms, floor {growth['floor']:+.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", default="http", choices=["http", *RESPONSES_PATHS])
    args, _ = parser.parse_known_args()  # nox passes bench_client's flags too
    anyio.run(main, args.rounds, args.path, backend=args.backend)

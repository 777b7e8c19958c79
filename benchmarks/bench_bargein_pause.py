"""Benchmark: the first token of the turn after a WebSocket barge-in when the user speaks
before it, against a warm turn's, in the same session.

``bench_client.py``'s barge-in figure starts the next turn the instant the loop ends; a voice
agent starts it only after the user's interruption was heard (hundreds of ms of speech and
transcription). This one waits ``--pause`` (default 100 ms) between the barge-in and the
next turn, and between turns, so it shows what the pool does in that pause: the next turn
goes on the warm spare, and whether the replacement spare's handshake is still running
beside it. Each trial: a warm turn (its TTFT), a pause, a reply that stalls after 3 chunks
and is cancelled, a pause, the next turn (its TTFT, from just before ``chat()`` to the
first content item). The fake server runs in its own process on loopback. Quoted: medians
over the trials, and the ratio after/warm (target: at most 2x a warm turn's).

Run: ``nox -s bench`` or ``python benchmarks/bench_bargein_pause.py [--quick]
[--backend asyncio|trio|both] [--pause S] [--trials N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import anyio  # noqa: E402
from _fig_bargein import DELAYS, NEXT, SCENARIOS  # noqa: E402
from _ours import Ours  # noqa: E402
from _serverproc import ServerProcess  # noqa: E402

HEARD = 3
TRIAL_TIMEOUT = 5.0


async def one_trial(session: Ours, pause: float, delay: float) -> tuple[float, float]:
    """A warm turn's TTFT and the TTFT of the turn after a barge-in, in ms."""
    warm = await session.turn(NEXT, remember=False)
    await anyio.sleep(pause)
    heard = anyio.Event()
    count = 0

    def on_item(_: str) -> None:
        nonlocal count
        count += 1
        if count == HEARD:
            heard.set()

    async def canceller() -> None:
        await heard.wait()
        await anyio.sleep(delay)
        await session.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(canceller)
        await session.consume(SCENARIOS["stall"], on_item)
    await anyio.sleep(pause)  # the user speaks; the next turn starts when they are heard
    after = await session.turn(NEXT, remember=False)
    await anyio.sleep(pause)
    return warm.ttft * 1e3, after.ttft * 1e3


async def run(base_url: str, trials: int, pause: float) -> dict[str, float]:
    warm: list[float] = []
    after: list[float] = []
    async with Ours(base_url, path="ws") as session:
        await session.turn(NEXT, remember=False)
        for i in range(trials):
            await session.reset()
            with anyio.fail_after(TRIAL_TIMEOUT):
                w, a = await one_trial(session, pause, DELAYS[i % len(DELAYS)])
            warm.append(w)
            after.append(a)
    return {"warm_ms": statistics.median(warm), "after_barge_in_ms": statistics.median(after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (4 trials)")
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds the user speaks")
    parser.add_argument("--trials", type=int, default=20)
    args, _ = parser.parse_known_args()  # nox -s bench passes every bench its arguments
    trials = 4 if args.quick else args.trials
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    print(f"| backend | warm TTFT | TTFT after a barge-in and a {args.pause * 1e3:.0f} ms pause |")
    print("|---|---|---|")
    with ServerProcess() as server:
        for backend in backends:
            got = anyio.run(run, server.base_url, trials, args.pause, backend=backend)
            ratio = got["after_barge_in_ms"] / got["warm_ms"]
            met = "met" if ratio <= 2.0 else "not met"
            print(
                f"| {backend} | {got['warm_ms']:.2f} ms | {got['after_barge_in_ms']:.2f} ms "
                f"({ratio:.2f}x; target <= 2x: {met}) |"
            )


if __name__ == "__main__":
    main()

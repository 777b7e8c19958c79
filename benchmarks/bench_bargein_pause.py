"""Benchmark: the first token of the turn after a WebSocket barge-in against a warm turn's,
in the same session, ours beside the floor's (aiohttp, one warm spare) in the same run.

``bench_client.py``'s barge-in figure starts the next turn the instant the loop ends
(``--pause 0`` here); a voice agent starts it only after the user's interruption was heard
(hundreds of ms of speech and transcription), the default ``--pause`` of 100 ms, which shows
what the pool does in that pause: the next turn goes on the warm spare, and whether the
replacement spare's handshake is still running beside it. Each trial: ``SETTLE`` for what
the previous trial left running, a warm turn (its TTFT), a pause, a reply that stalls after
3 chunks and is cancelled, a pause, the next turn (its TTFT, from just before ``chat()`` to
the first content item). The fake server runs in its own process on loopback.

The floor (``_floor.FloorWS``: aiohttp, the interrupted socket dropped, the next turn on a
spare opened before the trial) runs the same trials under asyncio, its figures the trio
floor too, as in ``bench_client.py``. Its ratio says how much of the wait is the server's
(the fake server closing the old socket while it answers on the spare): a client that does
nothing but send on an open socket waits that long too. Also quoted: the client's CPU from
the cancel to the end of the next turn, less a warm turn's CPU, i.e. the work the barge-in
itself costs the client (the old socket's close, a new spare's handshake), and the client's
CPU from the cancel to the next turn's first item (what of that work runs before the first
token; under load it holds where wall times do not). Quoted: medians over the trials, and
the ratio after/warm (target: at most 2x a warm turn's).

Run: ``nox -s bench`` or ``python benchmarks/bench_bargein_pause.py [--quick]
[--backend asyncio|trio|both] [--pause S] [--trials N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _floor  # noqa: E402
import anyio  # noqa: E402
from _fig_bargein import DELAYS, NEXT, SCENARIOS  # noqa: E402
from _floor import FloorWS  # noqa: E402
from _ours import Ours  # noqa: E402
from _serverproc import ServerProcess  # noqa: E402

HEARD = 3
TRIAL_TIMEOUT = 5.0
#: Before each trial's warm turn: what the previous trial left running (the interrupted
#: socket's close, a spare's handshake, which our pool opens at the turn after a barge-in's
#: first output) has finished, so the reference is a warm turn's and not that work's.
SETTLE = 0.05


class FloorRenewingAtBargeIn(FloorWS):
    """The floor, with its replacement spare opened at the barge-in (not between trials) as
    our pool does: its handshake then runs beside the next turn, on the client and on the
    one-process server. What this adds to the floor's figure is what that schedule costs."""

    async def consume(self, spec: Any, on_item: Callable[[str], None]) -> float:
        exited = await super().consume(spec, on_item)
        if self.spare is None and self._tg is not None:  # the spare was just promoted
            self.spare = _floor._RawSocket()
            self.sockets_opened += 1
            self._tg.start_soon(self.spare.run, self.url, self._client, self.library)
        return exited


async def one_trial(session: Any, pause: float, delay: float) -> tuple[float, float, float, float]:
    """A warm turn's TTFT, the TTFT of the turn after a barge-in (ms), the client CPU the
    barge-in added (µs: from the cancel to the end of the next turn, less the warm turn's
    CPU), and the client CPU from the cancel to the next turn's first item (µs)."""
    await anyio.sleep(SETTLE)  # the reference turn runs on a quiet client
    warm = await session.turn(NEXT, remember=False)
    await anyio.sleep(pause)
    heard = anyio.Event()
    count = 0
    cpu_at_cancel = 0.0

    def on_item(_: str) -> None:
        nonlocal count
        count += 1
        if count == HEARD:
            heard.set()

    async def canceller() -> None:
        nonlocal cpu_at_cancel
        await heard.wait()
        await anyio.sleep(delay)
        cpu_at_cancel = time.process_time()
        await session.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(canceller)
        await session.consume(SCENARIOS["stall"], on_item)
    await anyio.sleep(pause)  # the user speaks; the next turn starts when they are heard
    first: list[float] = []  # wall and CPU time at the next turn's first item

    def on_next_item(_: str) -> None:
        if not first:
            first.extend((time.perf_counter(), time.process_time()))

    started = time.perf_counter()
    await session.consume(NEXT, on_next_item)
    extra_cpu = time.process_time() - cpu_at_cancel - warm.cpu
    await anyio.sleep(pause)
    to_first_cpu = first[1] - cpu_at_cancel
    return warm.ttft * 1e3, (first[0] - started) * 1e3, extra_cpu * 1e6, to_first_cpu * 1e6


async def run(make: Callable[[], Any], trials: int, pause: float) -> dict[str, float]:
    warm: list[float] = []
    after: list[float] = []
    cpu: list[float] = []
    to_first: list[float] = []
    async with make() as session:
        await session.turn(NEXT, remember=False)
        for i in range(trials):
            await session.reset()
            with anyio.fail_after(TRIAL_TIMEOUT):
                w, a, c, f = await one_trial(session, pause, DELAYS[i % len(DELAYS)])
            warm.append(w)
            after.append(a)
            cpu.append(c)
            to_first.append(f)
    return {
        "warm_ms": statistics.median(warm),
        "after_barge_in_ms": statistics.median(after),
        "extra_cpu_us": statistics.median(cpu),
        "to_first_cpu_us": statistics.median(to_first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (4 trials)")
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds the user speaks")
    parser.add_argument("--trials", type=int, default=20)
    args, _ = parser.parse_known_args()  # nox -s bench passes every bench its arguments
    trials = 4 if args.quick else args.trials
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    print(
        f"| client | warm TTFT | TTFT after a barge-in and a {args.pause * 1e3:.0f} ms pause "
        "| client CPU the barge-in added | client CPU from the cancel to the next first item |"
    )
    print("|---|---|---|---|---|")
    with ServerProcess() as server:
        url = server.base_url
        clients: list[tuple[str, Callable[[], Any], str]] = [
            (f"ours, {backend}", lambda: Ours(url, path="ws"), backend) for backend in backends
        ]
        clients.append(("floor (aiohttp)", lambda: FloorWS(url, spare=True), "asyncio"))
        clients.append(
            (
                "floor, spare renewed at the barge-in",
                lambda: FloorRenewingAtBargeIn(url, spare=True),
                "asyncio",
            )
        )
        for name, make, backend in clients:
            got = anyio.run(run, make, trials, args.pause, backend=backend)
            ratio = got["after_barge_in_ms"] / got["warm_ms"]
            met = "met" if ratio <= 2.0 else "not met"
            print(
                f"| {name} | {got['warm_ms']:.2f} ms | {got['after_barge_in_ms']:.2f} ms "
                f"({ratio:.2f}x; target <= 2x: {met}) | {got['extra_cpu_us']:.0f} µs "
                f"| {got['to_first_cpu_us']:.0f} µs |"
            )


if __name__ == "__main__":
    main()

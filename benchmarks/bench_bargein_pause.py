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

What of the wait is not the client's: a last row runs the floor again with the interrupted
socket left open (idle, the server stalled) until the next trial, closed by nobody in the
timed window, the least any client can do; and two columns give the server's own CPU
(Linux: the fake server's threads' run time from ``/proc``, in ns) from the cancel to the
next turn's first item, and over a whole warm turn (its 20 chunks included): what the
server spent closing the interrupted socket, opening a spare and answering on a socket that
never carried a turn, on a machine whose two cores the client and the server share.

Run: ``nox -s bench`` or ``python benchmarks/bench_bargein_pause.py [--quick]
[--backend asyncio|trio|both] [--pause S] [--trials N]``.
"""

from __future__ import annotations

import argparse
import os
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


class FloorLeavingInterruptedOpen(FloorWS):
    """The floor, closing nothing at the barge-in: the interrupted socket stays open (idle:
    the server stalled) until the next trial's ``reset`` and the next turn goes on the spare.
    No client can do less; what its next turn waits beyond a warm turn is the server's and
    the fresh socket's, not any close's."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.left_open: list[_floor._RawSocket] = []

    def _drop(self, interrupted: _floor._RawSocket) -> None:
        self.left_open.append(interrupted)  # closed by the next ``reset``, untimed

    def _close_left_open(self) -> None:
        for sock in self.left_open:
            sock.done.set()
        self.left_open.clear()

    async def reset(self) -> None:
        self._close_left_open()  # between trials, untimed
        await super().reset()

    async def __aexit__(self, *exc: object) -> None:
        self._close_left_open()
        await super().__aexit__(*exc)


def server_cpu_reader(pid: int | None) -> Callable[[], int | None]:
    """A reader of the server process's CPU time so far in ns (the sum over its threads of
    ``/proc/PID/task/TID/schedstat``'s first field, exact where ``/proc/PID/stat`` counts
    10 ms ticks); it returns None where there is no such file (not Linux)."""
    tasks = f"/proc/{pid}/task"

    def read() -> int | None:
        try:
            total = 0
            for tid in os.listdir(tasks):
                with open(f"{tasks}/{tid}/schedstat") as stat:
                    total += int(stat.read().split()[0])
            return total
        except (OSError, ValueError, IndexError):
            return None

    return read


async def one_trial(
    session: Any, pause: float, delay: float, server_cpu: Callable[[], int | None]
) -> tuple[float, float, float, float, float | None, float | None]:
    """A warm turn's TTFT, the TTFT of the turn after a barge-in (ms), the client CPU the
    barge-in added (µs: from the cancel to the end of the next turn, less the warm turn's
    CPU), the client CPU from the cancel to the next turn's first item (µs), the server's
    CPU in that window and in the whole warm turn (µs, None where it cannot be read)."""
    await anyio.sleep(SETTLE)  # the reference turn runs on a quiet client
    server_before_warm = server_cpu()
    warm = await session.turn(NEXT, remember=False)
    server_after_warm = server_cpu()
    await anyio.sleep(pause)
    heard = anyio.Event()
    count = 0
    cpu_at_cancel = 0.0
    server_at_cancel: int | None = None

    def on_item(_: str) -> None:
        nonlocal count
        count += 1
        if count == HEARD:
            heard.set()

    async def canceller() -> None:
        nonlocal cpu_at_cancel, server_at_cancel
        await heard.wait()
        await anyio.sleep(delay)
        server_at_cancel = server_cpu()
        cpu_at_cancel = time.process_time()
        await session.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(canceller)
        await session.consume(SCENARIOS["stall"], on_item)
    await anyio.sleep(pause)  # the user speaks; the next turn starts when they are heard
    first: list[float] = []  # wall and CPU time at the next turn's first item
    server_at_first: int | None = None
    read_cpu = 0.0  # the client CPU of that read, left out of the barge-in's

    def on_next_item(_: str) -> None:
        nonlocal server_at_first, read_cpu
        if not first:
            first.extend((time.perf_counter(), time.process_time()))
            server_at_first = server_cpu()  # read after the client's own marks
            read_cpu = time.process_time() - first[1]

    started = time.perf_counter()
    await session.consume(NEXT, on_next_item)
    extra_cpu = time.process_time() - cpu_at_cancel - warm.cpu - read_cpu
    await anyio.sleep(pause)
    to_first_cpu = first[1] - cpu_at_cancel
    server = _span_us(server_at_cancel, server_at_first)
    server_warm = _span_us(server_before_warm, server_after_warm)
    after = (first[0] - started) * 1e3
    return warm.ttft * 1e3, after, extra_cpu * 1e6, to_first_cpu * 1e6, server, server_warm


def _span_us(start_ns: int | None, end_ns: int | None) -> float | None:
    return None if start_ns is None or end_ns is None else (end_ns - start_ns) / 1e3


async def run(
    make: Callable[[], Any],
    trials: int,
    pause: float,
    server_cpu: Callable[[], int | None] = lambda: None,
) -> dict[str, float | None]:
    columns: list[list[float | None]] = [[], [], [], [], [], []]
    async with make() as session:
        await session.turn(NEXT, remember=False)
        for i in range(trials):
            await session.reset()
            with anyio.fail_after(TRIAL_TIMEOUT):
                got = await one_trial(session, pause, DELAYS[i % len(DELAYS)], server_cpu)
            for column, value in zip(columns, got, strict=True):
                column.append(value)
    names = (
        "warm_ms",
        "after_barge_in_ms",
        "extra_cpu_us",
        "to_first_cpu_us",
        "server_cpu_us",
        "server_warm_turn_cpu_us",
    )
    out: dict[str, float | None] = {}
    for name, column in zip(names, columns, strict=True):
        known = [value for value in column if value is not None]
        out[name] = statistics.median(known) if known else None
    return out


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
        "| client CPU the barge-in added | client CPU from the cancel to the next first item "
        "| server CPU in that window | server CPU of a whole warm turn |"
    )
    print("|---|---|---|---|---|---|---|")
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
        clients.append(
            (
                "floor, interrupted socket left open (closes nothing)",
                lambda: FloorLeavingInterruptedOpen(url, spare=True),
                "asyncio",
            )
        )
        server_cpu = server_cpu_reader(server.pid)
        for name, make, backend in clients:
            got = anyio.run(run, make, trials, args.pause, server_cpu, backend=backend)
            print(f"| {name} | {row(got)} |")


def row(got: dict[str, float | None]) -> str:
    """One client's cells: medians, the ratio against its own warm turn."""
    warm, after = got["warm_ms"], got["after_barge_in_ms"]
    assert warm is not None
    assert after is not None
    ratio = after / warm
    met = "met" if ratio <= 2.0 else "not met"
    server, server_warm = got["server_cpu_us"], got["server_warm_turn_cpu_us"]
    return (
        f"{warm:.2f} ms | {after:.2f} ms ({ratio:.2f}x; target <= 2x: {met}) "
        f"| {got['extra_cpu_us']:.0f} µs | {got['to_first_cpu_us']:.0f} µs "
        f"| {_us(server)} | {_us(server_warm)}"
    )


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} µs"


if __name__ == "__main__":
    main()

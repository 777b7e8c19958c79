"""Benchmark: the first token of the turn after a WebSocket barge-in against a warm turn's,
in the same session, ours beside the floor's (aiohttp, one warm spare) in the same run, and
where that wait goes: the client's part and the fake server's.

``bench_client.py``'s barge-in figure starts the next turn the instant the loop ends
(``--pause 0`` here, the first pause run); a voice agent starts it only after the user's
interruption was heard (hundreds of ms of speech and transcription), the second pause of
100 ms, which shows what the pool does in that pause: the next turn goes on the warm spare,
and whether the replacement spare's handshake is still running beside it. Each trial:
``SETTLE`` for what the previous trial left running, a warm turn (its TTFT), a pause, a
reply that is cancelled after 3 chunks (``--scenario``: ``stall``, the server sends nothing
more; ``paced``, it goes on at 50 chunks/s: the two scenarios of ``bench_client.py``), a
pause, the next turn (its TTFT, from just before ``chat()`` to the first content item, and
from the cancel, as ``bench_client.py`` times it). The fake server runs in its own process on
loopback.

The floor (``_floor.FloorWS``: aiohttp, the interrupted socket closed politely, the next
turn on a spare opened before the trial) runs the same trials under asyncio, its figures
the trio floor too, as in ``bench_client.py``. Also quoted: the client's CPU from the cancel
to the end of the next turn, less a warm turn's CPU, i.e. the work the barge-in itself costs
the client (the old socket's close, a new spare's handshake), and the client's CPU from the
cancel to the next turn's first item (what of that work runs before the first token; under
load it holds where wall times do not). Two more floors: one opening its replacement spare
at the barge-in, as a pool that keeps one must at some point; and one leaving the
interrupted socket open (idle, the server stalled) until the next trial, closing nothing in
the timed window, the least any client can do. Quoted: medians over the trials, and the
ratio after/warm (target: at most 2x a warm turn's).

What of the wait is the server's, a second table per scenario and pause: the server runs
with ``--spans`` (``_server.WebSocketSpans``) and timestamps, in its own process, when each
``response.create`` reached its app and when the app handed the first text delta to
hypercorn; both processes read CLOCK_MONOTONIC (``time.perf_counter`` on Linux; elsewhere
these columns say n/a). So each turn's wait splits into client -> server (the client's
request path and the server's read and parse of the frame), server (the fake's own answer)
and server -> item (the server's write, the client's read and parse), for the warm turn
and the next one; beside them the server's CPU in its span, when the server saw the
interrupted socket's close and finished it (from the cancel) and in how many trials that
fell before the next turn's first delta, and both processes' run-queue wait over the
window (``/proc/PID/task/TID/schedstat``: runnable, no core free) on a machine whose two
cores the client and the one-process server share. Also the server's CPU (its threads' run
time from ``/proc``) from the cancel to the next turn's first item and over a whole warm
turn (its 20 chunks included).

Run: ``nox -s bench`` or ``python benchmarks/bench_bargein_pause.py [--quick]
[--backend asyncio|trio|both] [--pause S[,S...]] [--scenario stall,paced] [--trials N]
[--clients NAME,...]``.
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
from _spec import Spec  # noqa: E402

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


def schedstat_reader(pid: int | str | None) -> Callable[[], tuple[int, int] | None]:
    """A reader of a process's CPU time and run-queue wait so far, in ns: the sums over its
    threads of ``/proc/PID/task/TID/schedstat``'s first two fields (time on a CPU, time
    runnable but waiting for one; exact where ``/proc/PID/stat`` counts 10 ms ticks). It
    returns None where there is no such file (not Linux). ``pid``: a number or ``"self"``."""
    tasks = f"/proc/{pid}/task"

    def read() -> tuple[int, int] | None:
        try:
            cpu = wait = 0
            for tid in os.listdir(tasks):
                with open(f"{tasks}/{tid}/schedstat") as stat:
                    fields = stat.read().split()
                cpu += int(fields[0])
                wait += int(fields[1])
            return cpu, wait
        except (OSError, ValueError, IndexError):
            return None

    return read


#: Trial columns (medians over the trials), in the order of the tables.
COLUMNS = (
    "warm_ms",
    "after_barge_in_ms",
    "cancel_to_first_ms",
    "extra_cpu_us",
    "to_first_cpu_us",
    "server_cpu_us",
    "server_warm_turn_cpu_us",
    # The decomposition (``--spans``): the next turn's and the warm turn's wait, split at the
    # server's marks (``_server.WebSocketSpans``).
    "next_to_server_ms",
    "next_server_ms",
    "next_from_server_ms",
    "warm_to_server_ms",
    "warm_server_ms",
    "warm_from_server_ms",
    "next_server_span_cpu_us",
    "warm_server_span_cpu_us",
    "close_seen_ms",
    "close_done_ms",
    "close_before_first",
    "server_wait_us",
    "client_wait_us",
)


async def one_trial(
    session: Any,
    pause: float,
    delay: float,
    interrupted: Spec,
    server_stat: Callable[[], tuple[int, int] | None],
    take_spans: Callable[[], list[dict[str, Any]]] | None,
) -> dict[str, float | None]:
    """One trial's figures (``COLUMNS``): a warm turn's TTFT and the TTFT of the turn after a
    barge-in (from just before its ``chat()``, and from the cancel; ms), the client CPU the
    barge-in added (µs: from the cancel to the end of the next turn, less the warm turn's
    CPU), the client CPU from the cancel to the next turn's first item (µs), the server's CPU
    in that window and in the whole warm turn (µs); with ``take_spans``, each turn's wait
    split at the server's marks, where the interrupted socket's close fell, and both
    processes' run-queue wait in the window. None where it cannot be read."""
    client_stat = schedstat_reader("self")
    await anyio.sleep(SETTLE)  # the reference turn runs on a quiet client
    if take_spans is not None:
        take_spans()  # what the previous trial left (its sockets' closes), untimed
    server_before_warm = server_stat()
    warm = await session.turn(NEXT, remember=False)
    server_after_warm = server_stat()
    await anyio.sleep(pause)
    heard = anyio.Event()
    count = 0
    cpu_at_cancel = 0.0
    cancelled_at = 0.0
    server_at_cancel: tuple[int, int] | None = None
    client_at_cancel: tuple[int, int] | None = None

    def on_item(_: str) -> None:
        nonlocal count
        count += 1
        if count == HEARD:
            heard.set()

    async def canceller() -> None:
        nonlocal cpu_at_cancel, server_at_cancel, client_at_cancel, cancelled_at
        await heard.wait()
        await anyio.sleep(delay)
        server_at_cancel = server_stat()
        client_at_cancel = client_stat()
        cpu_at_cancel = time.process_time()
        cancelled_at = time.perf_counter()
        await session.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(canceller)
        await session.consume(interrupted, on_item)
    await anyio.sleep(pause)  # the user speaks; the next turn starts when they are heard
    first: list[float] = []  # wall and CPU time at the next turn's first item
    server_at_first: tuple[int, int] | None = None
    client_at_first: tuple[int, int] | None = None
    read_cpu = 0.0  # the client CPU of that read, left out of the barge-in's

    def on_next_item(_: str) -> None:
        nonlocal server_at_first, client_at_first, read_cpu
        if not first:
            first.extend((time.perf_counter(), time.process_time()))
            server_at_first = server_stat()  # read after the client's own marks
            client_at_first = client_stat()
            read_cpu = time.process_time() - first[1]

    started = time.perf_counter()
    await session.consume(NEXT, on_next_item)
    extra_cpu = time.process_time() - cpu_at_cancel - warm.cpu - read_cpu
    await anyio.sleep(pause)
    got: dict[str, float | None] = dict.fromkeys(COLUMNS)
    got["warm_ms"] = warm.ttft * 1e3
    got["after_barge_in_ms"] = (first[0] - started) * 1e3
    got["cancel_to_first_ms"] = (first[0] - cancelled_at) * 1e3
    got["extra_cpu_us"] = extra_cpu * 1e6
    got["to_first_cpu_us"] = (first[1] - cpu_at_cancel) * 1e6
    got["server_cpu_us"] = _span_us(server_at_cancel, server_at_first)
    got["server_warm_turn_cpu_us"] = _span_us(server_before_warm, server_after_warm)
    got["server_wait_us"] = _span_us(server_at_cancel, server_at_first, field=1)
    got["client_wait_us"] = _span_us(client_at_cancel, client_at_first, field=1)
    if take_spans is not None:
        _split(got, take_spans(), warm, started, first[0], cancelled_at)
    return got


def _split(
    got: dict[str, float | None],
    events: list[dict[str, Any]],
    warm: Any,
    started: float,
    first: float,
    cancelled_at: float,
) -> None:
    """Fill the decomposition columns from the server's marks of one trial: its turns are
    the warm one, the interrupted one and the next one, in that order."""
    turns = sorted((e for e in events if e["kind"] == "turn"), key=lambda e: e["t"])
    if len(turns) != 3:
        return  # marks missing (clocks that do not compare, a dropped event): say n/a
    warm_span, interrupted, next_span = turns
    warm_first = warm.started + warm.ttft
    got["warm_to_server_ms"] = (warm_span["t"] - warm.started) * 1e3
    got["warm_server_ms"] = (warm_span["first"] - warm_span["t"]) * 1e3
    got["warm_from_server_ms"] = (warm_first - warm_span["first"]) * 1e3
    got["warm_server_span_cpu_us"] = (warm_span["first_cpu"] - warm_span["cpu"]) * 1e6
    got["next_to_server_ms"] = (next_span["t"] - started) * 1e3
    got["next_server_ms"] = (next_span["first"] - next_span["t"]) * 1e3
    got["next_from_server_ms"] = (first - next_span["first"]) * 1e3
    got["next_server_span_cpu_us"] = (next_span["first_cpu"] - next_span["cpu"]) * 1e6
    closes = [e for e in events if e["socket"] == interrupted["socket"]]
    seen = next((e["t"] for e in closes if e["kind"] == "disconnect"), None)
    done = next((e["t"] for e in closes if e["kind"] == "gone"), None)
    if seen is not None:
        got["close_seen_ms"] = (seen - cancelled_at) * 1e3
        got["close_before_first"] = 1.0 if seen < next_span["first"] else 0.0
    if done is not None:
        got["close_done_ms"] = (done - cancelled_at) * 1e3


def _span_us(
    start: tuple[int, int] | None, end: tuple[int, int] | None, field: int = 0
) -> float | None:
    """µs between two ``schedstat_reader`` readings (``field`` 0: CPU, 1: run-queue wait)."""
    if start is None or end is None:
        return None
    return (end[field] - start[field]) / 1e3


async def run(
    make: Callable[[], Any],
    trials: int,
    pause: float,
    server_stat: Callable[[], tuple[int, int] | None] = lambda: None,
    take_spans: Callable[[], list[dict[str, Any]]] | None = None,
    interrupted: Spec = SCENARIOS["stall"],
) -> dict[str, float | None]:
    columns: dict[str, list[float]] = {name: [] for name in COLUMNS}
    async with make() as session:
        await session.turn(NEXT, remember=False)
        for i in range(trials):
            await session.reset()
            with anyio.fail_after(TRIAL_TIMEOUT):
                got = await one_trial(
                    session, pause, DELAYS[i % len(DELAYS)], interrupted, server_stat, take_spans
                )
            for name, value in got.items():
                if value is not None:
                    columns[name].append(value)
    return {name: statistics.median(column) if column else None for name, column in columns.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (4 trials)")
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    parser.add_argument(
        "--pause",
        default="0,0.1",
        help="seconds the user speaks, comma-separated (0: the bench_client.py row's case)",
    )
    parser.add_argument(
        "--scenario",
        default="stall,paced",
        help="the interrupted reply: stall (3 chunks, then nothing) and/or paced (50 chunks/s)",
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--clients", default="", help="client names to run (substrings, commas)")
    args, _ = parser.parse_known_args()  # nox -s bench passes every bench its arguments
    trials = 4 if args.quick else args.trials
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    pauses = [float(p) for p in str(args.pause).split(",")]
    scenarios = [s for s in str(args.scenario).split(",") if s]
    with ServerProcess(spans=True) as server:
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
        wanted = [w for w in args.clients.split(",") if w]
        clients = [c for c in clients if not wanted or any(w in c[0] for w in wanted)]
        server_stat = schedstat_reader(server.pid)
        for scenario in scenarios:
            for pause in pauses:
                results = []
                for name, make, backend in clients:
                    results.append(
                        (
                            name,
                            anyio.run(
                                run,
                                make,
                                trials,
                                pause,
                                server_stat,
                                server.take_spans,
                                SCENARIOS[scenario],
                                backend=backend,
                            ),
                        )
                    )
                print_tables(scenario, pause, results)


def print_tables(scenario: str, pause: float, results: list[tuple[str, Any]]) -> None:
    """The two tables of one scenario and pause: the figures, and their decomposition."""
    what = "a stalled reply" if scenario == "stall" else "a reply at 50 chunks/s"
    print(f"\n### Barge-in on {what}, the next turn after a {pause * 1e3:.0f} ms pause\n")
    print(
        "| client | warm TTFT | next turn's TTFT (from its chat()) | from the cancel "
        "| client CPU the barge-in added | client CPU from the cancel to the next first item "
        "| server CPU in that window | server CPU of a whole warm turn |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, got in results:
        print(f"| {name} | {row(got)} |")
    print(
        "\nWhere the wait goes (the server's marks, ``_server.WebSocketSpans``: when the"
        " ``response.create`` reached its app and when the app wrote the first delta;"
        " medians, ms unless said):\n"
    )
    print(
        "| client | warm: client -> server / server / server -> item "
        "| next: client -> server / server / server -> item "
        "| server CPU in its span, warm / next | interrupted socket's close seen / done "
        "(from the cancel), before the next first delta | run-queue wait in the window, "
        "server / client |"
    )
    print("|---|---|---|---|---|---|")
    for name, got in results:
        print(f"| {name} | {split_row(got)} |")


def row(got: dict[str, float | None]) -> str:
    """One client's cells: medians, the ratio against its own warm turn."""
    warm, after, cancel = got["warm_ms"], got["after_barge_in_ms"], got["cancel_to_first_ms"]
    assert warm is not None
    assert after is not None
    assert cancel is not None
    ratio = after / warm
    met = "met" if ratio <= 2.0 else "not met"
    return (
        f"{warm:.2f} ms | {after:.2f} ms ({ratio:.2f}x; target <= 2x: {met}) "
        f"| {cancel:.2f} ms ({cancel / warm:.2f}x) "
        f"| {_us(got['extra_cpu_us'])} | {_us(got['to_first_cpu_us'])} "
        f"| {_us(got['server_cpu_us'])} | {_us(got['server_warm_turn_cpu_us'])}"
    )


def split_row(got: dict[str, float | None]) -> str:
    """One client's decomposition cells."""

    def ms(*names: str) -> str:
        return " / ".join("n/a" if got[n] is None else f"{got[n]:.2f}" for n in names)

    before = got["close_before_first"]
    return (
        f"{ms('warm_to_server_ms', 'warm_server_ms', 'warm_from_server_ms')} "
        f"| {ms('next_to_server_ms', 'next_server_ms', 'next_from_server_ms')} "
        f"| {_us(got['warm_server_span_cpu_us'])} / {_us(got['next_server_span_cpu_us'])} "
        f"| {ms('close_seen_ms', 'close_done_ms')}, "
        f"{'n/a' if before is None else f'{before:.0%}'} of trials "
        f"| {_us(got['server_wait_us'])} / {_us(got['client_wait_us'])}"
    )


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} µs"


if __name__ == "__main__":
    main()

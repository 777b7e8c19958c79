"""Benchmark: who sets the pace of a 20,000-chunk HTTP reply, the client or the server, and
what each wait on the socket costs the client: ours beside the floor, turns alternating.

``bench_client.py``'s CPU per chunk divides the client's CPU over a turn by its chunks.
When the server writes faster than the client reads, most reads find the next chunks
buffered and the figure is the client's own work. When the server is the slower side, the
client catches up and waits on the socket again and again, and each wait (the event loop's
poll, the wake-up, the read) costs far more CPU than a buffered chunk: then the figure also
counts how often a client ran dry, and a client that works faster per chunk runs dry more
often. This script shows which regime a run is in. Per turn, for ours and for the floor
(``_floor_responses``/``_floor``), in turn:

- the client's CPU per chunk (``time.process_time``, as ``bench_client.py``);
- the wall time per chunk (the reply's pace);
- the server's CPU per chunk (Linux: its threads' run time from ``/proc``,
  ``bench_bargein_pause.schedstat_reader``);
- the client's waits per chunk: voluntary context switches of this process (Linux:
  ``/proc/self/status``), i.e. how often it ran dry and slept in the event loop's poll.

Three regimes:

- default: the bench server as ``bench_client.py`` runs it. A Chat Completions chunk costs
  the fake about 7 µs; a Responses reply is replayed as rendered once per spec
  (``_rendered.py``), at the same cost. Both clients find data waiting (waits near 0).
- ``--live-responses``: the fake builds every Responses event as it goes (about 25 µs of
  its CPU per event, the bench server before ``_rendered.py``): the clients run dry every
  few events and the figure mixes the two costs.
- ``--pace N``: the server sends N chunks per second (e.g. 1000), so every chunk is a
  wake-up, as with a real model's tokens: the figure is a wait's cost plus one chunk's.

Medians over ``--turns`` turns per client. Run: ``python benchmarks/bench_http_pace.py
[--backend asyncio|trio|both] [--paths http,responses] [--turns 7] [--chunks 20000]
[--live-responses] [--pace 0]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import anyio  # noqa: E402
from _serverproc import ServerProcess  # noqa: E402
from _sessions import makers  # noqa: E402
from _spec import Spec  # noqa: E402
from bench_bargein_pause import schedstat_reader  # noqa: E402

CLIENTS = ("ours", "floor")


def voluntary_switches() -> int | None:
    """This process's voluntary context switches so far (None where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


async def measure(
    base_url: str,
    server_pid: int | None,
    backend: str,
    path: str,
    turns: int,
    chunks: int,
    pace: float = 0.0,
) -> dict[str, dict[str, float | None]]:
    """Per client: medians of client CPU, wall, server CPU (µs per chunk) and waits per
    chunk over ``turns`` turns, the clients alternating (the order flips every turn)."""
    server_stat = schedstat_reader(server_pid)

    def server_cpu() -> int | None:
        stat = server_stat()
        return None if stat is None else stat[0]

    found = makers(base_url, path, backend)
    spec = Spec(chunks=chunks, pace=pace)
    samples: dict[str, list[tuple[float, float, float | None, float | None]]] = {
        name: [] for name in CLIENTS
    }
    async with found["ours"]() as ours, found["floor"]() as floor:
        sessions = {"ours": ours, "floor": floor}
        for session in sessions.values():  # warm: code paths, the connection, the cache
            await session.turn(Spec(chunks=20), remember=False)
            await session.turn(spec, remember=False)
        for index in range(turns):
            for name in CLIENTS if index % 2 else CLIENTS[::-1]:
                gc.collect()
                switches, served = voluntary_switches(), server_cpu()
                turn = await sessions[name].turn(spec, remember=False)
                switched, served_after = voluntary_switches(), server_cpu()
                if turn.chunks != chunks:
                    raise RuntimeError(f"{name}: {turn.chunks} of {chunks} chunks")
                samples[name].append(
                    (
                        turn.cpu / chunks * 1e6,
                        turn.total / chunks * 1e6,
                        None
                        if served is None or served_after is None
                        else (served_after - served) / chunks / 1e3,
                        None
                        if switches is None or switched is None
                        else (switched - switches) / chunks,
                    )
                )
    return {name: _medians(rows) for name, rows in samples.items()}


def _medians(
    rows: list[tuple[float, float, float | None, float | None]],
) -> dict[str, float | None]:
    keys = ("client_cpu_us", "wall_us", "server_cpu_us", "waits")
    out: dict[str, float | None] = {}
    for index, key in enumerate(keys):
        values = [row[index] for row in rows if row[index] is not None]
        out[key] = statistics.median(values) if values else None  # type: ignore[type-var]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    parser.add_argument("--paths", default="http,responses")
    parser.add_argument("--turns", type=int, default=7)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--pace", type=float, default=0.0, help="chunks/s (0: unpaced)")
    parser.add_argument(
        "--live-responses",
        action="store_true",
        help="the server builds each Responses event as it goes (no replay: _rendered.py)",
    )
    args = parser.parse_args()
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {}
    with ServerProcess(live_responses=args.live_responses) as server:
        for backend in backends:
            for path in args.paths.split(","):
                if path == "ws" and backend == "trio":
                    # aiohttp, the WebSocket floor, runs on asyncio only (bench_client.py
                    # quotes its asyncio figure for trio too): no pair to measure here.
                    print(f"{backend:8s} {path:10s} skipped: the aiohttp floor is asyncio-only")
                    continue
                figures = anyio.run(
                    measure,
                    server.base_url,
                    server.pid,
                    backend,
                    path,
                    args.turns,
                    args.chunks,
                    args.pace,
                    backend=backend,
                )
                results[f"{backend}/{path}"] = figures
                for name, row in figures.items():
                    served, waits = _num(row["server_cpu_us"]), _num(row["waits"], 3)
                    print(
                        f"{backend:8s} {path:10s} {name:6s} client CPU {row['client_cpu_us']:5.1f} "
                        f"µs/chunk, wall {row['wall_us']:5.1f} µs/chunk, server CPU {served} "
                        f"µs/chunk, waits {waits}/chunk",
                        flush=True,
                    )
                ours, floor = figures["ours"], figures["floor"]
                ratio = (ours["client_cpu_us"] or 0.0) / (floor["client_cpu_us"] or 1.0)
                print(f"{backend:8s} {path:10s} ours/floor client CPU {ratio:.2f}x", flush=True)
    print(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **results}))


def _num(value: float | None, digits: int = 1) -> str:
    return "  n/a" if value is None else f"{value:5.{digits}f}"


if __name__ == "__main__":
    main()

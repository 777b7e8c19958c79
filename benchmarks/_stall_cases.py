"""Run chosen stall scenarios of ``_fig_stall`` (each a fresh process) and print each run:
the most CPU in one step and whose, the longest collection. For profiling one case without
the whole figure: ``python benchmarks/_stall_cases.py asyncio:enter:http trio:enter:ws``."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="backend:scenario:path[:no-trio]")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _fig_import import compile_bytecode
    from _fig_stall import _run_child
    from _serverproc import ServerProcess

    compile_bytecode(sys.executable, ["scoped_openai", "httpx", "httpcore", "anyio"])
    with ServerProcess() as server:
        for case in args.cases:
            backend, scenario, path, *rest = case.split(":")
            runs = [
                _run_child(backend, scenario, path, server.base_url, args.count, bool(rest))
                for _ in range(args.repeats)
            ]
            good = [run for run in runs if isinstance(run, dict)]
            if not good:
                print(case, runs[0])
                continue
            cpu = statistics.median(run["step_cpu_ms"] for run in good)
            own = statistics.median(run["step_cpu_without_gc_ms"] for run in good)
            print(
                f"{case}: step CPU median {cpu:.2f} ms (runs "
                + ", ".join(f"{run['step_cpu_ms']:.2f}" for run in good)
                + f"), less collections {own:.2f} ms, gc max "
                + f"{max(run['gc_ms'] for run in good):.1f} ms, ticker median "
                + f"{statistics.median(run['ticker_ms'] for run in good):.2f} ms, CPU between "
                + f"two ticks median {statistics.median(run['gap_cpu_ms'] for run in good):.2f}"
                + " ms; "
                + f"longest step's task: {good[-1]['step_task']}; longest less collections: "
                + f"{good[-1]['step_without_gc_task']}"
                + "; ticker gaps: "
                + " | ".join(run["ticker_gap"] for run in good)
                + (
                    f"; GC-tracked objects per session {good[-1]['objects_per_session']:.0f}"
                    if "objects_per_session" in good[-1]
                    else ""
                )
            )


if __name__ == "__main__":
    main()

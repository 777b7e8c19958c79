"""Run chosen stall scenarios of ``_fig_stall`` (each a fresh process) and print each run:
what the figure's row is judged on (``_fig_stall._judged``), the ticker's longest gap split
into the task steps' CPU and the time this process waited for a core (run-queue wait,
``/proc/thread-self/schedstat``), the most CPU in one step and whose, the longest
collection. For profiling one case without the whole figure:
``python benchmarks/_stall_cases.py asyncio:enter:http trio:enter:ws``; another tree with
``PYTHONPATH=<tree>/src`` (run the trees alternately: the machine's load moves)."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "cases",
        nargs="+",
        help="backend:scenario:path[:no-trio][:freeze-before|:freeze-after|:freeze-disabled] "
        "(the last three: sessions, the application calling gc.freeze() before or after "
        "opening them, or turning collection off while opening and freezing after)",
    )
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
            freeze = next((flag[7:] for flag in rest if flag.startswith("freeze-")), None)
            runs = [
                _run_child(
                    backend, scenario, path, server.base_url, args.count, "no-trio" in rest, freeze
                )
                for _ in range(args.repeats)
            ]
            good = [run for run in runs if isinstance(run, dict)]
            if not good:
                print(case, runs[0])
                continue
            print(_line(case, good))


def _line(case: str, good: list[dict[str, Any]]) -> str:
    """One case's runs in a line: medians, then each run's longest ticker gap."""

    def median(key: str) -> float:
        return statistics.median(run[key] for run in good)

    from _fig_stall import _judged

    runs = ", ".join(f"{run['ticker_ms']:.2f}" for run in good)
    judged = [_judged(run)[0] for run in good]
    line = (
        f"{case}: judged as the figure's row {statistics.median(judged):.2f} ms (runs "
        + ", ".join(f"{ms:.2f}" for ms in judged)
        + f"); ticker median {median('ticker_ms'):.2f} ms (runs {runs}); in the longest gap "
        f"the steps' CPU {median('gap_steps_cpu_ms'):.2f} ms and waiting for a core "
        f"{median('gap_waiting_ms'):.2f} ms; the ticker less the wait for a core "
        f"{median('ticker_less_waiting_ms'):.2f} ms; most CPU between a tick's deadline and "
        f"the tick {median('gap_cpu_ms'):.2f} ms; most CPU in one step "
        f"{median('step_cpu_ms'):.2f} ms ({good[-1]['step_task']}), less collections "
        f"{median('step_cpu_without_gc_ms'):.2f} ms ({good[-1]['step_without_gc_task']}); "
        f"longest collection {max(run['gc_ms'] for run in good):.1f} ms; the idle loop before "
        f"it: ticker {median('idle_ms'):.2f} ms, waiting for a core {median('idle_waiting_ms'):.2f}"
        " ms in 200 ms"
    )
    if "open_ticker_ms" in good[-1]:
        line += "".join(
            f"; {phase}: ticker {median(f'{phase}_ticker_ms'):.1f} ms, longest collection "
            f"{median(f'{phase}_gc_ms'):.1f} ms (gen "
            f"{max(run[f'{phase}_gc_generation'] for run in good)}), longest step less "
            f"collections {median(f'{phase}_step_cpu_without_gc_ms'):.2f} ms CPU "
            f"({good[-1][f'{phase}_step_without_gc_task']}; by task, last run: "
            + ", ".join(f"{name} {ms:.2f}" for name, ms in good[-1][f"{phase}_own_by_task"].items())
            + ")"
            for phase in ("open", "close")
        )
        line += f"; GC-tracked objects per session {good[-1]['objects_per_session']:.0f}"
    return line + "\n  gaps: " + "\n        ".join(run["ticker_gap"] for run in good)


if __name__ == "__main__":
    main()

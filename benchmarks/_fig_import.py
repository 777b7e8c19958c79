"""Figure 5: import time, in fresh interpreters: ``python -c "import X"`` minus
``python -c "pass"`` (median of N each, runs interleaved), and ``-X importtime``'s heaviest
modules for ``scoped_openai`` (cumulative µs, one run). The wall time is the figure; the
child's CPU time (user + system, from ``wait4``) is kept beside it: on a shared machine it
moves far less with the load than the wall time does.

Bytecode is compiled first, as ``pip install`` does: a venv that uv filled (nox's) holds no
``.pyc`` files, and where ``PYTHONDONTWRITEBYTECODE`` is set (this project's machines) no
import ever writes them, so every import would compile the sources again (httpx alone
measured 149 ms that way against 102 ms with its bytecode, same machine, same run)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _timed(python: str, code: str) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -c code``."""
    t0 = time.perf_counter()
    child = subprocess.Popen([python, "-c", code])
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise subprocess.CalledProcessError(status, [python, "-c", code])
    return wall, usage.ru_utime + usage.ru_stime


def compile_bytecode(python: str, modules: list[str]) -> None:
    """Compile the site-packages of ``python`` and the directories ``modules`` live in (an
    editable install's sources), as an installer would have. Once per interpreter."""
    where = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util, os, site, sys; "
            "print(*(os.path.dirname(importlib.util.find_spec(m).origin) for m in sys.argv[1:]),"
            " *site.getsitepackages(), sep=chr(10))",
            *modules,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    paths = sorted({line for line in where.stdout.splitlines() if line})
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", *paths],
        check=False,  # a file that does not compile (a py2 test fixture) is not our concern
        capture_output=True,
        timeout=900,
    )


def import_times(modules: dict[str, tuple[str, str]], repeats: int) -> dict[str, dict[str, Any]]:
    """``modules``: label -> (python executable, module). Milliseconds over ``pass``."""
    by_python: dict[str, list[str]] = {}
    for python, module in modules.values():
        by_python.setdefault(python, []).append(module)
    for python, names in by_python.items():
        compile_bytecode(python, names)
    pythons = {python for python, _ in modules.values()}
    base: dict[str, list[tuple[float, float]]] = {python: [] for python in pythons}
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in modules}
    for _ in range(repeats):
        for python in pythons:
            base[python].append(_timed(python, "pass"))
        for label, (python, module) in modules.items():
            runs[label].append(_timed(python, f"import {module}"))
    out = {}
    for label, (python, _) in modules.items():
        floor = statistics.median(wall for wall, _ in base[python])
        floor_cpu = statistics.median(cpu for _, cpu in base[python])
        out[label] = {
            "import_ms": (statistics.median(wall for wall, _ in runs[label]) - floor) * 1e3,
            "import_cpu_ms": (statistics.median(cpu for _, cpu in runs[label]) - floor_cpu) * 1e3,
            "interpreter_ms": floor * 1e3,
            "n": repeats,
        }
    return out


def heaviest(module: str = "scoped_openai", top: int = 8) -> list[dict[str, Any]]:
    """The top-level imports ``module`` pulls in, by cumulative time (one -X importtime run)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            depth = (len(indent) - 1) // 2
            rows.append(
                {
                    "module": name,
                    "self_us": int(self_us),
                    "cum_us": int(cumulative_us),
                    "depth": depth,
                }
            )
    # Depth-1 entries are what ``module`` (depth 0 / its package) imported directly or first.
    shallow = [r for r in rows if r["depth"] <= 1]
    shallow.sort(key=lambda r: r["cum_us"], reverse=True)
    return shallow[:top]

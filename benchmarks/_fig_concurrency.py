"""Figure 4: N concurrent sessions of one 200-chunk reply each, one fresh process per run
(``_child.py``), so the peak RSS is that run's. Medians over repeats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import summary

HERE = Path(__file__).resolve().parent
CHILD_TIMEOUT = 300.0
METRICS = (
    "setup_wall",
    "setup_cpu",
    "stream_wall",
    "stream_cpu",
    "close_wall",
    "total_wall",
    "total_cpu",
    "peak_rss_mb",
    "rss_growth_mb",
)


def run_child(
    base_url: str, client: str, path: str, backend: str, sessions: int, chunks: int
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE / "_child.py"),
        f"--client={client}",
        f"--path={path}",
        f"--backend={backend}",
        f"--sessions={sessions}",
        f"--chunks={chunks}",
        f"--base-url={base_url}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"failed": f"no answer within {CHILD_TIMEOUT:g} s"}
    lines = done.stdout.strip().splitlines()
    if not lines:
        return {"failed": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    if "failed" not in result:
        result["total_wall"] = result["setup_wall"] + result["stream_wall"] + result["close_wall"]
        result["total_cpu"] = result["setup_cpu"] + result["stream_cpu"] + result["close_cpu"]
        result["peak_rss_mb"] = result["peak_rss_kb"] / 1024
        result["rss_growth_mb"] = (result["peak_rss_kb"] - result["rss_before_kb"]) / 1024
    return result


def concurrency(
    base_url: str,
    client: str,
    path: str,
    backend: str,
    sessions: int,
    chunks: int,
    repeats: int,
    connections: Any,
) -> dict[str, Any]:
    """Medians over ``repeats`` fresh processes, and the connections the server saw."""
    runs = []
    opened = []
    for _ in range(repeats):
        before = connections()
        runs.append(run_child(base_url, client, path, backend, sessions, chunks))
        opened.append(connections() - before)
    good = [r for r in runs if "failed" not in r]
    out: dict[str, Any] = {m: summary([r[m] for r in good]) for m in METRICS}
    out["chunks_ok"] = all(r["chunks"] == r["expected_chunks"] for r in good) and bool(good)
    out["errors"] = [r["errors"] for r in good if r["errors"]]
    out["failed"] = [r["failed"] for r in runs if "failed" in r]
    out["connections_per_run"] = opened
    return out

"""Benchmark: our client against the floor (the least a client can do on the same wire), the
official openai SDK and the reference plugin, on both backends and both paths, with the fake
OpenAI server in a separate process on loopback.

Run: ``nox -s bench`` (all ``bench_*.py``), or ``python benchmarks/bench_client.py [--quick]
[--backend asyncio|trio|both] [--only cpu,ttft,bargein,concurrency,idle,import,reference,profile,
stall] [--paths http,ws,responses,responses-store]``.

Figures (each a median of several runs next to a floor measured in the same run):

1. CPU per streamed chunk of a 20,000-chunk reply (``_fig_cpu``);
2. warm time to first token over 50 turns of a growing conversation (``_fig_ttft``);
3. barge-in: cancel to loop exit, cancel to the next turn's first token, with a server at 50
   chunks/s and one that stalls, and the connections the next turn opened (``_fig_bargein``);
4. 200 and 1,000 concurrent sessions of 200-chunk replies, one process per run
   (``_fig_concurrency``/``_child``), and the cost of an idle instance (``_idle``);
5. import time (``_fig_import``);
6. the openai SDK as a peer on the HTTP figures (asyncio; whether it runs under trio is
   checked and said);
7. the reference plugin, from its own virtualenv (``_reference``), when one exists;
8. the longest event-loop stall the library causes, seen by a 1 ms ticker (``_fig_stall``).

Targets are reported as met or not, never asserted. Writes ``results/latest.json`` and
``results/latest.png`` and prints a Markdown table. Only loopback is used; every loop is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _report  # noqa: E402
import _sdk  # noqa: E402
import anyio  # noqa: E402
from _common import raise_fd_limit  # noqa: E402
from _fig_bargein import barge_in  # noqa: E402
from _fig_concurrency import concurrency  # noqa: E402
from _fig_cpu import cancel_scope_cost_us, cpu_per_chunk  # noqa: E402
from _fig_import import heaviest, import_times  # noqa: E402
from _fig_stall import stall_rows, stalls  # noqa: E402
from _fig_ttft import request_build_cost, ttft  # noqa: E402
from _profile import profile_turn  # noqa: E402
from _serverproc import ServerProcess  # noqa: E402
from _sessions import makers  # noqa: E402

FIGURES = (
    "cpu",
    "ttft",
    "bargein",
    "concurrency",
    "idle",
    "import",
    "reference",
    "profile",
    "stall",
)
DEFAULT_REF_PYTHON = os.environ.get("BENCH_REF_PYTHON", "/tmp/refvenv/bin/python")

# The Responses API over HTTP (``OpenAILLM(api="responses")``), a path of its own: CPU,
# barge-in and TTFT with store=False (full context), TTFT also chained (store=True). Not in
# the concurrency and stall figures (those measure the two older paths).
RESPONSES = ("responses", "responses-store")
PATHS = ("http", "ws", *RESPONSES)


@dataclass(frozen=True)
class Scale:
    """How much of each figure to run (the full run fits ~10 minutes on 2 cores)."""

    chunks: int = 20_000
    cpu_repeats: int = 5
    profile_chunks: int = 10_000
    turns: int = 50
    ttft_rounds: int = 4
    trials: int = 8
    sessions: tuple[int, ...] = (200, 1000)
    session_repeats: tuple[int, ...] = (2, 1)
    session_chunks: int = 200
    sdk_max_sessions: int = 200  # the SDK's 1,000-session run alone takes ~50 s
    idle_count: int = 1000
    entered_count: int = 200
    sdk_idle_count: int = 100
    import_repeats: int = 7
    ref_import_repeats: int = 3
    ref_repeats: int = 3
    ref_rounds: int = 2
    ref_trials: int = 6
    stall_repeats: int = 3
    stall_sessions: int = 1000


FULL = Scale()
QUICK = Scale(
    chunks=2000,
    cpu_repeats=2,
    profile_chunks=2000,
    turns=50,
    ttft_rounds=1,
    trials=3,
    sessions=(50,),
    session_repeats=(1,),
    idle_count=200,
    entered_count=20,
    sdk_idle_count=10,
    import_repeats=3,
    ref_import_repeats=1,
    ref_repeats=2,
    ref_rounds=1,
    ref_trials=2,
    stall_repeats=1,
    stall_sessions=50,
)


def say(message: str) -> None:
    print(message, flush=True)


#: Seconds each part of the run took (printed at the end, to keep the total in budget).
TIMINGS: dict[str, float] = {}


class timed:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        TIMINGS[self.name] = TIMINGS.get(self.name, 0.0) + elapsed


def source_version() -> str:
    """The commit measured (read-only git queries), ``+dirty`` when src/ has local edits."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "../src"],
            capture_output=True,
            text=True,
            cwd=HERE,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (commit or "unknown") + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    return {
        "source": source_version(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg(),
    }


def connection_key(path: str) -> str:
    """The server count that says how many connections a client opened on ``path``."""
    return "ws_connections" if path == "ws" else "connections"


# --- the WebSocket path: usable or not ----------------------------------------------------


def ws_status(server: ServerProcess, backend: str) -> str | None:
    """None when ``OpenAILLM(streaming=True)`` streams from the fake's ``/v1/responses``."""
    if not server.stats().get("ws_served"):
        return "the fake server has no Responses WebSocket (scoped_openai.testing.WSReply)"
    from _ours import Ours
    from _spec import Spec

    async def probe() -> int:
        with anyio.fail_after(15):
            async with Ours(server.base_url, path="ws") as ours:
                return (await ours.turn(Spec(chunks=5), remember=False)).chunks

    try:
        chunks = anyio.run(probe, backend=backend)
    except Exception as exc:
        return f"OpenAILLM(streaming=True) failed against the fake: {type(exc).__name__}: {exc}"
    if chunks != 5:
        return f"OpenAILLM(streaming=True) streamed {chunks} of 5 chunks"
    return None


# --- figures in this process, per backend -------------------------------------------------


async def in_process(
    backend: str, server: ServerProcess, scale: Scale, only: set[str], paths: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = server.base_url
    for path in paths:
        count = server.counter(connection_key(path))
        found = makers(base, path, backend)
        per_chunk = path != "responses-store"  # chaining changes the request, not the stream
        if "cpu" in only and per_chunk:
            say(f"  [{backend}/{path}] CPU per chunk: {scale.chunks} chunks x {scale.cpu_repeats}")
            with timed(f"cpu {backend}/{path}"):
                out.setdefault("cpu", {})[path] = await cpu_per_chunk(
                    found, scale.chunks, scale.cpu_repeats
                )
            server.stats(reset=True)
            if "_scope_us" not in out["cpu"]:
                out["cpu"]["_scope_us"] = cancel_scope_cost_us()
        if "ttft" in only:
            say(f"  [{backend}/{path}] TTFT: {scale.turns} turns x {scale.ttft_rounds} rounds")
            with timed(f"ttft {backend}/{path}"):
                out.setdefault("ttft", {})[path] = await ttft(
                    found, scale.turns, scale.ttft_rounds, count
                )
                if path == "http":
                    out["ttft"]["_request_build_us"] = request_build_cost(base, scale.turns)
            server.stats(reset=True)
        if "profile" in only and per_chunk:
            say(f"  [{backend}/{path}] profile (cProfile): {scale.profile_chunks} chunks")
            with timed(f"profile {backend}/{path}"):
                out.setdefault("profile", {})[path] = await profile_turn(
                    found["ours"], scale.profile_chunks
                )
    if "bargein" in only:
        variants = []
        if "http" in paths:
            variants += [("http1", "http", False), ("http2", "http", True)]
        if "ws" in paths:
            variants.append(("ws", "ws", False))
        if "responses" in paths:
            variants.append(("responses", "responses", False))
        for variant, path, http2 in variants:
            count = server.counter(connection_key(path))
            found = makers(base, path, backend, http2=http2, spare=True)
            for scenario in ("paced", "stall"):
                say(f"  [{backend}/{variant}] barge-in, {scenario}: {scale.trials} trials")
                for name in [n for n in ("ours", "floor", "floor-lib") if n in found]:
                    with timed(f"bargein {backend}/{variant}"):
                        result = await barge_in(found[name], scenario, scale.trials, count)
                    out.setdefault("bargein", {}).setdefault(variant, {}).setdefault(scenario, {})[
                        name
                    ] = result
            server.stats(reset=True)
    return out


# --- figures in child processes -------------------------------------------------------------


def run_concurrency(
    server: ServerProcess, backend: str, scale: Scale, paths: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in [p for p in paths if p not in RESPONSES]:
        clients = list(makers(server.base_url, path, backend))
        for size, repeats in zip(scale.sessions, scale.session_repeats, strict=True):
            for client in clients:
                if client == "openai-sdk" and size > scale.sdk_max_sessions:
                    continue
                say(f"  [{backend}/{path}] {size} sessions, {client}: {repeats} run(s)")
                with timed(f"concurrency {backend}/{path} {size}"):
                    out.setdefault(path, {}).setdefault(str(size), {})[client] = concurrency(
                        server.base_url,
                        client,
                        path,
                        backend,
                        size,
                        scale.session_chunks,
                        repeats,
                        server.counter(connection_key(path)),
                    )
                server.stats(reset=True)
    return out


def _json_child(command: list[str], timeout: float = 300) -> Any:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return f"failed: exit {done.returncode}: {done.stderr.strip()[-300:]}"
    return json.loads(lines[-1])


def run_idle(backend: str, scale: Scale) -> dict[str, Any]:
    idle = [sys.executable, str(HERE / "_idle.py"), f"--backend={backend}"]
    counts = f"{scale.idle_count} constructed, {scale.entered_count} entered"
    say(f"  [{backend}] idle instances: {counts}")
    out = {
        "constructed": _json_child([*idle, "--which=constructed", f"--count={scale.idle_count}"]),
        "entered": _json_child([*idle, "--which=entered", f"--count={scale.entered_count}"]),
    }
    if backend == "asyncio" and _sdk.available() is None:
        out["openai_sdk"] = _json_child(
            [*idle, "--which=openai_sdk", f"--count={scale.sdk_idle_count}"]
        )
    return out


def run_imports(scale: Scale, ref_python: str | None) -> dict[str, Any]:
    say(f"  import time: median of {scale.import_repeats}")
    modules = {"ours": (sys.executable, "scoped_openai"), "floor": (sys.executable, "httpx")}
    if _sdk.available() is None:
        modules["openai-sdk"] = (sys.executable, "openai")
    out = import_times(modules, scale.import_repeats)
    if ref_python:
        out.update(
            import_times(
                {"reference": (ref_python, "videosdk.plugins.openai")}, scale.ref_import_repeats
            )
        )
    out["_heaviest_imports_of_scoped_openai"] = heaviest()
    return out


def reference_python(path: str, make: bool) -> tuple[str | None, str]:
    """The reference venv's python, or None and why not."""
    if not Path(path).exists() and make:
        venv = Path(path).parent.parent
        say(f"  creating {venv} with videosdk-plugins-openai (PyPI)...")
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run(
                [path, "-m", "pip", "install", "-q", "videosdk-plugins-openai"],
                check=True,
                timeout=900,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            return None, f"could not install videosdk-plugins-openai: {exc}"
    if not Path(path).exists():
        return None, (
            f"no reference virtualenv at {path} (make one with --make-reference-venv, or "
            "python -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install "
            "videosdk-plugins-openai; BENCH_REF_PYTHON points elsewhere)"
        )
    probe = subprocess.run(
        [path, "-c", "import videosdk.plugins.openai"], capture_output=True, text=True, timeout=120
    )
    if probe.returncode != 0:
        return None, f"the plugin does not import: {probe.stderr.strip()[-300:]}"
    return path, ""


def run_reference(server: ServerProcess, ref_python: str, scale: Scale) -> Any:
    say("  reference plugin (its own venv, asyncio)")
    command = [
        ref_python,
        str(HERE / "_reference.py"),
        f"--port={server.port}",
        f"--chunks={scale.chunks}",
        f"--repeats={scale.ref_repeats}",
        f"--turns={scale.turns}",
        f"--rounds={scale.ref_rounds}",
        f"--trials={scale.ref_trials}",
    ]
    result = _json_child(command, timeout=600)
    server.stats(reset=True)
    return result if isinstance(result, dict) else {"failed": result}


# --- output ---------------------------------------------------------------------------------


def print_profiles(results: dict[str, Any]) -> None:
    for backend, figures in results.get("backends", {}).items():
        for path, prof in figures.get("profile", {}).items():
            say(
                f"\n### Profile: ours, {backend}/{path}, {prof['chunks']} chunks "
                f"({prof['us_per_chunk_profiled']:.1f} µs/chunk under cProfile)"
            )
            shares = ", ".join(
                f"{k} {v['share'] * 100:.0f}%" for k, v in list(prof["groups"].items())[:9]
            )
            say(f"self time by package: {shares}")
            say("top functions by self time:")
            for row in prof["top_self"][:12]:
                say(
                    f"  {row['self_s'] * 1e6 / prof['chunks']:6.2f} µs/chunk  "
                    f"{row['calls']:>7} calls  [{row['group']}] {row['function']}"
                )
            say("top functions of ours by self time:")
            for row in prof["top_ours"][:8]:
                say(
                    f"  {row['self_s'] * 1e6 / prof['chunks']:6.2f} µs/chunk  "
                    f"{row['calls']:>7} calls  {row['function']}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small counts)")
    parser.add_argument("--backend", choices=("asyncio", "trio", "both"), default="both")
    parser.add_argument(
        "--only", action="append", default=[], help=f"comma-separated, of: {', '.join(FIGURES)}"
    )
    parser.add_argument(
        "--paths", default=",".join(PATHS), help=f"comma-separated, of: {', '.join(PATHS)}"
    )
    parser.add_argument("--ref-python", default=DEFAULT_REF_PYTHON)
    parser.add_argument("--make-reference-venv", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args, _unknown = parser.parse_known_args()
    only = {name for chunk in args.only for name in chunk.split(",") if name} or set(FIGURES)
    unknown = only - set(FIGURES)
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(sorted(unknown))}")
    wanted = [path for path in PATHS if path in args.paths.split(",")]
    scale = QUICK if args.quick else FULL
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    raise_fd_limit()
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "scale": {"quick": args.quick, **scale.__dict__},
        "backends": {},
        "notes": [],
    }
    say(f"# bench_client ({'quick' if args.quick else 'full'}): {results['machine']}")
    say(
        f"scale: {scale.chunks} chunks x {scale.cpu_repeats} for CPU, {scale.turns} turns x "
        f"{scale.ttft_rounds} rounds for TTFT, {scale.trials} barge-in trials, sessions "
        f"{scale.sessions} x {scale.session_repeats} run(s), the openai SDK up to "
        f"{scale.sdk_max_sessions} sessions (fewer repeats at 1,000 to fit ~10 minutes on 2 "
        "cores)"
    )
    sdk_missing = _sdk.available()
    if sdk_missing:
        results["notes"].append(f"openai SDK: not measured ({sdk_missing})")
    ref_python, ref_reason = (None, "not requested")
    if "reference" in only or "import" in only:
        ref_python, ref_reason = reference_python(args.ref_python, args.make_reference_venv)
    with ServerProcess() as server:
        say(f"fake server: pid-separate process on {server.base_url}")
        for backend in backends:
            reason = ws_status(server, backend)
            paths = [path for path in wanted if not (reason and path == "ws")]
            if reason:
                say(f"WS ({backend}): not measured ({reason})")
                results["notes"].append(f"WS ({backend}): not measured ({reason})")
            figures = anyio.run(in_process, backend, server, scale, only, paths, backend=backend)
            if "concurrency" in only:
                figures["concurrency"] = run_concurrency(server, backend, scale, paths)
            if "idle" in only:
                with timed(f"idle {backend}"):
                    figures["idle"] = run_idle(backend, scale)
            if "stall" in only:
                say(f"  [{backend}] loop stalls: fresh processes, {scale.stall_sessions} sessions")
                with timed(f"stall {backend}"):
                    figures["stall"] = stalls(
                        server.base_url, backend, scale.stall_repeats, scale.stall_sessions
                    )
            results["backends"][backend] = figures
        if sdk_missing is None:
            results["sdk_under_trio"] = _sdk.sdk_runs_under_trio(server.base_url)
            say(f"openai SDK under trio: {results['sdk_under_trio']}")
        if "reference" in only:
            if ref_python:
                with timed("reference"):
                    results["reference"] = run_reference(server, ref_python, scale)
            else:
                results["reference"] = {"failed": ref_reason}
                say(f"reference: not measured ({ref_reason})")
        if "import" in only:
            with timed("import"):
                results["import"] = run_imports(scale, ref_python)
    elapsed = time.perf_counter() - started
    results["elapsed_s"] = elapsed
    results["timings_s"] = dict(TIMINGS)
    rows = _report.build_rows(results)
    for backend, figures in results["backends"].items():
        rows += stall_rows(backend, figures.get("stall", {}))
    args.out.mkdir(parents=True, exist_ok=True)
    _report.write_json(args.out / "latest.json", results, rows)
    problem = _report.chart(
        args.out / "latest.png",
        rows,
        f"scoped-openai vs floor / openai SDK / reference — {results['machine']['cores']} cores, "
        f"Python {results['machine']['python']}, {results['machine']['date']}",
    )
    print_profiles(results)
    say("\n## Results (medians; ratio = ours / floor measured in the same run)\n")
    say(_report.markdown(rows))
    for note in results["notes"]:
        say(f"- {note}")
    if "reference" in results and "failed" in results["reference"]:
        say(f"- reference: not measured ({results['reference']['failed']})")
    met = [r for r in rows if r.met is not None]
    say(
        f"\ntargets met: {sum(1 for r in met if r.met)}/{len(met)}; "
        f"ahead of the openai SDK: {sum(1 for r in rows if r.ahead_of_sdk)}"
        f"/{sum(1 for r in rows if r.ahead_of_sdk is not None)}"
    )
    say(
        f"wrote {args.out / 'latest.json'}"
        + (f"; {problem}" if problem else f" and {args.out / 'latest.png'}")
    )
    parts = ", ".join(f"{name} {seconds:.0f}" for name, seconds in TIMINGS.items())
    say(f"elapsed: {elapsed:.0f} s ({parts})")


if __name__ == "__main__":
    main()

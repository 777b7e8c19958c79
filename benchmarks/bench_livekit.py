"""LiveKit Agents: LiveKit's own OpenAI plugin against scoped-openai's, inside the framework.

Both plugins are driven the way LiveKit's ``llm_node`` drives an LLM (``async with
llm.chat(...) as stream: async for chunk in stream``), on asyncio, against the same fake
server in a separate process (``_server.py``: its CPU is not the client's), over HTTP (Chat
Completions; LiveKit's ``openai.LLM``) and WebSocket (the Responses API; LiveKit's
``openai.responses.LLM``). Figures, medians of several runs, both plugins measured
alternately in the same run:

- CPU per chunk: a 2,000-chunk reply as fast as the server sends it. The floor is LiveKit's
  own ``LLMStream`` carrying the same number of ready-made chunks with no network: what
  any plugin pays inside the framework.
- Warm time to first token: 20-chunk replies after a prewarm and a warm-up turn.
- Interruption: the reading task is cancelled (what ``AgentSession.interrupt()`` does)
  after 3 chunks of a paced reply (50 chunks/s) or of one that stalls after 3 chunks; the
  time until that task has finished (and the process CPU time in that window), and until
  the next turn's first token.

Needs ``livekit-agents`` and ``livekit-plugins-openai``: without them it makes a virtualenv
for itself (``.nox/bench-livekit``, with uv) and runs there, or says why it cannot and
skips. ``--quick`` for a smoke run. Results: ``benchmarks/results/livekit.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".nox" / "bench-livekit"
LIVEKIT_OPENAI = "livekit-plugins-openai==1.8.9"
sys.path.insert(0, str(HERE))


def ensure_livekit() -> None:
    """Run in an environment with LiveKit Agents, or print why not and exit 0."""
    try:
        import livekit.agents
        import livekit.plugins.openai  # noqa: F401

        return
    except ImportError as exc:
        missing = str(exc)
    python = VENV / "bin" / "python"
    uv = shutil.which("uv")
    if os.environ.get("BENCH_LIVEKIT_CHILD") or uv is None:
        why = "uv is not on PATH" if uv is None else f"installing into {VENV} did not help"
        print(f"bench_livekit: skipped: LiveKit Agents is not importable ({missing}); {why}.")
        raise SystemExit(0)
    print(f"bench_livekit: LiveKit Agents not installed here; using {VENV}", flush=True)
    try:
        if not python.exists():
            subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(VENV)], check=True)
        install = [uv, "pip", "install", "-q", "-p", str(python), "-e"]
        subprocess.run(
            [*install, f"{ROOT}[fake,livekit]", LIVEKIT_OPENAI],
            check=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"bench_livekit: skipped: could not install LiveKit Agents into {VENV}: {exc}")
        raise SystemExit(0) from None
    env = {**os.environ, "BENCH_LIVEKIT_CHILD": "1"}
    os.execve(str(python), [str(python), __file__, *sys.argv[1:]], env)


ensure_livekit()

from _common import API_KEY, MODEL, SYSTEM  # noqa: E402
from _serverproc import ServerProcess  # noqa: E402
from _spec import Spec  # noqa: E402
from livekit.agents import llm as lk_llm  # noqa: E402
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS  # noqa: E402
from livekit.agents.utils import http_context  # noqa: E402
from livekit.plugins import openai as lk_openai  # noqa: E402

from scoped_openai.integrations.livekit import LLM  # noqa: E402

KINDS = ["livekit-openai", "scoped-openai"]
PATHS = ["http", "ws"]
PACED = Spec(chunks=400, pace=50)
STALLED = Spec(chunks=400, stall=3)
SHORT = Spec(chunks=20)
HEARD = 3  # chunks the user hears before talking over the reply


def make_plugin(kind: str, path: str, base_url: str) -> lk_llm.LLM[Any]:
    if kind == "scoped-openai":
        return LLM(model=MODEL, api_key=API_KEY, base_url=base_url, streaming=path == "ws")
    if path == "http":
        return lk_openai.LLM(model=MODEL, api_key=API_KEY, base_url=base_url)
    return lk_openai.responses.LLM(model=MODEL, api_key=API_KEY, base_url=f"{base_url}/responses")


def context(spec: Spec, turn: int = 0) -> lk_llm.ChatContext:
    ctx = lk_llm.ChatContext.empty()
    ctx.add_message(role="system", content=SYSTEM)
    ctx.add_message(role="user", content=spec.user_text(turn))
    return ctx


async def turn(plugin: lk_llm.LLM[Any], spec: Spec) -> tuple[float, float, int]:
    """One reply read as LiveKit's llm_node reads it: (TTFT s, CPU s, content chunks)."""
    ctx = context(spec)
    cpu, started = time.process_time(), time.perf_counter()
    ttft = float("nan")
    chunks = 0
    async with plugin.chat(chat_ctx=ctx) as stream:
        async for chunk in stream:
            if chunk.delta is not None and chunk.delta.content:
                if chunks == 0:
                    ttft = time.perf_counter() - started
                chunks += 1
    return ttft, time.process_time() - cpu, chunks


class _FloorStream(lk_llm.LLMStream):
    """LiveKit's LLMStream carrying ready-made chunks: the framework's own cost per chunk."""

    def __init__(self, llm: lk_llm.LLM[Any], chunks: int) -> None:
        super().__init__(
            llm, chat_ctx=context(SHORT), tools=[], conn_options=DEFAULT_API_CONNECT_OPTIONS
        )
        self._chunks = chunks

    async def _run(self) -> None:
        delta = lk_llm.ChoiceDelta(role="assistant", content="tok ")
        for _ in range(self._chunks):
            self._event_ch.send_nowait(lk_llm.ChatChunk(id="floor", delta=delta))
            await asyncio.sleep(0)  # a network read would yield here too


class _FloorLLM(lk_llm.LLM[Any]):
    def __init__(self, chunks: int) -> None:
        super().__init__()
        self.chunks = chunks

    def chat(self, **_: Any) -> lk_llm.LLMStream:
        return _FloorStream(self, self.chunks)


async def interruption(plugin: lk_llm.LLM[Any], spec: Spec) -> tuple[float, float, float]:
    """Cancel the reading task after ``HEARD`` chunks: seconds to its end, process CPU
    seconds in that window, seconds to the next turn's first token."""
    heard = asyncio.Event()

    async def speak() -> None:
        count = 0
        async with plugin.chat(chat_ctx=context(spec)) as stream:
            async for chunk in stream:
                if chunk.delta is not None and chunk.delta.content:
                    count += 1
                    if count == HEARD:
                        heard.set()

    task = asyncio.create_task(speak())
    await asyncio.wait_for(heard.wait(), 30)
    cpu, started = time.process_time(), time.perf_counter()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    next_started = time.perf_counter()
    cpu = time.process_time() - cpu
    ttft, _, _ = await turn(plugin, SHORT)
    return next_started - started, cpu, next_started - started + ttft


async def measure(base_url: str, quick: bool) -> dict[str, Any]:
    cpu_chunks, cpu_runs = (500, 2) if quick else (2000, 5)
    ttft_turns = 5 if quick else 40
    trials = 3 if quick else 30
    results: dict[str, Any] = {"cpu_floor_us": [], "plugins": {}}
    plugins = {(k, p): make_plugin(k, p, base_url) for k in KINDS for p in PATHS}
    samples: dict[tuple[str, str], dict[str, list[float]]] = {
        key: {
            "cpu_us": [],
            "ttft_ms": [],
            "paced_ms": [],
            "stalled_ms": [],
            "stalled_cpu_ms": [],
            "next_ms": [],
        }
        for key in plugins
    }
    floor = _FloorLLM(cpu_chunks)
    for plugin in plugins.values():
        plugin.prewarm()
    for plugin in plugins.values():
        if plugin._prewarm_task is not None:
            await asyncio.wait_for(plugin._prewarm_task, 30)
        await turn(plugin, SHORT)  # warm-up
    cpu_spec = Spec(chunks=cpu_chunks)
    for _ in range(cpu_runs):
        cpu = time.process_time()
        async with floor.chat() as stream:
            async for _chunk in stream:
                pass
        results["cpu_floor_us"].append((time.process_time() - cpu) / cpu_chunks * 1e6)
        for key, plugin in plugins.items():
            _, cpu_s, chunks = await turn(plugin, cpu_spec)
            assert chunks == cpu_chunks, (key, chunks)
            samples[key]["cpu_us"].append(cpu_s / chunks * 1e6)
    for _ in range(ttft_turns):
        for key, plugin in plugins.items():
            ttft, _, _ = await turn(plugin, SHORT)
            samples[key]["ttft_ms"].append(ttft * 1e3)
    for _ in range(trials):
        for key, plugin in plugins.items():
            for name, spec in (("paced_ms", PACED), ("stalled_ms", STALLED)):
                ended, cpu, next_token = await interruption(plugin, spec)
                samples[key][name].append(ended * 1e3)
                if name == "stalled_ms":
                    samples[key]["stalled_cpu_ms"].append(cpu * 1e3)
                    samples[key]["next_ms"].append(next_token * 1e3)
    for plugin in plugins.values():
        await plugin.aclose()
    for (kind, path), figures in samples.items():
        results["plugins"][f"{kind} {path}"] = figures
    return results


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


ROWS: list[tuple[str, str, Callable[[float], str]]] = [
    ("CPU per chunk", "cpu_us", lambda v: f"{v:.1f} µs"),
    ("warm TTFT", "ttft_ms", lambda v: f"{v:.2f} ms"),
    ("interruption, paced (cancel → task done)", "paced_ms", lambda v: f"{v:.2f} ms"),
    ("interruption, stalled (cancel → task done)", "stalled_ms", lambda v: f"{v:.2f} ms"),
    ("… its CPU time (what the wall time is made of)", "stalled_cpu_ms", lambda v: f"{v:.2f} ms"),
    ("next turn's first token after a stalled interruption", "next_ms", lambda v: f"{v:.2f} ms"),
]


def table(results: dict[str, Any]) -> str:
    plugins = results["plugins"]
    lines = [
        "| figure (median) | path | LiveKit's plugin | scoped-openai | ratio |",
        "|---|---|---|---|---|",
    ]
    for label, key, fmt in ROWS:
        for path in PATHS:
            theirs = median(plugins[f"livekit-openai {path}"][key])
            ours = median(plugins[f"scoped-openai {path}"][key])
            lines.append(
                f"| {label} | {path} | {fmt(theirs)} | {fmt(ours)} | {ours / theirs:.2f}x |"
            )
    floor = median(results["cpu_floor_us"])
    lines.append(f"| CPU per chunk, floor: LiveKit's LLMStream alone | - | {floor:.1f} µs | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small counts)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args, _unknown = parser.parse_known_args()  # nox -s bench passes every bench its args
    started = time.perf_counter()
    with ServerProcess() as server:
        print(f"# bench_livekit ({'quick' if args.quick else 'full'}): server {server.base_url}")
        results = asyncio.run(_run(server.base_url, args.quick))
    results["elapsed_s"] = time.perf_counter() - started
    results["quick"] = args.quick
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "livekit.json").write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    print(f"({results['elapsed_s']:.0f} s)")


async def _run(base_url: str, quick: bool) -> dict[str, Any]:
    async with http_context.open():  # LiveKit's Responses plugin rides its aiohttp session
        return await measure(base_url, quick)


if __name__ == "__main__":
    main()

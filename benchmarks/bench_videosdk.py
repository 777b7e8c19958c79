"""VideoSDK Agents: the reference plugin, our drop-in and the plain library, in one run.

All three talk to the same fake server (``_server.py``, another process), driven as VideoSDK's
pipeline drives an LLM (a growing framework ``ChatContext``, ``async for item in
llm.chat(ctx)``, ``cancel_current_generation()`` for a barge-in), on HTTP (Chat Completions)
and on the Responses WebSocket (``streaming=True``). Figures, each from the shared figure
code of ``bench_client.py``: CPU per chunk, warm time to first token over 50 growing turns,
barge-in latency on a paced and on a stalled stream, and import time. The target: the drop-in
within 1.2x of the plain library on each figure; the table prints each ratio.

Needs ``videosdk-agents`` and ``videosdk-plugins-openai`` (``nox -s bench_videosdk`` installs
them); without them it prints why and exits 0. ``--quick`` for a smoke run. Asyncio only
(the framework is). Results: ``benchmarks/results/videosdk.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from _common import API_KEY, Turn
from _fig_bargein import barge_in
from _fig_cpu import cpu_per_chunk
from _fig_import import import_times
from _fig_ttft import ttft
from _ours import Ours
from _reference import Reference as ReferenceSession
from _serverproc import ServerProcess
from _spec import Spec

RESULTS = Path(__file__).resolve().parent / "results" / "videosdk.json"
TARGET = 1.2


class FrameworkSession(ReferenceSession):
    """A VideoSDK ``LLM`` (the reference or ours) driven as the framework drives it (the
    reference's session of ``bench_client.py``, on either plugin and either path)."""

    def __init__(self, name: str, base_url: str, path: str) -> None:
        from videosdk.agents import ChatContext, ChatRole

        self.name, self.path = name, path
        self._ChatContext, self._ChatRole = ChatContext, ChatRole
        kwargs: dict[str, Any] = {"api_key": API_KEY, "base_url": base_url}
        if path == "ws":
            kwargs["streaming"] = True
            kwargs["wss_url"] = base_url.replace("http://", "ws://") + "/responses"
        if name == "reference":
            from videosdk.plugins.openai import OpenAILLM as Reference

            self.llm: Any = Reference(**kwargs)
        else:
            from scoped_openai.integrations.videosdk import OpenAILLM

            self.llm = OpenAILLM(**kwargs)
        self.ctx = self._fresh()

    async def __aenter__(self) -> FrameworkSession:
        if self.path == "ws":
            await self.llm.prewarm()  # the socket (and our spare), as the library session does
        return self

    async def turn(self, spec: Spec, *, remember: bool = True, turn_no: int = 0) -> Turn:
        if not remember and self.name == "reference" and self.path == "ws":
            # The reference chains by item count: a fresh context as long as the last one
            # goes out as an empty continuation of it (its defect; the README says so).
            # Forget its chain, so it streams the reply asked for like the others.
            self.llm._previous_response_id = None
            self.llm._last_seen_items_count = 0
        return await super().turn(spec, remember=remember, turn_no=turn_no)


def makers(base_url: str, path: str) -> dict[str, Callable[[], Any]]:
    return {
        "library": lambda: Ours(base_url, path=path),
        "drop-in": lambda: FrameworkSession("drop-in", base_url, path),
        "reference": lambda: FrameworkSession("reference", base_url, path),
    }


async def guarded(figure: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A figure, or what made its client fail (the reference's WebSocket barge-in does)."""
    try:
        return await figure
    except Exception as exc:
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            inner = exc.exceptions[0]
            if not isinstance(inner, Exception):
                break
            exc = inner
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


async def run(server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    connections = server.counter("connections")
    out: dict[str, Any] = {}
    for path in ("http", "ws"):
        make = makers(server.base_url, path)
        figures: dict[str, Any] = {}
        figures["cpu"] = await cpu_per_chunk(make, args.chunks, args.repeats)
        figures["ttft"] = await ttft(make, args.turns, args.rounds, connections)
        figures["barge_in"] = {
            scenario: {
                name: await guarded(barge_in(maker, scenario, args.trials, connections))
                for name, maker in make.items()
            }
            for scenario in ("paced", "stall")
        }
        out[path] = figures
    return out


def imports(repeats: int) -> dict[str, Any]:
    python = sys.executable
    return import_times(
        {
            "library": (python, "scoped_openai"),
            "framework": (python, "videosdk.agents"),
            # Both plugins import the framework: their own cost is the difference.
            "drop-in": (python, "scoped_openai.integrations.videosdk"),
            "reference": (python, "videosdk.plugins.openai"),
        },
        repeats,
    )


def _ms(cell: dict[str, Any]) -> float | None:
    value = cell.get("median")
    return None if value is None else float(value)


def table(result: dict[str, Any]) -> list[str]:
    """Rows: figure, library, drop-in, reference, drop-in / library."""
    rows = [
        "| figure | library | drop-in | reference | drop-in / library |",
        "|---|---|---|---|---|",
    ]

    def row(label: str, values: dict[str, float | str | None], unit: str) -> None:
        lib, ours, ref = values["library"], values["drop-in"], values["reference"]
        numbers = isinstance(ours, float) and isinstance(lib, float) and lib
        ratio = f"{ours / lib:.2f}x" if numbers else "-"

        def cell(v: float | str | None) -> str:
            if isinstance(v, str):
                return v
            if v is None:
                return "never ended"
            if v < 0:  # a barge-in whose loop ended on its own before the cancel
                return "ended before the cancel"
            return f"{v:.3g} {unit}"

        rows.append(f"| {label} | {cell(lib)} | {cell(ours)} | {cell(ref)} | {ratio} |")

    for path in ("http", "ws"):
        figures = result[path]
        cpu = figures["cpu"]
        row(
            f"{path}: CPU per chunk",
            {n: _ms(cpu[n]["cpu_us_per_chunk"]) for n in cpu},
            "µs",
        )
        for window in ("first10_ms", "last10_ms"):
            turns = "1-10" if window == "first10_ms" else "41-50"
            tt = figures["ttft"]
            row(
                f"{path}: warm TTFT, turns {turns}",
                {n: _ms(tt[n][window]) for n in ("library", "drop-in", "reference")},
                "ms",
            )
        for scenario in ("paced", "stall"):
            bi = figures["barge_in"][scenario]
            row(
                f"{path}: barge-in to loop exit, {scenario}",
                {n: _ms(bi[n]["to_exit_ms"]) if "to_exit_ms" in bi[n] else "failed" for n in bi},
                "ms",
            )
            for name, cell in bi.items():
                if "error" in cell:
                    rows.append(f"|   {name} failed: {cell['error']} | | | | |")
    imp = {name: cell["import_ms"] for name, cell in result["imports"].items()}
    rows.append(
        f"| import (ms): library alone {imp['library']:.0f}, videosdk.agents alone "
        f"{imp['framework']:.0f} | | drop-in with it {imp['drop-in']:.0f} | "
        f"reference with it {imp['reference']:.0f} | |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (small counts)")
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--import-repeats", type=int, default=7)
    args, _ = parser.parse_known_args()  # nox -s bench passes every script the same options
    if args.quick:
        args.chunks, args.repeats, args.turns, args.rounds = 2000, 2, 12, 1
        args.trials, args.import_repeats = 2, 2
    try:
        import videosdk.agents
        import videosdk.plugins.openai  # noqa: F401
    except ImportError as exc:
        print(
            f"bench_videosdk: skipped, VideoSDK is not installed ({exc}); "
            "`nox -s bench_videosdk` installs videosdk-agents and videosdk-plugins-openai"
        )
        return
    with ServerProcess() as server:
        result = anyio.run(run, server, args, backend="asyncio")
    result["imports"] = imports(args.import_repeats)
    result["args"] = vars(args)
    rows = table(result)
    result["table"] = rows
    if not args.quick:
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

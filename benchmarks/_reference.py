"""Figure 7: the reference plugin (``videosdk.plugins.openai.OpenAILLM``) on the same fake.

Runs in its own virtualenv (``pip install videosdk-plugins-openai``; never the project's),
under asyncio (the plugin uses asyncio locks and tasks), beside the HTTP floor measured in the
same process: ``/tmp/refvenv/bin/python benchmarks/_reference.py --port PORT``. Prints JSON.

Measured: CPU per chunk, warm TTFT over a growing conversation, and barge-in (its
``cancel_current_generation()`` sets a flag the loop reads when the next chunk arrives).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, SYSTEM, Turn
from _fig_bargein import barge_in
from _fig_cpu import cpu_per_chunk
from _fig_ttft import ttft
from _floor import FloorHTTP
from _serverproc import stats
from _spec import Spec


class Reference:
    """The VideoSDK plugin, driven as its agent pipeline drives it."""

    name = "reference"
    path = "http"

    def __init__(self, base_url: str) -> None:
        from videosdk.agents import ChatContext, ChatRole
        from videosdk.plugins.openai import OpenAILLM

        self._ChatContext, self._ChatRole = ChatContext, ChatRole
        self.llm = OpenAILLM(api_key=API_KEY, base_url=base_url)
        self.ctx = self._fresh()

    def _fresh(self) -> Any:
        ctx = self._ChatContext.empty()
        ctx.add_message(role=self._ChatRole.SYSTEM, content=SYSTEM)
        return ctx

    async def __aenter__(self) -> Reference:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.llm.aclose()

    async def turn(self, spec: Spec, *, remember: bool = True, turn_no: int = 0) -> Turn:
        ctx = self.ctx if remember else self._fresh()
        ctx.add_message(role=self._ChatRole.USER, content=spec.user_text(turn_no))
        parts: list[str] = []
        first = 0.0
        c0 = time.process_time()
        t0 = time.perf_counter()
        async for item in self.llm.chat(ctx):
            if item.content:
                if not parts:
                    first = time.perf_counter()
                parts.append(item.content)
        t1 = time.perf_counter()
        c1 = time.process_time()
        text = "".join(parts)
        if remember:
            ctx.add_message(role=self._ChatRole.ASSISTANT, content=text)
        return Turn(first - t0 if parts else float("nan"), t1 - t0, c1 - c0, len(parts), text, t0)

    async def consume(self, spec: Spec, on_item: Callable[[str], None]) -> float:
        self.ctx.add_message(role=self._ChatRole.USER, content=spec.user_text())
        async for item in self.llm.chat(self.ctx):
            if item.content:
                on_item(item.content)
        return time.perf_counter()

    async def cancel(self) -> None:
        await self.llm.cancel_current_generation()

    async def reset(self) -> None:
        self.ctx = self._fresh()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    base_url = f"http://127.0.0.1:{args.port}/v1"
    makers = {
        "reference": lambda: Reference(base_url),
        "floor": lambda: FloorHTTP(base_url),
    }
    out: dict[str, Any] = {}
    out["cpu"] = await cpu_per_chunk(makers, args.chunks, args.repeats)
    connections = lambda: stats(args.port)["connections"]  # noqa: E731
    out["ttft"] = await ttft(makers, args.turns, args.rounds, connections)
    out["barge_in"] = {
        scenario: await barge_in(makers["reference"], scenario, args.trials, connections)
        for scenario in ("paced", "stall")
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    try:
        from importlib.metadata import version as dist_version

        import videosdk.plugins.openai  # noqa: F401

        version = dist_version("videosdk-plugins-openai")
    except Exception as exc:
        print(json.dumps({"failed": f"cannot import the plugin: {exc!r}"}))
        return
    result = anyio.run(run, args, backend="asyncio")
    result["version"] = version
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""Where a chunk's CPU goes: cProfile over our client streaming one long reply.

cProfile's per-call overhead inflates small functions, so the shares matter more than the
absolute times. Self time (``tottime``) is grouped by where the code lives: our package,
httpx, httpcore, h11, anyio, the event loop (asyncio or trio), json, and the rest.
"""

from __future__ import annotations

import cProfile
import pstats
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from _spec import Spec

GROUPS = (
    ("scoped_openai", "/scoped_openai/"),
    ("httpx_ws", "/httpx_ws/"),
    ("httpx", "/httpx/"),
    ("httpcore", "/httpcore/"),
    ("h11", "/h11/"),
    ("wsproto", "/wsproto/"),
    ("trio_websocket", "/trio_websocket/"),
    ("anyio", "/anyio/"),
    ("trio", "/trio/"),
    ("asyncio", "/asyncio/"),
    ("json", "/json/"),
    ("benchmark", "/benchmarks/"),
)


def _group(filename: str, function: str) -> str:
    for name, needle in GROUPS:
        if needle in filename:
            return name
    if filename == "~":  # builtins: name them by what they are
        if "json" in function or "scanstring" in function:
            return "json"
        if "select" in function or "epoll" in function or "socket" in function:
            return "socket/select (builtin)"
        return "builtins"
    return "other"


async def profile_turn(make: Callable[[], Any], chunks: int, top: int = 15) -> dict[str, Any]:
    """Profile one ``chunks``-chunk turn of a warm session."""
    spec = Spec(chunks=chunks)
    async with make() as session:
        await session.turn(spec, remember=False)  # warm (and the server's cache)
        profiler = cProfile.Profile()
        profiler.enable()
        turn = await session.turn(spec, remember=False)
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = 0.0
    groups: dict[str, float] = defaultdict(float)
    rows = []
    for (filename, line, function), (_, nc, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        total += tt
        groups[_group(filename, function)] += tt
        rows.append(
            {
                "function": f"{_short(filename)}:{line}({function})",
                "group": _group(filename, function),
                "calls": nc,
                "self_s": tt,
                "cum_s": ct,
            }
        )
    rows.sort(key=lambda r: r["self_s"], reverse=True)
    ours = [r for r in rows if r["group"] == "scoped_openai"]
    return {
        "chunks": turn.chunks,
        "profiled_cpu_s": total,
        "us_per_chunk_profiled": total / max(turn.chunks, 1) * 1e6,
        "groups": {
            k: {"self_s": v, "share": v / total if total else 0.0}
            for k, v in sorted(groups.items(), key=lambda kv: kv[1], reverse=True)
        },
        "top_self": rows[:top],
        "top_ours": ours[:top],
    }


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename

"""Figure 4b: the cost of an idle instance, in a fresh process (clean tracemalloc and RSS).

Run: ``python benchmarks/_idle.py --which constructed|entered|openai_sdk [--backend trio]
[--count N]``; prints JSON (one measurement per process).

- constructed: ``OpenAILLM(api_key=..., base_url=...)`` x ``count``; tracemalloc's traced
  bytes before and after, divided; the median time of one construction.
- entered: ``async with OpenAILLM(...)`` x ``count`` (held open together): what an agent
  holds between turns (its task group and its ``httpx.AsyncClient``); tracemalloc per
  instance, RSS per instance (tracemalloc does not see OpenSSL's allocations), then the
  time per construction and enter, in a second pass without tracemalloc.
- openai_sdk: the SDK's ``AsyncOpenAI(...)`` x ``count`` (it builds its httpx client at once).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, rss_kb

BASE_URL = "http://127.0.0.1:9/v1"  # never contacted: idle instances send nothing


def constructed(count: int) -> dict[str, Any]:
    from scoped_openai import OpenAILLM

    OpenAILLM(api_key=API_KEY, base_url=BASE_URL)  # first use: lazy imports, caches
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        OpenAILLM(api_key=API_KEY, base_url=BASE_URL)
        times.append(time.perf_counter() - t0)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = [OpenAILLM(api_key=API_KEY, base_url=BASE_URL) for _ in range(count)]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del held
    return {
        "bytes_per_instance": (after - before) / count,
        "construct_ms_median": statistics.median(times) * 1e3,
        "count": count,
    }


async def entered(count: int) -> dict[str, Any]:
    from scoped_openai import OpenAILLM

    async with OpenAILLM(api_key=API_KEY, base_url=BASE_URL):
        pass
    gc.collect()
    rss0 = rss_kb()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with AsyncExitStack() as stack:
        for _ in range(count):
            await stack.enter_async_context(OpenAILLM(api_key=API_KEY, base_url=BASE_URL))
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        rss1 = rss_kb()
    # Timed apart: tracemalloc hooks every allocation (entering measured 93-127 us with it
    # on against 27-38 us off, this project's machine).
    times = []
    async with AsyncExitStack() as stack:
        for _ in range(count):
            t0 = time.perf_counter()
            await stack.enter_async_context(OpenAILLM(api_key=API_KEY, base_url=BASE_URL))
            times.append(time.perf_counter() - t0)
    return {
        "bytes_per_instance": (after - before) / count,
        "rss_kb_per_instance": (rss1 - rss0) / count,
        "enter_ms_median": statistics.median(times) * 1e3,
        "count": count,
    }


def sdk(count: int) -> dict[str, Any] | str:
    try:
        from openai import AsyncOpenAI
    except ImportError as exc:
        return f"not measured: {exc}"
    AsyncOpenAI(api_key=API_KEY, base_url=BASE_URL)
    gc.collect()
    rss0 = rss_kb()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    times, held = [], []
    for _ in range(count):
        t0 = time.perf_counter()
        held.append(AsyncOpenAI(api_key=API_KEY, base_url=BASE_URL))
        times.append(time.perf_counter() - t0)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss1 = rss_kb()
    return {
        "bytes_per_instance": (after - before) / count,
        "rss_kb_per_instance": (rss1 - rss0) / count,
        "construct_ms_median": statistics.median(times) * 1e3,
        "count": count,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--which", choices=("constructed", "entered", "openai_sdk"), required=True)
    parser.add_argument("--backend", default="asyncio")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    # One measurement per process: memory freed by one would be reused by the next.
    if args.which == "constructed":
        result: Any = constructed(args.count)
    elif args.which == "entered":
        result = anyio.run(entered, args.count, backend=args.backend)
    else:
        result = sdk(args.count)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

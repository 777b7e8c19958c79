"""One concurrency run in a fresh process (so peak RSS is this run's): N sessions at once.

Run: ``python benchmarks/_child.py --client ours --path http --sessions 1000 --chunks 200
--backend trio --base-url http://127.0.0.1:PORT/v1``; prints one JSON object.

Each session is what one voice agent holds: its own client object (``OpenAILLM`` with its
own ``httpx.AsyncClient``; the floor's own ``httpx.AsyncClient``; its own ``AsyncOpenAI``),
entered, then one streamed reply of ``--chunks`` chunks. Phases, timed apart:

- setup: construct and enter every session (WebSocket sessions open their sockets here);
- stream: every session's reply at once, until all end;
- close: leave every session.

Each session lives in its own task (its task group must be left by the task that entered
it), so setup and close run concurrently too.

Reported: wall and process CPU per phase, RSS before setup and ru_maxrss (the peak), the
chunks received, and errors by type (a failed session is counted, never raised).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import raise_fd_limit, rss_kb
from _sessions import makers
from _spec import Spec

RUN_TIMEOUT = 240.0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    make = makers(args.base_url, args.path, args.backend)[args.client]
    spec = Spec(chunks=args.chunks)
    errors: Counter[str] = Counter()
    n = args.sessions
    counts = {"entered": 0, "streamed": 0, "chunks": 0}
    all_entered, all_streamed = anyio.Event(), anyio.Event()
    go, leave = anyio.Event(), anyio.Event()

    def tick(key: str, event: anyio.Event) -> None:
        counts[key] += 1
        if counts[key] == n:
            event.set()

    async def session() -> None:
        # One task per session: a session's task group is entered and left in one task.
        try:
            async with make() as client:
                tick("entered", all_entered)
                await go.wait()
                try:
                    turn = await client.turn(spec, remember=False)
                    counts["chunks"] += turn.chunks
                except Exception as exc:
                    errors[f"stream {type(exc).__name__}: {str(exc)[:80]}"] += 1
                tick("streamed", all_streamed)
                await leave.wait()
        except Exception as exc:
            errors[f"setup/close {type(exc).__name__}: {str(exc)[:80]}"] += 1
            if not all_entered.is_set():
                tick("entered", all_entered)
            if not go.is_set() or not all_streamed.is_set():
                tick("streamed", all_streamed)

    gc.collect()
    result: dict[str, Any] = {"rss_before_kb": rss_kb()}
    with anyio.fail_after(RUN_TIMEOUT):
        c0, t0 = time.process_time(), time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(session)
            await all_entered.wait()
            c1, t1 = time.process_time(), time.perf_counter()
            result["rss_after_setup_kb"] = rss_kb()
            go.set()
            await all_streamed.wait()
            c2, t2 = time.process_time(), time.perf_counter()
            leave.set()
        c3, t3 = time.process_time(), time.perf_counter()
    result.update(
        setup_wall=t1 - t0,
        setup_cpu=c1 - c0,
        stream_wall=t2 - t1,
        stream_cpu=c2 - c1,
        close_wall=t3 - t2,
        close_cpu=c3 - c2,
        peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        chunks=counts["chunks"],
        expected_chunks=n * args.chunks,
        errors=dict(errors),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True)
    parser.add_argument("--path", default="http")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--backend", default="asyncio")
    parser.add_argument("--base-url", required=True)
    args = parser.parse_args()
    raise_fd_limit()
    try:
        result = anyio.run(run, args, backend=args.backend)
    except BaseException as exc:  # one JSON line whatever happens
        result = {"failed": f"{type(exc).__name__}: {str(exc)[:300]}"}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

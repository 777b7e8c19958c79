"""What one open WebSocket session keeps alive for CPython's full collection: the GC-tracked
objects per session (an ``OpenAILLM(streaming=True)`` entered and prewarmed: its socket and
warm spare open; or the aiohttp floor, ``_floor.FloorWS(spare=True)``), by type and by the
line that made them.

The stall of opening 1,000 sessions at once is CPython's full (generation 2) collection,
which walks every tracked object alive (``_stall_cases.py asyncio:sessions:ws``): what one
session holds sets it. The sessions are opened by ``_fig_stall._sessions``, the harness the
stall figure uses, so its own objects (two events and a task per session) are in both
clients' counts. Objects made before the first session (imports, the first socket's
one-time work) are left out; the count is of objects alive while every session is open,
after a collection. "Made at" is the innermost frame of ``scoped_openai`` (or of the
harness) in the object's allocation traceback (``tracemalloc``); "?" where CPython does not
trace the allocation (instances whose dict is managed, on 3.11).

Run: ``python benchmarks/_session_objects.py [--client ours|floor] [--backend asyncio|trio]
[--count 200] [--top 40]``.
"""

from __future__ import annotations

import argparse
import collections
import gc
import sys
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
OWN_FILES = ("scoped_openai", "_fig_stall", "_floor")


def type_name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def detail(obj: object) -> str:
    """What a callable or coroutine is (its qualified name); else where it was made."""
    kind = type(obj).__name__
    if kind == "coroutine":
        return str(obj.__qualname__)  # type: ignore[attr-defined]
    if kind == "method":
        return str(obj.__func__.__qualname__)  # type: ignore[attr-defined]
    if kind == "function":
        return str(obj.__qualname__)  # type: ignore[attr-defined]
    traceback = tracemalloc.get_object_traceback(obj)
    if traceback is None:
        return "?"
    frames = [frame for frame in traceback if any(own in frame.filename for own in OWN_FILES)]
    frame = frames[-1] if frames else traceback[-1]
    return f"made at {frame.filename.split('/')[-1]}:{frame.lineno}"


async def count(base_url: str, client: str, sessions: int, top: int) -> None:
    from _fig_stall import _sessions

    floor = client == "floor"
    await _sessions(base_url, 1, floor)  # the first socket's one-time work
    gc.collect()
    before = {id(obj) for obj in gc.get_objects()}
    tracemalloc.start(30)

    async def while_open() -> None:
        gc.collect()
        alive = [obj for obj in gc.get_objects() if id(obj) not in before]
        by_type = collections.Counter(type_name(obj) for obj in alive)
        by_detail = collections.Counter((type_name(obj), detail(obj)) for obj in alive)
        print(f"{client}: {len(alive) / sessions:.1f} GC-tracked objects per session")
        print("by type:")
        for name, n in by_type.most_common(top):
            print(f"  {n / sessions:6.2f}  {name}")
        print("by type and what it is or where it was made:")
        for (name, where), n in by_detail.most_common(top):
            print(f"  {n / sessions:6.2f}  {name:45s} {where}")

    await _sessions(base_url, sessions, floor, while_open)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("ours", "floor"), default="ours")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if args.client == "floor" and args.backend != "asyncio":
        parser.error("the aiohttp floor runs on asyncio only")
    sys.path.insert(0, str(HERE))
    import anyio
    from _serverproc import ServerProcess

    with ServerProcess() as server:
        anyio.run(count, server.base_url, args.client, args.count, args.top, backend=args.backend)


if __name__ == "__main__":
    main()

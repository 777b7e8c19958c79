"""Figure 1: client CPU per streamed chunk on a long reply (the server is another process).

Every client gets one warm session; each repeat streams the same N-chunk reply through each
client in turn (the order rotates per repeat so none always runs first after a GC), and
``time.process_time()`` of this process over the turn, divided by N, is one sample.

The server keeps ahead of every client (about 7 µs of its CPU per Chat Completions chunk or
replayed Responses event, ``_rendered.py``), so reads find data waiting and the figure is
the client's work per chunk; where the server is slower, it also counts how often a client
ran dry (``bench_http_pace.py``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from _common import summary
from _spec import Spec


async def cpu_per_chunk(
    makers: dict[str, Callable[[], Any]], chunks: int, repeats: int
) -> dict[str, dict[str, Any]]:
    """Per client: CPU µs per chunk (samples and summary) and wall chunks per second."""
    spec = Spec(chunks=chunks)
    cpu: dict[str, list[float]] = {name: [] for name in makers}
    rate: dict[str, list[float]] = {name: [] for name in makers}
    async with AsyncExitStack() as stack:
        sessions = {name: await stack.enter_async_context(make()) for name, make in makers.items()}
        for session in sessions.values():  # warm: code paths, the connection, the server's cache
            await session.turn(Spec(chunks=20), remember=False)
            await session.turn(spec, remember=False)
        names = list(sessions)
        for repeat in range(repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                gc.collect()
                turn = await sessions[name].turn(spec, remember=False)
                if turn.chunks != chunks:
                    raise RuntimeError(f"{name}: got {turn.chunks} of {chunks} chunks")
                cpu[name].append(turn.cpu / chunks * 1e6)
                rate[name].append(chunks / turn.total)
    return {
        name: {"cpu_us_per_chunk": summary(cpu[name]), "chunks_per_s": summary(rate[name])}
        for name in makers
    }


def cancel_scope_cost_us(repeats: int = 7, count: int = 20_000) -> dict[str, float]:
    """CPU µs to enter and leave one cancel scope of the kind ``ChatStream`` opens per
    network read (the backend's cheapest, as ``native_scope_and_clock`` picks it), without
    and with a deadline: the least any client pays per read to end a barge-in within one
    scheduler step. Median of ``repeats`` runs of ``count`` scopes; call it in a task."""
    import math
    import statistics
    import time

    from scoped_openai._deadlines import native_scope_and_clock

    scope, now = native_scope_and_clock()
    out = {}
    for label, deadline in (("no_deadline", None), ("deadline", 1e9)):
        samples = []
        for _ in range(repeats):
            start = time.process_time()
            for _ in range(count):
                with scope(deadline=math.inf if deadline is None else now() + deadline):
                    pass
            samples.append((time.process_time() - start) / count * 1e6)
        out[label] = statistics.median(samples)
    return out

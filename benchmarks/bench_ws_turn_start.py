"""Micro-benchmark: what starting a warm WebSocket turn costs us.

1. Over loopback: warm turns of a short reply on a fresh context (so the request does not
   grow), ours and the floor (aiohttp) interleaved turn by turn, on the fake server in its
   own process: the time to first token and the CPU of the whole turn, medians. Quote it
   only next to the floor of the same run; on a loaded machine the time to first token is
   the scheduler's more than ours.
   Also the client CPU before the request is on the wire: ``process_time`` from just before
   the turn to the first write on the socket's transport (a hook on asyncio's socket
   transport, the same for both clients). This is CPU, so it holds under load where the
   time to first token does not: what the floor spends there is building one dict and
   ``json.dumps``; what we spend above it is the turn's own set-up. And the client CPU
   from that write to the first content item handed to the caller (reading and decoding
   the frames before it, waking the consumer): together the two are the client's share of
   the time to first token.
2. In memory (``FakeOpenAI``'s in-memory sockets, no network, no other process): the CPU of
   a whole warm turn, ours and the fake's together, median of three runs, on each backend.
   Deterministic enough to compare two trees (``PYTHONPATH=<tree>/src``): the fake's share
   is the same.

With ``--pause`` the client waits that long between turns, as an agent does while the user
speaks: the socket's between-turns wait is then in place when the next turn starts (back to
back, it may not have started yet). On asyncio (plain or TLS) that wait only watches for
bytes and the turn reads its first frame itself; on trio it is a read whose first frame
the turn takes over (``_ws_slot.SocketSlot``), one task switch later.

Run: ``python benchmarks/bench_ws_turn_start.py [--turns 300] [--pause 0.005]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from asyncio import selector_events
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import anyio
from _serverproc import ServerProcess
from _sessions import makers
from _spec import Spec

from scoped_openai import ChatRole

REPLY = Spec(chunks=5)


async def first_item_cpu(name: str, session: Any) -> float:
    """One warm turn on a fresh context, driven as the session's ``turn`` does; the
    ``process_time()`` at the first content item the caller gets."""
    at = 0.0

    def on_item(content: str) -> None:
        nonlocal at
        if content and not at:
            at = time.process_time()

    if name == "ours":
        ctx = session._fresh()
        ctx.add_message(ChatRole.USER, REPLY.user_text())
        async with session.llm.chat(ctx) as stream:
            async for item in stream:
                on_item(item.content)
    else:
        items = [{"type": "message", "role": "user", "content": REPLY.user_text()}]
        await session._stream(session.active, items, on_item)
    return at


class FirstWrite:
    """``process_time()`` at the first write on any asyncio socket transport since ``arm``."""

    def __init__(self) -> None:
        self.cpu: float | None = None
        self.armed = False

    def arm(self) -> None:
        self.cpu, self.armed = None, True

    @contextmanager
    def hooked(self) -> Iterator[None]:
        transport = selector_events._SelectorSocketTransport
        write = transport.write

        def hook(this: Any, data: Any) -> None:
            if self.armed:
                self.cpu, self.armed = time.process_time(), False
            write(this, data)

        transport.write = hook  # type: ignore[method-assign]
        try:
            yield
        finally:
            transport.write = write  # type: ignore[method-assign]


async def run(base_url: str, turns: int, pause: float) -> dict[str, dict[str, float]]:
    found = makers(base_url, "ws", "asyncio")
    clients = {name: found[name] for name in ("ours", "floor")}
    ttft: dict[str, list[float]] = {name: [] for name in clients}
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    before_write: dict[str, list[float]] = {name: [] for name in clients}
    after_write: dict[str, list[float]] = {name: [] for name in clients}
    first_write = FirstWrite()
    async with AsyncExitStack() as stack:
        stack.enter_context(first_write.hooked())
        sessions = {name: await stack.enter_async_context(make()) for name, make in clients.items()}
        for session in sessions.values():
            for _ in range(5):
                await session.turn(REPLY, remember=False)
        for i in range(turns):
            order = list(sessions.items())
            if i % 2:
                order.reverse()
            for name, session in order:
                if pause:
                    await anyio.sleep(pause)
                first_write.arm()
                start = time.process_time()
                turn = await session.turn(REPLY, remember=False)
                ttft[name].append(turn.ttft * 1e3)
                cpu[name].append(turn.cpu * 1e3)
                if first_write.cpu is not None:
                    before_write[name].append((first_write.cpu - start) * 1e6)
            for name, session in order:  # the same turn, to its first item
                if pause:
                    await anyio.sleep(pause)
                first_write.arm()
                first_item = await first_item_cpu(name, session)
                if first_write.cpu is not None:
                    after_write[name].append((first_item - first_write.cpu) * 1e6)
    return {
        name: {
            "ttft_ms": statistics.median(ttft[name]),
            "cpu_ms": statistics.median(cpu[name]),
            "before_write_us": statistics.median(before_write[name]),
            "after_write_us": statistics.median(after_write[name]),
        }
        for name in clients
    }


async def in_memory_turn_cpu_us(turns: int, pause: float) -> float:
    """Median CPU µs of a warm in-memory WebSocket turn (ours and the fake's)."""
    from scoped_openai import ChatContext, ChatRole
    from scoped_openai.testing import FakeOpenAI, WSReply

    fake = FakeOpenAI()
    for _ in range(turns + 10):
        fake.add_ws(WSReply.text("Hello there, friend.", chunk_size=4))
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Hi")
    cpu: list[float] = []
    async with fake.llm(streaming=True) as llm:
        for i in range(turns + 10):
            if pause:
                await anyio.sleep(pause)
            start = time.process_time()
            async with llm.chat(ctx) as stream:
                async for _ in stream:
                    pass
            if i >= 10:  # the first ten warm up
                cpu.append((time.process_time() - start) * 1e6)
    return statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--pause", type=float, default=0.0)
    args = parser.parse_args()
    with ServerProcess("asyncio") as server:
        result = anyio.run(run, server.base_url, args.turns, args.pause, backend="asyncio")
    ours, floor = result["ours"], result["floor"]
    in_memory = {
        backend: statistics.median(
            anyio.run(in_memory_turn_cpu_us, args.turns, args.pause, backend=backend)
            for _ in range(3)
        )
        for backend in ("asyncio", "trio")
    }
    print(
        f"pause {args.pause * 1e3:g} ms, {args.turns} turns (medians): "
        f"TTFT ours {ours['ttft_ms']:.3f} ms, floor {floor['ttft_ms']:.3f} ms, "
        f"ours - floor {ours['ttft_ms'] - floor['ttft_ms']:+.3f} ms; "
        f"CPU per turn ours {ours['cpu_ms']:.3f} ms, floor {floor['cpu_ms']:.3f} ms; "
        f"CPU before the request is written ours {ours['before_write_us']:.0f} us, "
        f"floor {floor['before_write_us']:.0f} us; "
        f"CPU from the write to the first item ours {ours['after_write_us']:.0f} us, "
        f"floor {floor['after_write_us']:.0f} us; "
        f"in memory, CPU per turn (ours + fake) {in_memory['asyncio']:.0f} us asyncio, "
        f"{in_memory['trio']:.0f} us trio"
    )


if __name__ == "__main__":
    main()

"""What our HTTP path costs per chunk above httpx's own read, and how much of it is the
per-read cancel scope: a recorded body replayed in memory, so no socket and no server
process add their noise.

The bench server's 20,000-chunk replies (Chat Completions and the Responses API) are
recorded once as httpx handed them over (one piece per read), then replayed through
``httpx.MockTransport`` to:

- ``raw``: httpx ``aiter_raw`` alone (httpx's own cost over this transport);
- ``floor``: ``aiter_lines`` + ``json.loads`` per data line (``FloorHTTP``'s loop);
- ``ours``: ``async for item in stream`` on ``OpenAILLM.chat`` (``api="responses"`` for the
  Responses body);
- ``ours-no-scope``: the same with a no-op in place of the cancel scope each read is
  awaited in. That stream ends no barge-in: a measurement of what the scope costs, never a
  way to run.

Client CPU per chunk (``time.process_time``), median of ``--runs`` rounds, the four in turn
within each round; "above raw" is what each adds to httpx's read. The over-the-socket
figures are ``bench_http_layers.py``'s. Run:
``python benchmarks/bench_http_replay.py --backend trio --runs 7``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
from _common import API_KEY, MODEL, SYSTEM
from _serverproc import ServerProcess
from _spec import Spec

import scoped_openai._deadlines as deadlines
from scoped_openai import ChatContext, ChatRole, OpenAILLM

CHUNKS = 20_000
TEXT_DELTA = "response.output_text.delta"


async def record() -> dict[str, list[bytes]]:
    """The pieces of one reply per API, as httpx's ``aiter_raw`` handed them over."""
    user = Spec(chunks=CHUNKS).user_text()
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    bodies = {
        "chat": ("/chat/completions", {"model": MODEL, "messages": messages, "stream": True}),
        "responses": ("/responses", {"model": MODEL, "input": messages, "stream": True}),
    }
    recorded: dict[str, list[bytes]] = {}
    with ServerProcess() as server:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            for api, (path, body) in bodies.items():
                async with client.stream("POST", server.base_url + path, json=body) as answer:
                    recorded[api] = [piece async for piece in answer.aiter_raw()]
    return recorded


class _Replay(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


class _NoScope:
    """A cancel scope that cancels nothing (``ours-no-scope`` only)."""

    def __init__(self, deadline: float = 0.0) -> None:
        pass

    def __enter__(self) -> _NoScope:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def cancel(self) -> None:
        pass


async def replay(api: str, pieces: list[bytes], runs: int) -> dict[str, float]:
    """Median CPU µs per piece of each client over ``pieces``."""

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=_Replay(pieces))

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    url = "http://replay/v1/chat/completions"
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    options: dict[str, Any] = {"api": "responses", "streaming": False} if api != "chat" else {}
    async with OpenAILLM(api_key="k", base_url="http://replay/v1", client=client, **options) as llm:

        async def raw() -> None:
            async with client.stream("POST", url) as response:
                async for _ in response.aiter_raw():
                    pass

        async def floor() -> None:
            loads = json.loads
            async with client.stream("POST", url) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line[6:] != "[DONE]":
                        event = loads(line[6:])
                        if api == "chat":
                            for choice in event["choices"]:
                                if choice["index"] == 0 and choice["delta"].get("content"):
                                    pass
                        elif event["type"] == TEXT_DELTA:
                            pass

        async def ours() -> None:
            async with llm.chat(ctx) as stream:
                async for _ in stream:
                    pass

        async def ours_no_scope() -> None:
            native = deadlines.native_scope_and_clock
            deadlines.native_scope_and_clock = lambda: (_NoScope, native()[1])
            try:
                await ours()
            finally:
                deadlines.native_scope_and_clock = native

        clients: dict[str, Callable[[], Awaitable[None]]] = {
            "raw": raw,
            "floor": floor,
            "ours": ours,
            "ours-no-scope": ours_no_scope,
        }
        cpu: dict[str, list[float]] = {name: [] for name in clients}
        for round_no in range(runs + 1):
            for name, run in clients.items():
                gc.collect()
                start = time.process_time()
                await run()
                if round_no:  # the first round warms code paths
                    cpu[name].append((time.process_time() - start) / len(pieces) * 1e6)
    return {name: statistics.median(samples) for name, samples in cpu.items()}


async def main(runs: int) -> None:
    recorded = await record()
    for api, pieces in recorded.items():
        figures = await replay(api, pieces, runs)
        print(f"{api}: {len(pieces)} reads")
        for name, value in figures.items():
            above = value - figures["raw"]
            print(f"  {name:14s} {value:6.2f} µs/chunk, above raw {above:5.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    anyio.run(main, args.runs, backend=args.backend)

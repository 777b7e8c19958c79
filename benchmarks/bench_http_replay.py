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

``--through network`` replays one level lower instead: the socket reads httpcore made
(recorded through a network backend that keeps what each read returned) are handed back by
a network backend under httpcore and h11, so our own client's per-network-read scope
(``_transports.http_backend``) is in what is measured; ``httpx.MockTransport`` bypasses
httpcore and measures nothing of it. Then:

- ``raw`` and ``floor`` as above, over httpcore;
- ``ours``: ``OpenAILLM``'s own client, its backend wrapped as it wraps it (a scope per
  network read);
- ``ours-step-scope``: the same llm on a caller's ``client=`` over the same replay (a scope
  per step, as every body had before);
- ``ours-no-scope``: the caller's client with the no-op scope.
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
from scoped_openai._compat import wrap_each_network_backend
from scoped_openai._transports.http_backend import ScopedReadBackend

CHUNKS = 20_000
TEXT_DELTA = "response.output_text.delta"


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


async def floor_read(client: httpx.AsyncClient, url: str, api: str) -> None:
    """``FloorHTTP``'s loop: ``aiter_lines`` + ``json.loads`` per data line."""
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


async def measure(
    clients: dict[str, Callable[[], Awaitable[None]]], runs: int, pieces: Callable[[], int]
) -> dict[str, float]:
    """Median CPU µs per piece of each client, the clients in turn within each round."""
    cpu: dict[str, list[float]] = {name: [] for name in clients}
    for round_no in range(runs + 1):
        for name, run in clients.items():
            gc.collect()
            start = time.process_time()
            await run()
            if round_no:  # the first round warms code paths
                cpu[name].append((time.process_time() - start) / pieces() * 1e6)
    return {name: statistics.median(samples) for name, samples in cpu.items()}


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
            await floor_read(client, url, api)

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
        return await measure(clients, runs, lambda: len(pieces))


class _RecordingBackend:
    """httpcore's backend, keeping what each read of each connection returned."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.reads: list[bytes] = []

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        return _RecordingStream(await self._inner.connect_tcp(*args, **kwargs), self.reads)


class _RecordingStream:
    def __init__(self, inner: Any, reads: list[bytes]) -> None:
        self._inner = inner
        self._reads = reads

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        data: bytes = await self._inner.read(max_bytes, timeout)
        self._reads.append(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._reads.clear()  # a new request: keep its answer's reads only
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


async def record() -> dict[str, tuple[list[bytes], list[bytes]]]:
    """Per API, one reply's pieces as httpx's ``aiter_raw`` handed them over, and the
    socket reads (head and chunked body) httpcore made for it."""
    from httpcore._backends.auto import AutoBackend

    user = Spec(chunks=CHUNKS).user_text()
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    bodies = {
        "chat": ("/chat/completions", {"model": MODEL, "messages": messages, "stream": True}),
        "responses": ("/responses", {"model": MODEL, "input": messages, "stream": True}),
    }
    recorded: dict[str, tuple[list[bytes], list[bytes]]] = {}
    with ServerProcess() as server:
        headers = {"Authorization": f"Bearer {API_KEY}", "Accept-Encoding": "identity"}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            backend = _RecordingBackend(AutoBackend())
            wrap_each_network_backend(client, lambda _: backend)
            for api, (path, body) in bodies.items():
                async with client.stream("POST", server.base_url + path, json=body) as answer:
                    pieces = [piece async for piece in answer.aiter_raw()]
                recorded[api] = (pieces, list(backend.reads))
    return recorded


class _ReplayBackend:
    """Connections whose reads hand back ``reads`` again after each request is written."""

    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> _ReplayStream:
        return _ReplayStream(self._reads)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class _ReplayStream:
    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads
        self._next = iter(())

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return next(self._next, b"")

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._next = iter(self._reads)

    async def aclose(self) -> None:
        pass

    def get_extra_info(self, info: str) -> Any:
        return None


async def replay_network(api: str, reads: list[bytes], runs: int) -> dict[str, float]:
    """Median CPU µs per body piece of each client over the replayed socket ``reads``."""
    backend = _ReplayBackend(reads)
    client = httpx.AsyncClient(headers={"Accept-Encoding": "identity"})
    wrap_each_network_backend(client, lambda _: backend)
    url = "http://replay/v1/chat/completions"
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    options: dict[str, Any] = {"api": "responses", "streaming": False} if api != "chat" else {}
    own = OpenAILLM(api_key="k", base_url="http://replay/v1", **options)
    wrap_each_network_backend(own._http_client(), lambda _: ScopedReadBackend(backend))
    caller = OpenAILLM(api_key="k", base_url="http://replay/v1", client=client, **options)
    pieces = 0
    async with own, caller:

        async def raw() -> None:
            nonlocal pieces
            pieces = 0
            async with client.stream("POST", url) as response:
                async for _ in response.aiter_raw():
                    pieces += 1

        async def floor() -> None:
            await floor_read(client, url, api)

        def on(llm: OpenAILLM) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                async with llm.chat(ctx) as stream:
                    async for _ in stream:
                        pass

            return run

        async def no_scope() -> None:
            native = deadlines.native_scope_and_clock
            deadlines.native_scope_and_clock = lambda: (_NoScope, native()[1])
            try:
                await on(caller)()
            finally:
                deadlines.native_scope_and_clock = native

        clients: dict[str, Callable[[], Awaitable[None]]] = {
            "raw": raw,
            "floor": floor,
            "ours": on(own),
            "ours-step-scope": on(caller),
            "ours-no-scope": no_scope,
        }
        figures = await measure(clients, runs, lambda: pieces)
    await client.aclose()
    return figures


async def main(runs: int, through: str) -> None:
    for api, (pieces, reads) in (await record()).items():
        if through == "network":
            figures = await replay_network(api, reads, runs)
            print(f"{api}: {len(pieces)} pieces, {len(reads)} socket reads")
        else:
            figures = await replay(api, pieces, runs)
            print(f"{api}: {len(pieces)} reads")
        for name, value in figures.items():
            above = value - figures["raw"]
            print(f"  {name:16s} {value:6.2f} µs/chunk, above raw {above:5.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--through", default="mock", choices=["mock", "network"])
    args = parser.parse_args()
    anyio.run(main, args.runs, args.through, backend=args.backend)

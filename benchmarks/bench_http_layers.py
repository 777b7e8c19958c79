"""Where the CPU of one HTTP chunk goes: the Chat Completions path built up layer by layer.

Every layer reads the same 20,000-chunk reply from the bench server (in its own process)
over the same client, and adds one part of what ``OpenAILLM`` does per chunk:

- ``floor``: httpx stream + ``aiter_lines`` + ``json.loads`` per data line (``FloorHTTP``'s
  loop): the target;
- ``raw``: httpx ``aiter_raw`` alone, no decoding: httpx's own cost per chunk;
- ``body``: + our ``StreamedBody.next_piece`` (``_transports.http``), as a turn reads it;
- ``scope``: + the per-read cancel scope and deadlines (``TurnDeadlines`` with the llm's
  watchdog, as ``ChatStream._step`` opens them);
- ``parse``: + ``HTTPTurn.receive``: SSE decoding, msgspec decoding and mapping to events;
- ``assemble``: + the ``Assembler`` (items built, queued and taken);
- ``ours``: ``async for item in stream`` on ``OpenAILLM.chat`` (the ``ChatStream`` step);
- ``caller``: ``ours`` on a caller's ``client=``, which keeps a scope per step where our own
  client opens one per network read (``_transports.http_backend``).

Client CPU per chunk (``time.process_time``: stable under load where wall time is not),
median of ``--runs`` rounds; the layers run in turn within each round, so each figure and
its difference to the floor come from the same conditions. Run:
``python benchmarks/bench_http_layers.py --backend asyncio --runs 7``.

``--request``: instead, the CPU of building one request for a 101-message history (what a
warm turn pays before its first byte is sent), ours (Chat Completions and the Responses API
over HTTP) against the floor's ``client.build_request(json=...)``, no network.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import httpx
from _common import API_KEY, MODEL, SYSTEM
from _serverproc import ServerProcess
from _spec import Spec

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai._assembly import Assembler
from scoped_openai._deadlines import TurnDeadlines
from scoped_openai._events import Event
from scoped_openai._http_turn import chat_completions_turn
from scoped_openai._response import LLMResponse
from scoped_openai._transports.http import open_stream

CHUNKS = 20_000


def _context() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, SYSTEM)
    ctx.add_message(ChatRole.USER, Spec(chunks=CHUNKS).user_text())
    return ctx


def _body() -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": Spec(chunks=CHUNKS).user_text()},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


class Layers:
    def __init__(self, llm: OpenAILLM, base_url: str) -> None:
        self.llm = llm
        self.caller_llm = llm  # main() sets one on a caller's client
        self.client: httpx.AsyncClient = llm._http_client()
        self.url = base_url + "/chat/completions"
        self.headers = {"Authorization": f"Bearer {API_KEY}", "Accept-Encoding": "identity"}

    async def floor(self) -> int:
        n = 0
        loads = json.loads
        async with self.client.stream("POST", self.url, json=_body(), headers=self.headers) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line[6:] != "[DONE]":
                    for choice in loads(line[6:])["choices"]:
                        if choice["index"] == 0 and choice["delta"].get("content"):
                            n += 1
        return n

    async def raw(self) -> int:
        n = 0
        async with self.client.stream("POST", self.url, json=_body(), headers=self.headers) as r:
            async for _piece in r.aiter_raw():
                n += 1
        return n

    async def body(self) -> int:
        request = self.client.build_request("POST", self.url, json=_body(), headers=self.headers)
        body = await open_stream(self.client, request, headers_timeout=None)
        n = 0
        next_piece = body.next_piece  # what ``HTTPTurn.receive`` awaits once per chunk
        try:
            while True:
                await next_piece()
                n += 1
        except StopAsyncIteration:
            pass
        await body.aclose(completed=True, background=None)
        return n

    def _turn_parts(self) -> tuple[object, TurnDeadlines]:
        llm = self.llm
        turn = chat_completions_turn(
            self.client,
            llm._endpoint,
            llm.settings,
            _context(),
            tools=None,
            graph=None,
            overrides=None,
            options=llm._http_options(),
        )
        deadlines = TurnDeadlines(
            idle=llm.idle_timeout,
            first_token=llm.first_token_timeout,
            turn=llm.turn_timeout,
            watchdog=llm._deadline_watchdog(),
        )
        return turn, deadlines

    async def scope(self) -> int:
        request = self.client.build_request("POST", self.url, json=_body(), headers=self.headers)
        body = await open_stream(self.client, request, headers_timeout=None)
        _, deadlines = self._turn_parts()
        n = 0
        next_piece = body.next_piece
        ended = False
        while not ended:
            with deadlines.open_wait(started=True, delivered=True):
                try:
                    await next_piece()
                except StopAsyncIteration:
                    ended = True
            deadlines.close_wait()
            n += not ended
        await body.aclose(completed=True, background=None)
        return n

    async def _parsed(self, assembler: Assembler | None) -> int:
        turn, deadlines = self._turn_parts()
        await turn.start()  # type: ignore[attr-defined]
        receive = turn.receive  # type: ignore[attr-defined]
        events: list[Event] = []
        items: deque[LLMResponse | Exception] = deque()
        n = 0
        done = False
        while not done:
            with deadlines.open_wait(started=True, delivered=True):
                await receive(events)
            deadlines.close_wait()
            for event in events:
                done = done or type(event).__name__ == "StreamDone"
                if assembler is not None:
                    assembler.feed(event, items)
                else:
                    n += 1
            events.clear()
            while items:
                items.popleft()
                n += 1
        await turn.aclose(completed=True)  # type: ignore[attr-defined]
        return n

    async def parse(self) -> int:
        return await self._parsed(None)

    async def assemble(self) -> int:
        return await self._parsed(Assembler(model=self.llm.model))

    async def ours(self, llm: OpenAILLM | None = None) -> int:
        n = 0
        async with (llm or self.llm).chat(_context()) as stream:
            async for _ in stream:
                n += 1
        return n

    async def caller(self) -> int:
        """``ours`` on a caller's ``client=`` (a plain ``httpx.AsyncClient``): a cancel scope
        per step, where our own client opens one per network read."""
        return await self.ours(self.caller_llm)


async def main(runs: int, only: list[str] | None) -> None:
    with ServerProcess() as server:
        options = {"api_key": API_KEY, "base_url": server.base_url, "model": MODEL}
        async with (
            OpenAILLM(**options) as llm,
            httpx.AsyncClient() as client,
            OpenAILLM(**options, client=client) as caller,
        ):
            layers = Layers(llm, server.base_url)
            layers.caller_llm = caller
            names = only or ["floor", "raw", "body", "scope", "parse", "assemble", "ours", "caller"]
            fns: dict[str, Callable[[], Awaitable[int]]] = {n: getattr(layers, n) for n in names}
            cpu: dict[str, list[float]] = {name: [] for name in fns}
            for round_no in range(runs + 1):
                for name, fn in fns.items():
                    gc.collect()
                    start = time.process_time()
                    await fn()
                    if round_no:  # the first round warms connections and caches
                        cpu[name].append((time.process_time() - start) / CHUNKS * 1e6)
    floor = statistics.median(cpu["floor"]) if "floor" in cpu else None
    for name, values in cpu.items():
        value = statistics.median(values)
        ratio = f"  {value / floor:.2f}x floor" if floor else ""
        print(f"{name:9s} {value:6.2f} µs/chunk{ratio}")


def history(turns: int = 50) -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, SYSTEM)
    for turn in range(turns):
        ctx.add_message(ChatRole.USER, f"what the user said on turn {turn}, a short sentence")
        ctx.add_message(ChatRole.ASSISTANT, f"what the model answered on turn {turn}, a bit longer")
    return ctx


def requests(runs: int) -> None:
    """CPU per request built, µs: ours (both HTTP APIs) against the floor's."""
    from scoped_openai._http_responses import ResponsesHTTPPlan
    from scoped_openai._responses_input import InputItemCache

    ctx = history()
    messages = [{"role": m.role.value, "content": m.content} for m in ctx.items]
    client = httpx.AsyncClient()
    llm = OpenAILLM(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", model=MODEL)
    options, endpoint = llm._http_options(), llm._endpoint

    def floor() -> object:
        body = {"model": MODEL, "messages": messages, "stream": True, "temperature": 0.7}
        return client.build_request("POST", endpoint.chat_url, json=body, headers=HEADERS)

    def chat() -> object:
        turn = chat_completions_turn(
            client,
            endpoint,
            llm.settings,
            ctx,
            tools=None,
            graph=None,
            overrides=None,
            options=options,
        )
        return turn._plan.request(None)

    def responses() -> object:
        plan = ResponsesHTTPPlan(
            client,
            endpoint,
            llm.settings,
            ctx.items,
            chain=None,
            inputs=InputItemCache(),  # a context's first request: every item converted
            tools=None,
            graph=None,
            overrides=None,
            options=options,
        )
        return plan.request(None)

    for name, build in (("floor", floor), ("chat", chat), ("responses", responses)):
        samples = []
        for _ in range(runs):
            start = time.process_time()
            for _ in range(200):
                build()
            samples.append((time.process_time() - start) / 200 * 1e6)
        print(f"{name:9s} {statistics.median(samples):7.1f} µs per request")


HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept-Encoding": "identity"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="layers to run (default: all)")
    parser.add_argument("--request", action="store_true", help="request building instead")
    args = parser.parse_args()
    if args.request:
        requests(args.runs)
    else:
        anyio.run(main, args.runs, args.only, backend=args.backend)

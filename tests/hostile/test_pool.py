"""Issue 18, item 8: the HTTP pool fits the concurrency we advertise, and running out of it
is its own error.

- 60 turns at once on one ``OpenAILLM`` against a healthy loopback server all complete (the
  old 50-connection pool failed 10 of them after 5 s with a "connect timeout"). The server
  answers only once all 60 requests are in, so the test proves they ran side by side.
- A caller's client with one connection and a 0.1 s pool timeout, while a turn holds that
  connection: the second turn gets ``PoolExhaustedError``, not ``APITimeoutError``.
"""

from __future__ import annotations

import anyio
import anyio.abc
import httpx
import pytest

from scoped_openai import (
    APITimeoutError,
    ChatContext,
    LLMResponse,
    OpenAILLM,
    PoolExhaustedError,
)
from scoped_openai.testing import DONE, chunk
from support.loopback_server import RawServer
from support.raw_http import chunked, read_request, sse_head
from support.turns import contents, turn

pytestmark = pytest.mark.anyio

TURNS = 60


def answer_when(count: int) -> tuple[RawServer, anyio.Event, anyio.Event]:
    """A server that answers once ``count`` requests are in; events: the first one is in,
    all are in."""
    first_in = anyio.Event()
    all_in = anyio.Event()
    seen = 0

    async def handler(stream: anyio.abc.SocketStream) -> None:
        nonlocal seen
        while True:  # keep-alive: one request after another on this connection
            await read_request(stream)
            seen += 1
            first_in.set()
            if seen >= count:
                all_in.set()
            await all_in.wait()
            body = chunk({"content": "ok"}) + DONE
            await stream.send(sse_head() + chunked(body) + chunked(b""))

    return RawServer(handler), first_in, all_in


async def test_sixty_turns_at_once_on_one_instance(ctx: ChatContext) -> None:
    server, _, all_in = answer_when(TURNS)
    results: list[tuple[list[LLMResponse], Exception | None]] = []

    async def one(llm: OpenAILLM) -> None:
        results.append(await turn(llm, ctx))

    with anyio.fail_after(20):
        async with (
            server,
            OpenAILLM(base_url=server.base_url) as llm,
            anyio.create_task_group() as tg,
        ):
            for _ in range(TURNS):
                tg.start_soon(one, llm)
    assert all_in.is_set()
    assert [(contents(items), error) for items, error in results] == [(["ok"], None)] * TURNS


async def test_pool_exhaustion_is_its_own_error(ctx: ChatContext) -> None:
    server, first_in, _ = answer_when(2)  # the first turn holds the one connection
    errors: list[Exception] = []
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1), timeout=httpx.Timeout(5.0, pool=0.1)
    )
    with anyio.fail_after(10):
        async with server, client, OpenAILLM(base_url=server.base_url, client=client) as llm:
            llm.on("error", errors.append)
            async with llm.chat(ctx) as holding, anyio.create_task_group() as tg:
                tg.start_soon(holding.__anext__)  # sends; waits for the answer
                await first_in.wait()  # the server has it: the one connection is taken
                items, error = await turn(llm, ctx)
                tg.cancel_scope.cancel()
    assert items == []
    assert isinstance(error, PoolExhaustedError), repr(error)
    assert not isinstance(error, APITimeoutError)
    assert "stayed busy for 0.1s" in str(error)
    assert (error.max_connections, error.seconds) == (None, 0.1)  # a caller's client
    assert errors == [error]

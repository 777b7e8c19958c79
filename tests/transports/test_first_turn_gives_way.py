"""A client's first turn gives the event loop back before its request goes out and again
after the answer's headers (``HTTPTurn.start``), where it runs what later turns do not (a
new connection, the first answer on it): issue 16, point 4, the first turn's stall. Later
turns, and the first after ``prewarm()``, take no extra step. An instance's default client
is built by its first turn's start, not by ``chat()``, which still checks and encodes the
request (its errors are raised there, nothing built); before the shared TLS context is
loaded (no ``async with``), ``chat()`` builds it as it did, so a CA bundle that cannot be
read stays its error.

A ticker task counts its scheduler steps; it can only run while the consumer gives the loop
back, so the count it had reached when the request was sent and when the body was first
read says where the turn gave way. In memory (``httpx.MockTransport``), on both backends.
"""

from __future__ import annotations

import gc
import math
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest

from scoped_openai import ChatContext, ChatRole, InvalidContextError, OpenAILLM, UsageError, _tls
from scoped_openai._transports import http as http_transport
from scoped_openai._transports.http import first_use
from scoped_openai.testing import FakeOpenAI, Reply

pytestmark = pytest.mark.anyio

BASE = "http://fake-openai.invalid/v1"
CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'


class Ticker:
    """Counts the steps a task that does nothing but checkpoint gets."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await anyio.lowlevel.checkpoint()
            self.ticks += 1


class Body(httpx.AsyncByteStream):
    """A reply whose first read notes the ticker's count."""

    def __init__(self, ticker: Ticker, seen: dict[str, int]) -> None:
        self.ticker = ticker
        self.seen = seen
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.seen["read"] = self.ticker.ticks
        yield CHUNK
        yield b"data: [DONE]\n\n"

    async def aclose(self) -> None:
        self.closed = True


class Server:
    """Answers each POST with a ``Body`` (noting the ticker's count when it was sent), and a
    ``prewarm()``'s HEAD with an empty 200."""

    def __init__(self, ticker: Ticker) -> None:
        self.ticker = ticker
        self.turns: list[dict[str, int]] = []
        self.bodies: list[Body] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(200)
        seen = {"sent": self.ticker.ticks}
        self.turns.append(seen)
        self.bodies.append(Body(self.ticker, seen))
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=self.bodies[-1]
        )


def context() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Hi")
    return ctx


async def turn(llm: OpenAILLM, ticker: Ticker, server: Server) -> str:
    """One turn, its reply; notes the ticker's count as the consumer starts iterating."""
    heard = ""
    async with llm.chat(context()) as stream:
        at_start = ticker.ticks
        async for item in stream:
            heard += item.content
    server.turns[-1]["start"] = at_start
    return heard


class ComparableClient(httpx.AsyncClient):
    """An application's client class that defines equality, and so has no hash."""

    def __eq__(self, other: object) -> bool:
        return self is other


async def turns_seen(
    count: int, *, prewarm: bool = False, client_class: type[httpx.AsyncClient] = httpx.AsyncClient
) -> list[dict[str, int]]:
    ticker = Ticker()
    server = Server(ticker)
    async with (
        client_class(transport=httpx.MockTransport(server.answer)) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(ticker.run)
        async with OpenAILLM(api_key="sk-test", base_url=BASE, client=client) as llm:
            if prewarm:
                await llm.prewarm()
            for _ in range(count):
                assert await turn(llm, ticker, server) == "Hi"
        tg.cancel_scope.cancel()
    assert all(body.closed for body in server.bodies)
    return server.turns


async def test_a_clients_first_turn_gives_way_before_sending_and_after_the_headers() -> None:
    first, second, third = await turns_seen(3)
    # The ticker ran between the consumer's start and the request, and between the headers
    # (the handler's answer) and the first read of the body.
    assert first["start"] < first["sent"] < first["read"]
    # Later turns: the same steps hold the loop from the start to the first read.
    for later in (second, third):
        assert later["start"] == later["sent"] == later["read"]


async def test_an_unhashable_client_of_the_applications_turns_as_any_other() -> None:
    # Clients are remembered by identity (``first_use``), never hashed: an unhashable
    # client class is the application's to make, and worked before first_use existed.
    first, second = await turns_seen(2, client_class=ComparableClient)
    assert first["start"] < first["sent"] < first["read"]
    assert second["start"] == second["sent"] == second["read"]


def test_first_use_forgets_a_client_once_it_is_gone() -> None:
    # Process-wide, so bounded by the clients alive: one that is gone leaves no entry.
    client = ComparableClient()
    assert first_use(client)
    assert not first_use(client)
    held = len(http_transport._clients_used)
    del client
    gc.collect()
    assert len(http_transport._clients_used) == held - 1


async def test_the_first_turn_after_prewarm_gives_no_extra_step() -> None:
    # prewarm() built the client and opened its connection: the turn runs as a later one.
    (first,) = await turns_seen(1, prewarm=True)
    assert first["start"] == first["sent"] == first["read"]


async def test_a_barge_in_while_the_first_turn_gives_way_after_the_headers() -> None:
    # The body is open while the turn gives way: a barge-in there ends the iteration with
    # nothing heard and the body closed.
    ticker = Ticker()
    server = Server(ticker)
    heard: list[str] = []
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(server.answer)) as client,
        OpenAILLM(api_key="sk-test", base_url=BASE, client=client) as llm,
    ):

        async def barge_in() -> None:
            while not server.turns:  # until the answer's headers are in
                await anyio.lowlevel.checkpoint()
            await llm.cancel_current_generation()

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ticker.run)
                tg.start_soon(barge_in)
                async with llm.chat(context()) as stream:
                    async for item in stream:
                        heard.append(item.content)
                tg.cancel_scope.cancel()
        assert stream.cancelled
        assert heard == []
        (body,) = server.bodies
        assert body.closed
        assert "read" not in server.turns[0]  # cancelled before the first read
        # The next turn is whole (and, the client's first turn done, takes no extra step).
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker.run)
            assert await turn(llm, ticker, server) == "Hi"
            tg.cancel_scope.cancel()
        assert server.turns[1]["start"] == server.turns[1]["sent"] == server.turns[1]["read"]


async def test_chat_checks_the_request_and_leaves_the_default_client_to_the_turn() -> None:
    # ``_client`` is the instance's httpx client, None until something builds it. Entered:
    # the shared TLS context is loaded (see the test below for a chat() before that).
    async with OpenAILLM(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as llm:
        with pytest.raises(UsageError, match=r"\$\.temperature"):
            llm.chat(context(), temperature=math.nan)
        with pytest.raises(InvalidContextError):
            llm.chat(ChatContext.empty())
        stream = llm.chat(context())
        assert llm._client is None
        await stream.aclose()


async def test_a_ca_bundle_that_cannot_be_read_is_still_chats_error_and_never_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Not entered, nothing has loaded the shared TLS context yet: building the default
    # client reads the bundle, so chat() builds it, as before the client was built by the
    # turn. A bundle that cannot be read is chat()'s error (nothing is sent, no turn
    # exists), not an APIConnectionError the turn retries with backoff.
    monkeypatch.setattr(_tls, "_shared", _tls._Shared())
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    llm = OpenAILLM(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=2)
    with pytest.raises(UsageError, match=r"SSL_CERT_FILE='.*missing\.pem'") as caught:
        llm.chat(context())
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert llm._client is None
    monkeypatch.delenv("SSL_CERT_FILE")
    stream = llm.chat(context())  # the bundle readable: chat() built the client
    assert llm._client is not None
    await stream.aclose()
    await llm.aclose()


@pytest.mark.loopback
async def test_the_first_turn_builds_the_default_client(fake: FakeOpenAI) -> None:
    fake.add(Reply.text("hello"))
    fake.add(Reply.text("again"))
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            OpenAILLM(api_key="sk-test", base_url=server.base_url) as llm,
        ):
            async with llm.chat(context()) as stream:
                assert llm._client is None
                assert "".join([item.content async for item in stream]) == "hello"
            client = llm._client
            assert client is not None
            async with llm.chat(context()) as stream:
                assert "".join([item.content async for item in stream]) == "again"
            assert llm._client is client
    assert len(fake.requests) == 2


@pytest.mark.loopback
async def test_a_barge_in_before_the_first_turn_builds_the_default_client(
    fake: FakeOpenAI,
) -> None:
    # The first turn gives way before it builds the client: a barge-in there ends the
    # iteration with nothing built or sent, and the next turn builds the client and answers.
    fake.add(Reply.text("hello"))
    heard: list[str] = []
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            OpenAILLM(api_key="sk-test", base_url=server.base_url) as llm,
        ):
            stream = llm.chat(context())

            async def barge_in() -> None:
                while not stream.waiting:  # the consumer is in its first step's scope
                    await anyio.lowlevel.checkpoint()
                await llm.cancel_current_generation()

            async with anyio.create_task_group() as tg:
                tg.start_soon(barge_in)
                async with stream:
                    async for item in stream:
                        heard.append(item.content)
            assert stream.cancelled
            assert heard == []
            assert llm._client is None
            assert fake.requests == []
            async with llm.chat(context()) as again:
                assert "".join([item.content async for item in again]) == "hello"
            assert llm._client is not None
    assert len(fake.requests) == 1

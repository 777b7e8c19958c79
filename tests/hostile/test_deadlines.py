"""Issue 18, item 7: deadlines mean what they say.

- idle: no *event* for ``idle_timeout``. A server that trickles a comment line, or one byte
  of an event, every second used to hold an ``idle_timeout=2`` turn for as long as it
  liked; now the turn ends at 2 s with ``phase="idle"`` (virtual clock, HTTP: the
  WebSocket has no partial events, every frame is one).
- headers: a server that accepts the connection and never answers is ``phase="headers"``
  after ``headers_timeout``, not "no output from the model" after the first-token deadline
  (real loopback server; the deadline is 0.2 s).
- a 500 whose body never comes is reported as the 500 it is, after the error-body bound.
- on the WebSocket the handshake is the request whose answer never comes: it is bounded by
  the connect timeout (``timeout.connect``) and reported as ``phase="connect"``, never as
  the first-token deadline.
- turn: the optional whole-turn deadline ends a turn that streams steadily but too long,
  ``phase="turn"``, on both paths (virtual clock).
- an event that makes no item before the first token starts the idle deadline, whichever
  mechanism enforces it (the llm's watchdog inside ``async with``, the scope without).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
import trio

from scoped_openai import APITimeoutError, ChatContext, InternalServerError, OpenAILLM
from scoped_openai._transports import refusal
from scoped_openai.testing import DONE, FakeOpenAI, Pause, Reply, WSReply, chunk
from support.loopback_server import RawServer
from support.raw_http import read_request
from support.turns import contents, turn


def trickled_comments() -> Reply:
    steps: list[Any] = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"})]
    for _ in range(100):
        steps += [Pause(1.0), b": still thinking\n"]
    return Reply([*steps, DONE])


def trickled_bytes() -> Reply:
    event = chunk({"content": " there"})
    steps: list[Any] = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"})]
    for byte in event:
        steps += [Pause(1.0), bytes([byte])]
    return Reply([*steps, DONE])


@pytest.mark.trio
@pytest.mark.parametrize("reply", [trickled_comments, trickled_bytes])
async def test_trickling_does_not_hold_the_idle_deadline(
    autojump_clock: Any,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: Callable[..., OpenAILLM],
    errors: list[Exception],
    reply: Callable[[], Reply],
) -> None:
    fake.add(reply())
    async with make_llm(idle_timeout=2.0) as llm:
        start = trio.current_time()
        items, error = await turn(llm, ctx)
        took = trio.current_time() - start
    assert contents(items) == ["Hi"]
    assert isinstance(error, APITimeoutError), repr(error)
    assert (error.phase, error.seconds) == ("idle", 2.0)
    assert took == 2.0
    assert errors == [error]
    assert fake.counters.open_bodies == 0


@pytest.mark.trio
@pytest.mark.parametrize("path", ["http", "ws"])
async def test_whole_turn_deadline(
    autojump_clock: Any,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: Callable[..., OpenAILLM],
    make_ws_llm: Callable[..., OpenAILLM],
    errors: list[Exception],
    path: str,
) -> None:
    words = [f"w{i} " for i in range(20)]  # one a second: never idle, 20 s in all
    if path == "http":
        fake.add(Reply.text(words, delay=1.0))
        make = make_llm
    else:
        fake.add_ws(WSReply.text(words, delay=1.0))
        make = make_ws_llm
    async with make(idle_timeout=2.0, turn_timeout=5.5) as llm:
        start = trio.current_time()
        items, error = await turn(llm, ctx)
        took = trio.current_time() - start
    assert contents(items) == words[:5]
    assert isinstance(error, APITimeoutError), repr(error)
    assert (error.phase, error.seconds) == ("turn", 5.5)
    assert took == 5.5
    assert errors == [error]


@pytest.mark.trio
@pytest.mark.parametrize("owned", [True, False], ids=["watchdog", "scope"])
async def test_an_event_before_the_first_token_starts_the_idle_deadline(
    autojump_clock: Any,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: Callable[..., OpenAILLM],
    errors: list[Exception],
    owned: bool,
) -> None:
    # The role-only chunk is a whole event that makes no item: from then on the turn is
    # idle, and the idle deadline (2 s) is nearer than the first-token deadline (60 s).
    fake.add(Reply([chunk({"role": "assistant"}), Pause(100.0), chunk({"content": "late"}), DONE]))
    llm = make_llm(idle_timeout=2.0, first_token_timeout=60.0)
    start = trio.current_time()
    if owned:
        async with llm:
            items, error = await turn(llm, ctx)
    else:
        items, error = await turn(llm, ctx)
        await llm.aclose()
    took = trio.current_time() - start
    assert items == []
    assert isinstance(error, APITimeoutError), repr(error)
    assert (error.phase, error.seconds) == ("idle", 2.0)
    assert took == 2.0
    assert errors == [error]


async def never_answer(stream: anyio.abc.SocketStream) -> None:
    await read_request(stream)
    await anyio.sleep_forever()


async def status_without_body(stream: anyio.abc.SocketStream) -> None:
    await read_request(stream)
    await stream.send(
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n"
    )
    await anyio.sleep_forever()


@pytest.mark.anyio
async def test_no_response_headers_is_its_own_phase(ctx: ChatContext) -> None:
    errors: list[Exception] = []
    with anyio.fail_after(10):
        async with (
            RawServer(never_answer) as server,
            OpenAILLM(base_url=server.base_url, headers_timeout=0.2) as llm,
        ):
            llm.on("error", errors.append)
            items, error = await turn(llm, ctx)
    assert items == []
    assert isinstance(error, APITimeoutError), repr(error)
    assert (error.phase, error.seconds) == ("headers", 0.2)
    assert "no response headers" in str(error)
    assert errors == [error]


@pytest.mark.anyio
async def test_a_status_whose_body_never_comes_is_reported_as_itself(
    ctx: ChatContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refusal, "ERROR_BODY_TIMEOUT", 0.2)
    errors: list[Exception] = []
    with anyio.fail_after(10):
        async with (
            RawServer(status_without_body) as server,
            OpenAILLM(base_url=server.base_url) as llm,
        ):
            llm.on("error", errors.append)
            items, error = await turn(llm, ctx)
    assert items == []
    assert isinstance(error, InternalServerError), repr(error)
    assert error.status_code == 500
    assert errors == [error]


@pytest.mark.anyio
async def test_an_unanswered_websocket_handshake_is_a_connect_timeout(ctx: ChatContext) -> None:
    errors: list[Exception] = []
    with anyio.fail_after(10):
        async with (
            RawServer(never_answer) as server,
            OpenAILLM(
                base_url=server.base_url,
                streaming=True,
                timeout=httpx.Timeout(5.0, connect=0.2),
                first_token_timeout=30.0,
            ) as llm,
        ):
            llm.on("error", errors.append)
            items, error = await turn(llm, ctx)
    assert items == []
    assert isinstance(error, APITimeoutError), repr(error)
    assert error.phase == "connect"
    assert "handshake" in str(error)
    assert errors == [error]

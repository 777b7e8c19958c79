"""The HTTP path end to end on real loopback sockets: the fake served by hypercorn, a real
httpx client, on asyncio and trio. Each test is bounded by ``anyio.fail_after(10)``. What
every path does over the wire is in ``tests/paths/test_loopback.py``."""

from __future__ import annotations

import json
import logging
import socket

import anyio
import pytest

from scoped_openai import (
    APIConnectionError,
    ChatContext,
    OpenAILLM,
    RateLimitError,
)
from scoped_openai.testing import FakeOpenAI, Reply
from support.turns import contents, turn

pytestmark = [pytest.mark.anyio, pytest.mark.loopback]

KEY = "sk-loopback-SECRET-4242"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]


async def turn_heard(llm: OpenAILLM, ctx: ChatContext) -> tuple[list[str], Exception | None]:
    """What one turn said, and the exception that ended it (None: it completed)."""
    items, error = await turn(llm, ctx)
    return contents(items), error


async def test_prewarm_and_first_turn_share_one_connection(
    fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add(Reply.text("Hello there"), Reply.text("Again"))
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            OpenAILLM(api_key=KEY, base_url=server.base_url) as llm,
        ):
            await llm.prewarm()
            assert len(fake.loopback_clients) == 1
            heard, error = await turn_heard(llm, ctx)
            assert error is None
            assert heard == ["Hell", "o th", "ere", ""]
            heard, error = await turn_heard(llm, ctx)
            assert (heard, error) == (["Agai", "n", ""], None)
    assert len(fake.loopback_clients) == 1
    assert [(r.method, r.path) for r in fake.requests] == [
        ("HEAD", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
    ]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests)
    assert fake.counters.open_bodies == 0


async def test_request_and_tool_calls_over_the_wire(fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.add(
        Reply.tool_calls(
            ("call_1", "get_weather", '{"city": "Paris"}'),
            ("call_2", "get_time", '{"tz": "CET"}'),
            fragment_size=2,
        )
    )
    with anyio.fail_after(10):
        async with fake.serve() as server:
            llm = OpenAILLM(
                api_key=KEY,
                base_url=server.base_url,
                extra_headers={"X-Trace": "t-1"},
                extra_query={"flag": "yes"},
                seed=5,
            )
            async with llm, llm.chat(ctx, user="u-7") as stream:
                items = [item async for item in stream]
    assert [i.function_call for i in items if i.function_call] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"},
        {"name": "get_time", "arguments": {"tz": "CET"}, "id": "call_2"},
    ]
    assert stream.assembler.finish_reason == "tool_calls"
    (request,) = fake.requests
    assert request.headers["x-trace"] == "t-1"
    assert request.query == {"flag": "yes"}
    assert request.json() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.7,
        "seed": 5,
        "user": "u-7",
    }


async def test_status_error_over_the_wire(fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.add(
        Reply.error(
            429,
            "Rate limit reached for gpt-4o-mini.",
            code="rate_limit_exceeded",
            headers={"x-request-id": "req_loop_1"},
        ),
        Reply.text("ok"),
    )
    seen: list[Exception] = []
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            OpenAILLM(api_key=KEY, base_url=server.base_url) as llm,
        ):
            llm.on("error", seen.append)
            heard, error = await turn_heard(llm, ctx)
            assert heard == []
            assert type(error) is RateLimitError
            assert str(error) == (
                "HTTP 429: Rate limit reached for gpt-4o-mini. | code=rate_limit_exceeded"
                " | request_id=req_loop_1"
            )
            assert seen == [error]
            assert await turn_heard(llm, ctx) == (["ok", ""], None)
    assert fake.counters.open_bodies == 0


async def test_disconnect_mid_stream_over_the_wire(fake: FakeOpenAI, ctx: ChatContext) -> None:
    from scoped_openai.testing import Disconnect

    fake.add(Reply.text(["Hel", "lo"], then=[Disconnect()]), Reply.text("ok"))
    seen: list[Exception] = []
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            OpenAILLM(api_key=KEY, base_url=server.base_url, max_retries=2) as llm,
        ):
            llm.on("error", seen.append)
            heard, error = await turn_heard(llm, ctx)
            assert heard == ["Hel", "lo"]
            assert type(error) is APIConnectionError
            assert seen == [error]
            assert await turn_heard(llm, ctx) == (["ok", ""], None)
    assert len(fake.requests) == 2
    assert fake.counters.open_bodies == 0


async def test_connection_refused_and_the_key_stays_secret(
    ctx: ChatContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seen: list[Exception] = []
    with anyio.fail_after(10):
        async with OpenAILLM(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1") as llm:
            llm.on("error", seen.append)
            assert KEY not in repr(llm)
            heard, error = await turn_heard(llm, ctx)
            with pytest.raises(APIConnectionError) as info:
                await llm.prewarm()
    assert heard == []
    assert type(error) is APIConnectionError
    assert str(error).startswith(
        f"connection to http://127.0.0.1:{port}/v1/chat/completions failed: "
    )
    assert seen == [error, info.value]
    for exc in seen:
        assert KEY not in str(exc)
        assert KEY not in repr(exc)
    assert KEY not in caplog.text
    assert all(KEY not in record.getMessage() for record in caplog.records)


async def test_secret_stays_out_of_debug_logs_of_a_real_exchange(
    fake: FakeOpenAI, ctx: ChatContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add(Reply.error(401, "Incorrect API key provided."), Reply.text("ok"))
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            OpenAILLM(api_key=KEY, base_url=server.base_url) as llm,
        ):
            _, error = await turn_heard(llm, ctx)
            assert await turn_heard(llm, ctx) == (["ok", ""], None)
    assert error is not None
    assert KEY not in str(error)
    assert caplog.records  # httpx/httpcore logged the exchange
    assert KEY not in caplog.text
    assert json.loads(fake.requests[0].body)["model"] == "gpt-4o-mini"

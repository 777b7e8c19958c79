"""The WebSocket path end to end on real loopback sockets: the fake served by hypercorn, the
real adapters (trio-websocket under trio, httpx-ws under asyncio), on both backends. Each test
is bounded by ``anyio.fail_after(10)``. What every path does over the wire is in
``tests/paths/test_loopback.py``."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from scoped_openai import (
    APIStreamError,
    AuthenticationError,
    ChatContext,
    ChatRole,
    OpenAILLM,
    WebSocketClosed,
)
from scoped_openai.testing import CloseSocket, FakeOpenAI, WSReply
from support.tools import WEATHER
from support.turns import turn
from support.wire_items import msg

pytestmark = [pytest.mark.anyio, pytest.mark.loopback]

KEY = "sk-loopback-SECRET-4242"
LIMIT = 10


def creates(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [frame for frame in fake.ws_frames if frame["type"] == "response.create"]


async def test_tool_call_then_a_chained_turn_over_the_wire(
    fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add_ws(
        WSReply.function_calls(
            ("call_1", "get_weather", '{"city": "Paris"}'), text="Checking.", fragment_size=2
        ),
        WSReply.text("It is 18C in Paris."),
    )
    errors: list[Exception] = []
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            llm = OpenAILLM(
                api_key=KEY,
                base_url=server.base_url,
                streaming=True,
                extra_headers={"X-Trace": "t-1"},
            )
            llm.on("error", errors.append)
            async with llm:
                items, error = await turn(llm, ctx, tools=[WEATHER])
                assert error is None
                assert [i.content for i in items] == ["Checking.", "", ""]
                assert [i.function_call for i in items if i.function_call] == [
                    {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}
                ]
                assert items[-1].usage == {
                    "prompt_tokens": 10,
                    "completion_tokens": 5,
                    "total_tokens": 15,
                    "prompt_cached_tokens": 0,
                    "reasoning_tokens": 0,
                    "request_id": "resp_fake_1",
                    "model": "gpt-4o-mini",
                }
                ctx.add_message(ChatRole.ASSISTANT, "Checking.")
                ctx.add_function_call("get_weather", '{"city": "Paris"}', call_id="call_1")
                ctx.add_function_output("get_weather", "18C", call_id="call_1")
                items, error = await turn(llm, ctx, tools=[WEATHER])
                assert error is None
                assert "".join(i.content for i in items) == "It is 18C in Paris."
                assert fake.ws_open == 2  # the socket and its spare
            assert fake.ws_open == 0
    port = server.port
    assert [h.url for h in fake.ws_handshakes] == [f"ws://127.0.0.1:{port}/v1/responses"] * 2
    for handshake in fake.ws_handshakes:
        assert handshake.headers["authorization"] == f"Bearer {KEY}"
        assert handshake.headers["x-trace"] == "t-1"
    first, second = creates(fake)
    assert first["input"] == [msg("system", "You are terse."), msg("user", "Say hello.")]
    assert second["previous_response_id"] == "resp_fake_1"
    assert second["input"] == [
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"}
    ]
    assert errors == []


async def test_prewarm_then_a_turn_over_the_wire(fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.add_ws(WSReply.text("Hello."))
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            async with OpenAILLM(api_key=KEY, base_url=server.base_url, streaming=True) as llm:
                await llm.prewarm(instructions="You are terse.")
                items, error = await turn(llm, ctx)
                assert error is None
                assert "".join(i.content for i in items) == "Hello."
            assert fake.ws_open == 0
    warmup, first = creates(fake)
    assert warmup["generate"] is False
    assert first["previous_response_id"] == "resp_fake_1"
    assert first["input"] == [msg("user", "Say hello.")]
    assert len(fake.ws_handshakes) == 2


async def test_rejected_handshake_over_the_wire(fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.ws_handshake_status = 401
    errors: list[Exception] = []
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            llm = OpenAILLM(api_key=KEY, base_url=server.base_url, streaming=True)
            llm.on("error", errors.append)
            async with llm:
                items, error = await turn(llm, ctx)
    assert items == []
    assert isinstance(error, AuthenticationError)
    assert (error.status_code, error.code) == (401, "invalid_api_key")
    assert KEY not in str(error)
    assert errors == [error]


async def test_error_frame_and_server_close_over_the_wire(
    fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add_ws(
        WSReply.error("invalid_value", "Bad tool name.", param="tools[0].name"),
        WSReply.text("Hello there", then=[CloseSocket(1011, "internal error")]),
        WSReply.text("recovered"),
    )
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            async with OpenAILLM(api_key=KEY, base_url=server.base_url, streaming=True) as llm:
                items, error = await turn(llm, ctx)
                assert items == []
                assert isinstance(error, APIStreamError)
                assert (error.code, error.param, error.status) == (
                    "invalid_value",
                    "tools[0].name",
                    "400",
                )
                items, error = await turn(llm, ctx)
                assert [i.content for i in items] == ["Hell", "o th", "ere"]
                assert isinstance(error, WebSocketClosed)
                assert (error.close_code, error.reason) == (1011, "internal error")
                items, error = await turn(llm, ctx)
                assert error is None
                assert "".join(i.content for i in items) == "recovered"
            assert fake.ws_open == 0
    assert len(creates(fake)) == 3


async def test_azure_streaming_over_the_wire(fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.add_ws(WSReply.text("Hallo Welt!", model="gpt-4o"))
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            llm = OpenAILLM.azure(
                model="gpt-4o",
                azure_endpoint=f"http://127.0.0.1:{server.port}",
                azure_deployment="my-gpt4o",
                api_version="2024-10-21",
                api_key="az-SECRET-key",
                streaming=True,
            )
            async with llm:
                items, error = await turn(llm, ctx)
                assert error is None
                assert "".join(i.content for i in items) == "Hallo Welt!"
            assert fake.ws_open == 0
    handshake = fake.ws_handshakes[0]
    assert handshake.url == f"ws://127.0.0.1:{server.port}/openai/v1/responses"
    assert handshake.headers["api-key"] == "az-SECRET-key"
    assert "authorization" not in handshake.headers


async def test_leaving_the_block_closes_the_sockets_promptly(
    fake: FakeOpenAI, ctx: ChatContext
) -> None:
    # Closing is cleanup: both sockets (the one used and the spare) must close without
    # waiting out the close timeout (CLOSE_TIMEOUT, 2 s) for a close frame nobody reads.
    fake.add_ws(WSReply.text("Hello."))
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            llm = OpenAILLM(api_key=KEY, base_url=server.base_url, streaming=True)
            async with llm:
                _items, error = await turn(llm, ctx)
                assert error is None
                await llm.prewarm()  # the spare is open too
                start = anyio.current_time()
            elapsed = anyio.current_time() - start
            assert fake.ws_open == 0
    assert elapsed < 1.0

"""The WebSocket (Responses API) path end to end through the in-memory fake.

``OpenAILLM(streaming=True)`` with ``fake.ws_connector()`` wrapped by the ``ws_tracker``
fixture, which numbers the sockets and records which socket each ``response.create`` went
out on. Cross-backend tests run on asyncio and trio (anyio's plugin); the tests about time
(handshake cost, the 55-minute socket limit) run on trio's virtual clock.

Covered here: the socket lifecycle (the ``async with`` block, the RuntimeError without it,
URLs and handshake headers, Azure), the exact ``response.create`` JSON, the items a turn
yields, one turn per socket, prewarm and handshake races, and socket replacement before the
60-minute limit. What every path does is in ``tests/paths/test_chat.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from scoped_openai import (
    AuthenticationError,
    ChatContext,
    ChatRole,
    ConversationalGraph,
    ImageContent,
    InvalidContextError,
    LLMResponse,
    OpenAILLM,
)
from scoped_openai.testing import FAKE_API_KEY, FakeOpenAI, Pause, WSReply
from support.consumer import Consumer
from support.tools import TIME, TIME_RESPONSES, WEATHER, WEATHER_RESPONSES
from support.turns import contents, turn

MakeLLM = Callable[..., OpenAILLM]


SYSTEM_ITEM = {
    "type": "message",
    "role": "system",
    "content": [{"type": "input_text", "text": "You are terse."}],
}
USER_ITEM = {
    "type": "message",
    "role": "user",
    "content": [{"type": "input_text", "text": "Say hello."}],
}
CTX_INPUT = [SYSTEM_ITEM, USER_ITEM]


def usage(
    prompt: int = 10,
    completion: int = 5,
    *,
    request_id: str = "resp_fake_1",
    model: str = "gpt-4o-mini",
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_cached_tokens": 0,
        "reasoning_tokens": 0,
        "request_id": request_id,
        "model": model,
    }


def calls(items: list[LLMResponse]) -> list[dict[str, Any]]:
    return [item.function_call for item in items if item.function_call is not None]


def find_none(value: Any, path: str = "$") -> list[str]:
    """Paths of every null value inside objects (list elements are values: enums may hold null)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                found.append(f"{path}.{key}")
            found.extend(find_none(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(find_none(item, f"{path}[{index}]"))
    return found


# -- the socket lifecycle -------------------------------------------------------------------


@pytest.mark.anyio
async def test_sockets_live_in_the_block_and_close_when_it_ends(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    fake.add_ws(WSReply.text("Hello there"), WSReply.text("Again"))
    async with make_ws_llm() as llm:
        first, error = await turn(llm, ctx)
        assert error is None
        assert contents(first) == ["Hell", "o th", "ere", ""]
        second, error = await turn(llm, ctx)
        assert error is None
        assert contents(second) == ["Agai", "n", ""]
        await anyio.wait_all_tasks_blocked()
        assert fake.ws_open == 2  # the active socket and the warm spare
        assert ws_tracker.create_sockets == [1, 1]  # both turns on the same socket
    assert fake.ws_open == 0
    assert ws_tracker.open_sockets() == []
    assert len(fake.ws_handshakes) == 2
    assert fake.requests == [r for r in fake.requests if r.method == "WS"]  # no HTTP at all
    assert errors == []


@pytest.mark.anyio
async def test_streaming_without_async_with_is_a_clear_runtime_error(
    fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add_ws(WSReply.text("never"))
    llm = fake.llm(streaming=True)
    with pytest.raises(RuntimeError) as info:
        await turn_raising(llm, ctx)
    message = str(info.value)
    assert "async with OpenAILLM(streaming=True" in message
    assert "as llm" in message
    with pytest.raises(RuntimeError, match=r"async with OpenAILLM\(streaming=True"):
        await llm.prewarm(instructions="You are terse.")
    assert fake.ws_handshakes == []
    assert fake.ws_frames == []
    await llm.aclose()
    await llm.aclose()  # idempotent


async def turn_raising(llm: OpenAILLM, ctx: ChatContext) -> None:
    async with llm.chat(ctx) as stream:
        async for _ in stream:
            pass


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("base_url", "wss_url", "expected"),
    [
        (None, None, "wss://api.openai.com/v1/responses"),
        ("http://localhost:8080/v1", None, "ws://localhost:8080/v1/responses"),
        (
            "https://gateway.example.com/openai/v1/",
            None,
            "wss://gateway.example.com/openai/v1/responses",
        ),
        (
            "https://gateway.example.com/v1",
            "wss://ws.example.com/custom/responses",
            "wss://ws.example.com/custom/responses",
        ),
        (None, "ws://127.0.0.1:9/v1/responses", "ws://127.0.0.1:9/v1/responses"),
        (
            "https://gateway.example.com/v1?tenant=a",
            None,
            "wss://gateway.example.com/v1/responses?tenant=a&region=eu&x=1+2",
        ),
    ],
    ids=["default", "http-base", "https-base-slash", "explicit-wss", "explicit-only", "query"],
)
async def test_websocket_url(
    fake: FakeOpenAI,
    ctx: ChatContext,
    ws_tracker: Any,
    base_url: str | None,
    wss_url: str | None,
    expected: str,
) -> None:
    fake.add_ws(WSReply.text("ok"))
    extra_query = {"region": "eu", "x": "1 2"} if "?" in expected else None
    llm = fake.llm(
        streaming=True,
        base_url=base_url,
        wss_url=wss_url,
        ws_connector=ws_tracker,
        extra_query=extra_query,
    )
    async with llm:
        items, error = await turn(llm, ctx)
    assert (contents(items), error) == (["ok", ""], None)
    # The active socket, and the spare if its handshake got that far before the block closed.
    urls = [h.url for h in fake.ws_handshakes]
    assert urls[:1] == [expected]
    assert set(urls) == {expected}


@pytest.mark.anyio
async def test_handshake_headers(fake: FakeOpenAI, ctx: ChatContext, ws_tracker: Any) -> None:
    fake.add_ws(WSReply.text("ok"))
    llm = fake.llm(
        streaming=True,
        api_key="sk-test-SECRET-1234",
        organization="org-7",
        project="proj-9",
        extra_headers={"X-Trace": "t-1", "OpenAI-Beta": "responses_websockets=2026-02-06"},
        ws_connector=ws_tracker,
    )
    async with llm:
        _items, error = await turn(llm, ctx)
    assert error is None
    # The active socket, and the spare if its handshake finished before the block closed
    # (it runs beside the turn; on a busy machine the one-turn block can close first).
    assert len(fake.ws_handshakes) in (1, 2)
    for handshake in fake.ws_handshakes:
        assert handshake.headers == {
            "authorization": "Bearer sk-test-SECRET-1234",
            "openai-organization": "org-7",
            "openai-project": "proj-9",
            "x-trace": "t-1",
            "openai-beta": "responses_websockets=2026-02-06",
        }
    assert "SECRET" not in repr(llm)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("wss_url", "expected"),
    [
        (None, "wss://my-res.openai.azure.com/openai/v1/responses"),
        ("wss://proxy.example.com/azure/responses", "wss://proxy.example.com/azure/responses"),
    ],
    ids=["derived", "wss_url"],
)
async def test_azure_streaming(
    fake: FakeOpenAI,
    ctx: ChatContext,
    ws_tracker: Any,
    monkeypatch: pytest.MonkeyPatch,
    wss_url: str | None,
    expected: str,
) -> None:
    # azure() takes no ws_connector: the default connector is replaced by the tracker, so the
    # URL and headers azure() configures are the ones the connector receives.
    monkeypatch.setattr(
        "scoped_openai._llm.default_connector", lambda client, timeout, engine: ws_tracker
    )
    fake.add_ws(WSReply.text("Hallo Welt!", model="gpt-4o"))
    llm = OpenAILLM.azure(
        model="gpt-4o",
        azure_endpoint="https://my-res.openai.azure.com/",
        azure_deployment="my-gpt4o",
        api_version="2024-10-21",
        api_key="az-SECRET-key",
        extra_headers={"X-Trace": "az-1"},
        streaming=True,
        wss_url=wss_url,
        client=fake.client(),
    )
    async with llm:
        items, error = await turn(llm, ctx)
    assert error is None
    assert contents(items) == ["Hall", "o We", "lt!", ""]
    # The active socket, and the spare if its handshake got that far before the block
    # closed (a turn this short may end first): every one goes to the same URL.
    urls = [h.url for h in fake.ws_handshakes]
    assert urls[:1] == [expected]
    assert set(urls) == {expected}
    assert fake.ws_handshakes[0].headers == {"api-key": "az-SECRET-key", "x-trace": "az-1"}
    (frame,) = fake.ws_frames
    # Azure's defaults (reasoning_effort="none", verbosity="low") apply to reasoning models
    # only: gpt-4o gets its temperature instead.
    assert frame == {
        "type": "response.create",
        "model": "gpt-4o",
        "store": False,
        "input": CTX_INPUT,
        "temperature": 0.7,
    }
    assert fake.ws_open == 0


@pytest.mark.anyio
async def test_rejected_handshake_is_the_typed_error(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    fake.ws_handshake_status = 401
    fake.add_ws(WSReply.text("after the key was fixed"))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert items == []
        assert isinstance(error, AuthenticationError)
        assert error.status_code == 401
        assert error.code == "invalid_api_key"
        assert FAKE_API_KEY not in str(error)
        assert errors == [error]
        assert len(fake.ws_handshakes) == 1  # one connecting task, no retry storm
        assert fake.ws_frames == []
        fake.ws_handshake_status = None
        items, error = await turn(llm, ctx)
        assert error is None
        assert "".join(contents(items)) == "after the key was fixed"
    assert fake.ws_open == 0


@pytest.mark.anyio
async def test_prewarm_with_a_rejected_handshake_raises_the_typed_error(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    fake.ws_handshake_status = 401
    async with make_ws_llm() as llm:
        with pytest.raises(AuthenticationError) as info:
            await llm.prewarm(instructions="You are terse.")
        assert errors == [info.value]
        assert fake.ws_frames == []
        fake.ws_handshake_status = None
        fake.add_ws(WSReply.text("ok"))
        items, error = await turn(llm, ctx)
        assert (contents(items), error) == (["ok", ""], None)
    assert fake.ws_open == 0


# -- the response.create frame ---------------------------------------------------------------


@pytest.mark.anyio
async def test_default_create_frame(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("ok"))
    async with make_ws_llm() as llm:
        await turn(llm, ctx)
    assert fake.ws_frames == [
        {
            "type": "response.create",
            "model": "gpt-4o-mini",
            "store": False,
            "input": CTX_INPUT,
            "temperature": 0.7,
        }
    ]


@pytest.mark.anyio
async def test_create_frame_for_a_non_reasoning_model_with_every_option(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("ok", model="gpt-4.1"))
    llm = make_ws_llm(
        model="gpt-4.1",
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=64,
        seed=7,  # not a Responses create field
        frequency_penalty=0.5,  # not a Responses create field
        presence_penalty=0.25,  # not a Responses create field
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        reasoning_effort="high",  # not a reasoning model: ignored
        verbosity="high",  # not a reasoning model: ignored
        store=True,
        extra_body={"metadata": {"session": "s-1", "dropped": None}, "truncation": "auto"},
    )
    async with llm:
        _items, error = await turn(llm, ctx, tools=[WEATHER, TIME], user="u-7")
    assert error is None
    (frame,) = fake.ws_frames
    assert frame == {
        "type": "response.create",
        "model": "gpt-4.1",
        "store": True,
        "input": CTX_INPUT,
        "max_output_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "tools": [WEATHER_RESPONSES, TIME_RESPONSES],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
        "metadata": {"session": "s-1"},
        "truncation": "auto",
        "user": "u-7",
    }
    assert find_none(frame) == []


@pytest.mark.anyio
async def test_the_create_frame_is_compact_json(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, ws_tracker: Any
) -> None:
    """The frame is the event as compact UTF-8 JSON (a value that is not finite is refused
    before anything is sent: ``tests/paths/test_request_values.py``)."""
    fake.add_ws(WSReply.text("ok"))
    texts: list[str] = []
    async with make_ws_llm() as llm:
        await llm.prewarm()
        socket = ws_tracker.sockets[0]
        send = socket.send_text

        async def recorded(text: str) -> None:
            texts.append(text)
            await send(text)

        socket.send_text = recorded
        ctx.add_message(ChatRole.USER, "héllo")
        await turn(llm, ctx)
    assert json.loads(texts[0]) == fake.ws_frames[0]
    assert ", " not in texts[0]  # compact
    assert "héllo" in texts[0]  # UTF-8, not \u-escaped


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["gpt-5-mini", "o4-mini", "gpt-5.1"])
async def test_create_frame_for_a_reasoning_model(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, model: str
) -> None:
    fake.add_ws(WSReply.text("ok", model=model))
    llm = make_ws_llm(
        model=model,
        temperature=0.3,
        top_p=0.5,
        max_completion_tokens=200,
        reasoning_effort="low",
        verbosity="low",
        tool_choice="required",
        extra_body={"reasoning": {"summary": "auto"}, "text": {"verbosity": "medium"}},
    )
    async with llm:
        _items, error = await turn(llm, ctx, tools=[WEATHER])
    assert error is None
    (frame,) = fake.ws_frames
    assert frame == {
        "type": "response.create",
        "model": model,
        "store": False,
        "input": CTX_INPUT,
        "max_output_tokens": 200,
        "reasoning": {"effort": "low", "summary": "auto"},  # merged deeply
        "text": {"verbosity": "medium"},  # extra_body wins
        "tools": [WEATHER_RESPONSES],
        "tool_choice": "required",
    }


@pytest.mark.anyio
async def test_reasoning_model_without_effort_or_verbosity_sends_neither(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("ok"))
    async with make_ws_llm(model="gpt-5") as llm:
        await turn(llm, ctx)
    assert fake.ws_frames == [
        {"type": "response.create", "model": "gpt-5", "store": False, "input": CTX_INPUT}
    ]


@pytest.mark.anyio
async def test_tool_choice_is_sent_only_with_tools(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("ok"), WSReply.text("ok"))
    async with make_ws_llm(tool_choice="none", parallel_tool_calls=True) as llm:
        await turn(llm, ctx)
        ctx.add_message(ChatRole.ASSISTANT, "ok")
        ctx.add_message(ChatRole.USER, "again")
        await turn(llm, ctx, tools=[WEATHER])
    first, second = fake.ws_frames
    assert "tools" not in first
    assert "tool_choice" not in first
    assert "parallel_tool_calls" not in first
    assert (second["tools"], second["tool_choice"], second["parallel_tool_calls"]) == (
        [WEATHER_RESPONSES],
        "none",
        True,
    )


@pytest.mark.anyio
async def test_extra_body_and_kwargs_merge_and_none_removes(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("ok"))
    llm = make_ws_llm(extra_body={"temperature": None, "metadata": {"a": "1", "b": "2"}})
    async with llm:
        await turn(llm, ctx, metadata={"b": "3"}, prompt_cache_key="voice-1")
    (frame,) = fake.ws_frames
    assert frame == {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "store": False,
        "input": CTX_INPUT,
        "metadata": {"a": "1", "b": "3"},
        "prompt_cache_key": "voice-1",
    }


@pytest.mark.anyio
async def test_an_assistant_image_is_a_typed_error_before_anything_is_sent(
    fake: FakeOpenAI, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Draw me a cat.")
    ctx.add_message(ChatRole.ASSISTANT, [ImageContent("https://x/cat.png")])
    ctx.add_message(ChatRole.USER, "Thanks")
    fake.add_ws(WSReply.text("unused"))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
    assert isinstance(error, InvalidContextError)
    assert "message 1 (assistant) holds an image" in str(error)
    assert items == []
    assert errors == [error]
    assert fake.ws_frames == []  # nothing was sent
    assert len(fake.ws_replies) == 1


@pytest.mark.anyio
async def test_input_items_from_every_kind_of_chat_item(
    fake: FakeOpenAI, make_ws_llm: MakeLLM
) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "Be brief.")
    ctx.add_message(ChatRole.DEVELOPER, "Use metric units.")
    ctx.add_message(
        ChatRole.USER,
        ["What is this?", ImageContent(b"\x89PNG", mime_type="image/png", inference_detail="low")],
    )
    ctx.add_message(ChatRole.ASSISTANT, "A picture. Let me check the weather too.")
    ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
    ctx.add_function_output("get_weather", "18C", call_id="call_1")
    ctx.add_message(ChatRole.ASSISTANT, "")  # says nothing: left out
    ctx.add_message(ChatRole.USER, "Thanks")
    fake.add_ws(WSReply.text("ok"))
    async with make_ws_llm() as llm:
        _items, error = await turn(llm, ctx, tools=[WEATHER])
    assert error is None
    (frame,) = fake.ws_frames
    assert frame["input"] == [
        {
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "Be brief."}],
        },
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "Use metric units."}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {
                    "type": "input_image",
                    "image_url": "data:image/png;base64,iVBORw==",
                    "detail": "low",
                },
            ],
        },
        {"role": "assistant", "content": "A picture. Let me check the weather too."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
    ]
    assert find_none(frame) == []


@pytest.mark.anyio
async def test_conversational_graph_sets_text_format(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    graph = ConversationalGraph()
    reply = {"response_to_user": "Hi there!"}
    text = json.dumps(reply)
    fake.add_ws(WSReply.text(text, chunk_size=3))
    async with make_ws_llm(model="gpt-5-mini", verbosity="low") as llm:
        items, error = await turn(llm, ctx, conversational_graph=graph)
    assert error is None
    (frame,) = fake.ws_frames
    assert frame["text"] == {"verbosity": "low", "format": graph.text_format()}
    assert "".join(contents(items)) == "Hi there!"
    assert [i.graph_response for i in items if i.graph_response is not None] == [reply]


# -- events -> items ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_usage_keeps_cached_and_reasoning_tokens(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    reply = WSReply.text("ok", model="gpt-5-2025-08-07", response_id="resp_abc")
    completed = reply.steps[-1]
    assert isinstance(completed, dict)
    assert completed["type"] == "response.completed"
    completed["response"]["usage"] = {
        "input_tokens": 120,
        "input_tokens_details": {"cached_tokens": 96},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 32},
        "total_tokens": 160,
    }
    fake.add_ws(reply)
    async with make_ws_llm(model="gpt-5") as llm:
        items, error = await turn(llm, ctx)
    assert error is None
    assert items[-1].usage == {
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "total_tokens": 160,
        "prompt_cached_tokens": 96,
        "reasoning_tokens": 32,
        "request_id": "resp_abc",
        "model": "gpt-5-2025-08-07",
    }


@pytest.mark.anyio
async def test_function_calls_with_parsed_arguments(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    fake.add_ws(
        WSReply.function_calls(
            ("call_A", "get_weather", '{"city": "Paris", "days": [1, 2]}'),
            ("call_B", "get_time", "{}"),
            text="Checking.",
            fragment_size=3,
        )
    )
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx, tools=[WEATHER, TIME])
    assert error is None
    assert contents(items) == ["Checking.", "", "", ""]
    assert calls(items) == [
        {"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}, "id": "call_A"},
        {"name": "get_time", "arguments": {}, "id": "call_B"},
    ]
    assert items[-1].metadata == {"usage": usage()}
    assert (items[1].metadata or {})["usage"] is (items[-1].metadata or {})["usage"]
    assert errors == []


@pytest.mark.trio
async def test_each_function_call_is_yielded_when_its_item_is_done(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    reply = WSReply.function_calls(
        ("call_A", "get_weather", '{"city":"Paris"}'), ("call_B", "get_time", "{}")
    )
    # A pause of 30 s after the first call's output_item.done: it must be heard before.
    done = [
        i
        for i, step in enumerate(reply.steps)
        if isinstance(step, dict) and step["type"] == "response.output_item.done"
    ]
    reply.steps.insert(done[0] + 1, Pause(30.0))
    fake.add_ws(reply)
    heard: list[tuple[float, dict[str, Any] | None]] = []
    async with make_ws_llm(idle_timeout=None) as llm:
        start = trio.current_time()
        async with llm.chat(ctx, tools=[WEATHER, TIME]) as stream:
            async for item in stream:
                heard.append((trio.current_time() - start, item.function_call))
    assert heard == [
        (0.0, {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_A"}),
        (30.0, {"name": "get_time", "arguments": {}, "id": "call_B"}),
        (30.0, None),  # usage
    ]


@pytest.mark.anyio
async def test_a_call_listed_only_in_response_completed_is_yielded_before_the_usage(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    item = {
        "id": "fc_1",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_late",
        "name": "get_weather",
        "arguments": '{"city":"Oslo"}',
    }
    fake.add_ws(
        WSReply.frames(
            [
                {
                    "type": "response.created",
                    "response": {"id": "resp_late", "status": "in_progress"},
                },
                {"type": "response.output_item.added", "item": {**item, "arguments": ""}},
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": "fc_1",
                    "delta": '{"city"',
                },
                {
                    "type": "response.completed",
                    "response": {
                        "id": "resp_late",
                        "status": "completed",
                        "model": "gpt-4o-mini",
                        "output": [item],
                        "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
                    },
                },
            ]
        )
    )
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx, tools=[WEATHER])
    assert error is None
    assert [(i.content, i.function_call) for i in items] == [
        ("", {"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "call_late"}),
        ("", None),
    ]
    assert items[-1].usage == usage(3, 2, request_id="resp_late")


@pytest.mark.anyio
async def test_unknown_events_are_skipped(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    reply = WSReply.text("Hi!")
    reply.steps[1:1] = [
        {"type": "response.in_progress", "response": {"id": "resp_fake_auto"}},
        {"type": "response.brand_new_event", "payload": [1, 2, 3]},
        {"type": "rate_limits.updated", "rate_limits": []},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "delta": "thinking"},
    ]
    fake.add_ws(reply)
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
    assert error is None
    assert contents(items) == ["Hi!", ""]
    assert errors == []


@pytest.mark.anyio
async def test_the_first_item_is_not_held_behind_the_rest_of_a_burst(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, ws_tracker: Any
) -> None:
    """Frames that arrive together (the whole reply, here): the first item reaches the
    caller once its own delta is read, not after the rest of the reply is decoded; the
    frames after it are taken in bursts as before."""
    fake.add_ws(WSReply.text(["one ", "two ", "three"]))  # every frame due at once
    heard: list[str] = []
    taken_at_first_item = 0
    async with make_ws_llm() as llm:
        await llm.prewarm()
        async with llm.chat(ctx) as stream:
            async for item in stream:
                if not heard:
                    taken_at_first_item = ws_tracker.sockets[0].received
                heard.append(item.content)
    # response.created, output_item.added, content_part.added, the first delta.
    assert taken_at_first_item == 4
    assert "".join(heard) == "one two three"
    assert ws_tracker.create_sockets == [1]


# -- one turn per socket (the pool's lease) --------------------------------------------------


@pytest.mark.anyio
async def test_two_chats_at_once_never_interleave(
    fake: FakeOpenAI, make_ws_llm: MakeLLM, ws_tracker: Any, errors: list[Exception]
) -> None:
    fake.add_ws(
        WSReply.text("first reply, slowly", chunk_size=3, delay=0.01),
        WSReply.text("second reply", chunk_size=3),
    )
    ctx_a = ChatContext.empty()
    ctx_a.add_message(ChatRole.USER, "A")
    ctx_b = ChatContext.empty()
    ctx_b.add_message(ChatRole.USER, "B")
    async with make_ws_llm() as llm:
        a, b = Consumer(llm, ctx_a), Consumer(llm, ctx_b)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(a.run)
                await a.first.wait()
                tg.start_soon(b.run)
                await anyio.wait_all_tasks_blocked()
                # B waits for the gate: its create is not sent while A streams.
                assert len(ws_tracker.creates) == 1
                assert b.heard == []
    assert (a.error, b.error) == (None, None)
    assert "".join(a.heard) == "first reply, slowly"
    assert "".join(b.heard) == "second reply"
    assert a.heard[-1] == ""
    assert b.heard[-1] == ""
    assert [frame["input"] for _, frame in ws_tracker.creates] == [
        [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "A"}]}],
        [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "B"}]}],
    ]
    assert ws_tracker.create_sockets == [1, 1]
    assert errors == []


@pytest.mark.trio
async def test_the_second_turn_starts_when_the_first_ends(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text(["a", "b", "c"], delay=1.0), WSReply.text(["x", "y"], delay=1.0))
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "go")
    times: dict[str, list[float]] = {"A": [], "B": []}

    async def consume(name: str) -> None:
        async with llm.chat(ctx) as stream:
            async for _item in stream:
                times[name].append(trio.current_time() - start)

    async with make_ws_llm() as llm:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume, "A")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(consume, "B")
    assert times == {"A": [1.0, 2.0, 3.0, 3.0], "B": [4.0, 5.0, 5.0]}


# -- prewarm ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_prewarm_without_instructions_opens_two_sockets_and_sends_nothing(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    fake.add_ws(WSReply.text("ok"))
    async with make_ws_llm() as llm:
        await llm.prewarm()
        await anyio.wait_all_tasks_blocked()
        assert len(fake.ws_handshakes) == 2
        assert fake.ws_open == 2
        assert fake.ws_frames == []
        items, error = await turn(llm, ctx)
        assert (contents(items), error) == (["ok", ""], None)
        await anyio.wait_all_tasks_blocked()
        assert len(fake.ws_handshakes) == 2  # the first turn paid no handshake
    assert ws_tracker.create_sockets == [1]
    assert "previous_response_id" not in fake.ws_frames[0]
    assert fake.ws_open == 0
    assert errors == []


@pytest.mark.anyio
async def test_without_a_warm_spare_one_socket_serves_the_turns_and_a_barge_in_opens_the_next(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    fake.add_ws(WSReply.text("one"))
    fake.add_ws(WSReply.text("a reply long enough to be interrupted"))
    fake.add_ws(WSReply.text("three"))
    async with make_ws_llm(warm_spare=False) as llm:
        await llm.prewarm()
        await anyio.wait_all_tasks_blocked()
        assert (len(fake.ws_handshakes), fake.ws_open) == (1, 1)  # no spare
        items, error = await turn(llm, ctx)
        assert (contents(items), error) == (["one", ""], None)
        await anyio.wait_all_tasks_blocked()
        assert (len(fake.ws_handshakes), fake.ws_open) == (1, 1)

        heard: list[str] = []
        async with llm.chat(ctx) as stream:
            async for item in stream:
                heard.append(item.content)
                await llm.cancel_current_generation()
        assert stream.cancelled
        assert len(heard) == 1
        items, error = await turn(llm, ctx)
        assert (contents(items), error) == (["thre", "e", ""], None)
        await anyio.wait_all_tasks_blocked()
        assert (len(fake.ws_handshakes), fake.ws_open) == (2, 1)  # the barge-in cost one
    assert ws_tracker.create_sockets == [1, 1, 2]
    assert fake.ws_open == 0
    assert errors == []


@pytest.mark.anyio
async def test_prewarm_with_instructions_and_tools_then_the_first_turn_chains(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    fake.add_ws(WSReply.text("Hello."))
    async with make_ws_llm() as llm:
        await llm.prewarm(instructions="You are terse.", tools=[WEATHER])
        await anyio.wait_all_tasks_blocked()
        assert len(fake.ws_handshakes) == 2
        assert fake.ws_frames == [
            {
                "type": "response.create",
                "model": "gpt-4o-mini",
                "store": False,
                "input": [SYSTEM_ITEM],
                "temperature": 0.7,
                "tools": [WEATHER_RESPONSES],
                "tool_choice": "auto",
                "generate": False,
            }
        ]
        items, error = await turn(llm, ctx, tools=[WEATHER])
    assert (contents(items), error) == (["Hell", "o.", ""], None)
    _warmup, first = fake.ws_frames
    assert first == {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "store": False,
        "input": [USER_ITEM],
        "previous_response_id": "resp_fake_1",  # the warm-up's id
        "temperature": 0.7,
        "tools": [WEATHER_RESPONSES],
        "tool_choice": "auto",
    }
    assert ws_tracker.create_sockets == [1, 1]
    assert items[-1].usage == usage(request_id="resp_fake_2")
    assert errors == []


@pytest.mark.anyio
async def test_prewarm_with_instructions_only(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("Hello."))
    async with make_ws_llm() as llm:
        await llm.prewarm(instructions="You are terse.")
        _items, error = await turn(llm, ctx)
    assert error is None
    warmup, first = fake.ws_frames
    assert warmup == {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "store": False,
        "input": [SYSTEM_ITEM],
        "temperature": 0.7,
        "generate": False,
    }
    assert (first["input"], first["previous_response_id"]) == ([USER_ITEM], "resp_fake_1")


@pytest.mark.anyio
async def test_prewarm_with_other_instructions_does_not_chain(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("Hello."))
    async with make_ws_llm() as llm:
        await llm.prewarm(instructions="You are verbose.")
        _items, error = await turn(llm, ctx)
    assert error is None
    warmup, first = fake.ws_frames
    assert warmup["generate"] is False
    assert first["input"] == CTX_INPUT
    assert "previous_response_id" not in first


@pytest.mark.anyio
async def test_prewarm_in_http_mode_opens_no_websocket(fake: FakeOpenAI, make_llm: MakeLLM) -> None:
    async with make_llm() as llm:
        await llm.prewarm(instructions="You are terse.")
    assert fake.ws_handshakes == []
    assert [(r.method, r.path) for r in fake.requests] == [("HEAD", "/v1/chat/completions")]


@pytest.mark.trio
async def test_prewarm_and_a_first_chat_at_once_share_one_handshake(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
) -> None:
    fake.ws_handshake_delay = 2.0
    fake.add_ws(WSReply.text("ok"))
    heard: list[str] = []

    async def chat() -> None:
        async with llm.chat(ctx) as stream:
            async for item in stream:
                heard.append(item.content)

    async with make_ws_llm() as llm:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(llm.prewarm)
            nursery.start_soon(chat)
        assert trio.current_time() - start == 2.0  # one handshake time, not two in a row
        await trio.sleep(10.0)
        assert len(fake.ws_handshakes) == 2  # the socket and the spare: one task each
        assert fake.ws_open == 2
    assert heard == ["ok", ""]
    assert ws_tracker.create_sockets == [1]
    assert fake.ws_open == 0


@pytest.mark.trio
async def test_two_turns_asking_for_the_first_socket_share_one_handshake(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, make_ws_llm: MakeLLM, ws_tracker: Any
) -> None:
    fake.ws_handshake_delay = 2.0
    fake.add_ws(WSReply.text("one"), WSReply.text("two"))
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    heard: dict[int, list[str]] = {1: [], 2: []}

    async def chat(n: int) -> None:
        async with llm.chat(ctx) as stream:
            async for item in stream:
                heard[n].append(item.content)

    async with make_ws_llm() as llm:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(chat, 1)
            nursery.start_soon(chat, 2)
        await trio.sleep(10.0)
        assert len(fake.ws_handshakes) == 2
    assert sorted(["".join(h) for h in heard.values()]) == ["one", "two"]
    assert ws_tracker.create_sockets == [1, 1]


@pytest.mark.trio
async def test_the_first_turn_after_prewarm_pays_no_handshake(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.ws_handshake_delay = 3.0
    fake.add_ws(WSReply.text("ok"))
    async with make_ws_llm() as llm:
        await llm.prewarm()
        await trio.sleep(10.0)  # the spare finished its handshake too
        start = trio.current_time()
        first_at: float | None = None
        async with llm.chat(ctx) as stream:
            async for _ in stream:
                if first_at is None:
                    first_at = trio.current_time()
        assert first_at == start
        assert len(fake.ws_handshakes) == 2


# -- sockets are replaced before the 60-minute limit -------------------------------------------


@pytest.mark.trio
async def test_an_old_socket_is_replaced_by_the_spare_without_a_handshake_pause(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    fake.add_ws(WSReply.text("first"), WSReply.text("second"))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert error is None
        await trio.sleep(56 * 60.0)  # past the 55-minute replacement age
        handshakes = len(fake.ws_handshakes)
        fake.ws_handshake_delay = 5.0  # from now on a handshake costs 5 s
        start = trio.current_time()
        first_at: float | None = None
        async with llm.chat(ctx) as stream:
            async for _item in stream:
                if first_at is None:
                    first_at = trio.current_time()
        assert first_at == start  # no handshake on the critical path
        assert "".join(i.content for i in items) == "first"
        # The turn went out on an already-open socket other than the old one.
        assert ws_tracker.create_sockets[0] == 1
        assert ws_tracker.create_sockets[1] != 1
        assert ws_tracker.create_sockets[1] <= handshakes
        await trio.sleep(30.0)
        assert 1 not in ws_tracker.open_sockets()  # the old one was closed
    assert errors == []


@pytest.mark.trio
async def test_sockets_are_renewed_across_many_hours_of_turns(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
) -> None:
    # A turn every 10 minutes for 3 hours: no socket is ever used past 55 minutes of age.
    fake.ws_default = lambda request: WSReply.text("ok")
    async with make_ws_llm() as llm:
        for _ in range(18):
            items, error = await turn(llm, ctx)
            assert (contents(items), error) == (["ok", ""], None)
            await trio.sleep(600.0)
        ages = [
            (index * 600.0) - ws_tracker.opened_at[number - 1] + ws_tracker.opened_at[0]
            for index, number in enumerate(ws_tracker.create_sockets)
        ]
        assert max(ages) < 55 * 60.0
        assert len(ws_tracker.open_sockets()) == 2


@pytest.mark.anyio
async def test_a_barge_in_after_only_response_created_still_knows_the_response(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    """``response.created`` alone makes no item and is held back until the next event; a
    barge-in before that event still records the response: its id on the assembler and in
    the turn's metrics."""
    from scoped_openai.testing import Stall
    from scoped_openai.testing._ws_script import response_object

    created = {"type": "response.created", "response": response_object("resp_held", "in_progress")}
    fake.add_ws(WSReply([created, Stall()], "resp_held"))
    async with make_ws_llm() as llm:
        async with llm.chat(ctx) as stream:

            async def barge_in() -> None:
                await anyio.wait_all_tasks_blocked()  # the frame is read; the server stalls
                assert stream.waiting
                stream.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(barge_in)
                items = [item async for item in stream]
        assert items == []
        assert stream.cancelled
        assert stream.assembler.response_id == "resp_held"
        assert stream.metrics is not None
        assert stream.metrics.request_id == "resp_held"
    assert errors == []

"""The plugin driven directly, as VideoSDK's pipeline drives it, beside the reference plugin.

Both plugins talk to the same FakeOpenAI on a loopback socket, over HTTP (Chat Completions)
and over the Responses WebSocket (``streaming=True``). Asyncio only (the framework is).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from videosdk.agents import ChatRole, LLMResponse, function_tool
from videosdk.plugins.openai import OpenAILLM as Reference

from scoped_openai import APITimeoutError, ToolArgumentsError
from scoped_openai.testing import FakeOpenAI, Reply, Stall, WSReply

from .conftest import (
    LIMIT,
    PATHS,
    calls_of,
    collect,
    connections_to,
    conversation,
    ours,
    owner_tasks,
    settings,
    text_of,
)

pytestmark = pytest.mark.anyio


@function_tool
async def get_weather(city: str) -> dict[str, Any]:
    """Get the current weather in a city."""
    return {"city": city, "celsius": 18}


@function_tool
async def get_time(city: str, twenty_four_hour: bool = True) -> str:
    """Get the local time in a city."""
    return "18:00"


def script_text(fake: FakeOpenAI, path: str, text: str, *, delay: float = 0.0) -> None:
    if path == "http":
        fake.add(Reply.text(text, delay=delay))
    else:
        fake.add_ws(WSReply.text(text, delay=delay))


def script_calls(fake: FakeOpenAI, path: str, *calls: tuple[str, str, str]) -> None:
    if path == "http":
        fake.add(Reply.tool_calls(*calls))
    else:
        fake.add_ws(WSReply.function_calls(*calls))


def script_stall(fake: FakeOpenAI, path: str, first: str) -> None:
    if path == "http":
        fake.add(Reply.text([first], then=[Stall()]))
    else:
        fake.add_ws(WSReply.text([first], then=[Stall()]))


def one_part_as_text(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with a one-text-part content list as its string (the same to the API: the
    framework stores text as a list, the library sends plain text as a string)."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list) and len(content) == 1 and content[0].get("type") == "text":
            message = {**message, "content": content[0]["text"]}
        out.append(message)
    return out


def bodies(fake: FakeOpenAI, path: str) -> list[dict[str, Any]]:
    """The request bodies (HTTP) or ``response.create`` frames (WebSocket), oldest first."""
    if path == "http":
        return [json.loads(r.body) for r in fake.requests if r.method == "POST"]
    return [frame for frame in fake.ws_frames if frame["type"] == "response.create"]


@pytest.mark.parametrize("path", PATHS)
async def test_plain_text_and_usage_as_the_reference(
    fake: FakeOpenAI, server: Any, path: str
) -> None:
    script_text(fake, path, "Hello there, how can I help?")
    script_text(fake, path, "Hello there, how can I help?")
    reference = Reference(**settings(server, path))
    ref_items = await collect(reference.chat(conversation()))
    await reference.aclose()
    errors: list[Any] = []
    llm = ours(server, path, errors)
    items = await collect(llm.chat(conversation()))
    await llm.aclose()

    assert all(isinstance(item, LLMResponse) for item in items)
    assert all(item.role == ChatRole.ASSISTANT for item in items)
    assert text_of(items) == text_of(ref_items) == "Hello there, how can I help?"
    usage = items[-1].metadata["usage"]
    assert usage.keys() == ref_items[-1].metadata["usage"].keys()
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        10,
        5,
        15,
    )
    assert errors == []
    ref_body, body = bodies(fake, path)
    if path == "http":
        assert body["messages"] == one_part_as_text(ref_body["messages"])
    else:
        assert body["input"] == ref_body["input"]
    for key in ("model", "temperature", "store", "stream", "stream_options"):
        assert body.get(key) == ref_body.get(key), key


@pytest.mark.parametrize("path", PATHS)
async def test_parallel_tool_calls_keep_their_ids_and_carry_call_id(
    fake: FakeOpenAI, server: Any, path: str
) -> None:
    calls = (
        ("call_a", "get_weather", '{"city":"Paris"}'),
        ("call_b", "get_time", '{"city":"Rome","twenty_four_hour":false}'),
    )
    script_calls(fake, path, *calls)
    script_calls(fake, path, *calls)
    ctx = conversation((ChatRole.USER, "Weather in Paris and time in Rome?"))
    reference = Reference(**settings(server, path, parallel_tool_calls=True))
    ref_calls = calls_of(await collect(reference.chat(ctx, tools=[get_weather, get_time])))
    await reference.aclose()
    llm = ours(server, path, parallel_tool_calls=True)
    got = calls_of(await collect(llm.chat(ctx, tools=[get_weather, get_time])))
    await llm.aclose()

    assert got == [
        {
            "name": "get_weather",
            "arguments": {"city": "Paris"},
            "id": "call_a",
            "call_id": "call_a",
        },
        {
            "name": "get_time",
            "arguments": {"city": "Rome", "twenty_four_hour": False},
            "id": "call_b",
            "call_id": "call_b",
        },
    ]
    # The reference sets only "id": the framework then invents the output's call id.
    assert ref_calls == [{k: v for k, v in call.items() if k != "call_id"} for call in got]

    ref_body, body = bodies(fake, path)
    assert body["parallel_tool_calls"] is ref_body["parallel_tool_calls"] is True
    assert body["tool_choice"] == ref_body["tool_choice"] == "auto"
    for tool, ref_tool in zip(body["tools"], ref_body["tools"], strict=True):
        mine = tool["function"] if path == "http" else tool
        theirs = ref_tool["function"] if path == "http" else ref_tool
        # The framework's own schema builder, unchanged: same name, description, parameters.
        for key in ("name", "description", "parameters"):
            assert mine[key] == theirs[key], key
        assert mine["strict"] is False  # the framework's schemas are not strict-mode schemas


@pytest.mark.parametrize("path", PATHS)
async def test_invalid_tool_arguments_are_an_error_never_an_empty_call(
    fake: FakeOpenAI, server: Any, path: str
) -> None:
    calls = (("call_ok", "get_weather", '{"city":"Paris"}'), ("call_bad", "get_time", '{"city":'))
    script_calls(fake, path, *calls)
    script_calls(fake, path, *calls)
    ctx = conversation((ChatRole.USER, "Weather and time?"))
    reference = Reference(**settings(server, path))
    ref_calls = calls_of(await collect(reference.chat(ctx, tools=[get_weather, get_time])))
    await reference.aclose()
    errors: list[Any] = []
    llm = ours(server, path, errors)
    items: list[LLMResponse] = []
    with pytest.raises(ToolArgumentsError) as caught:
        await collect(llm.chat(ctx, tools=[get_weather, get_time]), into=items)
    await llm.aclose()

    # The reference dispatches the broken call with {} arguments.
    assert {"name": "get_time", "arguments": {}, "id": "call_bad"} in ref_calls
    ok = {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_ok"}
    assert calls_of(items) == [{**ok, "call_id": "call_ok"}]
    assert "call_bad" in str(caught.value)
    assert errors == [caught.value]


@pytest.mark.parametrize("stalled", [False, True], ids=["paced", "stalled"])
@pytest.mark.parametrize("path", PATHS)
async def test_barge_in_from_another_task_ends_the_reply_at_once(
    fake: FakeOpenAI, server: Any, path: str, stalled: bool
) -> None:
    if stalled:
        script_stall(fake, path, "Once upon ")
    else:
        script_text(fake, path, ["Once upon "] + ["a time "] * 200, delay=0.05)
    script_text(fake, path, "Yes?")
    errors: list[Any] = []
    llm = ours(server, path, errors)
    heard: list[str] = []
    first = anyio.Event()
    ended = anyio.Event()

    async def speak() -> None:
        async for item in llm.chat(conversation()):
            heard.append(item.content)
            first.set()
        ended.set()

    with anyio.fail_after(LIMIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(speak)
            await first.wait()
            await llm.cancel_current_generation()
            # The consumer's loop ends without another chunk (none comes when stalled).
            await ended.wait()
        assert heard == ["Once upon "]
        # The next turn is clean: its own text only, nothing left from the cancelled one.
        assert text_of(await collect(llm.chat(conversation()))) == "Yes?"
        await llm.aclose()
    assert errors == []
    assert owner_tasks() == []
    assert fake.counters.open_bodies == 0
    assert fake.ws_open == 0


@pytest.mark.parametrize("path", PATHS)
async def test_a_stall_ends_in_a_typed_error_after_idle_timeout(
    fake: FakeOpenAI, server: Any, path: str
) -> None:
    script_stall(fake, path, "Hmm")
    errors: list[Any] = []
    llm = ours(server, path, errors, idle_timeout=0.3)
    heard: list[LLMResponse] = []
    with pytest.raises(APITimeoutError) as caught:
        await collect(llm.chat(conversation()), into=heard)
    await llm.aclose()
    assert [item.content for item in heard] == ["Hmm"]
    assert errors == [caught.value]
    assert fake.counters.open_bodies == 0
    assert fake.ws_open == 0


@pytest.mark.parametrize("path", PATHS)
async def test_aclose_from_another_task_leaves_no_task_and_no_socket(
    fake: FakeOpenAI, server: Any, path: str
) -> None:
    script_text(fake, path, "One.")
    script_stall(fake, path, "Two")
    llm = ours(server, path)
    with anyio.fail_after(LIMIT):
        await llm.prewarm(instructions="You are terse.")
        assert len(owner_tasks()) == 1
        assert text_of(await collect(llm.chat(conversation()))) == "One."
        started = anyio.Event()
        heard: list[str] = []

        async def speak() -> None:
            async for item in llm.chat(conversation()):
                heard.append(item.content)
                started.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(speak)
            await started.wait()
            assert connections_to(server.port) >= 1
            tg.start_soon(llm.aclose)  # the framework closes from its own task
        await llm.aclose()  # idempotent
    assert connections_to(server.port) == 0
    assert heard == ["Two"]
    assert owner_tasks() == []
    assert fake.counters.open_bodies == 0
    assert fake.ws_open == 0
    with pytest.raises(RuntimeError, match="closed"):
        await collect(llm.chat(conversation()))


@pytest.mark.parametrize("path", PATHS)
async def test_a_reply_asked_for_before_a_barge_in_never_starts(
    fake: FakeOpenAI, server: Any, path: str
) -> None:
    llm = ours(server, path)
    reply = llm.chat(conversation())
    await llm.cancel_current_generation()
    assert await collect(reply) == []
    assert bodies(fake, path) == []
    await llm.aclose()


async def test_each_websocket_turn_sends_only_its_new_items(fake: FakeOpenAI, server: Any) -> None:
    # As the framework grows its context: the reply it heard, then the next user message.
    script_text(fake, "ws", "Hello.")
    script_text(fake, "ws", "Fine.")
    llm = ours(server, "ws")
    ctx = conversation()
    assert text_of(await collect(llm.chat(ctx))) == "Hello."
    ctx.add_message(ChatRole.ASSISTANT, "Hello.")
    ctx.add_message(ChatRole.USER, "How are you?")
    assert text_of(await collect(llm.chat(ctx))) == "Fine."
    await llm.aclose()
    second = bodies(fake, "ws")[1]
    assert second["previous_response_id"] == "resp_fake_1"
    user = {"type": "message", "role": "user"}
    assert second["input"] == [
        {**user, "content": [{"type": "input_text", "text": "How are you?"}]}
    ]

"""Replies through the plugin inside LiveKit Agents, on a loopback fake, HTTP and WebSocket:
text, recorded real streams, tools (LiveKit's own schemas and formatting), usage."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from livekit.agents import llm as lk_llm

from conformance import test_chat_conformance as chat_recordings
from conformance import test_responses_conformance as responses_recordings
from scoped_openai.integrations.livekit import LLM, LLMStream
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

from .conftest import NO_RETRY, PATHS, bounded, user_ctx

pytestmark = pytest.mark.anyio

MakePlugin = Callable[..., LLM]


def script_text(fake: FakeOpenAI, path: str, text: str) -> None:
    if path == "http":
        fake.add(Reply.text(text, usage=(12, 7)))
    else:
        fake.add_ws(WSReply.text(text, usage=(12, 7)))


def sent(fake: FakeOpenAI) -> dict[str, Any]:
    """The last chat request the fake received (HTTP body or ``response.create`` frame)."""
    if fake.ws_frames:
        return fake.ws_frames[-1]
    (request,) = [r for r in fake.requests if r.method == "POST"][-1:]
    body: dict[str, Any] = json.loads(request.body)
    return body


def test_public_names_are_pinned() -> None:
    import scoped_openai.integrations.livekit as plugin_module

    assert plugin_module.__all__ == ["LLM", "LLMStream"]
    assert issubclass(LLMStream, lk_llm.LLMStream)


def test_it_is_a_livekit_llm() -> None:
    plugin = LLM(api_key="sk-test", model="gpt-4.1-mini", temperature=0.2, streaming=True)
    assert isinstance(plugin, lk_llm.LLM)
    assert (plugin.model, plugin.provider) == ("gpt-4.1-mini", "openai")
    assert plugin.client.settings.temperature == 0.2
    assert plugin.client.streaming is True
    with pytest.raises(TypeError, match="not_an_option"):
        LLM(api_key="sk-test", not_an_option=1)


@pytest.mark.parametrize("path", PATHS)
async def test_text_and_usage(fake: FakeOpenAI, make_plugin: MakePlugin, path: str) -> None:
    script_text(fake, path, "Hello there, voice agent.")
    plugin = make_plugin(path)
    stream = plugin.chat(chat_ctx=user_ctx("hi", instructions="Be brief."))
    assert isinstance(stream, LLMStream)
    chunks = [chunk async for chunk in await bounded(_aenter(stream))]
    await stream.aclose()
    text = "".join(c.delta.content for c in chunks if c.delta and c.delta.content)
    assert text == "Hello there, voice agent."
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1
    assert chunks[-1].usage is usages[0]
    assert (usages[0].prompt_tokens, usages[0].completion_tokens) == (12, 7)
    assert usages[0].total_tokens == 19
    assert all(c.delta is None or c.delta.role == "assistant" for c in chunks)
    body = sent(fake)
    if path == "http":
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ]
    else:
        assert [item["role"] for item in body["input"]] == ["system", "user"]


async def _aenter(stream: LLMStream) -> LLMStream:
    return await stream.__aenter__()


@pytest.mark.parametrize("name", chat_recordings.RECORDINGS)
async def test_recorded_chat_completions_stream(
    fake: FakeOpenAI, make_plugin: MakePlugin, name: str
) -> None:
    body, expected = chat_recordings.load(name)
    fake.add(Reply.raw(body, split=7))
    plugin = make_plugin("http", model=expected["model"] or "gpt-4o-mini")
    collected = await bounded(plugin.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY).collect())
    choice = expected["choices"][0]
    # Refusals are spoken: the user hears them as the reply.
    assert collected.text == ((choice["content"] or "") + (choice["refusal"] or "")).strip()
    assert [(c.call_id, c.name, c.arguments) for c in collected.tool_calls] == [
        (call["id"], call["name"], call["arguments"]) for call in choice["tool_calls"]
    ]
    want = expected["usage"]
    if want is None:
        assert collected.usage is None
    else:
        assert collected.usage is not None
        assert collected.usage.prompt_tokens == want["prompt_tokens"]
        assert collected.usage.completion_tokens == want["completion_tokens"]
        assert collected.usage.total_tokens == want["total_tokens"]
        details = want.get("completion_tokens_details") or {}
        assert collected.usage.reasoning_tokens == details.get("reasoning_tokens", 0)
        cached = (want.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        assert collected.usage.prompt_cached_tokens == cached
    assert fake.counters.open_bodies == 0


@pytest.mark.parametrize("name", responses_recordings.RECORDINGS)
async def test_recorded_responses_stream_over_the_websocket(
    fake: FakeOpenAI, make_plugin: MakePlugin, name: str
) -> None:
    frames, expected = responses_recordings.load(name)
    fake.add_ws(WSReply.frames(frames))
    model = responses_recordings.completed_response(frames)["model"]
    plugin = make_plugin("ws", model=model)
    stream = plugin.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY)
    chunks = [chunk async for chunk in await bounded(_aenter(stream))]
    await stream.aclose()
    text = "".join(c.delta.content for c in chunks if c.delta and c.delta.content)
    assert text == expected["text"]
    calls = [call for c in chunks if c.delta for call in c.delta.tool_calls]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        (call["call_id"], call["name"], call["arguments"]) for call in expected["function_calls"]
    ]
    # Every chunk carries the response id: LiveKit's metrics and traces report it.
    assert {c.id for c in chunks} == {expected["response_id"]}
    want = expected["usage"]
    (usage,) = [c.usage for c in chunks if c.usage is not None]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        want["input_tokens"],
        want["output_tokens"],
        want["total_tokens"],
    )
    assert usage.prompt_cached_tokens == want["input_tokens_details"]["cached_tokens"]
    assert usage.reasoning_tokens == want["output_tokens_details"]["reasoning_tokens"]


@lk_llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


@lk_llm.function_tool
async def get_time(zone: str) -> str:
    """The time in a time zone.

    Args:
        zone: An IANA time zone.
    """
    return "noon"


@pytest.mark.parametrize("path", PATHS)
async def test_parallel_tool_calls(fake: FakeOpenAI, make_plugin: MakePlugin, path: str) -> None:
    calls = (
        ("call_a", "get_weather", '{"city": "Oslo"}'),
        ("call_b", "get_time", '{"zone":"Europe/Oslo"}'),
    )
    if path == "http":
        fake.add(Reply.tool_calls(*calls, fragment_size=5))
    else:
        fake.add_ws(WSReply.function_calls(*calls, fragment_size=5))
    plugin = make_plugin(path)
    collected = await bounded(
        plugin.chat(
            chat_ctx=user_ctx("weather and time in Oslo?"),
            tools=[get_weather, get_time],
            tool_choice="required",
            parallel_tool_calls=True,
        ).collect()
    )
    # The model's exact argument text, with each call's id.
    assert [(c.call_id, c.name, c.arguments) for c in collected.tool_calls] == list(calls)
    body = sent(fake)
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", True)
    # LiveKit's strict schemas reach the API as LiveKit's own plugin builds them.
    expected_schemas = lk_llm.ToolContext([get_weather, get_time]).parse_function_tools(
        "openai", strict=True
    )
    if path == "http":
        assert body["tools"] == expected_schemas
    else:
        assert body["tools"] == [{"type": "function", **s["function"]} for s in expected_schemas]


@pytest.mark.parametrize("path", PATHS)
async def test_named_tool_choice_in_each_api_shape(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str
) -> None:
    script_text(fake, path, "ok")
    plugin = make_plugin(path)
    choice: lk_llm.ToolChoice = {"type": "function", "function": {"name": "get_time"}}
    await bounded(
        plugin.chat(
            chat_ctx=user_ctx(), tools=[get_weather, get_time], tool_choice=choice
        ).collect()
    )
    if path == "http":
        assert sent(fake)["tool_choice"] == choice
    else:
        assert sent(fake)["tool_choice"] == {"type": "function", "name": "get_time"}


@pytest.mark.parametrize("path", PATHS)
async def test_tool_results_and_images_reach_the_api(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str
) -> None:
    script_text(fake, path, "It is sunny.")
    ctx = user_ctx("what is the weather?", instructions="Be brief.")
    ctx.add_message(
        role="user",
        content=["and this picture?", lk_llm.ImageContent(image="https://example.com/a.png")],
    )
    ctx.insert(
        lk_llm.FunctionCall(call_id="call_1", name="get_weather", arguments='{"city":"Oslo"}')
    )
    ctx.insert(
        lk_llm.FunctionCallOutput(
            call_id="call_1", name="get_weather", output="sunny in Oslo", is_error=False
        )
    )
    plugin = make_plugin(path)
    collected = await bounded(plugin.chat(chat_ctx=ctx, tools=[get_weather]).collect())
    assert collected.text == "It is sunny."
    body = sent(fake)
    if path == "http":
        messages, _ = ctx.to_provider_format("openai")
        # What LiveKit's own formatting produces (an absent content is sent as null).
        assert [{k: v for k, v in m.items() if v is not None} for m in body["messages"]] == messages
    else:
        kinds = [item.get("role", item["type"]) for item in body["input"]]
        assert kinds == ["system", "user", "user", "function_call", "function_call_output"]
        assert body["input"][3]["call_id"] == body["input"][4]["call_id"] == "call_1"
        parts = {part["type"]: part for part in body["input"][2]["content"]}
        assert parts["input_image"]["image_url"] == "https://example.com/a.png"
        assert parts["input_text"]["text"] == "and this picture?"

"""What goes on the wire for a VideoSDK context, tools and graph, beside the reference plugin.

Every item kind the framework has (system, developer, user text and images, a video frame,
assistant text, function calls and outputs, a handoff, a config update) in one context, sent
by both plugins to the same fake on both paths: the request bodies are compared, and each
difference is the one the README lists. Asyncio only (the framework is).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import av
import numpy
import pytest
from pydantic import BaseModel
from videosdk.agents import ChatContext, ChatRole, GraphPipelineAdapter
from videosdk.agents.llm.chat_context import ImageContent
from videosdk.plugins.openai import OpenAILLM as Reference

from scoped_openai.integrations import ConversionError
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

from .conftest import LIMIT, PATHS, collect, conversation, ours, settings, text_of
from .test_chat import bodies, one_part_as_text

pytestmark = pytest.mark.anyio

URL_IMAGE = "https://example.com/cat.jpg"


def every_item_kind() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are terse.")
    ctx.add_message(ChatRole.DEVELOPER, "Prefer metric units.")
    frame = av.VideoFrame.from_ndarray(numpy.zeros((8, 8, 3), dtype=numpy.uint8), format="rgb24")
    ctx.add_message(
        ChatRole.USER,
        [
            "What is this?",
            ImageContent(image=URL_IMAGE, inference_detail="low"),
            ImageContent(image=frame),
        ],
    )
    ctx.add_message(ChatRole.ASSISTANT, "A cat. Checking the weather.")
    ctx.add_function_call(name="get_weather", arguments='{"city": "Paris"}', call_id="call_1")
    ctx.add_function_output(name="get_weather", output='{"celsius": 18}', call_id="call_1")
    ctx.add_handoff(to_agent="weather_agent")
    ctx.add_config_update(instructions="Be brief.")
    ctx.add_message(ChatRole.USER, "Thanks.")
    return ctx


async def both_plugins(fake: FakeOpenAI, server: Any, path: str, ctx: ChatContext) -> None:
    for make in (Reference, None):
        fake.add(Reply.text("ok"))
        fake.add_ws(WSReply.text("ok"))
        llm = Reference(**settings(server, path)) if make else ours(server, path)
        assert text_of(await collect(llm.chat(ctx))) == "ok"
        await llm.aclose()


def frame_url(body: dict[str, Any], path: str, index: int = 1) -> str:
    """The video frame's data URL in the user message at ``index``."""
    if path == "http":
        url: str = body["messages"][index]["content"][2]["image_url"]["url"]
    else:
        url = body["input"][index]["content"][2]["image_url"]
    return url


async def test_every_item_kind_over_http(fake: FakeOpenAI, server: Any) -> None:
    await both_plugins(fake, server, "http", every_item_kind())
    ref_body, body = bodies(fake, "http")
    frame = frame_url(body, "http")
    assert frame.startswith("data:image/jpeg;base64,")
    assert frame == frame_url(ref_body, "http")  # the framework's own JPEG encoding
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    user = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": URL_IMAGE, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": frame, "detail": "auto"}},
    ]
    # The framework's rules: the first instructions message only, carrying what the config
    # update resolves to; handoff and config update not sent.
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": user},
        # One assistant turn, as the model produced it (the reference splits it in two).
        {"role": "assistant", "content": "A cat. Checking the weather.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 18}'},
        {"role": "user", "content": "Thanks."},
    ]
    ref_user = [*user[:2], {"type": "image_url", "image_url": {"url": frame}}]
    assert one_part_as_text(ref_body["messages"]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": ref_user},
        {"role": "assistant", "content": "A cat. Checking the weather."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 18}'},
        {"role": "user", "content": "Thanks."},
    ]


async def test_every_item_kind_over_the_websocket(fake: FakeOpenAI, server: Any) -> None:
    await both_plugins(fake, server, "ws", every_item_kind())
    ref_body, body = bodies(fake, "ws")
    frame = frame_url(body, "ws")
    assert frame == frame_url(ref_body, "ws", index=2)  # after the developer message

    def text(role: str, value: str) -> dict[str, Any]:
        kind = "output_text" if role == "assistant" else "input_text"
        return {"type": "message", "role": role, "content": [{"type": kind, "text": value}]}

    user = {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": URL_IMAGE, "detail": "low"},
            {"type": "input_image", "image_url": frame, "detail": "auto"},
        ],
    }
    call_and_after = [
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": '{"celsius": 18}'},
        text("user", "Thanks."),
    ]
    # Assistant text as the library sends it: the input-message form (the spec's
    # EasyInputMessage), where the reference sent an output message without its id.
    assistant = {"role": "assistant", "content": "A cat. Checking the weather."}
    tail = [text("assistant", "A cat. Checking the weather."), *call_and_after]
    # The same instruction rules as over HTTP (the framework's): the reference's WebSocket
    # path ignored the config update and sent every instructions message.
    assert body["input"] == [text("system", "Be brief."), user, assistant, *call_and_after]
    ref_user = {**user, "content": [*user["content"][:2], {**user["content"][2]}]}
    del ref_user["content"][2]["detail"]
    assert ref_body["input"] == [
        text("system", "You are terse."),
        text("developer", "Prefer metric units."),
        ref_user,
        *tail,
    ]


@pytest.mark.parametrize("path", PATHS)
async def test_developer_messages_follow_the_model_family(
    fake: FakeOpenAI, server: Any, path: str
) -> None:
    # Chat Completions: developer -> system for gpt-4o, system -> developer for reasoning
    # models (as the framework's converter); the Responses API takes the role as it is.
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.DEVELOPER, "Prefer metric units.")
    ctx.add_message(ChatRole.USER, "hi")
    for model in ("gpt-4o-mini", "gpt-5-mini"):
        fake.add(Reply.text("ok"))
        fake.add_ws(WSReply.text("ok"))
        llm = ours(server, path, model=model)
        await collect(llm.chat(ctx))
        await llm.aclose()
    roles = [b["messages" if path == "http" else "input"][0]["role"] for b in bodies(fake, path)]
    assert roles == (["system", "developer"] if path == "http" else ["developer", "developer"])


class Stranger(BaseModel):
    type: str = "stranger"
    id: str = "item_x"
    created_at: float = 0.0


@pytest.mark.parametrize("path", PATHS)
async def test_an_unknown_item_kind_is_a_named_error_and_nothing_is_sent(
    fake: FakeOpenAI, server: Any, path: str
) -> None:
    ctx = conversation()
    ctx.items.append(Stranger())  # type: ignore[arg-type]
    errors: list[Any] = []
    llm = ours(server, path, errors)
    with anyio.fail_after(LIMIT), pytest.raises(ConversionError, match="item 2 is a Stranger"):
        await collect(llm.chat(ctx))
    await llm.aclose()
    assert len(errors) == 1
    assert isinstance(errors[0], ConversionError)
    assert bodies(fake, path) == []


class GraphStub:
    """What the framework's graph adapter delegates to (videosdk-conversational-graph fails
    on import from PyPI): only the reference calls it, to stream the spoken field."""

    def stream_conversational_graph_response(self, text: str, state: dict[str, Any]) -> Any:
        marker = '"response_to_user": "'
        start = text.find(marker)
        if start < 0:
            return iter(())
        spoken = text[start + len(marker) :].split('"', 1)[0]
        new = spoken[state["yielded_content_length"] :]
        state["yielded_content_length"] = len(spoken)
        return iter([new] if new else [])


@pytest.mark.parametrize("path", PATHS)
async def test_the_graph_adapter_schema_and_reply(fake: FakeOpenAI, server: Any, path: str) -> None:
    reply = {"response_to_user": "Your order ships today.", "extracted_values": []}
    pieces = [json.dumps(reply)[i : i + 7] for i in range(0, len(json.dumps(reply)), 7)]
    adapter = GraphPipelineAdapter(GraphStub())
    results = []
    for make in (Reference, None):
        fake.add(Reply.text(pieces))
        fake.add_ws(WSReply.text(pieces))
        llm = Reference(**settings(server, path)) if make else ours(server, path)
        results.append(await collect(llm.chat(conversation(), conversational_graph=adapter)))
        await llm.aclose()
    ref_items, items = results
    assert text_of(items) == text_of(ref_items) == "Your order ships today."
    graph = [i.metadata["graph_response"] for i in items if "graph_response" in i.metadata]
    assert graph == [reply]
    ref_body, body = bodies(fake, path)
    if path == "http":
        assert body["response_format"] == ref_body["response_format"]
        assert body["response_format"]["json_schema"]["schema"] == adapter._get_graph_schema()
    else:
        assert body["text"]["format"] == ref_body["text"]["format"]
        assert body["text"]["format"]["schema"] == adapter._get_graph_schema()

"""What reaches the API from a Pipecat context, and how API failures come back.

Pipecat's OpenAI adapter gives the messages and tools it would send to Chat Completions; the
shared converter carries them to either path. Images, tool calls and their outputs keep their
ids; what the library cannot carry is an ErrorFrame naming it, with nothing sent. A refused
request is an ErrorFrame carrying the typed exception; usage keeps cached tokens.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipecat.frames.frames import ErrorFrame, LLMFullResponseEndFrame, MetricsFrame
from pipecat.metrics.metrics import LLMUsageMetricsData
from pipecat.processors.aggregators.llm_context import LLMContext

from scoped_openai import APIStreamError, AuthenticationError, RateLimitError
from scoped_openai.integrations import ConversionError
from scoped_openai.integrations.pipecat import OpenAILLMService
from scoped_openai.testing import DONE, FakeOpenAI, Reply, WSReply, chunk

from .conftest import MakeService, script_text, sent_requests
from .harness import running, user_context

pytestmark = pytest.mark.anyio

PIXEL = "data:image/png;base64,iVBORw0KGgo="


def sent_items(fake: FakeOpenAI, path: str) -> list[dict[str, Any]]:
    """The last request's conversation: Chat messages, or Responses input items."""
    last = sent_requests(fake, path)[-1]
    return list(last["messages" if path == "http" else "input"])


#: A user image, an assistant tool call and its output, as Pipecat's context holds them.
CARRIED: list[dict[str, Any]] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this, and the weather?"},
            {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
        ],
    },
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_7",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_7", "content": '{"sky": "clear"}'},
]


async def test_images_tool_calls_and_outputs_keep_their_ids(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_text(fake, path, "It is sunny.")
    context = LLMContext(messages=CARRIED)
    async with running(make_service()) as pipe:
        await pipe.reply(context, 1)
    items = sent_items(fake, path)
    if path == "http":
        user, assistant, tool = items
        assert user["content"][1] == {
            "type": "image_url",
            "image_url": {"url": PIXEL, "detail": "low"},
        }
        (call,) = assistant["tool_calls"]
        assert (call["id"], call["function"]["name"]) == ("call_7", "get_weather")
        assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
        assert (tool["tool_call_id"], tool["content"]) == ("call_7", '{"sky": "clear"}')
    else:
        user, call, output = items
        assert user["content"][1] == {"type": "input_image", "image_url": PIXEL, "detail": "low"}
        assert (call["type"], call["call_id"], call["name"]) == (
            "function_call",
            "call_7",
            "get_weather",
        )
        assert json.loads(call["arguments"]) == {"city": "Paris"}
        assert output == {
            "type": "function_call_output",
            "call_id": "call_7",
            "output": '{"sky": "clear"}',
        }
    assert pipe.errors == []


async def test_what_cannot_be_carried_is_an_error_frame_and_nothing_is_sent(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    context = LLMContext(messages=[{"role": "user", "content": [audio]}])
    async with running(make_service()) as pipe:
        await pipe.push_context(context)
        error = await pipe.source.wait_for_error()
        await pipe.sink.wait_for(LLMFullResponseEndFrame)
    assert isinstance(error.exception, ConversionError)
    assert "input_audio" in str(error.exception)
    assert sent_requests(fake, path) == []


async def failed_turn_then_reply(service: OpenAILLMService) -> tuple[ErrorFrame, str]:
    """A turn that fails, then one that answers: the error frame, the second reply's text."""
    async with running(service) as pipe:
        await pipe.push_context(user_context())
        error = await pipe.source.wait_for_error()
        await pipe.sink.wait_for(LLMFullResponseEndFrame)
        text = await pipe.reply(user_context(), 2)
    return error, text


@pytest.mark.parametrize("path", ["http"])
@pytest.mark.parametrize(
    ("status", "error_type", "category"),
    [(401, AuthenticationError, "authentication"), (429, RateLimitError, "rate_limit")],
)
async def test_a_refused_request_is_a_typed_error_frame(
    fake: FakeOpenAI, make_service: MakeService, status: int, error_type: type, category: str
) -> None:
    fake.add(Reply.error(status, "refused", code="nope"), Reply.text("fine now"))
    error, text = await failed_turn_then_reply(make_service())
    assert isinstance(error.exception, error_type)
    assert error.category is not None
    assert error.category.value == category
    assert text == "fine now"


@pytest.mark.parametrize("path", ["ws"])
async def test_a_failed_response_is_a_typed_error_frame(
    fake: FakeOpenAI, make_service: MakeService
) -> None:
    fake.add_ws(WSReply.failed("server_error", "the model broke"), WSReply.text("fine now"))
    error, text = await failed_turn_then_reply(make_service())
    assert isinstance(error.exception, APIStreamError)
    assert "the model broke" in str(error.exception)
    assert text == "fine now"


@pytest.mark.parametrize("path", ["http"])
async def test_usage_keeps_cached_and_reasoning_tokens(
    fake: FakeOpenAI, make_service: MakeService
) -> None:
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 96},
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    final = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-5-mini"}
    final |= {"choices": [], "usage": usage}
    steps = [chunk({"content": "Hi."}), b"data: " + json.dumps(final).encode() + b"\n\n", DONE]
    fake.add(Reply(steps))
    async with running(make_service(model="gpt-5-mini")) as pipe:
        await pipe.reply(LLMContext(messages=[{"role": "user", "content": "hi"}]), 1)
    (metrics,) = [
        d.value
        for f in pipe.sink.of(MetricsFrame)
        for d in f.data
        if isinstance(d, LLMUsageMetricsData)
    ]
    assert (metrics.prompt_tokens, metrics.completion_tokens, metrics.total_tokens) == (
        120,
        30,
        150,
    )
    assert (metrics.cache_read_input_tokens, metrics.reasoning_tokens) == (96, 12)

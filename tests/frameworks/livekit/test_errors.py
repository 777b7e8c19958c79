"""Failures inside LiveKit Agents: LiveKit's ``APIError`` family, retryable only while
nothing reached LiveKit (its retry re-runs the request, and would repeat speech), the
``error`` event, invalid tool arguments named instead of dispatched, stalls ending in a
typed timeout. LiveKit's own OpenAI plugin beside ours where the contrast is the point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from livekit.agents import APIConnectionError, APIConnectOptions, APIError, APIStatusError
from livekit.agents import APITimeoutError as LKTimeoutError
from livekit.agents import llm as lk_llm

from scoped_openai.integrations.livekit import LLM
from scoped_openai.testing import CloseSocket, Disconnect, FakeOpenAI, Reply, Stall, WSReply

from .conftest import NO_RETRY, PATHS, bounded, user_ctx
from .test_streaming import get_time, get_weather

pytestmark = pytest.mark.anyio

MakePlugin = Callable[..., LLM]
GOOD = ("call_a", "get_weather", '{"city": "Oslo"}')
BAD = ("call_b", "get_time", '{"zone": Europe/Oslo')


async def drain(
    stream: lk_llm.LLMStream,
) -> tuple[list[lk_llm.ChatChunk], BaseException | None]:
    """Read ``stream`` as LiveKit does (``async with``, ``async for``): chunks and the error."""
    chunks: list[lk_llm.ChatChunk] = []
    try:
        async with stream:
            async for chunk in stream:
                chunks.append(chunk)
    except Exception as error:
        return chunks, error
    return chunks, None


def text_of(chunks: list[lk_llm.ChatChunk]) -> str:
    return "".join(c.delta.content for c in chunks if c.delta and c.delta.content)


def record_errors(plugin: lk_llm.LLM[Any]) -> list[lk_llm.LLMError]:
    events: list[lk_llm.LLMError] = []
    plugin.on("error", events.append)
    return events


@pytest.mark.parametrize("path", PATHS)
async def test_invalid_tool_arguments_are_named_not_dispatched(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str
) -> None:
    if path == "http":
        fake.add(Reply.tool_calls(GOOD, BAD))
    else:
        fake.add_ws(WSReply.function_calls(GOOD, BAD))
    plugin = make_plugin(path)
    events = record_errors(plugin)
    stream = plugin.chat(chat_ctx=user_ctx(), tools=[get_weather, get_time], conn_options=NO_RETRY)
    chunks, error = await bounded(drain(stream))
    # The valid call is dispatched; the invalid one never is, not even as {}.
    calls = [call for c in chunks if c.delta for call in c.delta.tool_calls]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [GOOD]
    assert isinstance(error, APIError)
    assert not isinstance(error, APIStatusError)
    assert error.retryable is False
    assert "get_time" in error.message
    assert "call_b" in error.message
    assert error.body == {"name": "get_time", "call_id": "call_b", "arguments": BAD[2]}
    assert [(e.error, e.recoverable) for e in events] == [(error, False)]


async def test_livekit_plugin_dispatches_invalid_arguments(
    fake: FakeOpenAI, make_livekit_plugin: Callable[..., lk_llm.LLM[Any]]
) -> None:
    # The contrast: LiveKit's own plugin hands the broken text on as a tool call; LiveKit's
    # tool runner then fails to parse it (livekit/agents#5164: "An internal error occurred").
    fake.add(Reply.tool_calls(GOOD, BAD))
    stream = make_livekit_plugin("http").chat(
        chat_ctx=user_ctx(), tools=[get_weather, get_time], conn_options=NO_RETRY
    )
    chunks, error = await bounded(drain(stream))
    assert error is None
    calls = [call for c in chunks if c.delta for call in c.delta.tool_calls]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [GOOD, BAD]


@pytest.mark.parametrize("path", PATHS)
async def test_server_error_before_output_is_retryable_and_retried(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str
) -> None:
    if path == "http":
        fake.add(Reply.error(503, "overloaded"), Reply.error(503, "overloaded"), Reply.text("hi"))
    else:
        failed = WSReply.failed("server_error", "overloaded")
        fake.add_ws(failed, failed, WSReply.text("hi"))
    plugin = make_plugin(path)
    events = record_errors(plugin)
    chunks, error = await bounded(drain(plugin.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY)))
    assert chunks == []
    assert isinstance(error, APIError)
    assert error.retryable is True
    if path == "http":
        assert isinstance(error, APIStatusError)
        assert error.status_code == 503
    assert "overloaded" in error.message
    # LiveKit retries it, and the retry succeeds.
    retry = APIConnectOptions(max_retry=1, retry_interval=0.0)
    collected = await bounded(plugin.chat(chat_ctx=user_ctx(), conn_options=retry).collect())
    assert collected.text == "hi"
    assert [e.recoverable for e in events] == [False, True]


@pytest.mark.parametrize("path", PATHS)
async def test_client_error_is_not_retryable(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str
) -> None:
    if path == "http":
        fake.add(Reply.error(400, "bad temperature", code="invalid_value", param="temperature"))
    else:
        fake.add_ws(WSReply.failed("invalid_prompt", "bad prompt"))
    plugin = make_plugin(path)
    chunks, error = await bounded(drain(plugin.chat(chat_ctx=user_ctx())))
    assert chunks == []
    assert isinstance(error, APIError)
    assert error.retryable is False
    if path == "http":
        assert isinstance(error, APIStatusError)
        assert error.status_code == 400
        assert error.body == {
            "error": {
                "message": "bad temperature",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "invalid_value",
            }
        }
    else:
        assert "bad prompt" in error.message
    sent = [r for r in fake.requests if r.method == "POST"] if path == "http" else fake.ws_frames
    assert len(sent) == 1  # default conn_options allow 3 retries: none is taken


@pytest.mark.parametrize("path", PATHS)
async def test_a_failure_after_speech_is_never_retried(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str
) -> None:
    if path == "http":
        fake.add(Reply.text(["Hello ", "there"], then=[Disconnect()]), Reply.text("again"))
    else:
        fake.add_ws(WSReply.text(["Hello ", "there"], then=[CloseSocket()]), WSReply.text("x"))
    plugin = make_plugin(path)
    events = record_errors(plugin)
    retries = APIConnectOptions(max_retry=3, retry_interval=0.0)
    chunks, error = await bounded(drain(plugin.chat(chat_ctx=user_ctx(), conn_options=retries)))
    assert text_of(chunks) == "Hello there"
    assert isinstance(error, APIConnectionError)
    assert error.retryable is False
    assert [e.recoverable for e in events] == [False]
    sent = [r for r in fake.requests if r.method == "POST"] if path == "http" else fake.ws_frames
    assert len(sent) == 1  # the speech is not repeated by a retry


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("when", ["before output", "after output"])
async def test_a_stall_ends_in_a_typed_timeout(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str, when: str
) -> None:
    pieces = [] if when == "before output" else ["Hel", "lo"]
    if path == "http":
        fake.add(Reply.text(pieces, then=[Stall()]))
    else:
        fake.add_ws(WSReply.text(pieces, then=[Stall()]))
    # The deadline under test is short; the other is generous, so a loaded machine (the first
    # WebSocket handshake alone can take 0.2 s there) cannot trip the wrong one.
    if when == "before output":
        plugin = make_plugin(path, idle_timeout=5.0, first_token_timeout=0.2)
    else:
        plugin = make_plugin(path, idle_timeout=0.2, first_token_timeout=5.0)
    chunks, error = await bounded(drain(plugin.chat(chat_ctx=user_ctx(), conn_options=NO_RETRY)))
    assert text_of(chunks) == "".join(pieces)
    assert isinstance(error, LKTimeoutError)
    assert error.retryable is (when == "before output")
    phase = "first_token" if when == "before output" else "idle"
    assert isinstance(error.__cause__, Exception)
    assert error.__cause__.phase == phase
    assert fake.counters.open_bodies == 0


async def test_provider_tools_are_refused_by_name(
    make_plugin: MakePlugin, fake: FakeOpenAI
) -> None:
    class WebSearch(lk_llm.ProviderTool):
        def __init__(self) -> None:
            super().__init__(id="web_search")

    plugin = make_plugin("http")
    stream = plugin.chat(chat_ctx=user_ctx(), tools=[get_weather, WebSearch()])
    chunks, error = await bounded(drain(stream))
    assert chunks == []
    assert isinstance(error, APIError)
    assert error.retryable is False
    assert "WebSearch" in error.message
    assert fake.requests == []  # nothing was sent

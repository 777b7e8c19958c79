"""Replies inside a real Pipecat pipeline: frames, usage metrics, recorded streams,
settings updates, ``run_inference``; HTTP and WebSocket mode."""

from __future__ import annotations

import json

import pytest
from pipecat.frames.frames import (
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    LLMUpdateSettingsFrame,
    MetricsFrame,
)
from pipecat.metrics.metrics import LLMUsageMetricsData, TTFBMetricsData
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.settings import LLMSettings

from scoped_openai.testing import FakeOpenAI, Reply, WSReply

from .conftest import CONFORMANCE, MakeService, script_text, sent_requests
from .harness import running, user_context

pytestmark = pytest.mark.anyio

RESPONSE_FRAMES = (LLMFullResponseStartFrame, LLMTextFrame, LLMFullResponseEndFrame)


async def test_text_reply_frames(fake: FakeOpenAI, path: str, make_service: MakeService) -> None:
    script_text(fake, path, "Hello there, friend.")
    async with running(make_service()) as pipe:
        assert await pipe.reply(user_context(), 1) == "Hello there, friend."
    kinds = [type(f) for f in pipe.sink.frames if isinstance(f, RESPONSE_FRAMES)]
    texts = len(pipe.sink.of(LLMTextFrame))
    assert texts == 5  # four-character pieces
    assert kinds[0] is LLMFullResponseStartFrame
    assert kinds[1 : 1 + texts] == [LLMTextFrame] * texts
    assert kinds[1 + texts] is LLMFullResponseEndFrame
    assert pipe.errors == []


async def test_usage_and_ttfb_metrics(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_text(fake, path, "Hi.")
    async with running(make_service()) as pipe:
        await pipe.reply(user_context(), 1)
    data = [d for f in pipe.sink.of(MetricsFrame) for d in f.data]
    (usage,) = [d for d in data if isinstance(d, LLMUsageMetricsData)]
    assert (usage.value.prompt_tokens, usage.value.completion_tokens) == (10, 5)
    assert usage.value.total_tokens == 15
    assert [d for d in data if isinstance(d, TTFBMetricsData) and d.value > 0]


async def test_system_instruction_and_history_reach_the_request(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_text(fake, path, "Fine.")
    context = LLMContext(
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ]
    )
    async with running(make_service(system_instruction="Be brief.")) as pipe:
        await pipe.reply(context, 1)
    (request,) = sent_requests(fake, path)
    items = request["messages" if path == "http" else "input"]
    sent = [(i["role"], _text(i["content"])) for i in items]
    assert sent[0] in {("system", "Be brief."), ("developer", "Be brief.")}
    assert sent[1:] == [("user", "Hi"), ("assistant", "Hello!"), ("user", "How are you?")]


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    assert isinstance(content, list)
    return "".join(part["text"] for part in content)


@pytest.mark.parametrize("path", ["http"])  # Chat Completions recordings: the HTTP path
@pytest.mark.parametrize(
    "name",
    ["chat_text_basic", "chat_text_usage_null_obfuscation", "azure_chat_prompt_filter_results"],
)
async def test_recorded_chat_streams(
    fake: FakeOpenAI, make_service: MakeService, name: str
) -> None:
    recording = CONFORMANCE / f"{name}.sse"
    if not recording.exists():
        pytest.skip(f"conformance recordings not found at {CONFORMANCE}")
    expected = json.loads(recording.with_suffix(".expected.json").read_text(encoding="utf-8"))
    fake.add(Reply.raw(recording.read_bytes(), split=97))
    async with running(make_service()) as pipe:
        text = await pipe.reply(user_context(), 1)
    assert text == expected["choices"][0]["content"]
    assert pipe.errors == []
    usage = [
        d.value
        for f in pipe.sink.of(MetricsFrame)
        for d in f.data
        if isinstance(d, LLMUsageMetricsData)
    ]
    if expected.get("usage"):
        assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == [
            (expected["usage"]["prompt_tokens"], expected["usage"]["completion_tokens"])
        ]
    else:
        assert usage == []


@pytest.mark.parametrize("path", ["ws"])  # the Responses WebSocket recording
async def test_recorded_websocket_stream(fake: FakeOpenAI, make_service: MakeService) -> None:
    recording = CONFORMANCE / "responses_ws_frames_from_gpt55.jsonl"
    if not recording.exists():
        pytest.skip(f"conformance recordings not found at {CONFORMANCE}")
    expected = json.loads(
        recording.with_name("responses_ws_frames_from_gpt55.expected.json").read_text("utf-8")
    )
    fake.add_ws(WSReply.frames(recording.read_text(encoding="utf-8").splitlines()))
    calls: list[tuple[str, dict[str, object]]] = []
    service = make_service(model="gpt-5.5")

    async def get_capital(params) -> None:  # type: ignore[no-untyped-def]
        calls.append((params.tool_call_id, dict(params.arguments)))
        await params.result_callback("Potatopolis")

    service.register_function("get_capital", get_capital)
    async with running(service) as pipe:
        text = await pipe.reply(user_context(), 1)
    assert text == expected["text"]
    (call,) = expected["function_calls"]
    assert calls == [(call["call_id"], json.loads(call["arguments"]))]
    usage = [
        d.value
        for f in pipe.sink.of(MetricsFrame)
        for d in f.data
        if isinstance(d, LLMUsageMetricsData)
    ]
    assert [(u.prompt_tokens, u.completion_tokens, u.reasoning_tokens) for u in usage] == [
        (63, 69, 26)
    ]


async def test_settings_update_changes_the_next_request(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_text(fake, path, "one")
    script_text(fake, path, "two")
    async with running(make_service(model="gpt-4o-mini")) as pipe:
        await pipe.reply(user_context(), 1)
        await pipe.push(LLMUpdateSettingsFrame(delta=LLMSettings(model="gpt-5-mini")))
        await pipe.reply(user_context(), 2)
    bodies = sent_requests(fake, path)
    assert [b["model"] for b in bodies] == ["gpt-4o-mini", "gpt-5-mini"]
    assert "temperature" in bodies[0]
    assert "temperature" not in bodies[1]  # a reasoning model: no sampling parameters


async def test_run_inference_goes_through_the_library(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_text(fake, path, "A short summary.")
    service = make_service()
    schema = {"type": "object", "properties": {"s": {"type": "string"}}}
    async with running(service):
        text = await service.run_inference(
            user_context("summarize"),
            max_tokens=50,
            system_instruction="Summarize.",
            response_schema=schema,
        )
    assert text == "A short summary."
    (body,) = sent_requests(fake, path)
    if path == "http":
        (post,) = [r for r in fake.requests if r.method == "POST"]
        assert "openai/python" not in post.headers.get("user-agent", "").lower()
        assert body["max_completion_tokens"] == 50
        assert body["response_format"]["json_schema"]["schema"] == schema
        assert body["messages"][0]["content"] == "Summarize."
    else:
        assert body["max_output_tokens"] == 50
        assert body["text"]["format"]["schema"] == schema

"""What only the HTTP (Chat Completions) path does, end to end through the in-memory fake, on
both backends: the bare form without a block, interleaved tool-call fragments, the request
body for each model family, Azure, prewarm, ``[DONE]``. What every path does is in
``tests/paths/test_chat.py``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from scoped_openai import (
    ChatContext,
    ChatRole,
    ConversationalGraph,
    ImageContent,
    InvalidContextError,
    LLMResponse,
    OpenAILLM,
)
from scoped_openai._transports.http import DRAIN_INLINE
from scoped_openai.testing import DONE, FAKE_API_KEY, FakeOpenAI, Reply, Stall, chunk, usage_chunk
from support.tools import WEATHER, WEATHER_CHAT
from support.turns import contents

MakeLLM = Callable[..., OpenAILLM]

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]
REASONING_MESSAGES = [
    {"role": "developer", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]
STREAM = {"stream": True, "stream_options": {"include_usage": True}}


def fake_usage(prompt: int = 10, completion: int = 5, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_cached_tokens": 0,
        "reasoning_tokens": 0,
        "request_id": "chatcmpl-fake",
        "model": model,
    }


def function_calls(items: list[LLMResponse]) -> list[dict[str, Any]]:
    return [item.function_call for item in items if item.function_call is not None]


# -- the bare form of chat() ------------------------------------------------------------------


@pytest.mark.anyio
async def test_bare_async_for_form_without_an_llm_block(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    fake.add(Reply.text(["Hi", " there"]), Reply.text("again"))
    llm = make_llm()
    first = [item.content async for item in llm.chat(ctx)]
    second = [item.content async for item in llm.chat(ctx)]
    await llm.aclose()
    await llm.aclose()  # idempotent
    assert first == ["Hi", " there", ""]
    assert second == ["agai", "n", ""]
    assert fake.counters.open_bodies == 0
    assert len(fake.requests) == 2


@pytest.mark.anyio
async def test_a_context_the_api_would_refuse_is_a_typed_error_before_anything_is_sent(
    fake: FakeOpenAI, make_llm: MakeLLM, errors: list[Exception]
) -> None:
    with_image = ChatContext.empty()
    with_image.add_message(ChatRole.SYSTEM, ["Describe this:", ImageContent("https://x/y.png")])
    with_image.add_message(ChatRole.USER, "Go.")
    async with make_llm() as llm:
        with pytest.raises(InvalidContextError, match=r"message 0 \(system\) holds an image"):
            llm.chat(with_image)
        with pytest.raises(InvalidContextError, match="context is empty"):
            llm.chat(ChatContext.empty())
    assert [type(error) for error in errors] == [InvalidContextError, InvalidContextError]
    assert fake.requests == []


# -- tool calls -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_parallel_tool_calls_after_text(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    fake.add(
        Reply.tool_calls(
            ("call_a", "get_weather", '{"city": "Paris"}'),
            ("call_b", "get_weather", '{"city": "Rome"}'),
            ("call_c", "get_time", '{"tz": "UTC", "nested": {"x": [1, 2]}}'),
            text="Checking.",
            fragment_size=5,
        )
    )
    async with make_llm() as llm:
        items = [item async for item in llm.chat(ctx, tools=[WEATHER])]
    assert contents(items) == ["Checking", ".", "", "", "", ""]
    assert function_calls(items) == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_a"},
        {"name": "get_weather", "arguments": {"city": "Rome"}, "id": "call_b"},
        {"name": "get_time", "arguments": {"tz": "UTC", "nested": {"x": [1, 2]}}, "id": "call_c"},
    ]


@pytest.mark.anyio
async def test_tool_call_fragments_interleaved_across_indices(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    def call(
        index: int, *, call_id: str | None = None, name: str | None = None, args: str = ""
    ) -> bytes:
        fragment: dict[str, Any] = {"index": index, "function": {"arguments": args}}
        if call_id is not None:
            fragment["id"] = call_id
            fragment["type"] = "function"
            fragment["function"]["name"] = name
        return chunk({"tool_calls": [fragment]})

    steps = [
        chunk({"role": "assistant", "content": None}),
        call(1, call_id="call_second", name="lookup"),
        call(0, call_id="call_first", name="get_weather", args='{"ci'),
        call(1, args='{"query": "wea'),
        call(0, args='ty": "Oslo"}'),
        call(1, args='ther"}'),
        chunk({}, finish_reason="tool_calls"),
        usage_chunk(7, 3),
        DONE,
    ]
    fake.add(Reply(steps))
    async with make_llm() as llm, llm.chat(ctx, tools=[WEATHER]) as stream:
        items = [item async for item in stream]
    assert function_calls(items) == [
        {"name": "get_weather", "arguments": {"city": "Oslo"}, "id": "call_first"},
        {"name": "lookup", "arguments": {"query": "weather"}, "id": "call_second"},
    ]
    assert len(items) == 3
    assert items[-1].metadata == {"usage": fake_usage(7, 3)}


# -- usage ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_usage_with_cached_and_reasoning_tokens_and_request_id(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    usage = {
        "id": "chatcmpl-Req123",
        "object": "chat.completion.chunk",
        "model": "gpt-5-2025-08-07",
        "choices": [],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 40,
            "total_tokens": 160,
            "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 32, "audio_tokens": 0},
        },
    }
    fake.add(
        Reply(
            [
                chunk({"role": "assistant", "content": ""}, chunk_id="chatcmpl-Req123"),
                chunk({"content": "Yes."}, chunk_id="chatcmpl-Req123"),
                chunk({}, finish_reason="stop", chunk_id="chatcmpl-Req123"),
                b"data: " + json.dumps(usage).encode() + b"\n\n",
                DONE,
            ]
        )
    )
    async with make_llm(model="gpt-5") as llm:
        items = [item async for item in llm.chat(ctx)]
    expected = {
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "total_tokens": 160,
        "prompt_cached_tokens": 64,
        "reasoning_tokens": 32,
        "request_id": "chatcmpl-Req123",
        "model": "gpt-5-2025-08-07",
    }
    assert [(i.content, i.metadata) for i in items] == [
        ("Yes.", {"usage": expected}),
        ("", {"usage": expected}),
    ]


# -- what reaches the request ---------------------------------------------------------------


@pytest.mark.anyio
async def test_default_request(fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM) -> None:
    fake.add(Reply.text("ok"))
    async with make_llm() as llm:
        [_ async for _ in llm.chat(ctx)]
    (request,) = fake.requests
    assert request.json() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        **STREAM,
        "temperature": 0.7,
    }
    assert request.headers["authorization"] == f"Bearer {FAKE_API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.query == {}


@pytest.mark.anyio
async def test_sampling_model_body_is_exact(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    fake.add(Reply.text("ok"))
    llm = make_llm(
        model="gpt-4.1-mini",
        temperature=0.3,
        max_completion_tokens=100,
        top_p=0.8,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        seed=7,
        reasoning_effort="high",
        verbosity="high",
    )
    async with llm:
        [_ async for _ in llm.chat(ctx)]
    assert fake.requests[0].json() == {
        "model": "gpt-4.1-mini",
        "messages": MESSAGES,
        **STREAM,
        "temperature": 0.3,
        "max_completion_tokens": 100,
        "top_p": 0.8,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "seed": 7,
    }


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini", "gpt-5", "gpt-5-nano"])
async def test_reasoning_model_body_is_exact(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, model: str
) -> None:
    fake.add(Reply.text("ok"), Reply.text("ok"))
    llm = make_llm(
        model=model,
        temperature=0.3,
        max_completion_tokens=100,
        top_p=0.8,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        seed=7,
        reasoning_effort="minimal",
        verbosity="low",
    )
    async with llm:
        [_ async for _ in llm.chat(ctx)]
    assert fake.requests[0].json() == {
        "model": model,
        "messages": REASONING_MESSAGES,
        **STREAM,
        "max_completion_tokens": 100,
        "reasoning_effort": "minimal",
        "verbosity": "low",
    }
    async with make_llm(model=model, temperature=0.3, seed=7) as plain:
        [_ async for _ in plain.chat(ctx)]
    assert fake.requests[1].json() == {"model": model, "messages": REASONING_MESSAGES, **STREAM}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tool_choice",
    ["auto", "required", "none", {"type": "function", "function": {"name": "get_weather"}}],
)
@pytest.mark.parametrize("parallel", [True, False])
async def test_tools_tool_choice_and_parallel_tool_calls(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, tool_choice: Any, parallel: bool
) -> None:
    fake.add(Reply.text("ok"))
    async with make_llm(tool_choice=tool_choice, parallel_tool_calls=parallel) as llm:
        [_ async for _ in llm.chat(ctx, tools=[WEATHER])]
    assert fake.requests[0].json() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        **STREAM,
        "temperature": 0.7,
        "tools": [WEATHER_CHAT],
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel,
    }


@pytest.mark.anyio
async def test_extra_headers_query_body_and_kwargs_reach_the_request(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    fake.add(Reply.text("ok"))
    llm = make_llm(
        organization="org-1",
        project="proj-1",
        extra_headers={"X-Trace-Id": "trace-9"},
        extra_query={"feature": "on"},
        extra_body={"user": "u-1", "metadata": {"k": "v"}},
    )
    async with llm:
        [_ async for _ in llm.chat(ctx, service_tier="flex", store=True, user="u-2")]
    (request,) = fake.requests
    assert request.headers["x-trace-id"] == "trace-9"
    assert request.headers["openai-organization"] == "org-1"
    assert request.headers["openai-project"] == "proj-1"
    assert request.query == {"feature": "on"}
    assert request.json() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        **STREAM,
        "temperature": 0.7,
        "user": "u-2",
        "metadata": {"k": "v"},
        "service_tier": "flex",
        "store": True,
    }


@pytest.mark.anyio
async def test_conversational_graph_over_http(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    reply = {"response_to_user": "Hi there!", "extracted_values": [{"key": "mood", "value": "ok"}]}
    fake.add(Reply.text(json.dumps(reply), chunk_size=6))
    graph = ConversationalGraph()
    async with make_llm() as llm:
        items = [i async for i in llm.chat(ctx, conversational_graph=graph)]
    assert fake.requests[0].json()["response_format"] == graph.response_format()
    assert "".join(contents(items)) == "Hi there!"
    graph_items = [i.graph_response for i in items if i.graph_response is not None]
    assert graph_items == [reply]


@pytest.mark.anyio
async def test_azure_request(fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.add(Reply.text("ok"), Reply.text("ok"))
    llm = OpenAILLM.azure(
        azure_endpoint="http://fake-openai.invalid",
        azure_deployment="my-deploy",
        api_version="2024-10-21",
        api_key="azure-key-1",
        client=fake.client(),
    )
    async with llm:
        [_ async for _ in llm.chat(ctx)]
    (request,) = fake.requests
    assert request.path == "/openai/deployments/my-deploy/chat/completions"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "azure-key-1"
    assert "authorization" not in request.headers
    assert request.json() == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        **STREAM,
        "temperature": 0.7,
    }
    # A reasoning deployment gets the Azure defaults: reasoning_effort="none", verbosity="low".
    gpt5 = OpenAILLM.azure(
        model="gpt-5",
        azure_endpoint="http://fake-openai.invalid",
        api_version="2024-10-21",
        azure_ad_token="ad-token",
        client=fake.client(),
    )
    async with gpt5:
        [_ async for _ in gpt5.chat(ctx)]
    second = fake.requests[1]
    assert second.path == "/openai/deployments/gpt-5/chat/completions"
    assert second.headers["authorization"] == "Bearer ad-token"
    assert second.json() == {
        "model": "gpt-5",
        "messages": REASONING_MESSAGES,
        **STREAM,
        "reasoning_effort": "none",
        "verbosity": "low",
    }


@pytest.mark.anyio
async def test_prewarm_in_memory_sends_a_head_and_the_turn_still_works(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    fake.add(Reply.text("ok"))
    async with make_llm() as llm:
        await llm.prewarm()
        assert [i.content async for i in llm.chat(ctx)] == ["ok", ""]
    assert [(r.method, r.path) for r in fake.requests] == [
        ("HEAD", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions"),
    ]
    assert fake.requests[0].headers["authorization"] == f"Bearer {FAKE_API_KEY}"


@pytest.mark.anyio
async def test_environment_fallbacks(
    fake: FakeOpenAI, ctx: ChatContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    fake.add(Reply.text("ok"))
    async with fake.llm(api_key=None) as llm:
        assert [i.content async for i in llm.chat(ctx)] == ["ok", ""]
    headers = fake.requests[0].headers
    assert headers["authorization"] == "Bearer sk-from-env"
    assert headers["openai-organization"] == "org-env"
    assert headers["openai-project"] == "proj-env"


@pytest.mark.trio
async def test_iteration_ends_when_done_arrives_even_if_the_body_stays_open(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    # "Only [DONE] ends the stream": a server or proxy that keeps the body open after
    # [DONE] must not hold the end of the turn (and with it the agent's next step) up.
    ending = [chunk({}, finish_reason="stop"), usage_chunk(3, 1), DONE, Stall()]
    fake.add(Reply.text(["ok"], then=ending))
    async with fake.llm() as llm:
        start = trio.current_time()
        async with llm.chat(ctx) as stream:
            items = [item.content async for item in stream]
        # The iteration waits at most DRAIN_INLINE for the body's end, then the drain
        # goes on in the llm's task group.
        assert trio.current_time() - start <= DRAIN_INLINE
        assert items == ["ok", ""]
        assert stream.cancelled is False
        assert stream.assembler.done is True
    assert fake.counters.open_bodies == 0

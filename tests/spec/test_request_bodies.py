"""Every request body the library builds, validated against OpenAI's OpenAPI spec.

Chat Completions bodies against ``CreateChatCompletionRequest``; WebSocket ``response.create``
frames against ``ResponsesClientEventResponseCreate`` (``CreateResponse`` plus ``type``). Both
in the *strict* view (``openapi_schema``): a field the spec does not define is an error
unless ``FIELDS_OUTSIDE_THE_SPEC`` lists it with its source.

The wide matrix (models x settings x contexts x tools x graph) runs the builders directly
(sync, no I/O); the end-to-end tests capture what actually reaches the fake through
``OpenAILLM`` on both backends: Azure, the Responses first turn, a chained turn, store
true/false, the ``generate: false`` warm-up, a reasoning model.
"""

from __future__ import annotations

from typing import Any

import pytest
from openapi_schema import SKIP_REASON, SPEC_FILE, fields_outside_the_spec, problems
from request_matrix import (
    CONTEXTS,
    MODELS,
    RESPONSES_ONLY_CONTEXTS,
    SETTINGS,
    TOOLS,
    get_weather,
    graph,
)

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai._chat_completions import build_request
from scoped_openai._responses_input import to_input_items
from scoped_openai._responses_request import build_create_event
from scoped_openai._settings import GenerationSettings
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

pytestmark = pytest.mark.skipif(not SPEC_FILE.is_file(), reason=SKIP_REASON)

CHAT = "CreateChatCompletionRequest"
CREATE = "ResponsesClientEventResponseCreate"

#: Fields the library sends that the spec does not define: (schema, field) -> source.
FIELDS_OUTSIDE_THE_SPEC: dict[tuple[str, str], str] = {
    (CREATE, "generate"): (
        "OpenAI's WebSocket-mode guide (developers.openai.com/api/docs/guides/websocket-mode): "
        "a client may warm up request state with a response.create carrying generate: false; "
        "sent only by prewarm(), never on a turn"
    ),
}


def strict_problems(body: dict[str, Any], schema: str) -> list[str]:
    """The strict view's objections, once the justified outside fields are taken out."""
    listed = {field for (name, field) in FIELDS_OUTSIDE_THE_SPEC if name == schema}
    return problems({k: v for k, v in body.items() if k not in listed}, schema, strict=True)


def chat_body(settings: GenerationSettings, ctx: ChatContext, **kw: Any) -> dict[str, Any]:
    return build_request(settings, ctx, **kw)


def create_frame(settings: GenerationSettings, ctx: ChatContext, **kw: Any) -> dict[str, Any]:
    return build_create_event(settings, to_input_items(ctx.items), **kw)


def matrix_cases(model: str, settings_name: str) -> list[tuple[str, dict[str, Any], str]]:
    """Every context once (tools and the graph rotating through them), then every tool set
    on the tool history: (label, body, schema) for both builders."""
    settings = SETTINGS[settings_name](model)
    tool_sets = list(TOOLS.items())
    combos = [
        (name, tool_sets[i % len(tool_sets)], i % 2 == 1) for i, name in enumerate(CONTEXTS)
    ] + [("tool-history", tools, False) for tools in tool_sets]
    cases = []
    for context_name, (tools_name, tools), with_graph in combos:
        kw: dict[str, Any] = {"tools": tools, "graph": graph() if with_graph else None}
        label = f"{context_name}/{tools_name}/{'graph' if with_graph else 'no-graph'}"
        ctx = CONTEXTS[context_name]()
        cases.append((f"chat {label}", chat_body(settings, ctx, **kw), CHAT))
        cases.append((f"responses {label}", create_frame(settings, ctx, **kw), CREATE))
    for context_name, build in RESPONSES_ONLY_CONTEXTS.items():
        frame = create_frame(settings, build(), tools=[get_weather])
        cases.append((f"responses {context_name}", frame, CREATE))
    return cases


@pytest.mark.parametrize("settings_name", list(SETTINGS))
@pytest.mark.parametrize("model", MODELS)
def test_every_body_of_the_matrix_is_valid(model: str, settings_name: str) -> None:
    failures = {
        label: found
        for label, body, schema in matrix_cases(model, settings_name)
        if (found := strict_problems(body, schema))
    }
    assert failures == {}


@pytest.mark.parametrize("model", MODELS)
def test_the_matrix_covers_what_it_says(model: str) -> None:
    # A guard on the matrix itself: each family gets its own parameters, so a silent change
    # in the builders (or the matrix) cannot leave a parameter unvalidated.
    bodies = [body for _, body, schema in matrix_cases(model, "every-sampling-parameter")]
    sent = set().union(*bodies)
    reasoning = GenerationSettings(model=model).reasoning
    sampling = {"temperature", "top_p", "frequency_penalty", "presence_penalty", "seed"}
    assert bool(sent & sampling) is not reasoning
    if not reasoning:
        assert sampling <= sent
    effort = [b for _, b, _ in matrix_cases(model, "reasoning-high-verbosity-high")]
    if reasoning:
        assert {"reasoning_effort", "verbosity", "reasoning", "text"} <= set().union(*effort)
    assert {"tools", "tool_choice", "response_format", "parallel_tool_calls"} <= sent


# -- fields outside the spec ------------------------------------------------------------------


def test_each_listed_field_is_really_outside_the_spec() -> None:
    # The list cannot go stale: each entry is found by the strict view on a real body.
    warmup = create_frame(
        GenerationSettings(model="gpt-5-mini"), CONTEXTS["system-user"](), generate=False
    )
    assert fields_outside_the_spec(warmup, CREATE) == {"generate"}
    assert set(FIELDS_OUTSIDE_THE_SPEC) == {(CREATE, "generate")}


def test_the_strict_view_finds_an_undefined_field_at_any_depth() -> None:
    # Calibration of the check itself: a field the spec lacks is found, and named.
    body = chat_body(GenerationSettings(), CONTEXTS["tool-history"](), tools=[get_weather])
    body["messages"][1]["tool_calls"][0]["function"]["made_up"] = 1
    body["temperature_typo"] = 0.5
    assert fields_outside_the_spec(body, CHAT) == {
        "temperature_typo",
        "messages/1/tool_calls/0/function/made_up",
    }


# -- end to end: what reaches the fake --------------------------------------------------------


def request_bodies(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [r.json() for r in fake.requests if r.method == "POST"]


def azure_llm(fake: FakeOpenAI, model: str, *, streaming: bool = False) -> OpenAILLM:
    """An Azure deployment named after its model (a reasoning one gets azure()'s defaults:
    effort "none", verbosity "low")."""
    return OpenAILLM.azure(
        model=model,
        azure_endpoint="http://fake-openai.invalid",
        azure_deployment=model,
        api_version="2025-04-01-preview",
        api_key="azure-key",
        streaming=streaming,
        client=fake.client(),
    )


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-5.1"])
async def test_azure_bodies_are_valid(fake: FakeOpenAI, model: str) -> None:
    fake.add(Reply.text("ok"), Reply.tool_calls(("call_1", "get_weather", '{"city":"Oslo"}')))
    async with azure_llm(fake, model) as llm:
        ctx = CONTEXTS["tool-history"]()
        async for _ in llm.chat(ctx, tools=[get_weather]):
            pass
        async for _ in llm.chat(CONTEXTS["images"]()):
            pass
    bodies = request_bodies(fake)
    assert len(bodies) == 2
    assert [strict_problems(body, CHAT) for body in bodies] == [[], []]


@pytest.mark.anyio
@pytest.mark.parametrize("model", ["gpt-4o", "gpt-5.1"])
async def test_azure_websocket_frames_are_valid(
    fake: FakeOpenAI, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # azure() takes no ws_connector: the default connector is replaced by the fake's, so the
    # frames are the ones azure()'s settings build.
    monkeypatch.setattr(
        "scoped_openai._llm.default_connector", lambda *args, **kwargs: fake.ws_connector()
    )
    fake.add_ws(WSReply.text("Hallo Welt!", model=model))
    async with azure_llm(fake, model, streaming=True) as llm:
        async for _ in llm.chat(CONTEXTS["history"](), tools=[get_weather]):
            pass
    (frame,) = fake.ws_frames
    assert strict_problems(frame, CREATE) == []


@pytest.mark.anyio
@pytest.mark.parametrize("store", [False, True])
@pytest.mark.parametrize("model", ["gpt-4.1", "o4-mini", "gpt-5.1"])
async def test_websocket_frames_are_valid(fake: FakeOpenAI, model: str, store: bool) -> None:
    # Warm-up, first turn, a tool round, a chained turn: every frame the library sends.
    fake.add_ws(
        WSReply.function_calls(("call_1", "get_weather", '{"city":"Paris"}'), model=model),
        WSReply.text("Sunny in Paris.", model=model),
        WSReply.text("You're welcome.", model=model),
    )
    async with fake.llm(streaming=True, model=model, store=store, reasoning_effort=None) as llm:
        await llm.prewarm(instructions="You are terse.", tools=[get_weather])
        ctx = ChatContext.empty()
        ctx.add_message(ChatRole.SYSTEM, "You are terse.")
        ctx.add_message(ChatRole.USER, "Weather in Paris?")
        async for item in llm.chat(ctx, tools=[get_weather]):
            if item.function_call:
                call = item.function_call
                ctx.add_function_call(call["name"], '{"city":"Paris"}', call_id=call["id"])
                ctx.add_function_output(call["name"], "sunny", call_id=call["id"])
        spoken = "".join([item.content async for item in llm.chat(ctx, tools=[get_weather])])
        ctx.add_message(ChatRole.ASSISTANT, spoken)
        ctx.add_message(ChatRole.USER, "Thanks!")
        async for _ in llm.chat(ctx, tools=[get_weather]):
            pass
    frames = fake.ws_frames
    assert [f.get("generate") for f in frames] == [False, None, None, None]
    assert "previous_response_id" in frames[-1]  # the chained turn was among them
    assert [strict_problems(frame, CREATE) for frame in frames] == [[]] * 4

"""The Responses API mapping: response.create frames, input items, server events, chain state."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from scoped_openai._chain import ChainState
from scoped_openai._chat import (
    ChatContext,
    ChatItem,
    ChatMessage,
    ChatRole,
    ImageContent,
)
from scoped_openai._errors import (
    APIConnectionError,
    APIStreamError,
    InvalidContextError,
    LimitExceededError,
    ProtocolError,
)
from scoped_openai._events import (
    Event,
    RefusalDelta,
    ResponseCompleted,
    ResponseCreated,
    TextDelta,
    ToolCallDone,
    Usage,
    UsageReport,
)
from scoped_openai._graph import ConversationalGraph
from scoped_openai._limits import StreamLimits
from scoped_openai._responses import ResponsesEventMapper, ResponsesParser, server_event_events
from scoped_openai._responses_input import output_to_input_items, to_input_items
from scoped_openai._responses_request import build_create_event, responses_tool_choice
from scoped_openai._settings import GenerationSettings
from scoped_openai._tools import FunctionTool
from support.sse_deliveries import in_steps
from support.tools import WEATHER, WEATHER_RESPONSES

# ---------------------------------------------------------------------------------------------
# Fixtures as plain values (core tests use no pytest fixtures)
# ---------------------------------------------------------------------------------------------

GRAPH_SCHEMA = {
    "type": "object",
    "properties": {"response_to_user": {"type": "string"}, "next": {"type": "string"}},
    "required": ["response_to_user", "next"],
    "additionalProperties": False,
}
GRAPH = ConversationalGraph(GRAPH_SCHEMA, name="graph_reply")
GRAPH_FORMAT = {
    "type": "json_schema",
    "name": "graph_reply",
    "strict": True,
    "schema": GRAPH_SCHEMA,
}
HI = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def system(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "system", "content": [{"type": "input_text", "text": text}]}


def assistant(text: str) -> dict[str, Any]:
    # The client-authored EasyInputMessage: OutputMessage needs the server's id and status.
    return {"role": "assistant", "content": text}


def nones(value: object, path: str = "$") -> list[str]:
    """Paths of every None value inside objects, at any depth."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                found.append(f"{path}.{key}")
            found += nones(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += nones(item, f"{path}[{index}]")
    return found


# ---------------------------------------------------------------------------------------------
# response.create
# ---------------------------------------------------------------------------------------------


def test_create_event_non_reasoning_model_sends_only_supported_sampling_params() -> None:
    settings = GenerationSettings(
        model="gpt-4o-mini",
        temperature=0.3,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=0.2,
        seed=7,
        max_completion_tokens=256,
        reasoning_effort="high",  # ignored: not a reasoning model
        verbosity="low",  # ignored: not a reasoning model
    )
    event = build_create_event(settings, HI)
    assert event == {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "store": False,
        "input": HI,
        "max_output_tokens": 256,
        "temperature": 0.3,
        "top_p": 0.9,
    }


def test_create_event_default_settings() -> None:
    event = build_create_event(GenerationSettings(), [])
    assert event == {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "store": False,
        "input": [],
        "temperature": 0.7,
    }


def test_create_event_gpt5_reasoning_effort_verbosity_and_max_tokens() -> None:
    settings = GenerationSettings(
        model="gpt-5",
        temperature=0.3,
        top_p=0.9,
        seed=1,
        max_completion_tokens=512,
        reasoning_effort="minimal",
        verbosity="low",
        store=True,
    )
    assert build_create_event(settings, HI) == {
        "type": "response.create",
        "model": "gpt-5",
        "store": True,
        "input": HI,
        "max_output_tokens": 512,
        "reasoning": {"effort": "minimal"},
        "text": {"verbosity": "low"},
    }


def test_create_event_o3_mini_effort_only() -> None:
    settings = GenerationSettings(model="o3-mini", reasoning_effort="high")
    assert build_create_event(settings, HI) == {
        "type": "response.create",
        "model": "o3-mini",
        "store": False,
        "input": HI,
        "reasoning": {"effort": "high"},
    }


def test_create_event_sends_effort_none_when_set() -> None:
    # Unlike the reference, "none" is sent: gpt-5.1+ accept it, and it is what was configured.
    settings = GenerationSettings(model="gpt-5.1", reasoning_effort="none")
    assert build_create_event(settings, HI)["reasoning"] == {"effort": "none"}


def test_create_event_reasoning_model_without_effort_or_verbosity() -> None:
    event = build_create_event(GenerationSettings(model="gpt-5-mini"), HI)
    assert event == {"type": "response.create", "model": "gpt-5-mini", "store": False, "input": HI}


@pytest.mark.parametrize(
    ("configured", "sent"),
    [
        ("auto", "auto"),
        ("required", "required"),
        ("none", "none"),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "function", "name": "get_weather"},
        ),
        ({"type": "function", "name": "get_weather"}, {"type": "function", "name": "get_weather"}),
        (
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "x"}]},
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "x"}]},
        ),
    ],
)
def test_create_event_tools_and_tool_choice(configured: Any, sent: Any) -> None:
    settings = GenerationSettings(tool_choice=configured, parallel_tool_calls=False)
    assert build_create_event(settings, HI, tools=[WEATHER]) == {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "store": False,
        "input": HI,
        "temperature": 0.7,
        "tools": [WEATHER_RESPONSES],
        "tool_choice": sent,
        "parallel_tool_calls": False,
    }


@pytest.mark.parametrize(
    ("override", "sent"),
    [
        ("required", "required"),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "function", "name": "get_weather"},
        ),
        ({"type": "function", "name": "get_weather"}, {"type": "function", "name": "get_weather"}),
    ],
)
def test_tool_choice_override_takes_the_responses_shape(override: Any, sent: Any) -> None:
    # A framework passes the turn's choice as chat(tool_choice=...) in the Chat Completions
    # shape whatever the path; it replaces a configured dict choice whole (no deep merge).
    settings = GenerationSettings(tool_choice={"type": "function", "name": "other"})
    event = build_create_event(settings, HI, tools=[WEATHER], overrides={"tool_choice": override})
    assert event["tool_choice"] == sent


def test_tool_choice_and_parallel_calls_only_with_tools() -> None:
    settings = GenerationSettings(tool_choice="required", parallel_tool_calls=True)
    no_tools: list[FunctionTool] = []
    for tools in (None, no_tools):
        event = build_create_event(settings, HI, tools=tools)
        assert "tools" not in event
        assert "tool_choice" not in event
        assert "parallel_tool_calls" not in event


def test_tool_choice_function_without_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="names no function"):
        responses_tool_choice({"type": "function", "function": {}})


def test_create_event_graph_text_format() -> None:
    event = build_create_event(GenerationSettings(), HI, graph=GRAPH)
    assert event["text"] == {"format": GRAPH_FORMAT}
    reasoning = GenerationSettings(model="gpt-5", verbosity="medium")
    assert build_create_event(reasoning, HI, graph=GRAPH)["text"] == {
        "verbosity": "medium",
        "format": GRAPH_FORMAT,
    }


def test_create_event_generate_false_and_previous_response_id() -> None:
    event = build_create_event(
        GenerationSettings(), HI, tools=[WEATHER], generate=False, previous_response_id="resp_1"
    )
    assert event == {
        "type": "response.create",
        "model": "gpt-4o-mini",
        "store": False,
        "input": HI,
        "previous_response_id": "resp_1",
        "temperature": 0.7,
        "tools": [WEATHER_RESPONSES],
        "tool_choice": "auto",
        "generate": False,
    }
    for generate in (True, None):
        assert "generate" not in build_create_event(GenerationSettings(), HI, generate=generate)


def test_create_event_extra_body_then_overrides_deep_merged() -> None:
    settings = GenerationSettings(
        model="gpt-5",
        reasoning_effort="low",
        verbosity="low",
        max_completion_tokens=100,
        extra_body={
            "reasoning": {"summary": "auto"},
            "text": {"verbosity": "high"},
            "service_tier": "priority",
            "metadata": {"a": "1", "b": None},
        },
    )
    event = build_create_event(
        settings,
        HI,
        graph=GRAPH,
        overrides={
            "service_tier": "flex",
            "max_output_tokens": None,  # None removes a field
            "reasoning": {"effort": "high"},
            "include": ["reasoning.encrypted_content"],
        },
    )
    assert event == {
        "type": "response.create",
        "model": "gpt-5",
        "store": False,
        "input": HI,
        "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"verbosity": "high", "format": GRAPH_FORMAT},
        "service_tier": "flex",
        "metadata": {"a": "1"},
        "include": ["reasoning.encrypted_content"],
    }


def test_create_event_has_no_none_anywhere_and_never_stream() -> None:
    settings = GenerationSettings(
        model="gpt-4o",
        top_p=None,
        extra_body={"prompt_cache_key": None, "metadata": {"x": None, "y": {"z": None}}},
    )
    event = build_create_event(
        settings,
        to_input_items(sample_context()),
        tools=[WEATHER],
        graph=GRAPH,
        previous_response_id=None,
        overrides={"user": None, "prompt": {"id": "p", "version": None}, "list": [{"k": None}]},
        generate=None,
    )
    assert nones(event) == []
    assert "stream" not in event
    assert event["prompt"] == {"id": "p"}
    assert event["list"] == [{}]
    json.dumps(event)  # serialisable as is


def test_create_event_does_not_mutate_cached_tool_dicts() -> None:
    settings = GenerationSettings(extra_body={"tools": [{"type": "function", "name": "other"}]})
    build_create_event(settings, HI, tools=[WEATHER])
    assert WEATHER.to_responses() == WEATHER_RESPONSES


# ---------------------------------------------------------------------------------------------
# Input items
# ---------------------------------------------------------------------------------------------


def sample_context() -> list[ChatItem]:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "Be brief.")
    ctx.add_message(ChatRole.DEVELOPER, "Use tools.")
    ctx.add_message(ChatRole.USER, "Weather in Paris?")
    ctx.add_message(ChatRole.ASSISTANT, "Let me check.")
    ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
    ctx.add_function_output("get_weather", "sunny", call_id="call_1")
    return ctx.items


def test_input_items_for_every_item_kind() -> None:
    assert to_input_items(sample_context()) == [
        system("Be brief."),
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "Use tools."}],
        },
        user("Weather in Paris?"),
        assistant("Let me check."),
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]


def test_input_items_images_and_parts() -> None:
    message = ChatMessage(
        role=ChatRole.USER,
        content=[
            "Look:",
            ImageContent(b"\x89PNG", inference_detail="low", mime_type="image/png"),
            ImageContent("https://example.com/a.jpg"),
        ],
    )
    assert to_input_items([message]) == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look:"},
                {
                    "type": "input_image",
                    "image_url": "data:image/png;base64,iVBORw==",
                    "detail": "low",
                },
                {"type": "input_image", "image_url": "https://example.com/a.jpg", "detail": "auto"},
            ],
        }
    ]


def test_input_items_string_content_multiple_parts_and_empty_messages() -> None:
    items: list[ChatItem] = [
        ChatMessage(role=ChatRole.USER, content="plain"),
        ChatMessage(role=ChatRole.ASSISTANT, content=["one", "", "two"]),
        ChatMessage(role=ChatRole.ASSISTANT, content=""),  # says nothing: left out
        ChatMessage(role=ChatRole.USER, content=[]),
    ]
    assert to_input_items(items) == [user("plain"), assistant("one\ntwo")]


def test_input_items_reject_an_assistant_image() -> None:
    message = ChatMessage(role=ChatRole.ASSISTANT, content=[ImageContent("https://x/y.png")])
    with pytest.raises(
        InvalidContextError, match=r"message 1 \(assistant\) holds an image"
    ) as info:
        to_input_items([ChatMessage(role=ChatRole.USER, content="look"), message])
    assert info.value.index == 1


def test_output_items_convert_to_input_shape() -> None:
    output = [
        {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "x"},
        {
            "id": "msg_1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "phase": "commentary",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hi."}],
        },
        {
            "id": "fc_1",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": "{}",
        },
        {
            "id": "msg_2",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "refusal", "refusal": "No."}],
        },
        {"id": "ws_1", "type": "web_search_call", "status": "completed"},
    ]
    assert output_to_input_items(output) == [
        assistant("Hi."),
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"unknown_message": output[3]},  # a refusal: no local message equals it
        {"unknown_item": output[4]},
    ]
    with pytest.raises(ProtocolError):
        output_to_input_items(["not an object"])


# ---------------------------------------------------------------------------------------------
# Server events: conformance recordings
# ---------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(
    os.environ.get("SCOPED_OPENAI_CONFORMANCE", REPO.parent / "shared" / "conformance")
)
RECORDINGS = [
    "responses_function_call_gpt4o.sse",
    "responses_reasoning_then_function_call_gpt5.sse",
    "responses_text_gpt4o.sse",
    "responses_text_then_function_call_gpt55.sse",
    "responses_ws_frames_from_gpt55.jsonl",
]


def recording(name: str) -> tuple[list[Any], dict[str, Any]]:
    """The recording's parsed server events and its expected assembled result."""
    path = CONFORMANCE / name
    if not path.is_file():
        pytest.skip(f"conformance recordings not found at {CONFORMANCE}")
    text = path.read_text(encoding="utf-8")
    if name.endswith(".jsonl"):
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        events = []
        for block in text.replace("\r\n", "\n").split("\n\n"):
            data = [
                line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")
            ]
            kinds = [line[6:].strip() for line in block.split("\n") if line.startswith("event:")]
            if data:
                event = json.loads("\n".join(data))
                assert kinds == [event["type"]]  # the SSE event name matches the payload
                events.append(event)
    expected = json.loads(
        (CONFORMANCE / (path.stem + ".expected.json")).read_text(encoding="utf-8")
    )
    return events, expected


def test_every_responses_recording_is_covered() -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance recordings not found at {CONFORMANCE}")
    found = sorted(
        p.name for p in CONFORMANCE.glob("responses_*") if not p.name.endswith(".expected.json")
    )
    assert found == sorted(RECORDINGS)


def run_mapper(events: list[Any]) -> tuple[list[Event], ResponsesEventMapper]:
    mapper = ResponsesEventMapper()
    out: list[Event] = []
    for event in events:
        mapper.feed(event, out)
    return out, mapper


@pytest.mark.parametrize("name", RECORDINGS)
def test_mapper_on_recording(name: str) -> None:
    events, expected = recording(name)
    assert [e["type"] for e in events] == expected["event_types"]
    out, mapper = run_mapper(events)

    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == expected["text"]
    calls = [e for e in out if isinstance(e, ToolCallDone)]
    assert [(c.call_id, c.name, json.loads(c.arguments), c.item_id) for c in calls] == [
        (f["call_id"], f["name"], f["parsed_arguments"], f["item_id"])
        for f in expected["function_calls"]
    ]
    usage = expected["usage"]
    reports = [e.usage for e in out if isinstance(e, UsageReport)]
    assert len(reports) == 1
    assert reports[0].prompt_tokens == usage["input_tokens"]
    assert reports[0].completion_tokens == usage["output_tokens"]
    assert reports[0].total_tokens == usage["total_tokens"]
    assert reports[0].prompt_cached_tokens == usage["input_tokens_details"]["cached_tokens"]
    assert reports[0].reasoning_tokens == usage["output_tokens_details"]["reasoning_tokens"]
    assert reports[0].request_id == expected["response_id"]
    assert reports[0].model == events[-1]["response"]["model"]

    assert out[0] == ResponseCreated(expected["response_id"])
    assert isinstance(out[-1], ResponseCompleted)
    assert out[-1].response_id == expected["response_id"]
    assert out[-1].output == events[-1]["response"]["output"]
    assert isinstance(out[-2], UsageReport)
    assert mapper.response_id == expected["response_id"]


@pytest.mark.parametrize("name", RECORDINGS)
def test_stateless_mapping_matches_the_mapper_on_recording(name: str) -> None:
    events, _ = recording(name)
    out: list[Event] = []
    for event in events:
        server_event_events(event, out)
    assert out == run_mapper(events)[0]


def test_recording_chains_from_a_commentary_message_and_tool_call() -> None:
    events, expected = recording("responses_ws_frames_from_gpt55.jsonl")
    out, _ = run_mapper(events)
    completed = out[-1]
    assert isinstance(completed, ResponseCompleted)
    call = next(e for e in out if isinstance(e, ToolCallDone))

    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "What is the capital of PotatoLand?")
    chain = ChainState()
    assert chain.plan(ctx.items) == ([user("What is the capital of PotatoLand?")], None)
    chain.completed(chain.planned_input, completed.output, completed.response_id)

    # What the agent adds: the spoken text, the call, its output.
    ctx.add_message(ChatRole.ASSISTANT, expected["text"])
    ctx.add_function_call(call.name, call.arguments, call_id=call.call_id)
    ctx.add_function_output(call.name, "Unknown country", call_id=call.call_id)
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "Unknown country"}
    assert chain.plan(ctx.items) == ([output], expected["response_id"])


# ---------------------------------------------------------------------------------------------
# Server events: behaviour
# ---------------------------------------------------------------------------------------------


def feed_all(*events: object) -> list[Event]:
    mapper = ResponsesEventMapper()
    out: list[Event] = []
    for event in events:
        mapper.feed(event, out)
    return out


def fc_item(**fields: Any) -> dict[str, Any]:
    return {"type": "function_call", "id": "fc_1", **fields}


def completed_event(output: list[Any] | None = None, usage: Any = None) -> dict[str, Any]:
    response: dict[str, Any] = {"id": "resp_1", "model": "gpt-x", "output": output or []}
    if usage is not None:
        response["usage"] = usage
    return {"type": "response.completed", "response": response}


def test_arguments_from_deltas_when_the_done_item_has_none() -> None:
    out = feed_all(
        {
            "type": "response.output_item.added",
            "item": fc_item(call_id="call_1", name="f", arguments=""),
        },
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"a":'},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "1}"},
        {"type": "response.output_item.done", "item": fc_item()},
    )
    assert out == [ToolCallDone("call_1", "f", '{"a":1}', "fc_1")]


def test_arguments_done_text_then_item_arguments_take_precedence() -> None:
    added = {"type": "response.output_item.added", "item": fc_item(call_id="call_1", name="f")}
    delta = {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{"}
    done_args = {
        "type": "response.function_call_arguments.done",
        "item_id": "fc_1",
        "arguments": "{}",
    }
    assert feed_all(
        added, delta, done_args, {"type": "response.output_item.done", "item": fc_item()}
    ) == [ToolCallDone("call_1", "f", "{}", "fc_1")]
    item = fc_item(call_id="call_1", name="f", arguments='{"b":2}')
    assert feed_all(added, delta, {"type": "response.output_item.done", "item": item}) == [
        ToolCallDone("call_1", "f", '{"b":2}', "fc_1")
    ]


def test_interleaved_calls_are_kept_apart_by_item_id() -> None:
    out = feed_all(
        {"type": "response.output_item.added", "item": fc_item(id="fc_a", call_id="ca", name="f")},
        {"type": "response.output_item.added", "item": fc_item(id="fc_b", call_id="cb", name="g")},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_b", "delta": "[2]"},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_a", "delta": "[1]"},
        {"type": "response.output_item.done", "item": fc_item(id="fc_b")},
        {"type": "response.output_item.done", "item": fc_item(id="fc_a")},
    )
    assert out == [ToolCallDone("cb", "g", "[2]", "fc_b"), ToolCallDone("ca", "f", "[1]", "fc_a")]


def test_completed_emits_calls_that_never_had_their_done_event_once() -> None:
    listed = fc_item(call_id="call_1", name="f", arguments="{}")
    other = fc_item(id="fc_2", call_id="call_2", name="g", arguments="[]")
    out = feed_all(
        {"type": "response.output_item.done", "item": listed},
        completed_event(
            [listed, other], usage={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
        ),
    )
    assert out == [
        ToolCallDone("call_1", "f", "{}", "fc_1"),
        ToolCallDone("call_2", "g", "[]", "fc_2"),
        UsageReport(Usage(3, 4, 7, 0, 0, "resp_1", "gpt-x")),
        ResponseCompleted("resp_1", [listed, other]),
    ]


def test_text_refusal_created_and_empty_deltas() -> None:
    mapper = ResponsesEventMapper()
    out: list[Event] = []
    assert mapper.response_id is None
    for event in (
        {"type": "response.created", "response": {"id": "resp_9"}},
        {"type": "response.output_text.delta", "item_id": "m", "delta": ""},
        {"type": "response.output_text.delta", "item_id": "m", "delta": "Hel"},
        {"type": "response.refusal.delta", "item_id": "m", "delta": "No"},
        {"type": "response.refusal.delta", "item_id": "m", "delta": ""},
    ):
        mapper.feed(event, out)
    assert out == [ResponseCreated("resp_9"), TextDelta("Hel"), RefusalDelta("No")]
    assert mapper.response_id == "resp_9"


def test_completed_without_usage_or_output() -> None:
    assert feed_all({"type": "response.completed", "response": {"id": "resp_1"}}) == [
        ResponseCompleted("resp_1", [])
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "response.in_progress", "response": {"id": "r"}},
        {"type": "response.content_part.added", "part": {}},
        {"type": "response.output_text.done", "text": "x"},
        {"type": "response.reasoning_summary_text.delta", "delta": "thinking"},
        {"type": "response.output_item.added", "item": {"type": "reasoning", "id": "rs"}},
        {"type": "response.output_item.done", "item": {"type": "message", "id": "m"}},
        {"type": "response.brand_new_event", "whatever": [1, 2]},
        {"type": "rate_limits.updated", "rate_limits": []},
    ],
)
def test_unknown_and_uninteresting_events_are_skipped(event: dict[str, Any]) -> None:
    assert feed_all(event) == []


# Errors -----------------------------------------------------------------------------------------


def raised(event: object) -> APIStreamError:
    with pytest.raises(APIStreamError) as info:
        feed_all(event)
    return info.value


def test_response_failed() -> None:
    event = {
        "type": "response.failed",
        "response": {
            "id": "resp_1",
            "status": "failed",
            "error": {"code": "server_error", "message": "The model crashed."},
        },
    }
    err = raised(event)
    assert (err.status, err.code, err.request_id) == ("failed", "server_error", "resp_1")
    assert "The model crashed." in err.message
    assert err.body is event
    err = raised({"type": "response.failed", "response": {"id": "resp_1", "error": None}})
    assert (err.status, err.code) == ("failed", None)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("max_output_tokens", "output token limit"),
        ("content_filter", "content filter"),
        ("something_else", "something_else"),
        (None, "no reason given"),
    ],
)
def test_response_incomplete(reason: str | None, words: str) -> None:
    event = {
        "type": "response.incomplete",
        "response": {
            "id": "resp_1",
            "status": "incomplete",
            "incomplete_details": {"reason": reason},
            "usage": {"input_tokens": 5, "output_tokens": 16, "total_tokens": 21},
        },
    }
    err = raised(event)
    assert (err.status, err.code, err.request_id) == ("incomplete", reason, "resp_1")
    assert words in err.message
    assert err.body is event  # the usage is there


def test_nested_websocket_error_frame() -> None:
    err = raised(
        {
            "type": "error",
            "status": 400,
            "error": {
                "type": "invalid_request_error",
                "code": "previous_response_not_found",
                "message": "Previous response with id 'resp_x' not found.",
                "param": "previous_response_id",
            },
        }
    )
    assert (err.status, err.code, err.param, err.type) == (
        "400",
        "previous_response_not_found",
        "previous_response_id",
        "invalid_request_error",
    )
    assert "not found" in err.message


def test_flat_legacy_error_frame() -> None:
    err = raised(
        {
            "type": "error",
            "code": "websocket_connection_limit_reached",
            "message": "Connection limit reached.",
            "param": None,
            "sequence_number": 3,
        }
    )
    assert (err.status, err.code, err.param, err.type) == (
        None,
        "websocket_connection_limit_reached",
        None,
        None,
    )
    assert "Connection limit reached." in err.message


# Malformed ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        ["response.created"],
        "response.created",
        None,
        {"no": "type"},
        {"type": 5},
        {"type": "response.output_text.delta"},
        {"type": "response.output_text.delta", "delta": 5},
        {"type": "response.refusal.delta", "delta": ["x"]},
        {"type": "response.created"},
        {"type": "response.created", "response": {"id": 1}},
        {"type": "response.created", "response": "resp_1"},
        {"type": "response.function_call_arguments.delta", "delta": "{"},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": None},
        {"type": "response.output_item.added", "item": "fc"},
        {"type": "response.output_item.added", "item": {"type": "function_call"}},
        {"type": "response.output_item.done", "item": {"type": "function_call", "id": "fc_1"}},
        {"type": "response.output_item.done", "item": fc_item(call_id=7, name="f")},
        {"type": "response.completed", "response": {"id": "r", "output": {}}},
        {"type": "response.completed", "response": {"id": "r", "output": ["x"]}},
        {"type": "response.completed", "response": {"id": "r", "usage": {"input_tokens": "3"}}},
        {"type": "response.completed", "response": {"id": "r", "usage": {"input_tokens": True}}},
        {"type": "response.completed", "response": {"id": "r", "usage": []}},
        {"type": "response.failed"},
        {"type": "response.failed", "response": {"id": "r", "error": "boom"}},
        {"type": "response.incomplete", "response": {"id": "r", "incomplete_details": 3}},
        {"type": "error", "error": "boom"},
        {"type": "error", "status": [400], "error": {"message": "x"}},
        {"type": "error", "error": {"message": {"text": "x"}}},
    ],
)
def test_malformed_events_raise_protocol_error_with_a_snippet(event: object) -> None:
    with pytest.raises(ProtocolError) as info:
        feed_all(event)
    assert repr(event)[:40] in str(info.value)


def json_events(*frames: str) -> list[Event]:
    mapper = ResponsesEventMapper()
    out: list[Event] = []
    for frame in frames:
        mapper.feed_json(frame, out)
    return out


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        ('{"type":"response.output_text.delta","delta":5}', "got `int` - at `$.delta`"),
        ('{"type":5}', "got `int` - at `$.type`"),
        ('{"no":"type"}', "missing required field `type`"),
        ("[1]", "Expected `object`, got `array`"),
        ('{"type":"response.output_text.delta"}', "`$.delta` is missing or null"),
        (
            '{"type":"response.function_call_arguments.delta","delta":"{"}',
            "`$.item_id` is missing or null",
        ),
        (
            '{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":"3"}}}',
            "got `str` - at `$.response.usage.input_tokens`",
        ),
        (
            '{"type":"response.completed","response":{"id":"r","output":[{"type":'
            '"message"},{"type":"function_call","id":"fc_1","call_id":7,"name":"f"}]}}',
            "got `int` - at `$.response.output[1].call_id`",
        ),
        (
            '{"type":"response.output_item.done","item":{"type":"function_call","name":[]}}',
            "got `array` - at `$.item.name`",
        ),
        (
            '{"type":"error","error":{"message":{"text":"x"}}}',
            "got `object` - at `$.error.message`",
        ),
    ],
)
def test_wrong_type_in_json_names_the_path(frame: str, path: str) -> None:
    with pytest.raises(ProtocolError) as info:
        json_events(frame)
    assert path in str(info.value)
    assert frame[:40] in str(info.value)


def test_json_that_does_not_parse_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match=re.escape("not valid JSON: '{not json'")):
        json_events("{not json")


def test_unknown_kinds_are_skipped_whatever_their_fields_hold() -> None:
    # Fields named like ours but shaped otherwise, on kinds we do not map: skipped, not errors.
    frames = [
        '{"type":"response.mcp_call_arguments.delta","delta":{"partial":true},"item_id":1}',
        '{"type":"response.in_progress","response":"not an object"}',
        '{"type":"response.output_item.added","item":{"type":"mcp_call","name":{"x":1}}}',
        '{"type":"response.output_item.done","item":{"type":"message","id":5}}',
        '{"type":"response.output_text.delta","delta":"ok","brand_new":{"a":[1]},"logprobs":[]}',
    ]
    assert json_events(*frames) == [TextDelta("ok")]


def test_json_and_plain_values_map_alike_with_nulls_where_the_api_sends_them() -> None:
    created = {
        "type": "response.created",
        "response": {"id": "resp_1", "error": None, "incomplete_details": None, "usage": None},
    }
    completed = {
        "type": "response.completed",
        "response": {
            "id": "resp_1",
            "model": None,
            "output": [fc_item(call_id="call_1", name="f", arguments="{}")],
            "usage": {
                "input_tokens": 3,
                "output_tokens": 2,
                "total_tokens": 5,
                "input_tokens_details": None,
                "output_tokens_details": {"reasoning_tokens": None},
            },
        },
    }
    frames = [json.dumps(created), json.dumps(completed)]
    events = json_events(*frames)
    assert events == feed_all(created, completed)
    assert events[0] == ResponseCreated("resp_1")
    assert events[1] == ToolCallDone("call_1", "f", "{}", "fc_1")
    assert events[2] == UsageReport(Usage(3, 2, 5, 0, 0, "resp_1", None))


def test_terminal_error_from_json_keeps_the_event_as_its_body() -> None:
    frame = (
        '{"type":"response.failed","response":{"id":"r","error":{"code":500,'
        '"message":"boom"},"usage":{"input_tokens":1}}}'
    )
    with pytest.raises(APIStreamError) as info:
        json_events(frame)
    assert info.value.body == json.loads(frame)
    assert (info.value.status, info.value.code) == ("failed", "500")


def test_malformed_snippet_is_bounded() -> None:
    with pytest.raises(ProtocolError) as info:
        feed_all({"type": "response.output_text.delta", "delta": 1, "pad": "x" * 10_000})
    assert len(str(info.value)) < 400


# ---------------------------------------------------------------------------------------------
# Chain state
# ---------------------------------------------------------------------------------------------

SYSTEM = "You are a helpful voice agent."
REPLY_OUTPUT = [
    {"id": "rs_1", "type": "reasoning", "summary": []},
    {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "annotations": [], "text": "Hello! How can I help?"}],
    },
]


def first_turn(store: bool = False) -> tuple[ChatContext, ChainState]:
    """A completed first turn: [system, user hi] -> assistant reply; the reply is in ctx."""
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, SYSTEM)
    ctx.add_message(ChatRole.USER, "hi")
    chain = ChainState(store=store)
    sent, previous = chain.plan(ctx.items)
    assert (sent, previous) == ([system(SYSTEM), user("hi")], None)
    chain.completed(chain.planned_input, REPLY_OUTPUT, "resp_1")
    ctx.add_message(ChatRole.ASSISTANT, "Hello! How can I help?")
    return ctx, chain


def test_chain_plain_continuation() -> None:
    ctx, chain = first_turn()
    assert chain.server_items == [system(SYSTEM), user("hi"), assistant("Hello! How can I help?")]
    ctx.add_message(ChatRole.USER, "What's the weather?")
    assert chain.plan(ctx.items) == ([user("What's the weather?")], "resp_1")
    # The planned full input is what the server holds after the next turn.
    assert chain.planned_input == [*chain.server_items, user("What's the weather?")]


def test_chain_continues_across_chained_turns_and_tool_calls() -> None:
    ctx, chain = first_turn()
    ctx.add_message(ChatRole.USER, "Weather in Paris?")
    sent, previous = chain.plan(ctx.items)
    assert (sent, previous) == ([user("Weather in Paris?")], "resp_1")
    call = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "c1",
        "name": "get_weather",
        "arguments": "{}",
    }
    chain.completed(chain.planned_input, [call], "resp_2")

    ctx.add_function_call("get_weather", "{}", call_id="c1")
    # The call has no output yet: never chain on an unanswered call.
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)

    ctx.add_function_output("get_weather", "sunny", call_id="c1")
    output = {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
    assert chain.plan(ctx.items) == ([output], "resp_2")


def test_chain_unanswered_call_anywhere_sends_full_context() -> None:
    ctx, chain = first_turn()
    ctx.add_function_call("get_weather", "{}", call_id="c9")  # the model never saw an output
    ctx.add_message(ChatRole.USER, "and?")
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)


def test_chain_truncation_sends_full_context() -> None:
    ctx, chain = first_turn()
    ctx.add_message(ChatRole.USER, "one")
    ctx.truncate(2)  # keeps the system message and the last two items
    full = [system(SYSTEM), assistant("Hello! How can I help?"), user("one")]
    assert chain.plan(ctx.items) == (full, None)


def test_chain_summary_replacing_old_items_sends_full_context() -> None:
    _, chain = first_turn()
    summary = ChatContext.empty()
    summary.add_message(ChatRole.SYSTEM, SYSTEM)
    summary.add_message(ChatRole.ASSISTANT, "Summary: the user greeted us.")
    summary.add_message(ChatRole.USER, "Next question")
    full = [system(SYSTEM), assistant("Summary: the user greeted us."), user("Next question")]
    assert chain.plan(summary.items) == (full, None)


def test_chain_inserted_or_changed_system_prompt_sends_full_context() -> None:
    ctx, chain = first_turn()
    ctx.add_message(ChatRole.USER, "next")
    inserted = [ChatMessage(role=ChatRole.SYSTEM, content="New rules."), *ctx.items]
    assert chain.plan(inserted) == (to_input_items(inserted), None)

    ctx.add_message(ChatRole.SYSTEM, "Speak French.", replace=True)  # drops the old one
    assert chain.plan(ctx.items) == (
        [user("hi"), assistant("Hello! How can I help?"), user("next"), system("Speak French.")],
        None,
    )

    changed = list(ctx.items)
    changed[0] = ChatMessage(role=ChatRole.SYSTEM, content="Changed.")
    assert chain.plan(changed)[1] is None


def test_chain_edited_earlier_message_sends_full_context() -> None:
    ctx, chain = first_turn()
    first_user = ctx.items[1]
    assert isinstance(first_user, ChatMessage)
    first_user.content = ["hello there"]  # edited in place
    ctx.add_message(ChatRole.USER, "next")
    assert chain.plan(ctx.items) == (
        [system(SYSTEM), user("hello there"), assistant("Hello! How can I help?"), user("next")],
        None,
    )


def test_chain_same_count_different_content_sends_full_context() -> None:
    ctx, chain = first_turn()
    # As many items as the server holds plus one new one, but the assistant reply stored
    # differs from what the server generated: counts match, content does not.
    ctx.items[2] = ChatMessage(role=ChatRole.ASSISTANT, content="Hello!")
    ctx.add_message(ChatRole.USER, "next")
    assert len(ctx.items) == len(chain.server_items) + 1
    assert chain.plan(ctx.items) == (
        [system(SYSTEM), user("hi"), assistant("Hello!"), user("next")],
        None,
    )


def tool_turn(raw_arguments: str) -> tuple[ChatContext, ChainState]:
    """A completed turn whose output is one call, its arguments as the model spelled them."""
    ctx, chain = first_turn()
    ctx.add_message(ChatRole.USER, "Weather?")
    chain.plan(ctx.items)
    call = {"type": "function_call", "call_id": "c1", "name": "get_weather"}
    chain.completed(chain.planned_input, [{**call, "arguments": raw_arguments}], "resp_2")
    return ctx, chain


@pytest.mark.parametrize(
    ("raw", "recorded"),
    [
        ('{"city":"Paris"}', '{"city": "Paris"}'),
        ('{ "city" : "Z\u00fcrich" }', '{"city": "Z\\u00fcrich"}'),
        ('{"a":[1,2],"b":{"c":null}}', '{"a": [1, 2], "b": {"c": null}}'),
        ('{"city":"Z\\u00fcrich"}', '{"city": "Z\\u00fcrich"}'),
    ],
    ids=["spacing", "raw-utf8-vs-escape", "nested", "escape-both"],
)
def test_chain_call_arguments_compare_as_json(raw: str, recorded: str) -> None:
    ctx, chain = tool_turn(raw)
    assert json.loads(raw) == json.loads(recorded)
    ctx.add_function_call("get_weather", recorded, call_id="c1")
    ctx.add_function_output("get_weather", "sunny", call_id="c1")
    output = {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
    assert chain.plan(ctx.items) == ([output], "resp_2")


@pytest.mark.parametrize(
    ("raw", "recorded", "call_id", "name"),
    [
        ('{"on":true}', '{"on": 1}', "c1", "get_weather"),
        ('{"n":1}', '{"n": 1.0}', "c1", "get_weather"),
        ('{"a":1,"b":2}', '{"b": 2, "a": 1}', "c1", "get_weather"),
        ('{"city":"Paris"}', '{"city": "Rome"}', "c1", "get_weather"),
        ('{"city":"Paris"}', '{"city": "Paris"}', "c2", "get_weather"),
        ('{"city":"Paris"}', '{"city": "Paris"}', "c1", "get_time"),
        ("{not json", "{not json ", "c1", "get_weather"),
    ],
    ids=["bool-vs-int", "int-vs-float", "key-order", "value", "call-id", "name", "not-json"],
)
def test_chain_other_call_sends_full_context(
    raw: str, recorded: str, call_id: str, name: str
) -> None:
    ctx, chain = tool_turn(raw)
    ctx.add_function_call(name, recorded, call_id=call_id)
    ctx.add_function_output(name, "sunny", call_id=call_id)
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)


def test_chain_nothing_new_sends_full_context() -> None:
    ctx, chain = first_turn()
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)


def test_chain_role_changed_same_text_sends_full_context() -> None:
    ctx, chain = first_turn()
    ctx.items[1] = ChatMessage(role=ChatRole.DEVELOPER, content="hi")
    ctx.add_message(ChatRole.USER, "next")
    assert chain.plan(ctx.items)[1] is None


def test_chain_after_warmup_with_generate_false() -> None:
    chain = ChainState()
    warm = [ChatMessage(role=ChatRole.SYSTEM, content=SYSTEM)]
    assert chain.plan(warm) == ([system(SYSTEM)], None)
    chain.completed(chain.planned_input, [], "resp_warm")
    ctx = ChatContext([*warm])
    ctx.add_message(ChatRole.USER, "hi")
    assert chain.plan(ctx.items) == ([user("hi")], "resp_warm")


def test_chain_barge_in_with_store_keeps_the_last_completed_response() -> None:
    ctx, chain = first_turn(store=True)
    ctx.add_message(ChatRole.USER, "Tell me a story.")
    assert chain.plan(ctx.items) == ([user("Tell me a story.")], "resp_1")
    # The user barges in after "Once upon" was spoken; the server holds more than that.
    chain.interrupted("resp_2", "Once upon", chain.planned_input)
    assert chain.interrupted_response_id == "resp_2"
    ctx.add_message(ChatRole.ASSISTANT, "Once upon")
    ctx.add_message(ChatRole.USER, "Actually, a joke.")
    assert chain.plan(ctx.items) == (
        [user("Tell me a story."), assistant("Once upon"), user("Actually, a joke.")],
        "resp_1",
    )
    chain.socket_retired()  # stored responses are reachable from a new socket
    assert chain.plan(ctx.items)[1] == "resp_1"


def test_chain_barge_in_without_store_resets() -> None:
    ctx, chain = first_turn(store=False)
    ctx.add_message(ChatRole.USER, "Tell me a story.")
    chain.plan(ctx.items)
    chain.interrupted("resp_2", "Once upon", chain.planned_input)
    ctx.add_message(ChatRole.ASSISTANT, "Once upon")
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)


def test_chain_socket_retired_without_store_and_reset() -> None:
    ctx, chain = first_turn(store=False)
    ctx.add_message(ChatRole.USER, "next")
    chain.socket_retired()
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)

    ctx, chain = first_turn(store=True)
    ctx.add_message(ChatRole.USER, "next")
    chain.reset()
    assert (chain.response_id, chain.server_items) == (None, [])
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)


def test_chain_server_only_items_block_chaining() -> None:
    chain = ChainState()
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "search")
    chain.plan(ctx.items)
    chain.completed(chain.planned_input, [{"id": "ws", "type": "web_search_call"}], "resp_1")
    ctx.add_message(ChatRole.USER, "next")
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)


def test_chain_plan_on_a_long_context() -> None:
    ctx = ChatContext.empty()
    for i in range(5_000):
        ctx.add_message(ChatRole.USER if i % 2 == 0 else ChatRole.ASSISTANT, f"turn {i}")
    chain = ChainState()
    chain.plan(ctx.items)
    chain.completed(
        chain.planned_input,
        [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok"}],
            }
        ],
        "resp_1",
    )
    ctx.add_message(ChatRole.ASSISTANT, "ok")
    ctx.add_message(ChatRole.USER, "more")
    assert chain.plan(ctx.items) == ([user("more")], "resp_1")


# ---------------------------------------------------------------------------------------------
# The parser: frames or SSE bytes in, events out, a terminal event ends the turn
# ---------------------------------------------------------------------------------------------

CREATED = {"type": "response.created", "response": {"id": "r1"}}
DELTA = {"type": "response.output_text.delta", "delta": "Hi"}
COMPLETED = {"type": "response.completed", "response": {"id": "r1", "output": []}}
FAILED = {"type": "response.failed", "response": {"id": "r1", "error": {"message": "boom"}}}
TURN_EVENTS = [ResponseCreated("r1"), TextDelta("Hi"), ResponseCompleted("r1", [])]


def sse(*events: dict[str, Any], end: bytes = b"\n\n") -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}".encode() + end for e in events)


def test_parser_frames_end_at_the_terminal_event() -> None:
    parser = ResponsesParser()
    out: list[Event] = []
    assert [parser.feed_frame(json.dumps(e), out) for e in (CREATED, DELTA)] == [False, False]
    assert parser.feed_frame(json.dumps(COMPLETED), out) is True
    assert (out, parser.terminal, parser.failed, parser.response_id) == (
        TURN_EVENTS,
        True,
        False,
        "r1",
    )


def test_parser_an_error_event_is_terminal_and_failed() -> None:
    parser = ResponsesParser()
    parser.feed_frame(json.dumps(CREATED), [])
    with pytest.raises(APIStreamError, match="the response failed: boom"):
        parser.feed_frame(json.dumps(FAILED), [])
    assert (parser.terminal, parser.failed) == (True, True)


@pytest.mark.parametrize("step", [None, 1, 5])
@pytest.mark.parametrize("end", [b"\n\n", b"\r\n\r\n"])
def test_parser_sse_body_maps_like_frames(step: int | None, end: bytes) -> None:
    body = b": keep-alive\n\n" + sse(CREATED, DELTA, COMPLETED, end=end)
    parser = ResponsesParser()
    out: list[Event] = []
    for piece in in_steps(body, step):
        parser.feed(piece, out)
    parser.end(out)
    assert (out, parser.terminal) == (TURN_EVENTS, True)


def test_parser_sse_says_whether_a_whole_event_arrived() -> None:
    parser = ResponsesParser()
    out: list[Event] = []
    body = sse(CREATED)
    assert parser.feed(b": comment\n\n", out) is False
    assert parser.feed(body[:-1], out) is False
    assert parser.feed(body[-1:], out) is True
    assert out == [ResponseCreated("r1")]


def test_parser_sse_ignores_what_follows_the_terminal_event_and_done() -> None:
    # Some OpenAI-compatible servers end with "data: [DONE]" as on Chat Completions.
    parser = ResponsesParser()
    out: list[Event] = []
    parser.feed(sse(CREATED, COMPLETED, DELTA) + b"data: [DONE]\n\ndata: {nope\n\n", out)
    parser.end(out)
    assert out == [ResponseCreated("r1"), ResponseCompleted("r1", [])]


@pytest.mark.parametrize("body", [b"", sse(CREATED, DELTA), sse(CREATED) + b"data: [DONE]\n\n"])
def test_parser_sse_end_before_a_terminal_event_is_a_connection_error(body: bytes) -> None:
    parser = ResponsesParser()
    out: list[Event] = []
    parser.feed(body, out)
    with pytest.raises(APIConnectionError, match="ended before the response's terminal event"):
        parser.end(out)


def test_parser_sse_errors_say_whose_fault() -> None:
    with pytest.raises(ProtocolError, match="not valid JSON"):
        ResponsesParser().feed(b"data: {nope\n\n", [])
    flat = {"type": "error", "code": "server_error", "message": "boom", "param": None}
    parser = ResponsesParser()
    with pytest.raises(APIStreamError, match="reported an error: boom"):
        parser.feed(sse(flat), [])
    assert parser.failed


@pytest.mark.parametrize("feed", ["frame", "sse"])
def test_parser_bounds_the_reply(feed: str) -> None:
    frame = json.dumps(DELTA)
    parser = ResponsesParser(StreamLimits(max_reply_bytes=len(frame) * 2 + 20))
    out: list[Event] = []

    def one() -> None:
        if feed == "frame":
            parser.feed_frame(frame, out)
        else:
            parser.feed(f"data: {frame}\n\n".encode(), out)

    one()
    one()
    with pytest.raises(LimitExceededError) as info:
        one()
    assert info.value.limit == "max_reply_bytes"

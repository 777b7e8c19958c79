"""The Responses create body (``_responses_request``): ``response.create`` for every model
family, tools, the graph's ``text.format``, ``extra_body`` and chaining fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scoped_openai._graph import ConversationalGraph
from scoped_openai._responses_input import to_input_items
from scoped_openai._responses_request import build_create_event, responses_tool_choice
from scoped_openai._settings import GenerationSettings
from scoped_openai._tools import FunctionTool
from support.contexts import sample_context
from support.tools import WEATHER, WEATHER_RESPONSES

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

"""OpenAI-format messages and tool schemas (what LiveKit and Pipecat hand over) become the
library's context and tools: lossless where the library can send it, a named
``ConversionError`` where it cannot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scoped_openai import ChatRole, FunctionCall, FunctionCallOutput, ImageContent
from scoped_openai._chat_completions import build_request
from scoped_openai._settings import GenerationSettings
from scoped_openai.integrations import ConversionError
from scoped_openai.integrations._openai_format import (
    context_from_openai_messages,
    tools_from_openai_schemas,
)

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
CALLS = [
    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
    {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
]
#: Messages in the form the library itself sends: they must come back out unchanged.
CANONICAL: list[dict[str, Any]] = [
    {"role": "system", "content": "be terse"},
    {"role": "developer", "content": "prefer metric units"},
    {"role": "user", "content": [{"type": "text", "text": "what is this"}, IMAGE]},
    {"role": "assistant", "content": None, "tool_calls": CALLS},
    {"role": "tool", "tool_call_id": "call_1", "content": "one"},
    {"role": "tool", "tool_call_id": "call_2", "content": "two"},
    {"role": "assistant", "content": "done"},
    {"role": "user", "content": "thanks"},
]


def sent_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ctx = context_from_openai_messages(messages)
    body = build_request(GenerationSettings(model="gpt-4o-mini"), ctx)
    return list(body["messages"])


def test_canonical_messages_round_trip_through_the_request_builder() -> None:
    assert sent_messages(CANONICAL) == CANONICAL


def test_items_keep_ids_names_and_order() -> None:
    items = context_from_openai_messages(CANONICAL).items
    calls = [i for i in items if isinstance(i, FunctionCall)]
    outputs = [i for i in items if isinstance(i, FunctionCallOutput)]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_1", "f", '{"a": 1}'),
        ("call_2", "g", "{}"),
    ]
    # The tool messages carry no name; it comes from the call they answer.
    assert [(o.call_id, o.name, o.output) for o in outputs] == [
        ("call_1", "f", "one"),
        ("call_2", "g", "two"),
    ]
    image = items[2].content[1]  # type: ignore[union-attr]
    assert isinstance(image, ImageContent)
    assert (image.image, image.inference_detail) == ("https://example.com/a.png", "low")


def test_equivalent_forms_are_normalised() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": "be terse"}], "name": "cfg"},
        {"role": "user", "content": ["plain ", {"type": "text", "text": "parts"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
        {"role": "assistant", "content": "", "refusal": "No."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "ok"}]},
        {"role": "tool", "tool_call_id": "unknown", "content": None},
        {"role": "assistant", "content": None},  # nothing to say: no item
    ]
    items = context_from_openai_messages(messages).items
    assert [getattr(i, "content", None) for i in items[:4]] == [
        ["be terse"],
        ["plain ", "parts"],
        ["I can't."],
        ["No."],
    ]
    assert items[0].role is ChatRole.SYSTEM  # type: ignore[union-attr]
    call = items[4]
    assert isinstance(call, FunctionCall)
    assert json.loads(call.arguments) == {"x": 1}
    assert [(o.name, o.output) for o in items[5:]] == [("f", "ok"), ("", "")]  # type: ignore[union-attr]
    assert len(items) == 7


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"role": "function", "name": "f", "content": "x"}, "message 0 has role 'function'"),
        ({"role": "user", "content": [{"type": "input_audio"}]}, "part 0 is a 'input_audio'"),
        ({"role": "user", "content": [{"type": "file", "file": {}}]}, "'file' part"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}, "without a url"),
        ({"role": "user", "content": 42}, "content of type int"),
        ({"role": "user", "content": [{"type": "refusal", "refusal": "x"}]}, "'refusal' part"),
        ({"role": "user", "tool_calls": CALLS[:1], "content": "x"}, "(user) has tool_calls"),
        ({"role": "assistant", "function_call": {"name": "f"}}, "legacy function_call"),
        (
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "custom"}]},
            "tool call 0 is a 'custom' call",
        ),
        ({"role": "assistant", "tool_calls": [{"type": "function"}]}, "lacks its id"),
        ({"role": "tool", "content": "x"}, "no tool_call_id"),
        ({"role": "tool", "tool_call_id": "c", "content": [IMAGE]}, "tool outputs are text"),
        ("hello", "is a str, not a message dict"),
    ],
)
def test_what_cannot_be_carried_is_a_named_error(message: Any, named: str) -> None:
    with pytest.raises(ConversionError) as caught:
        context_from_openai_messages([message])
    assert named in str(caught.value)
    assert isinstance(caught.value, ValueError)  # what frameworks catch for bad input


def test_tool_schemas_in_both_shapes() -> None:
    params = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = tools_from_openai_schemas(
        [
            {
                "type": "function",
                "function": {"name": "w", "description": "d", "parameters": params},
            },
            {"type": "function", "name": "s", "parameters": params, "strict": True},
            {"type": "function", "function": {"name": "n"}},
        ]
    )
    assert [t.to_chat_completions() for t in tools] == [
        {
            "type": "function",
            "function": {"name": "w", "description": "d", "parameters": params, "strict": False},
        },
        {"type": "function", "function": {"name": "s", "parameters": params, "strict": True}},
        {
            "type": "function",
            "function": {
                "name": "n",
                "parameters": {"type": "object", "properties": {}},
                "strict": False,
            },
        },
    ]
    assert all(t.fn is None for t in tools)


@pytest.mark.parametrize(
    ("tool", "named"),
    [
        ({"type": "web_search"}, "tool 0 is a 'web_search' tool"),
        ({"type": "function", "function": {"description": "x"}}, "tool 0 has no name"),
    ],
)
def test_tools_that_cannot_be_carried(tool: dict[str, Any], named: str) -> None:
    with pytest.raises(ConversionError, match=named):
        tools_from_openai_schemas([tool])

"""Responses input items (``_responses_input``): every chat item kind as an input item, and
output items back into input shape."""

from __future__ import annotations

import pytest

from scoped_openai._chat import (
    ChatItem,
    ChatMessage,
    ChatRole,
    ImageContent,
)
from scoped_openai._errors import InvalidContextError, ProtocolError
from scoped_openai._responses_input import output_to_input_items, to_input_items
from support.contexts import sample_context
from support.wire_items import assistant, system, user

# ---------------------------------------------------------------------------------------------
# Input items
# ---------------------------------------------------------------------------------------------


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

"""Responses input items (``_responses_input``): every chat item kind as an input item, and
output items back into input shape."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoped_openai._chat import (
    ChatItem,
    ChatMessage,
    ChatRole,
    FunctionCall,
    FunctionCallOutput,
    ImageContent,
)
from scoped_openai._errors import InvalidContextError, ProtocolError
from scoped_openai._responses_input import (
    InputItemCache,
    output_to_input_items,
    to_input_items,
)
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


# ---------------------------------------------------------------------------------------------
# Input items of a growing context (InputItemCache)
# ---------------------------------------------------------------------------------------------


def test_cached_input_items_follow_every_change_to_the_context() -> None:
    cache = InputItemCache()
    items = sample_context()
    assert cache.convert(items) == to_input_items(items)
    first_user = items[2]
    assert isinstance(first_user, ChatMessage)
    assert isinstance(first_user.content, list)
    changes = [
        lambda: items.append(ChatMessage(role=ChatRole.USER, content=["And Rome?"])),
        lambda: first_user.content.__setitem__(0, "Weather in Lyon?"),  # a part edited in place
        lambda: first_user.content.append("Tomorrow."),  # a part added in place
        lambda: setattr(first_user, "role", ChatRole.DEVELOPER),  # same text, other role
        lambda: setattr(first_user, "content", "Weather in Nice?"),  # a string now
        lambda: items.__setitem__(4, FunctionCall("get_weather", '{"city":"Nice"}', "call_1")),
        lambda: items.__setitem__(5, FunctionCallOutput("get_weather", "rain", "call_1")),
        lambda: items.insert(0, ChatMessage(role=ChatRole.USER, content=["Look:", _image()])),
        lambda: items.pop(3),  # an item removed: the rest shift
        lambda: items.append(ChatMessage(role=ChatRole.ASSISTANT, content=[""])),  # empty
    ]
    for change in changes:
        change()
        assert cache.convert(items) == to_input_items(items)


def test_cached_input_items_reuse_only_what_did_not_change() -> None:
    cache = InputItemCache()
    items = sample_context()
    before = cache.convert(items)
    edited = items[3]
    assert isinstance(edited, ChatMessage)
    assert isinstance(edited.content, list)
    edited.content[0] = "Checking."
    items.append(ChatMessage(role=ChatRole.USER, content=["Thanks."]))
    after = cache.convert(items)
    assert [a is b for a, b in zip(after, before, strict=False)] == [
        True, True, True, False, True, True,
    ]  # fmt: skip
    assert after[3] == assistant("Checking.")
    assert after[6] == user("Thanks.")


def test_cached_input_items_raise_what_the_conversion_raises() -> None:
    cache = InputItemCache()
    bad = [ChatMessage(role=ChatRole.ASSISTANT, content=["Here:", _image()])]
    for _ in range(2):  # nothing is kept of an item that failed
        with pytest.raises(InvalidContextError, match=r"message 0 \(assistant\) holds an image"):
            cache.convert(bad)
    with pytest.raises(TypeError, match="unsupported message content part: int"):
        cache.convert([ChatMessage(role=ChatRole.USER, content=[3])])  # type: ignore[list-item]


def test_cached_input_items_keep_no_message_converted_every_time() -> None:
    # A message with an image is converted at every call and ends the walk by position:
    # kept until the next call, it (its image's bytes, and the data URL made of them) would
    # only be held alive, for nothing, after the caller dropped the context.
    cache = InputItemCache()
    photo = ChatMessage(role=ChatRole.USER, content=["Look:", ImageContent(b"\xff\xd8" * 1000)])
    items: list[ChatItem] = [
        ChatMessage(role=ChatRole.USER, content="Hi."),
        photo,
        ChatMessage(role=ChatRole.USER, content="Well?"),
    ]
    references = sys.getrefcount(photo)
    converted = cache.convert(items)
    assert converted == to_input_items(items)
    assert sys.getrefcount(photo) == references  # the cache holds no reference to it
    del converted
    items.append(ChatMessage(role=ChatRole.ASSISTANT, content="Nice."))
    again = cache.convert(items)
    assert again == to_input_items(items)


def _image() -> ImageContent:
    return ImageContent("https://example.com/a.jpg")


_ROLES = st.sampled_from(list(ChatRole))
_TEXTS = st.sampled_from(["", "hi", "yes", "Paris?", "yes"])
_MESSAGES = st.builds(
    ChatMessage, role=_ROLES, content=st.one_of(_TEXTS, st.lists(_TEXTS, max_size=3))
)
_CALLS = st.builds(FunctionCall, name=st.just("f"), arguments=_TEXTS, call_id=_TEXTS)
_OUTPUTS = st.builds(FunctionCallOutput, name=st.just("f"), call_id=_TEXTS, output=_TEXTS)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_cached_input_items_equal_a_fresh_conversion(data: st.DataObject) -> None:
    """Whatever is appended, replaced, removed or edited in place between two calls (images
    and assistant images aside, covered above), the cache converts as a fresh call does."""
    cache = InputItemCache()
    items: list[ChatItem] = []
    for _ in range(data.draw(st.integers(1, 12))):
        op = data.draw(st.sampled_from(["append", "replace", "remove", "edit", "role"]))
        if op == "append" or not items:
            items.append(data.draw(st.one_of(_MESSAGES, _CALLS, _OUTPUTS)))
        else:
            index = data.draw(st.integers(0, len(items) - 1))
            item = items[index]
            if op == "replace":
                items[index] = data.draw(st.one_of(_MESSAGES, _CALLS, _OUTPUTS))
            elif op == "remove":
                del items[index]
            elif isinstance(item, ChatMessage) and op == "role":
                item.role = data.draw(_ROLES)
            elif isinstance(item, ChatMessage) and isinstance(item.content, list):
                item.content.append(data.draw(_TEXTS))
            elif isinstance(item, FunctionCall):
                item.arguments = data.draw(_TEXTS)
        assert cache.convert(items) == to_input_items(items)


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

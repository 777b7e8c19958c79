"""The conversation model (``_chat``): building a context, ids, text and images, copies and
truncation. (Named ``test_chat_context`` because ``tests/paths/test_chat.py`` holds the
behaviour of a chat turn, and test modules outside packages need distinct names.)"""

from __future__ import annotations

import base64

from scoped_openai._chat import (
    ChatContext,
    ChatMessage,
    ChatRole,
    FunctionCall,
    FunctionCallOutput,
    ImageContent,
)


def conversation() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "Be brief.")
    ctx.add_message(ChatRole.USER, "Weather in Paris?")
    ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
    ctx.add_function_output("get_weather", "sunny", call_id="call_1")
    ctx.add_message(ChatRole.ASSISTANT, "Sunny.")
    return ctx


def test_items_are_appended_in_order_with_their_kinds() -> None:
    ctx = conversation()
    assert [type(item) for item in ctx.items] == [
        ChatMessage,
        ChatMessage,
        FunctionCall,
        FunctionCallOutput,
        ChatMessage,
    ]
    assert [item.type for item in ctx.items] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert len(ctx) == 5
    assert repr(ctx) == "ChatContext(5 items)"
    call, output = ctx.items[2], ctx.items[3]
    assert isinstance(call, FunctionCall)
    assert isinstance(output, FunctionCallOutput)
    assert (call.name, call.arguments, call.call_id) == (
        "get_weather",
        '{"city":"Paris"}',
        "call_1",
    )
    assert (output.call_id, output.output, output.is_error) == ("call_1", "sunny", False)


def test_text_content_becomes_a_list_and_the_given_id_and_time_are_kept() -> None:
    ctx = ChatContext.empty()
    message = ctx.add_message(ChatRole.USER, "hi", message_id="mine", created_at=12.5)
    assert (message.content, message.id, message.created_at) == (["hi"], "mine", 12.5)
    assert message.interrupted is False
    assert ctx.get_by_id("mine") is message
    assert ctx.get_by_id("nobody") is None


def test_every_item_gets_its_own_id_even_when_made_at_once() -> None:
    # The reference made ids from int(time.time()): items made in the same second collided.
    ctx = ChatContext.empty()
    for n in range(200):
        ctx.add_message(ChatRole.USER, str(n))
        ctx.add_function_call("f", "{}")
    ids = [item.id for item in ctx.items]
    assert len(set(ids)) == len(ids)
    calls = [item for item in ctx.items if isinstance(item, FunctionCall)]
    assert len({call.call_id for call in calls}) == len(calls)
    assert all(call.call_id.startswith("call_") for call in calls)


def test_text_content_joins_the_text_parts_and_leaves_images_out() -> None:
    message = ChatMessage(ChatRole.USER, ["Look:", ImageContent("https://x/y.png"), "What is it?"])
    assert message.text_content == "Look:\nWhat is it?"
    assert ChatMessage(ChatRole.USER, "plain").text_content == "plain"


def test_an_image_is_sent_as_its_url_or_as_a_data_url_of_its_bytes() -> None:
    assert ImageContent("https://x/y.png").to_data_url() == "https://x/y.png"
    png = b"\x89PNG\r\n\x1a\n"
    image = ImageContent(png, mime_type="image/png")
    assert image.to_data_url() == "data:image/png;base64," + base64.b64encode(png).decode()
    assert image.inference_detail == "auto"


def test_replace_drops_the_old_system_messages_only_for_a_system_message() -> None:
    ctx = conversation()
    ctx.add_message(ChatRole.SYSTEM, "Speak French.", replace=True)
    systems = [i for i in ctx.items if isinstance(i, ChatMessage) and i.role is ChatRole.SYSTEM]
    assert [m.content for m in systems] == [["Speak French."]]
    assert len(ctx) == 5
    ctx.add_message(ChatRole.USER, "again", replace=True)  # not a system message: appended
    assert len(ctx) == 6


def test_copy_holds_the_same_items_in_a_list_of_its_own() -> None:
    ctx = conversation()
    copy = ctx.copy()
    assert copy.items == ctx.items
    assert copy.items is not ctx.items
    assert all(a is b for a, b in zip(copy.items, ctx.items, strict=True))
    copy.add_message(ChatRole.USER, "only in the copy")
    assert len(ctx) == 5


def test_items_is_live() -> None:
    ctx = conversation()
    del ctx.items[-1]
    assert len(ctx) == 4


def test_truncate_keeps_the_first_system_message_and_the_last_items() -> None:
    ctx = conversation()
    ctx.add_message(ChatRole.USER, "Thanks.")
    assert ctx.truncate(2) is ctx  # in place
    assert [getattr(i, "content", None) for i in ctx.items] == [
        ["Be brief."],
        ["Sunny."],
        ["Thanks."],
    ]


def test_truncate_drops_an_output_that_lost_its_call() -> None:
    ctx = conversation()
    ctx.add_message(ChatRole.USER, "Thanks.")
    ctx.truncate(3)  # the last three start with the output; its call is cut off
    assert [type(i) for i in ctx.items] == [ChatMessage, ChatMessage, ChatMessage]
    assert [i.text_content for i in ctx.items if isinstance(i, ChatMessage)] == [
        "Be brief.",
        "Sunny.",
        "Thanks.",
    ]


def test_truncate_keeps_a_call_that_kept_its_output() -> None:
    ctx = conversation()
    ctx.truncate(3)  # the call, its output and the reply: nothing lost its partner
    assert [type(i) for i in ctx.items] == [
        ChatMessage,
        FunctionCall,
        FunctionCallOutput,
        ChatMessage,
    ]


def test_truncate_drops_a_call_whose_output_was_cut_off() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Weather?")
    ctx.add_function_call("get_weather", "{}", call_id="call_1")
    ctx.add_message(ChatRole.USER, "Never mind.")  # the output never came
    ctx.truncate(2)
    assert [type(i) for i in ctx.items] == [ChatMessage]


def test_truncate_to_nothing_keeps_only_the_system_message() -> None:
    ctx = conversation()
    ctx.truncate(0)
    assert [i.text_content for i in ctx.items if isinstance(i, ChatMessage)] == ["Be brief."]
    without_system = ChatContext.empty()
    without_system.add_message(ChatRole.USER, "hi")
    assert len(without_system.truncate(0)) == 0

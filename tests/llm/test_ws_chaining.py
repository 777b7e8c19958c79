"""``previous_response_id`` chaining end to end: OpenAILLM(streaming=True) + the in-memory fake.

After a completed turn the next one sends only the new input items with
``previous_response_id``, and only when the context starts with exactly what the server holds
(the last completed response's full input and its output) and every function call in it has
its output. Every other edit sends the full context with no id. Each test asserts the
``response.create`` frames the fake received; the fake itself answers a chained create whose
id it does not hold with ``previous_response_not_found``, so a wrong chain would also show in
the items.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from scoped_openai import ChatContext, ChatMessage, ChatRole, OpenAILLM
from scoped_openai.testing import CloseSocket, FakeOpenAI, WSReply
from support.tools import WEATHER
from support.turns import turn
from support.wire_items import msg

MakeLLM = Callable[..., OpenAILLM]


SYSTEM = msg("system", "You are terse.")
USER1 = msg("user", "Say hello.")


async def ok_turn(llm: OpenAILLM, ctx: ChatContext, **kwargs: Any) -> str:
    items, error = await turn(llm, ctx, **kwargs)
    assert error is None, error
    return "".join(item.content for item in items)


def creates(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [frame for frame in fake.ws_frames if frame["type"] == "response.create"]


def chain_of(frame: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    return frame.get("previous_response_id"), frame["input"]


async def first_turn(llm: OpenAILLM, ctx: ChatContext) -> None:
    """Turn 1 on ``ctx`` (the system prompt and "Say hello."), heard as "Hello."."""
    assert await ok_turn(llm, ctx) == "Hello."
    ctx.add_message(ChatRole.ASSISTANT, "Hello.")


# -- chaining ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
async def test_each_turn_sends_only_its_new_items(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception], store: bool
) -> None:
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Fine."), WSReply.text("Bye."))
    async with make_ws_llm(store=store) as llm:
        await first_turn(llm, ctx)
        ctx.add_message(ChatRole.USER, "How are you?")
        assert await ok_turn(llm, ctx) == "Fine."
        ctx.add_message(ChatRole.ASSISTANT, "Fine.")
        ctx.add_message(ChatRole.USER, "Goodbye.")
        assert await ok_turn(llm, ctx) == "Bye."
    assert [chain_of(frame) for frame in creates(fake)] == [
        (None, [SYSTEM, USER1]),
        ("resp_fake_1", [msg("user", "How are you?")]),
        ("resp_fake_2", [msg("user", "Goodbye.")]),
    ]
    assert all(frame["store"] is store for frame in creates(fake))
    assert errors == []


@pytest.mark.anyio
async def test_several_new_items_are_sent_together(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Done."))
    async with make_ws_llm() as llm:
        await first_turn(llm, ctx)
        ctx.add_message(ChatRole.DEVELOPER, "The user is in Paris.")
        ctx.add_message(ChatRole.USER, "Weather?")
        ctx.add_message(ChatRole.USER, "And the time?")
        assert await ok_turn(llm, ctx) == "Done."
    assert chain_of(creates(fake)[1]) == (
        "resp_fake_1",
        [
            msg("developer", "The user is in Paris."),
            msg("user", "Weather?"),
            msg("user", "And the time?"),
        ],
    )


@pytest.mark.anyio
async def test_answered_tool_call_chains_with_only_the_output(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    fake.add_ws(
        WSReply.function_calls(("call_1", "get_weather", '{"city":"Paris"}'), text="Checking."),
        WSReply.text("It is 18C."),
    )
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx, tools=[WEATHER])
        assert error is None
        call = next(i.function_call for i in items if i.function_call)
        assert call == {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}
        ctx.add_message(ChatRole.ASSISTANT, "Checking.")
        ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
        ctx.add_function_output("get_weather", "18C", call_id="call_1")
        assert await ok_turn(llm, ctx, tools=[WEATHER]) == "It is 18C."
    assert [chain_of(frame) for frame in creates(fake)] == [
        (None, [SYSTEM, USER1]),
        ("resp_fake_1", [{"type": "function_call_output", "call_id": "call_1", "output": "18C"}]),
    ]
    assert errors == []


@pytest.mark.anyio
async def test_parallel_tool_calls_chain_once_every_call_is_answered(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(
        WSReply.function_calls(
            ("call_1", "get_weather", '{"city":"Paris"}'),
            ("call_2", "get_weather", '{"city":"Rome"}'),
        ),
        WSReply.text("Paris 18C, Rome 24C."),
    )
    async with make_ws_llm() as llm:
        await ok_turn(llm, ctx, tools=[WEATHER])
        ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
        ctx.add_function_call("get_weather", '{"city":"Rome"}', call_id="call_2")
        ctx.add_function_output("get_weather", "18C", call_id="call_1")
        ctx.add_function_output("get_weather", "24C", call_id="call_2")
        assert await ok_turn(llm, ctx, tools=[WEATHER]) == "Paris 18C, Rome 24C."
    assert chain_of(creates(fake)[1]) == (
        "resp_fake_1",
        [
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2", "output": "24C"},
        ],
    )


@pytest.mark.anyio
async def test_reasoning_items_in_the_output_do_not_prevent_chaining(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    reply = WSReply.text("Hello.", model="gpt-5")
    completed = reply.steps[-1]
    assert isinstance(completed, dict)
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAA"}
    completed["response"]["output"].insert(0, reasoning)
    fake.add_ws(reply, WSReply.text("Fine.", model="gpt-5"))
    async with make_ws_llm(model="gpt-5") as llm:
        await first_turn(llm, ctx)
        ctx.add_message(ChatRole.USER, "How are you?")
        assert await ok_turn(llm, ctx) == "Fine."
    assert chain_of(creates(fake)[1]) == ("resp_fake_1", [msg("user", "How are you?")])


# -- every other edit sends the full context -------------------------------------------------


def edit_truncate(ctx: ChatContext) -> None:
    ctx.truncate(2)  # keeps the system prompt and the last two items


def edit_summary(ctx: ChatContext) -> None:
    system, *_, latest = ctx.items
    summary = ChatMessage(role=ChatRole.SYSTEM, content=["Summary: the user greeted us."])
    ctx.items[:] = [system, summary, latest]


def edit_insert_system(ctx: ChatContext) -> None:
    ctx.items.insert(1, ChatMessage(role=ChatRole.SYSTEM, content=["Speak French."]))


def edit_replace_system(ctx: ChatContext) -> None:
    ctx.add_message(ChatRole.SYSTEM, "You are verbose.", replace=True)


def edit_system_in_place(ctx: ChatContext) -> None:
    system = ctx.items[0]
    assert isinstance(system, ChatMessage)
    system.content = ["You are very terse."]


def edit_earlier_user_message(ctx: ChatContext) -> None:
    user = ctx.items[1]
    assert isinstance(user, ChatMessage)
    user.content = ["Say hi."]


def edit_assistant_text(ctx: ChatContext) -> None:
    reply = ctx.items[2]
    assert isinstance(reply, ChatMessage)
    reply.content = ["Hello!"]  # not what the server holds ("Hello.")


def edit_drop_assistant(ctx: ChatContext) -> None:
    del ctx.items[2]  # the reply was never recorded


def edit_swap(ctx: ChatContext) -> None:
    ctx.items[0], ctx.items[1] = ctx.items[1], ctx.items[0]


def edit_same_count_other_content(ctx: ChatContext) -> None:
    # As many items as the server holds (plus the new one), but a different prefix.
    ctx.items[:3] = [
        ChatMessage(role=ChatRole.SYSTEM, content=["You are terse."]),
        ChatMessage(role=ChatRole.USER, content=["Say goodbye."]),
        ChatMessage(role=ChatRole.ASSISTANT, content=["Hello."]),
    ]


EDITS: dict[str, Callable[[ChatContext], None]] = {
    "truncation": edit_truncate,
    "summary": edit_summary,
    "inserted-system-prompt": edit_insert_system,
    "replaced-system-prompt": edit_replace_system,
    "changed-system-prompt": edit_system_in_place,
    "edited-earlier-message": edit_earlier_user_message,
    "different-assistant-text": edit_assistant_text,
    "assistant-reply-missing": edit_drop_assistant,
    "reordered": edit_swap,
    "same-count-other-content": edit_same_count_other_content,
}


@pytest.mark.anyio
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
@pytest.mark.parametrize("edit", list(EDITS))
async def test_an_edit_of_the_prefix_sends_the_full_context(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
    edit: str,
    store: bool,
) -> None:
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Fine."), WSReply.text("Again."))
    async with make_ws_llm(store=store) as llm:
        await first_turn(llm, ctx)
        ctx.add_message(ChatRole.USER, "How are you?")
        EDITS[edit](ctx)
        full = copy.deepcopy(ctx.items)
        assert await ok_turn(llm, ctx) == "Fine."
        # The full resend is a new base: the turn after it chains again.
        ctx.add_message(ChatRole.ASSISTANT, "Fine.")
        ctx.add_message(ChatRole.USER, "Again?")
        assert await ok_turn(llm, ctx) == "Again."
    _first, second, third = creates(fake)
    assert "previous_response_id" not in second
    assert second["input"] == [
        msg(item.role.value, item.text_content) for item in full if isinstance(item, ChatMessage)
    ]
    assert chain_of(third) == ("resp_fake_2", [msg("user", "Again?")])
    assert errors == []


@pytest.mark.anyio
async def test_an_unanswered_tool_call_sends_the_full_context(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(
        WSReply.function_calls(("call_1", "get_weather", '{"city":"Paris"}')),
        WSReply.text("Never mind."),
    )
    async with make_ws_llm() as llm:
        await ok_turn(llm, ctx, tools=[WEATHER])
        ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
        ctx.add_message(ChatRole.USER, "Actually, skip that.")  # the call has no output
        assert await ok_turn(llm, ctx, tools=[WEATHER]) == "Never mind."
    second = creates(fake)[1]
    assert "previous_response_id" not in second
    assert second["input"] == [
        SYSTEM,
        USER1,
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        msg("user", "Actually, skip that."),
    ]


@pytest.mark.anyio
async def test_one_of_two_calls_unanswered_sends_the_full_context(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(
        WSReply.function_calls(
            ("call_1", "get_weather", '{"city":"Paris"}'),
            ("call_2", "get_weather", '{"city":"Rome"}'),
        ),
        WSReply.text("Partial."),
    )
    async with make_ws_llm() as llm:
        await ok_turn(llm, ctx, tools=[WEATHER])
        ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
        ctx.add_function_call("get_weather", '{"city":"Rome"}', call_id="call_2")
        ctx.add_function_output("get_weather", "18C", call_id="call_1")
        assert await ok_turn(llm, ctx, tools=[WEATHER]) == "Partial."
    second = creates(fake)[1]
    assert "previous_response_id" not in second
    assert len(second["input"]) == 5


@pytest.mark.anyio
async def test_a_tool_call_recorded_as_json_dumps_of_its_arguments_still_chains(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    # The server holds the arguments text it generated; a framework (VideoSDK's pipeline)
    # records json.dumps(parsed arguments): other spacing and escapes, the same call.
    raw = '{"city":"Z\u00fcrich","days":2}'
    fake.add_ws(
        WSReply.function_calls(("call_1", "get_weather", raw)),
        WSReply.text("18C."),
    )
    async with make_ws_llm() as llm:
        items, _ = await turn(llm, ctx, tools=[WEATHER])
        call = next(i.function_call for i in items if i.function_call)
        assert call is not None
        recorded = json.dumps(call["arguments"])
        assert recorded != raw
        ctx.add_function_call(call["name"], recorded, call_id=call["id"])
        ctx.add_function_output("get_weather", "18C", call_id="call_1")
        assert await ok_turn(llm, ctx, tools=[WEATHER]) == "18C."
    output = {"type": "function_call_output", "call_id": "call_1", "output": "18C"}
    assert chain_of(creates(fake)[1]) == ("resp_fake_1", [output])


@pytest.mark.anyio
@pytest.mark.parametrize(
    "recorded",
    [
        '{"city": "Rome", "days": 2}',
        '{"days": 2, "city": "Paris"}',
        '{"city": "Paris", "days": 2.0}',
    ],
    ids=["other-value", "other-key-order", "float-for-int"],
)
async def test_a_tool_call_recorded_with_other_arguments_sends_the_full_context(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, recorded: str
) -> None:
    fake.add_ws(
        WSReply.function_calls(("call_1", "get_weather", '{"city":"Paris","days":2}')),
        WSReply.text("18C."),
    )
    async with make_ws_llm() as llm:
        await turn(llm, ctx, tools=[WEATHER])
        ctx.add_function_call("get_weather", recorded, call_id="call_1")
        ctx.add_function_output("get_weather", "18C", call_id="call_1")
        assert await ok_turn(llm, ctx, tools=[WEATHER]) == "18C."
    second = creates(fake)[1]
    assert "previous_response_id" not in second
    assert second["input"][2]["arguments"] == recorded


@pytest.mark.anyio
async def test_the_same_context_again_sends_the_full_context(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Hello again."))
    async with make_ws_llm() as llm:
        assert await ok_turn(llm, ctx) == "Hello."
        assert await ok_turn(llm, ctx) == "Hello again."  # a regeneration: nothing new
    assert [chain_of(frame) for frame in creates(fake)] == [
        (None, [SYSTEM, USER1]),
        (None, [SYSTEM, USER1]),
    ]


@pytest.mark.anyio
async def test_a_refusal_is_never_chained_from(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    refusal = {
        "type": "response.completed",
        "response": {
            "id": "resp_refused",
            "status": "completed",
            "model": "gpt-4o-mini",
            "output": [
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "refusal", "refusal": "I can't help with that."}],
                }
            ],
            "usage": None,
        },
    }
    fake.add_ws(
        WSReply.frames(
            [
                {
                    "type": "response.created",
                    "response": {"id": "resp_refused", "status": "in_progress"},
                },
                {
                    "type": "response.refusal.delta",
                    "item_id": "msg_1",
                    "delta": "I can't help with that.",
                },
                refusal,
            ]
        ),
        WSReply.text("Ok."),
    )
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert error is None
        assert [(i.content, (i.metadata or {}).get("refusal")) for i in items] == [
            ("I can't help with that.", True)
        ]
        ctx.add_message(ChatRole.ASSISTANT, "I can't help with that.")
        ctx.add_message(ChatRole.USER, "Ok then.")
        assert await ok_turn(llm, ctx) == "Ok."
    assert "previous_response_id" not in creates(fake)[1]


# -- failures and socket loss reset the chain ----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [
        WSReply.failed("server_error", "The model crashed."),
        WSReply.incomplete("max_output_tokens", "Hel"),
        WSReply.error("invalid_value", "Bad value.", param="temperature"),
    ],
    ids=["failed", "incomplete", "error"],
)
async def test_a_failed_turn_is_never_chained_from(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, ws_tracker: Any, failure: WSReply
) -> None:
    fake.add_ws(WSReply.text("Hello."), failure, WSReply.text("Fine."))
    async with make_ws_llm() as llm:
        await first_turn(llm, ctx)
        ctx.add_message(ChatRole.USER, "How are you?")
        _items, error = await turn(llm, ctx)
        assert error is not None
        ctx.add_message(ChatRole.USER, "Hello?")
        assert await ok_turn(llm, ctx) == "Fine."
    _first, second, third = creates(fake)
    assert chain_of(second) == ("resp_fake_1", [msg("user", "How are you?")])
    assert "previous_response_id" not in third
    assert len(third["input"]) == 5
    assert ws_tracker.create_sockets == [1, 1, 1]  # a clean error keeps the socket


@pytest.mark.anyio
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
async def test_a_socket_closed_by_the_server_between_turns(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    store: bool,
) -> None:
    # With store=False the response lived in the closed socket's cache: full context on the
    # spare. With store=True it is reachable from any socket: the chain survives.
    fake.add_ws(
        WSReply.text("Hello.").extended(CloseSocket(1001, "going away")), WSReply.text("Fine.")
    )
    async with make_ws_llm(store=store) as llm:
        await first_turn(llm, ctx)
        await anyio.wait_all_tasks_blocked()  # the socket's task saw the close
        ctx.add_message(ChatRole.USER, "How are you?")
        assert await ok_turn(llm, ctx) == "Fine."
    _first, second = creates(fake)
    if store:
        assert chain_of(second) == ("resp_fake_1", [msg("user", "How are you?")])
    else:
        assert chain_of(second) == (
            None,
            [SYSTEM, USER1, msg("assistant", "Hello."), msg("user", "How are you?")],
        )
    assert ws_tracker.create_sockets == [1, 2]
    assert errors == []


@pytest.mark.trio
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
async def test_the_chain_across_the_55_minute_socket_replacement(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    store: bool,
) -> None:
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Fine."))
    async with make_ws_llm(store=store) as llm:
        await first_turn(llm, ctx)
        await trio.sleep(56 * 60.0)
        ctx.add_message(ChatRole.USER, "How are you?")
        assert await ok_turn(llm, ctx) == "Fine."
    _first, second = creates(fake)
    assert ws_tracker.create_sockets[0] == 1
    assert ws_tracker.create_sockets[1] != 1
    if store:
        assert chain_of(second) == ("resp_fake_1", [msg("user", "How are you?")])
    else:
        assert chain_of(second) == (
            None,
            [SYSTEM, USER1, msg("assistant", "Hello."), msg("user", "How are you?")],
        )

"""The chain policy (``_chain.ChainState``): what the server holds after each turn and whether
the next may send only what is new with ``previous_response_id``."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoped_openai._chain import ChainHome, ChainState
from scoped_openai._chat import (
    ChatContext,
    ChatItem,
    ChatMessage,
    ChatRole,
    FunctionCall,
    FunctionCallOutput,
)
from scoped_openai._responses_input import to_input_items
from support.wire_items import assistant, system, user

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


def test_chain_message_part_edited_in_place_sends_full_context() -> None:
    ctx, chain = first_turn()
    reply = ctx.items[2]
    assert isinstance(reply, ChatMessage)
    assert isinstance(reply.content, list)
    reply.content[0] = "Hello!"  # truncated to what was spoken, in the same list
    ctx.add_message(ChatRole.USER, "next")
    assert chain.plan(ctx.items) == (
        [system(SYSTEM), user("hi"), assistant("Hello!"), user("next")],
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
    # Stored responses are reachable from a new socket: every socket shares the one chain.
    home = ChainHome(store=True)
    assert home.for_new_socket() is home.for_new_socket()
    assert home.for_new_socket().store is True


def test_chain_barge_in_without_store_resets() -> None:
    ctx, chain = first_turn(store=False)
    ctx.add_message(ChatRole.USER, "Tell me a story.")
    chain.plan(ctx.items)
    chain.interrupted("resp_2", "Once upon", chain.planned_input)
    ctx.add_message(ChatRole.ASSISTANT, "Once upon")
    assert chain.plan(ctx.items) == (to_input_items(ctx.items), None)


def test_chain_on_a_new_socket_without_store_and_reset() -> None:
    ctx, chain = first_turn(store=False)
    ctx.add_message(ChatRole.USER, "next")
    # Without storage a chain dies with its socket: a new socket's chain holds nothing.
    home = ChainHome(store=False)
    assert home.for_new_socket() is not home.for_new_socket()
    assert home.for_new_socket().plan(ctx.items) == (to_input_items(ctx.items), None)

    ctx, chain = first_turn(store=True)
    ctx.add_message(ChatRole.USER, "next")
    chain.reset()
    assert (chain.response_id, tuple(chain.server_items)) == (None, ())
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
# The plan of a growing context equals the rule applied from scratch
# ---------------------------------------------------------------------------------------------


def _spelled_alike(mine: object, theirs: object) -> bool:
    """Two arguments texts with the same JSON value, types apart (``1`` is not ``true``),
    or the same text when one is not JSON."""
    try:
        return json.dumps(json.loads(str(mine))) == json.dumps(json.loads(str(theirs)))
    except ValueError:
        return mine == theirs


def _reference_plan(
    items: list[ChatItem], server_items: list[dict[str, object]], response_id: str | None
) -> tuple[list[dict[str, object]], str | None]:
    """The chain rule from scratch: a fresh conversion, the prefix compared item by item
    (a call's arguments by JSON value), every call in the whole input answered."""
    full = to_input_items(items)
    if response_id is None or len(full) <= len(server_items):
        return full, None
    for mine, theirs in zip(full, server_items, strict=False):
        if mine == theirs:
            continue
        same_call = (
            mine.get("type") == theirs.get("type") == "function_call"
            and {k: v for k, v in mine.items() if k != "arguments"}
            == {k: v for k, v in theirs.items() if k != "arguments"}
            and _spelled_alike(mine["arguments"], theirs["arguments"])
        )
        if not same_call:
            return full, None
    pending: list[object] = []
    for item in full:
        if item.get("type") == "function_call":
            pending.append(item["call_id"])
        elif item.get("type") == "function_call_output" and item["call_id"] in pending:
            pending = [call_id for call_id in pending if call_id != item["call_id"]]
    if pending:
        return full, None
    return full[len(server_items) :], response_id


_CALL_IDS = st.sampled_from(["c1", "c2", "c3"])
_TEXTS = st.sampled_from(["hi", "yes", "{}", '{"a": 1}'])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_chain_plan_equals_the_rule_from_scratch(data: st.DataObject) -> None:
    """Turns on one chain, with calls answered or not, in the context or in the model's
    output, edits and removals between turns: each plan is what the rule says from scratch
    (the chain keeps what it found unanswered between turns; this checks it never goes
    stale)."""
    chain = ChainState(store=data.draw(st.booleans()))
    items: list[ChatItem] = [ChatMessage(role=ChatRole.SYSTEM, content=["sys"])]
    for turn in range(data.draw(st.integers(1, 8))):
        for _ in range(data.draw(st.integers(0, 3))):
            op = data.draw(st.sampled_from(["user", "call", "output", "edit", "remove"]))
            if op == "user":
                items.append(ChatMessage(role=ChatRole.USER, content=[data.draw(_TEXTS)]))
            elif op == "call":
                items.append(FunctionCall("f", data.draw(_TEXTS), data.draw(_CALL_IDS)))
            elif op == "output":
                items.append(FunctionCallOutput("f", data.draw(_CALL_IDS), data.draw(_TEXTS)))
            elif op == "edit":
                message = items[data.draw(st.integers(0, len(items) - 1))]
                if isinstance(message, ChatMessage) and isinstance(message.content, list):
                    message.content[0] = data.draw(_TEXTS)
            elif len(items) > 1:
                del items[data.draw(st.integers(1, len(items) - 1))]
        expected = _reference_plan(items, chain.server_items, chain.response_id)
        assert chain.plan(items) == expected
        outcome = data.draw(st.sampled_from(["text", "call", "failed"]))
        if outcome == "failed":
            chain.reset()
            continue
        if outcome == "text":
            text = data.draw(_TEXTS)
            output: list[dict[str, object]] = [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text}],
                }
            ]
            items.append(ChatMessage(role=ChatRole.ASSISTANT, content=[text]))
        else:
            call_id, arguments = data.draw(_CALL_IDS), data.draw(_TEXTS)
            output = [
                {"type": "function_call", "call_id": call_id, "name": "f", "arguments": arguments}
            ]
            items.append(FunctionCall("f", arguments, call_id))
        chain.completed(chain.planned_input, output, f"resp_{turn}")

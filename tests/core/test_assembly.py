"""The sans-IO Assembler: provider-neutral events in, LLMResponse items out (sync)."""

from __future__ import annotations

import json

import pytest

from scoped_openai import (
    ChatRole,
    ConversationalGraph,
    LimitExceededError,
    LLMResponse,
    ProtocolError,
    StreamLimits,
    ToolArgumentsError,
)
from scoped_openai._assembly import Assembler
from scoped_openai._events import (
    ChoiceFinished,
    Event,
    RefusalDelta,
    StreamDone,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
    UsageReport,
)

ZERO_USAGE = {
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "total_tokens": 0,
    "prompt_cached_tokens": 0,
    "reasoning_tokens": 0,
    "request_id": None,
    "model": "gpt-4o-mini",
}


def run(events: list[Event], **kwargs: object) -> tuple[Assembler, list[LLMResponse | Exception]]:
    assembler = Assembler(model="gpt-4o-mini", **kwargs)  # type: ignore[arg-type]
    out: list[LLMResponse | Exception] = []
    for event in events:
        assembler.feed(event, out)
    return assembler, out


def calls_of(out: list[LLMResponse | Exception]) -> list[dict[str, object]]:
    return [
        item.metadata["function_call"]
        for item in out
        if isinstance(item, LLMResponse) and item.metadata and "function_call" in item.metadata
    ]


def test_text_is_yielded_as_it_arrives() -> None:
    assembler = Assembler(model="gpt-4o-mini")
    out: list[LLMResponse | Exception] = []
    assembler.feed(TextDelta("Hel"), out)
    assert [(i.content, i.role, i.metadata) for i in out] == [  # type: ignore[union-attr]
        ("Hel", ChatRole.ASSISTANT, {"usage": ZERO_USAGE})
    ]
    assembler.feed(TextDelta("lo"), out)
    assert [i.content for i in out] == ["Hel", "lo"]  # type: ignore[union-attr]
    assert assembler.text == "Hello"
    assert assembler.spoken == "Hello"
    assert assembler.done is False


def test_usage_fills_the_shared_usage_dict_and_yields_an_item() -> None:
    usage = Usage(10, 5, 15, 3, 2, "chatcmpl-1", "gpt-4o-mini-2024-07-18")
    assembler, out = run([TextDelta("a"), ChoiceFinished("stop"), UsageReport(usage), StreamDone()])
    expected = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_cached_tokens": 3,
        "reasoning_tokens": 2,
        "request_id": "chatcmpl-1",
        "model": "gpt-4o-mini-2024-07-18",
    }
    assert [(i.content, i.metadata) for i in out] == [  # type: ignore[union-attr]
        ("a", {"usage": expected}),
        ("", {"usage": expected}),
    ]
    # Every item of the turn shares one dict, filled in when the usage arrives.
    assert out[0].metadata["usage"] is out[1].metadata["usage"]  # type: ignore[union-attr]
    assert assembler.usage == expected
    assert assembler.finish_reason == "stop"
    assert assembler.done is True


def test_usage_without_model_keeps_the_configured_model() -> None:
    assembler, _ = run([UsageReport(Usage(1, 2, 3, request_id="r"))])
    assert assembler.usage["model"] == "gpt-4o-mini"
    assert assembler.usage["request_id"] == "r"


def test_tool_calls_interleaved_across_indices_are_yielded_in_index_order() -> None:
    events: list[Event] = [
        ToolCallDelta(1, "call_b", "lookup", ""),
        ToolCallDelta(0, "call_a", "get_weather", '{"ci'),
        ToolCallDelta(1, None, None, '{"q": '),
        ToolCallDelta(0, None, None, 'ty": "Paris"}'),
        ToolCallDelta(2, "call_c", "noop", "{}"),
        ToolCallDelta(1, None, None, '"x"}'),
    ]
    assembler, out = run(events)
    assert out == []  # nothing is dispatched before the choice finishes
    assembler.feed(ChoiceFinished("tool_calls"), out)
    assert calls_of(out) == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_a"},
        {"name": "lookup", "arguments": {"q": "x"}, "id": "call_b"},
        {"name": "noop", "arguments": {}, "id": "call_c"},
    ]
    assert all(i.content == "" for i in out)  # type: ignore[union-attr]
    assert assembler.calls == [
        ("call_a", "get_weather", '{"city": "Paris"}'),
        ("call_b", "lookup", '{"q": "x"}'),
        ("call_c", "noop", "{}"),
    ]


def test_repeated_name_in_later_fragments_counts_once() -> None:
    _, out = run(
        [
            ToolCallDelta(0, "call_a", "f", '{"a":'),
            ToolCallDelta(0, None, "f", "1}"),
            ChoiceFinished("tool_calls"),
        ]
    )
    assert calls_of(out) == [{"name": "f", "arguments": {"a": 1}, "id": "call_a"}]


def test_pending_calls_are_flushed_at_the_end_marker() -> None:
    _, out = run([ToolCallDelta(0, "call_a", "f", "{}"), StreamDone()])
    assert calls_of(out) == [{"name": "f", "arguments": {}, "id": "call_a"}]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"city": ', "Expecting value at character 9"),
        ("", "Expecting value at character 0"),
        ("[1, 2]", "a JSON list, not an object"),
        ("null", "a JSON NoneType, not an object"),
    ],
)
def test_invalid_arguments_raise_after_the_valid_calls(raw: str, reason: str) -> None:
    _, out = run(
        [
            ToolCallDelta(0, "call_bad", "broken", raw),
            ToolCallDelta(1, "call_ok", "fine", '{"a": 1}'),
            ToolCallDelta(2, "call_ok2", "fine2", "{}"),
            ChoiceFinished("tool_calls"),
        ]
    )
    assert calls_of(out) == [
        {"name": "fine", "arguments": {"a": 1}, "id": "call_ok"},
        {"name": "fine2", "arguments": {}, "id": "call_ok2"},
    ]
    assert len(out) == 3
    error = out[-1]
    assert isinstance(error, ToolArgumentsError)
    assert (error.name, error.call_id, error.raw_arguments) == ("broken", "call_bad", raw)
    assert str(error) == (
        f"the model called tool 'broken' (call call_bad) with arguments that are not "
        f"a JSON object ({reason}): {raw!r}"
    )


def test_responses_tool_call_done_is_dispatched_at_once() -> None:
    _, out = run([ToolCallDone("call_9", "get_capital", '{"country": "UK"}', "fc_1")])
    assert calls_of(out) == [
        {"name": "get_capital", "arguments": {"country": "UK"}, "id": "call_9"}
    ]


def test_refusal_is_flagged() -> None:
    assembler, out = run([RefusalDelta("I can't"), RefusalDelta(" help.")])
    assert [(i.content, i.metadata["refusal"]) for i in out] == [  # type: ignore[union-attr]
        ("I can't", True),
        (" help.", True),
    ]
    assert assembler.spoken == "I can't help."
    assert assembler.text == ""


def test_nothing_after_the_end_marker_belongs_to_the_turn() -> None:
    assembler, out = run([TextDelta("a"), StreamDone(), TextDelta("late"), ChoiceFinished("x")])
    assert [i.content for i in out] == ["a"]  # type: ignore[union-attr]
    assert assembler.finish_reason is None


def test_reset_forgets_everything() -> None:
    assembler, _ = run(
        [TextDelta("a"), ToolCallDelta(0, "c", "f", "{}"), ChoiceFinished("stop"), StreamDone()]
    )
    assembler.reset()
    assert (assembler.text, assembler.spoken, assembler.finish_reason, assembler.done) == (
        "",
        "",
        None,
        False,
    )
    assert assembler.calls == []
    assert assembler.usage == ZERO_USAGE


def test_graph_speaks_only_the_spoken_field_and_yields_the_object() -> None:
    reply = {"response_to_user": "Hello there", "extracted_values": [{"key": "k", "value": 1}]}
    text = json.dumps(reply)
    events: list[Event] = [TextDelta(text[i : i + 5]) for i in range(0, len(text), 5)]
    assembler, out = run(
        [*events, ChoiceFinished("stop"), StreamDone()], graph=ConversationalGraph()
    )
    spoken = "".join(i.content for i in out)  # type: ignore[union-attr]
    assert spoken == "Hello there"
    last = out[-1]
    assert isinstance(last, LLMResponse)
    assert last.metadata == {"usage": ZERO_USAGE, "graph_response": reply}
    assert assembler.text == text
    assert assembler.warnings == []


def test_graph_reply_that_is_not_json_is_spoken_raw_with_a_warning() -> None:
    assembler, out = run(
        [TextDelta("not json"), ChoiceFinished("stop"), StreamDone()], graph=ConversationalGraph()
    )
    assert [i.content for i in out] == ["not json"]  # type: ignore[union-attr]
    assert len(assembler.warnings) == 1
    assert "not valid JSON" in str(assembler.warnings[0])


def test_items_dropped_before_delivery_leave_spoken() -> None:
    # A barge-in drops items that were built but not yet delivered: ``spoken`` stays what
    # the user heard (the text of the model's reply, ``text``, keeps everything).
    assembler, out = run(
        [TextDelta("Sure. "), RefusalDelta("No, "), TextDelta("first"), TextDelta(" this")]
    )
    delivered, dropped = out[:2], out[2:]
    assembler.unsay(dropped)
    assert assembler.spoken == "Sure. No, "
    assert assembler.text == "Sure. first this"
    assert [i.content for i in delivered] == ["Sure. ", "No, "]  # type: ignore[union-attr]


def test_unsay_ignores_items_that_spoke_nothing() -> None:
    assembler, out = run([TextDelta("Hi"), UsageReport(Usage(1, 1, 2)), StreamDone()])
    assembler.unsay(out[1:])  # the usage item (empty content) was not heard either
    assert assembler.spoken == "Hi"


# -- values of the wrong type, limits (issue 18) ------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        TextDelta(5),  # type: ignore[arg-type]
        RefusalDelta(["no"]),  # type: ignore[arg-type]
        ToolCallDelta(0, "c1", "f", {"a": 1}),  # type: ignore[arg-type]
        ToolCallDelta("0", "c1", "f", "{}"),  # type: ignore[arg-type]
        ToolCallDelta(True, "c1", "f", "{}"),
        ToolCallDelta(0, ["c1"], "f", "{}"),  # type: ignore[arg-type]
        ToolCallDelta(0, "c1", {"x": 1}, "{}"),  # type: ignore[arg-type]
        ToolCallDone("c1", 7, "{}"),  # type: ignore[arg-type]
        ChoiceFinished(None),  # type: ignore[arg-type]
        UsageReport(Usage(prompt_tokens="3")),  # type: ignore[arg-type]
        UsageReport(Usage(model=["m"])),  # type: ignore[arg-type]
    ],
    ids=repr,
)
def test_a_value_of_the_wrong_type_is_a_protocol_error(event: Event) -> None:
    with pytest.raises(ProtocolError, match="the server sent"):
        run([event])


def test_mixed_index_types_never_reach_the_sort() -> None:
    with pytest.raises(ProtocolError, match="tool call index"):
        run([ToolCallDelta(0, "c1", "f", "{}"), ToolCallDelta("1", "c2", "g", "{}")])


@pytest.mark.parametrize("whole", [False, True], ids=["fragments", "one-done-event"])
def test_tool_arguments_over_the_limit(whole: bool) -> None:
    limits = StreamLimits(max_tool_arguments_bytes=100)
    arguments = json.dumps({"text": "x" * 200})
    if whole:
        events: list[Event] = [ToolCallDone("c1", "save", arguments)]
    else:
        pieces = [arguments[i : i + 10] for i in range(0, len(arguments), 10)]
        events = [ToolCallDelta(0, "c1", "save", pieces[0])]
        events += [ToolCallDelta(0, None, None, piece) for piece in pieces[1:]]
    with pytest.raises(LimitExceededError, match="'save'") as caught:
        run(events, limits=limits)
    assert caught.value.limit == "max_tool_arguments_bytes"

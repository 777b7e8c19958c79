"""The Responses parser (``_responses``): server events in, events out, on the recorded
streams and on every event shape, malformed ones included."""

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
    ChatRole,
)
from scoped_openai._errors import (
    APIConnectionError,
    APIStreamError,
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
from scoped_openai._limits import StreamLimits
from scoped_openai._responses import ResponsesEventMapper, ResponsesParser, server_event_events
from support.sse_deliveries import in_steps
from support.wire_items import user

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


def test_parser_sse_whole_event_reads_map_as_the_line_by_line_path() -> None:
    # One event per read after the first (SSEDecoder.whole_data): the same events, the
    # same end-of-turn rule, and nothing after the terminal event.
    parser = ResponsesParser()
    out: list[Event] = []
    for piece in (b": opened\n\n", sse(CREATED), sse(DELTA), sse(COMPLETED), sse(DELTA)):
        parser.feed(piece, out)
    parser.end(out)
    assert (out, parser.terminal) == (TURN_EVENTS, True)
    parser = ResponsesParser()
    parser.feed(sse(CREATED), [])
    with pytest.raises(APIStreamError, match="the response failed: boom"):
        parser.feed(sse(FAILED), [])
    assert (parser.terminal, parser.failed) == (True, True)

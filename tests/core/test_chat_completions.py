"""Chat Completions, sans-IO: request bodies out, the streamed body in -> events (sync)."""

from __future__ import annotations

from typing import Any

import pytest

from scoped_openai import (
    APIConnectionError,
    APIStreamError,
    ChatContext,
    ChatRole,
    ConversationalGraph,
    ImageContent,
    InvalidContextError,
    LimitExceededError,
    ProtocolError,
    StreamLimits,
)
from scoped_openai._chat_completions import (
    ChatCompletionsParser,
    build_request,
    chunk_data_events,
    chunk_events,
    to_messages,
)
from scoped_openai._events import (
    ChoiceFinished,
    Event,
    RefusalDelta,
    StreamDone,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from scoped_openai._settings import GenerationSettings
from support.sse_deliveries import in_steps
from support.tools import WEATHER, WEATHER_CHAT


def context() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "Be brief.")
    ctx.add_message(ChatRole.USER, "Hi")
    return ctx


STREAM = {"stream": True, "stream_options": {"include_usage": True}}


# -- model families -------------------------------------------------------------------------


def test_default_body_of_a_sampling_model() -> None:
    body = build_request(GenerationSettings(), context())
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        **STREAM,
        "temperature": 0.7,
    }


def test_sampling_model_gets_every_sampling_parameter_and_no_reasoning_ones() -> None:
    settings = GenerationSettings(
        model="gpt-4.1",
        temperature=0.2,
        max_completion_tokens=64,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        seed=42,
        reasoning_effort="high",
        verbosity="low",
    )
    assert build_request(settings, context()) == {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        **STREAM,
        "temperature": 0.2,
        "max_completion_tokens": 64,
        "top_p": 0.9,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "seed": 42,
    }


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini"])
def test_reasoning_model_body(model: str) -> None:
    settings = GenerationSettings(
        model=model,
        temperature=0.2,
        max_completion_tokens=256,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=0.5,
        seed=42,
        reasoning_effort="low",
        verbosity="high",
    )
    assert build_request(settings, context()) == {
        "model": model,
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        **STREAM,
        "max_completion_tokens": 256,
        "reasoning_effort": "low",
        "verbosity": "high",
    }


def test_reasoning_model_without_effort_or_verbosity_sends_neither() -> None:
    settings = GenerationSettings(model="gpt-5", temperature=1.3)
    assert build_request(settings, context()) == {
        "model": "gpt-5",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        **STREAM,
    }


# -- tools, graph, extras -------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool_choice",
    ["auto", "required", "none", {"type": "function", "function": {"name": "get_weather"}}],
)
def test_tools_and_tool_choice(tool_choice: Any) -> None:
    settings = GenerationSettings(tool_choice=tool_choice, parallel_tool_calls=False)
    body = build_request(settings, context(), tools=[WEATHER])
    assert body["tools"] == [WEATHER_CHAT]
    assert body["tool_choice"] == tool_choice
    assert body["parallel_tool_calls"] is False


def test_no_tools_means_no_tool_choice() -> None:
    settings = GenerationSettings(tool_choice="required", parallel_tool_calls=True)
    body = build_request(settings, context(), tools=[])
    assert "tools" not in body
    assert "tool_choice" not in body
    assert "parallel_tool_calls" not in body


def test_parallel_tool_calls_left_out_when_unset() -> None:
    body = build_request(GenerationSettings(), context(), tools=[WEATHER])
    assert body["tool_choice"] == "auto"
    assert "parallel_tool_calls" not in body


def test_graph_sets_response_format() -> None:
    graph = ConversationalGraph()
    body = build_request(GenerationSettings(), context(), graph=graph)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": graph.name,
            "strict": True,
            "schema": graph._get_graph_schema(),
        },
    }


def test_extra_body_then_overrides_are_merged_last_and_none_is_dropped() -> None:
    settings = GenerationSettings(extra_body={"user": "u1", "metadata": {"a": "b"}, "seed": 3})
    body = build_request(
        settings, context(), overrides={"user": "u2", "logit_bias": {"50256": -100}, "seed": None}
    )
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        **STREAM,
        "temperature": 0.7,
        "user": "u2",
        "metadata": {"a": "b"},
        "logit_bias": {"50256": -100},
    }


# -- messages -------------------------------------------------------------------------------


def test_messages_with_tool_calls_outputs_and_images() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "sys")
    ctx.add_message(
        ChatRole.USER, ["look", ImageContent("https://x/y.png", inference_detail="low")]
    )
    ctx.add_message(ChatRole.ASSISTANT, "")
    ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
    ctx.add_function_call("get_time", "{}", call_id="call_2")
    ctx.add_function_output("get_weather", "sunny", call_id="call_1")
    ctx.add_function_output("get_time", "noon", call_id="call_2")
    ctx.add_function_call("get_weather", '{"city":"Rome"}', call_id="call_3")
    ctx.add_function_output("get_weather", "rain", call_id="call_3")
    ctx.add_message(ChatRole.USER, ["two", "lines"])
    assert to_messages(ctx, reasoning=False) == [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_3",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_3", "content": "rain"},
        {"role": "user", "content": "two\nlines"},
    ]


def test_reasoning_messages_use_the_developer_role() -> None:
    assert to_messages(context(), reasoning=True) == [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


@pytest.mark.parametrize("role", [ChatRole.SYSTEM, ChatRole.DEVELOPER, ChatRole.ASSISTANT])
@pytest.mark.parametrize("reasoning", [False, True])
def test_an_image_outside_a_user_message_is_refused_naming_the_message(
    role: ChatRole, reasoning: bool
) -> None:
    # The spec allows only text parts there (and refusal for the assistant): sending an
    # image_url part would be a 400 after a round trip.
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    ctx.add_message(role, ["see", ImageContent("https://x/y.png")])
    with pytest.raises(InvalidContextError, match=rf"message 1 \({role.value}\) holds an image"):
        to_messages(ctx, reasoning=reasoning)
    with pytest.raises(InvalidContextError) as info:
        build_request(GenerationSettings(), ctx)
    assert info.value.index == 1
    assert isinstance(info.value, ValueError)


def test_an_empty_context_is_refused() -> None:
    # The spec's messages has minItems 1.
    with pytest.raises(InvalidContextError, match="context is empty") as info:
        build_request(GenerationSettings(), ChatContext.empty())
    assert info.value.index is None


# -- chunks -> events -----------------------------------------------------------------------


def events_of(chunk: object) -> list[Event]:
    out: list[Event] = []
    chunk_events(chunk, out)
    return out


def test_text_refusal_and_finish() -> None:
    chunk = {
        "id": "c1",
        "choices": [
            {"index": 0, "delta": {"content": "Hi", "refusal": "No"}, "finish_reason": "stop"}
        ],
    }
    assert events_of(chunk) == [TextDelta("Hi"), RefusalDelta("No"), ChoiceFinished("stop")]


def test_role_only_and_empty_content_give_no_events() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    assert events_of(chunk) == []
    assert events_of({"choices": [{"index": 0, "delta": {"content": None}}]}) == []


def test_tool_call_fragments() -> None:
    chunk = {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "b", "arguments": ""},
                        },
                        {"index": 0, "function": {"arguments": '{"x"'}},
                    ]
                },
            }
        ]
    }
    assert events_of(chunk) == [
        ToolCallDelta(index=1, id="call_b", name="b", arguments=""),
        ToolCallDelta(index=0, id=None, name=None, arguments='{"x"'),
    ]


def test_only_choice_zero_is_mapped() -> None:
    chunk = {
        "choices": [
            {"index": 1, "delta": {"content": "other"}, "finish_reason": "length"},
            {"index": 0, "delta": {"content": "mine"}},
            {"index": 2, "delta": {"content": "third"}},
        ]
    }
    assert events_of(chunk) == [TextDelta("mine")]


def test_usage_with_cached_and_reasoning_tokens() -> None:
    chunk = {
        "id": "chatcmpl-9",
        "model": "gpt-5-2025-08-07",
        "choices": [],
        "usage": {
            "prompt_tokens": 13,
            "completion_tokens": 11,
            "total_tokens": 24,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 7},
        },
    }
    assert events_of(chunk) == [
        UsageReport(
            Usage(
                prompt_tokens=13,
                completion_tokens=11,
                total_tokens=24,
                prompt_cached_tokens=4,
                reasoning_tokens=7,
                request_id="chatcmpl-9",
                model="gpt-5-2025-08-07",
            )
        )
    ]


def test_null_usage_and_azure_empty_first_chunk_give_no_events() -> None:
    assert events_of({"id": "x", "choices": [], "usage": None}) == []
    azure_first = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    assert events_of(azure_first) == []


def test_error_payload_raises_api_stream_error() -> None:
    chunk = {
        "id": "chatcmpl-err",
        "error": {
            "message": "The server had an error",
            "type": "server_error",
            "param": "messages",
            "code": "server_overloaded",
        },
    }
    with pytest.raises(APIStreamError) as info:
        events_of(chunk)
    error = info.value
    assert error.message == "the API reported an error mid-stream: 'The server had an error'"
    assert error.code == "server_overloaded"
    assert error.param == "messages"
    assert error.type == "server_error"
    assert error.request_id == "chatcmpl-err"
    assert error.body == chunk


def test_null_error_field_is_not_an_error() -> None:
    chunk = {"error": None, "choices": [{"index": 0, "delta": {"content": "ok"}}]}
    assert events_of(chunk) == [TextDelta("ok")]


@pytest.mark.parametrize(
    ("chunk", "got"), [([1, 2], "array"), ("text", "str"), (3, "int"), (None, "null")]
)
def test_non_object_chunk_is_a_protocol_error(chunk: object, got: str) -> None:
    with pytest.raises(ProtocolError, match=f"Expected `object`, got `{got}`"):
        events_of(chunk)


@pytest.mark.parametrize(
    ("chunk", "path"),
    [
        (
            {"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {}}]}}]},
            "missing required field `index` - at `$.choices[0].delta.tool_calls[0]`",
        ),
        ({"choices": ["not a choice"]}, "got `str` - at `$.choices[0]`"),
        (
            {"choices": [{"index": 0, "delta": {"tool_calls": [7]}}]},
            "got `int` - at `$.choices[0].delta.tool_calls[0]`",
        ),
        (
            {"choices": [], "usage": {"prompt_tokens_details": 5, "prompt_tokens": 1}},
            "got `int` - at `$.usage.prompt_tokens_details`",
        ),
        (
            {"choices": [{"index": 0, "delta": {"content": 5}}]},
            "Expected `str | null`, got `int` - at `$.choices[0].delta.content`",
        ),
        ({"choices": [{"index": "0"}]}, "got `str` - at `$.choices[0].index`"),
        (
            {"choices": [], "usage": {"total_tokens": True}},
            "got `bool` - at `$.usage.total_tokens`",
        ),
    ],
)
def test_misshapen_chunk_is_a_protocol_error_naming_the_path(chunk: object, path: str) -> None:
    with pytest.raises(ProtocolError, match="unexpected shape") as info:
        events_of(chunk)
    assert path in str(info.value)
    assert repr(chunk)[:40] in str(info.value)


def test_chunk_json_wrong_type_names_the_path() -> None:
    data = '{"choices":[{"index":0,"delta":{"content":["x"]}}]}'
    with pytest.raises(ProtocolError) as info:
        chunk_data_events(data, [])
    assert "got `array` - at `$.choices[0].delta.content`" in str(info.value)
    assert data in str(info.value)


@pytest.mark.parametrize("data", ["{not json", '{"choices": [', "", '"unterminated'])
def test_chunk_json_that_does_not_parse_is_a_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError, match="not valid JSON"):
        chunk_data_events(data, [])


def test_chunk_json_null_and_absent_fields_are_tolerated() -> None:
    # Nulls where the API sends them, fields it leaves out, fields we do not know.
    data = (
        '{"id":"c1","object":"chat.completion.chunk","model":null,"system_fingerprint":null,'
        '"choices":[{"index":0,"delta":{"content":"Hi","refusal":null,"tool_calls":null},'
        '"logprobs":null,"finish_reason":null,"content_filter_results":{}}],"usage":null,'
        '"obfuscation":"x","future_field":{"nested":[1,2]}}'
    )
    out: list[Event] = []
    chunk_data_events(data, out)
    assert out == [TextDelta("Hi")]
    chunk_data_events('{"choices":null}', out)
    assert out == [TextDelta("Hi")]


# -- extra_body: the one merge rule -------------------------------------------------------


def test_extra_body_and_overrides_merge_deeply_and_none_removes_at_any_depth() -> None:
    # The rule of every path (_body.merge_into): a nested object in extra_body does not wipe
    # the one the library builds (stream_options keeps include_usage, which the stream's
    # usage report relies on), and None removes a key where it stands.
    settings = GenerationSettings(
        extra_body={
            "stream_options": {"include_obfuscation": False},
            "metadata": {"a": "1", "b": "2"},
        }
    )
    body = build_request(settings, context(), overrides={"metadata": {"b": None, "c": "3"}})
    assert body["stream_options"] == {"include_usage": True, "include_obfuscation": False}
    assert body["metadata"] == {"a": "1", "c": "3"}
    removed = build_request(GenerationSettings(extra_body={"stream_options": None}), context())
    assert "stream_options" not in removed


def test_the_merge_never_changes_the_callers_extra_body() -> None:
    extra: dict[str, Any] = {"stream_options": {"include_obfuscation": False}}
    settings = GenerationSettings(extra_body=extra)
    build_request(settings, context(), overrides={"stream_options": {"x": 1}})
    assert extra == {"stream_options": {"include_obfuscation": False}}


# -- the parser: bytes in, events out, [DONE] ends the turn -------------------------------


TEXT_CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'


def parse(body: bytes, *, step: int | None = None) -> tuple[list[Event], bool]:
    """Feed ``body`` whole (or ``step`` bytes at a time), then end it."""
    parser = ChatCompletionsParser()
    out: list[Event] = []
    for piece in in_steps(body, step):
        parser.feed(piece, out)
    parser.end(out)
    return out, parser.done


@pytest.mark.parametrize("step", [None, 1, 7])
def test_parser_maps_the_body_and_done_ends_the_turn(step: int | None) -> None:
    body = TEXT_CHUNK + b": keep-alive\r\n\r\n" + TEXT_CHUNK + b"data: [DONE]\n\n"
    assert parse(body, step=step) == ([TextDelta("Hi"), TextDelta("Hi"), StreamDone()], True)


def test_parser_says_whether_a_whole_event_arrived() -> None:
    parser = ChatCompletionsParser()
    out: list[Event] = []
    assert parser.feed(b": a comment\n\n", out) is False
    assert parser.feed(TEXT_CHUNK[:10], out) is False
    assert parser.feed(TEXT_CHUNK[10:], out) is True
    assert out == [TextDelta("Hi")]


def test_parser_ignores_what_follows_done() -> None:
    # Even a malformed event: it belongs to no turn.
    body = b"data: [DONE]\n\n" + TEXT_CHUNK + b"data: {not json\n\n"
    assert parse(body) == ([StreamDone()], True)


def test_parser_accepts_done_without_its_blank_line_at_the_end() -> None:
    # Azure ends its stream with "data: [DONE]\n".
    assert parse(TEXT_CHUNK + b"data: [DONE]\n") == ([TextDelta("Hi"), StreamDone()], True)


@pytest.mark.parametrize("body", [b"", TEXT_CHUNK, TEXT_CHUNK + b": a comment, cut"])
def test_parser_end_before_done_is_a_connection_error(body: bytes) -> None:
    parser = ChatCompletionsParser()
    out: list[Event] = []
    parser.feed(body, out)
    with pytest.raises(APIConnectionError, match=r"ended before its end marker \(data: \[DONE\]\)"):
        parser.end(out)


def test_parser_bounds_the_body() -> None:
    parser = ChatCompletionsParser(StreamLimits(max_reply_bytes=len(TEXT_CHUNK) + 5))
    out: list[Event] = []
    parser.feed(TEXT_CHUNK, out)
    with pytest.raises(LimitExceededError) as info:
        parser.feed(b": padding\n", out)
    assert info.value.limit == "max_reply_bytes"


def test_parser_errors_are_the_chunk_errors() -> None:
    with pytest.raises(ProtocolError, match="not valid JSON"):
        ChatCompletionsParser().feed(b"data: {nope\n\n", [])
    with pytest.raises(APIStreamError, match="mid-stream: 'boom'"):
        ChatCompletionsParser().feed(b'data: {"error": {"message": "boom"}}\n\n', [])


def test_whole_event_reads_map_and_fail_as_the_line_by_line_path() -> None:
    # After the first read, a read of exactly one event skips the line-by-line path
    # (SSEDecoder.whole_data): the same events, the same errors, nothing after [DONE].
    parser = ChatCompletionsParser()
    out: list[Event] = []
    for piece in (TEXT_CHUNK, TEXT_CHUNK, b"data: [DONE]\n\n", TEXT_CHUNK, b"data: {no\n\n"):
        assert parser.feed(piece, out) is True
    parser.end(out)
    assert out == [TextDelta("Hi"), TextDelta("Hi"), StreamDone()]
    for bad, error, message in (
        (b"data: {nope\n\n", ProtocolError, "not valid JSON"),
        (b'data: {"choices": 3}\n\n', ProtocolError, r"unexpected shape .*\$\.choices"),
        (b"data: \xff\n\n", ProtocolError, "not valid UTF-8"),
        (b'data: {"error": {"message": "boom"}}\n\n', APIStreamError, "mid-stream: 'boom'"),
    ):
        parser = ChatCompletionsParser()
        parser.feed(TEXT_CHUNK, [])
        with pytest.raises(error, match=message):
            parser.feed(bad, [])

"""The fault matrix: every fault on every path (where it exists) and both backends, in memory.

The paths: ``http`` (Chat Completions), ``ws`` (the Responses API over a WebSocket) and
``responses-http`` (the Responses API over HTTP, ``api="responses"``: the fake plays the
WebSocket's scripts on ``POST /responses`` as Server-Sent Events, and takes raw bodies and
HTTP refusals from ``fake.add_responses_sse``).

Each case is one scripted fault. The test checks the same five things for every one:

1. the typed error, with a message a user can act on (key words in ``str(error)``);
2. the same error emitted once to ``llm.on("error")`` (the ``errors`` fixture);
3. everything delivered before the fault stays delivered (items are collected before the
   exception is raised);
4. the ``ChatContext`` is untouched (compared with a deep copy, ``ctx_snapshot``);
5. the llm is usable afterwards: the next turn returns exactly the next scripted reply.

Tolerated inputs (unknown and extra fields, a 1 MB event) check that the whole reply arrives,
intact, with no error event. Stalls use real time on asyncio, so their guards are tiny
(0.05 s); the rest take no time. Faults that exist on some paths only run there: SSE
framing, invalid UTF-8, a truncated body and HTTP statuses on both HTTP paths; handshake
rejections (with the same statuses) and close codes on the WebSocket; ``response.failed`` and
``response.incomplete`` on both Responses paths. Every fault states, for each path it does not
script, why it cannot happen there (``Fault.not_on``): those pairs are collected as skipped
cases that carry the reason, and ``test_every_fault_covers_every_path`` fails on a pair with
neither a script nor a reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from scoped_openai import (
    APIConnectionError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChatContext,
    ConflictError,
    InternalServerError,
    LimitExceededError,
    LLMResponse,
    NotFoundError,
    OpenAILLM,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    StreamLimits,
    ToolArgumentsError,
    WebSocketClosed,
)
from scoped_openai._ws_fallback import UNSUPPORTED_UPGRADE
from scoped_openai.testing import (
    DONE,
    CloseSocket,
    Disconnect,
    FakeOpenAI,
    Pause,
    Reply,
    Stall,
    WSReply,
    chunk,
    usage_chunk,
)
from scoped_openai.testing._ws_script import error_frame
from support.turns import turn

MakeLLM = Callable[..., OpenAILLM]
Key = tuple[str, Any]

PATHS = ("http", "ws", "responses-http")
#: Why a fault made of HTTP bodies or statuses has no WebSocket case.
NO_BODY_ON_WS = "the WebSocket carries whole JSON frames, not an HTTP body"
#: Why an HTTP status has no WebSocket case.
NO_STATUS_ON_WS = "the WebSocket's statuses are its handshake's: ws-handshake-status-*"
#: ... and why 404, 405 and 426 have none at all there.
FALLS_BACK = "a handshake refused as unsupported falls back to HTTP: test_ws_fallback.py"
#: Why a WebSocket handshake or close fault has no Responses-over-HTTP case.
NO_SOCKET_ON_HTTP = "a plain HTTP POST has no WebSocket handshake or close code"
#: Why a Responses terminal event has no Chat Completions case.
NO_RESPONSE_EVENTS_ON_CHAT = "Chat Completions has no response.failed / response.incomplete"

HEL_LO: list[Key] = [("Hel", None), ("lo", None)]
HI: list[Key] = [("Hi", None)]
NEXT_REPLY = ["next", " ans", "wer", ""]


def key(item: LLMResponse) -> Key:
    return (item.content, item.function_call)


async def next_turn_works(path: str, fake: FakeOpenAI, llm: OpenAILLM, ctx: ChatContext) -> None:
    fake.ws_handshake_status = None
    if path == "http":
        fake.replies.clear()
        fake.add(Reply.text("next answer"))
    else:
        fake.responses_sse.clear()
        fake.ws_replies.clear()
        fake.add_ws(WSReply.text("next answer"))
    items, error = await turn(llm, ctx)
    assert error is None, repr(error)
    assert [item.content for item in items] == NEXT_REPLY


@dataclass
class Fault:
    """One fault: how to script it on each path and what the user must get."""

    id: str
    script: dict[str, Callable[[FakeOpenAI], None]]
    error: type[BaseException] | None  # None: tolerated, the turn succeeds
    words: tuple[str, ...] | dict[str, tuple[str, ...]] = ()
    before: list[Key] = field(default_factory=list)  # all items, when the turn succeeds
    check: Callable[[Any], None] | None = None
    exact: bool = True  # type(error) is error, not a subclass
    llm_kwargs: dict[str, Any] = field(default_factory=dict)
    not_on: dict[str, str] = field(default_factory=dict)  # path -> why it cannot happen there


def http(*replies: Reply) -> Callable[[FakeOpenAI], None]:
    return lambda fake: fake.add(*replies)


def responses(reply: WSReply | Reply) -> Callable[[FakeOpenAI], None]:
    """``POST /responses``: a WebSocket script (played as SSE), or a raw answer (a body of
    SSE bytes, an HTTP refusal) as it is."""

    def setup(fake: FakeOpenAI) -> None:
        if isinstance(reply, Reply):
            fake.add_responses_sse(reply)
        else:
            fake.add_ws(reply)

    return setup


def sse(frame: dict[str, Any] | str) -> bytes:
    """One Server-Sent Event as the Responses API streams it (``event:`` then ``data:``); a
    string is sent as the data line as it is."""
    if isinstance(frame, str):
        return b"data: " + frame.encode() + b"\n\n"
    return f"event: {frame['type']}\ndata: {json.dumps(frame)}\n\n".encode()


def sse_events(reply: WSReply) -> list[bytes]:
    """The frames of a WebSocket script as SSE events (its pauses and stalls dropped)."""
    return [sse(step) for step in reply.steps if isinstance(step, dict)]


#: ``response.created`` ... the deltas of "Hel" and "lo", and no end (then a fault).
HEL_LO_EVENTS = sse_events(WSReply.text(["Hel", "lo"], then=[]))
HI_EVENTS = sse_events(WSReply.text(["Hi"], then=[]))


def ws(*replies: WSReply, handshake_status: int | None = None) -> Callable[[FakeOpenAI], None]:
    def setup(fake: FakeOpenAI) -> None:
        fake.add_ws(*replies)
        fake.ws_handshake_status = handshake_status

    return setup


# -- scripts the cases share ----------------------------------------------------------------------

#: One event of about 1 MB, with 2-, 3- and 4-byte UTF-8 characters, so the network pieces
#: (64 KiB on HTTP) split characters and the event alike.
BIG = ("é€😀 plain ascii text " * 40_000)[: 1024 * 1024 // 2]


def big_http_reply() -> Reply:
    body = b"".join(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": BIG}),
            chunk({}, finish_reason="stop"),
            usage_chunk(10, 5),
            DONE,
        ]
    )
    assert len(body) > 1024 * 1024
    return Reply([body[i : i + 65_521] for i in range(0, len(body), 65_521)])


def http_with_extras() -> Reply:
    def extra_chunk(delta: dict[str, Any], **top: Any) -> bytes:
        payload = {
            "id": "chatcmpl-x",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "system_fingerprint": "fp_1",
            "service_tier": "default",
            "a_field_from_the_future": {"nested": [1, 2]},
            "choices": [
                {
                    "index": 0,
                    "delta": {**delta, "annotations": [], "also_new": True},
                    "logprobs": None,
                    "finish_reason": None,
                    "extra": 1,
                }
            ],
            **top,
        }
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    usage = json.loads(usage_chunk(10, 5)[6:])
    usage["usage"]["brand_new_tokens"] = 3
    usage["usage"]["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0, "new": 1}
    return Reply(
        [
            b": keep-alive comment\n\n",
            b"retry: 1000\nid: 7\nunknown-field: x\n\n",
            extra_chunk({"role": "assistant", "content": ""}),
            b"event: ping\ndata: {}\n\n",
            extra_chunk({"content": "Hi"}),
            b'data: {"object": "chat.completion.keepalive"}\n\n',
            extra_chunk({"content": " there", "refusal": None}),
            chunk({}, finish_reason="stop"),
            b"data: " + json.dumps(usage).encode() + b"\n\n",
            DONE,
        ]
    )


def ws_with_extras() -> WSReply:
    steps: list[Any] = []
    for step in WSReply.text(["Hi", " there"]).steps:
        if isinstance(step, dict):
            step = {**step, "obfuscation": "xyz", "a_field_from_the_future": {"n": 1}}
            if isinstance(step.get("response"), dict):
                step["response"] = {**step["response"], "brand_new": [1], "reasoning": None}
            steps.append(step)
            steps.append({"type": "response.some_future_event", "sequence_number": 99})
        else:
            steps.append(step)
    steps.insert(1, {"type": "rate_limits.updated", "rate_limits": []})
    return WSReply(steps)


SERVER_ERROR_AFTER_HEL_LO = WSReply.text(
    ["Hel", "lo"],
    then=[
        error_frame(
            "server_error",
            "The server had an error processing your request.",
            status=500,
            type="server_error",
        )
    ],
)


def big_responses_body() -> Reply:
    """The 1 MB text as one SSE event, in 64 KiB reads (as ``big_http_reply``)."""
    body = b"".join(sse_events(WSReply.text([BIG])))
    assert len(body) > 1024 * 1024
    return Reply([body[i : i + 65_521] for i in range(0, len(body), 65_521)])


def responses_with_extras() -> Reply:
    """``ws_with_extras`` as SSE, with the SSE fields a client must ignore between events."""
    events = sse_events(ws_with_extras())
    return Reply(
        [
            b": keep-alive comment\n\n",
            b"retry: 1000\nid: 7\nunknown-field: x\n\n",
            events[0],
            b'event: ping\ndata: {"type": "ping"}\n\n',  # an event type it does not know
            *events[1:],
        ]
    )


CALLS_OK_AND_BAD = WSReply.function_calls(
    ("call_ok", "get_weather", '{"city": "Paris"}'),
    ("call_bad", "get_weather", '{"city": "Par'),
)

# -- the cases ------------------------------------------------------------------------------------

STALL_GUARDS = {"idle_timeout": 0.05, "first_token_timeout": 5.0}
FIRST_TOKEN_GUARDS = {"idle_timeout": None, "first_token_timeout": 0.05}

FAULTS: list[Fault] = [
    Fault(
        "server-closes-mid-stream",
        {
            "http": http(Reply.text(["Hel", "lo"], then=[Disconnect()])),
            "ws": ws(WSReply.text(["Hel", "lo"], then=[CloseSocket(1006)])),
            # A scripted close drops the HTTP connection mid-body on POST /responses.
            "responses-http": responses(WSReply.text(["Hel", "lo"], then=[CloseSocket(1006)])),
        },
        APIConnectionError,
        words={
            "http": ("fake-openai.invalid/v1/chat/completions", "peer closed connection"),
            "ws": ("WebSocket closed", "code 1006"),
            "responses-http": ("fake-openai.invalid/v1/responses", "peer closed connection"),
        },
        exact=False,
        before=HEL_LO,
    ),
    Fault(
        "stream-ends-without-its-end-marker",
        {
            "http": http(Reply.text(["Hel", "lo"], then=[chunk({}, finish_reason="stop")])),
            # The body ends cleanly after the deltas, with no terminal event.
            "responses-http": responses(Reply(HEL_LO_EVENTS)),
        },
        APIConnectionError,
        words={
            "http": ("ended before its end marker", "[DONE]"),
            "responses-http": ("ended before the response's terminal event", "mid-reply"),
        },
        before=HEL_LO,
        not_on={"ws": "a socket carries no end marker; a close mid-turn is ws-close-*"},
    ),
    Fault(
        "stall-mid-reply",
        {
            "http": http(Reply.text(["Hel", "lo"], then=[Stall()])),
            "ws": ws(WSReply.text(["Hel", "lo"], then=[Stall()])),
            "responses-http": responses(WSReply.text(["Hel", "lo"], then=[Stall()])),
        },
        APITimeoutError,
        words=("stalled", "0.05s"),
        before=HEL_LO,
        check=lambda e: (e.phase, e.seconds) == ("idle", 0.05) or pytest.fail(repr(e)),
        llm_kwargs=STALL_GUARDS,
    ),
    Fault(
        "stall-before-the-first-token",
        {
            "http": http(Reply([Stall()])),
            "ws": ws(WSReply([Stall()])),
            "responses-http": responses(WSReply([Stall()])),
        },
        APITimeoutError,
        words=("first-token deadline", "0.05s"),
        check=lambda e: (e.phase, e.seconds) == ("first_token", 0.05) or pytest.fail(repr(e)),
        llm_kwargs=FIRST_TOKEN_GUARDS,
    ),
    Fault(
        "sse-events-not-separated-by-a-blank-line",
        {
            "http": http(
                Reply.text(
                    ["Hi"],
                    then=[chunk({"content": " a"})[:-1] + chunk({"content": " b"}), DONE],
                )
            ),
            "responses-http": responses(
                Reply([*HI_EVENTS, HI_EVENTS[-1][:-1] + HI_EVENTS[-1], *HI_EVENTS[-1:]])
            ),
        },
        ProtocolError,
        words=("not valid JSON",),
        before=HI,
        not_on={"ws": NO_BODY_ON_WS},
    ),
    Fault(
        "a-200-that-is-not-an-event-stream",
        {
            "http": http(
                Reply(
                    [b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"],
                    headers={"content-type": "text/html"},
                )
            ),
            "responses-http": responses(
                Reply(
                    [b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"],
                    headers={"content-type": "text/html"},
                )
            ),
        },
        ProtocolError,
        words=("text/event-stream", "text/html"),
        not_on={"ws": NO_BODY_ON_WS},
    ),
    Fault(
        "malformed-json",
        {
            "http": http(Reply.text(["Hi"], then=[b"data: {not json\n\n", DONE])),
            "ws": ws(WSReply.text(["Hi"], then=["{not json"])),
            "responses-http": responses(WSReply.text(["Hi"], then=["{not json"])),
        },
        ProtocolError,
        words=("not valid JSON", "{not json"),
        before=HI,
    ),
    Fault(
        "malformed-json-in-the-same-read-as-text",
        {
            "http": http(
                Reply.raw(
                    b"".join(
                        [
                            chunk({"role": "assistant", "content": ""}),
                            chunk({"content": "Hel"}),
                            chunk({"content": "lo"}),
                            b"data: {not json\n\n",
                            DONE,
                        ]
                    )
                )
            ),
            "responses-http": responses(
                Reply.raw(b"".join([*HEL_LO_EVENTS, b"data: {not json\n\n"]))
            ),
        },
        ProtocolError,
        words=("not valid JSON", "{not json"),
        before=HEL_LO,
        not_on={"ws": "a frame is one event: there is no read holding several"},
    ),
    Fault(
        "malformed-json-before-any-output",
        {
            "http": http(Reply([b"data: {not json\n\n", DONE])),
            "ws": ws(WSReply.frames(["{not json"])),
            "responses-http": responses(WSReply.frames(["{not json"])),
        },
        ProtocolError,
        words=("not valid JSON", "{not json"),
    ),
    Fault(
        "invalid-utf8",
        {
            "http": http(
                Reply.text(
                    ["Hi"],
                    then=[
                        b'data: {"choices": [{"index": 0, "delta": {"content": "\xff\xfe"}}]}\n\n'
                    ],
                )
            ),
            "responses-http": responses(
                Reply(
                    [
                        *HI_EVENTS,
                        b'event: response.output_text.delta\ndata: {"type": '
                        b'"response.output_text.delta", "delta": "\xff\xfe"}\n\n',
                    ]
                )
            ),
        },
        ProtocolError,
        words=("not valid UTF-8",),
        before=HI,
        not_on={"ws": "a text frame is decoded by the WebSocket engine, not by the parser"},
    ),
    Fault(
        "error-payload-after-200-with-code",
        {
            "http": http(
                Reply.text(
                    ["Hel", "lo"],
                    then=[
                        b'data: {"error": {"message": "The server had an error processing '
                        b'your request.", "type": "server_error", "param": null, '
                        b'"code": "server_error"}}\n\n'
                    ],
                )
            ),
            "ws": ws(SERVER_ERROR_AFTER_HEL_LO),
            # The fake sends the flat streaming error event on POST /responses.
            "responses-http": responses(SERVER_ERROR_AFTER_HEL_LO),
        },
        APIStreamError,
        words=("The server had an error processing your request.", "code=server_error"),
        before=HEL_LO,
        check=lambda e: e.code == "server_error" or pytest.fail(repr(e)),
    ),
    Fault(
        "error-payload-after-200-without-code",
        {
            "http": http(
                Reply.text(
                    ["Hel", "lo"],
                    then=[b'data: {"error": {"message": "Model overloaded.", "type": null}}\n\n'],
                )
            ),
            "ws": ws(WSReply.text(["Hel", "lo"], then=[error_frame(None, "Model overloaded.")])),
            "responses-http": responses(
                WSReply.text(["Hel", "lo"], then=[error_frame(None, "Model overloaded.")])
            ),
        },
        APIStreamError,
        words=("Model overloaded.",),
        before=HEL_LO,
        check=lambda e: (e.code is None and "code=" not in str(e)) or pytest.fail(repr(e)),
    ),
    Fault(
        "a-1mb-event-is-delivered-intact",
        {
            "http": lambda fake: fake.add(big_http_reply()),
            "ws": ws(WSReply.text([BIG])),
            "responses-http": lambda fake: fake.add_responses_sse(big_responses_body()),
        },
        None,
        before=[(BIG, None), ("", None)],
    ),
    Fault(
        "unknown-and-extra-fields-are-tolerated",
        {
            "http": lambda fake: fake.add(http_with_extras()),
            "ws": ws(ws_with_extras()),
            "responses-http": lambda fake: fake.add_responses_sse(responses_with_extras()),
        },
        None,
        before=[("Hi", None), (" there", None), ("", None)],
    ),
    Fault(
        "tool-arguments-that-are-not-json",
        {
            "http": http(
                Reply.tool_calls(
                    ("call_ok", "get_weather", '{"city": "Paris"}'),
                    ("call_bad", "get_weather", '{"city": "Par'),
                )
            ),
            "ws": ws(CALLS_OK_AND_BAD),
            "responses-http": responses(CALLS_OK_AND_BAD),
        },
        ToolArgumentsError,
        words=("get_weather", "call_bad", "not a JSON object", '{"city": "Par'),
        before=[("", {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_ok"})],
        check=lambda e: (
            (e.name, e.call_id, e.raw_arguments) == ("get_weather", "call_bad", '{"city": "Par')
            or pytest.fail(repr(e))
        ),
    ),
]


# -- hostile servers (issue 18) ------------------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
BIG_ARGUMENTS = json.dumps({"text": "x" * 4096})
SMALL_LIMITS = StreamLimits(max_event_bytes=16 * 1024, max_tool_arguments_bytes=2048)


#: A function call whose argument delta is a JSON object, not a string.
ARGUMENTS_AS_AN_OBJECT = WSReply.text(
    ["Hi"],
    then=[
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {
                "id": "fc_1",
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": "call_1",
                "name": "f",
            },
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 1,
            "delta": {"a": 1},
        },
    ],
)


REDIRECT = Reply([], status=307, headers={"location": "https://elsewhere.example/v1/x"})


def limit_check(name: str) -> Callable[[Any], None]:
    return lambda e: (
        (e.limit, e.value) == (name, getattr(SMALL_LIMITS, name)) or pytest.fail(repr(e))
    )


FAULTS += [
    Fault(
        "json-nested-100000-deep",
        {
            "http": http(Reply.text(["Hi"], then=[b"data: " + DEEP + b"\n\n", DONE])),
            "ws": ws(WSReply.text(["Hi"], then=[DEEP.decode()])),
            "responses-http": responses(WSReply.text(["Hi"], then=[DEEP.decode()])),
        },
        ProtocolError,
        before=HI,
    ),
    Fault(
        "tool-arguments-sent-as-an-object",
        {
            "http": http(
                Reply.text(
                    ["Hi"],
                    then=[
                        chunk(
                            {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": "call_1",
                                        "type": "function",
                                        "function": {"name": "f", "arguments": {"a": 1}},
                                    }
                                ]
                            }
                        ),
                        chunk({}, finish_reason="tool_calls"),
                        DONE,
                    ],
                )
            ),
            "ws": ws(ARGUMENTS_AS_AN_OBJECT),
            "responses-http": responses(ARGUMENTS_AS_AN_OBJECT),
        },
        ProtocolError,
        words=("arguments",),
        before=HI,
    ),
    Fault(
        "an-sse-line-with-no-end-over-the-event-limit",
        {
            "http": http(Reply.text(["Hi"], then=[b"data: " + b"x" * 8192, b"y" * 16384])),
            "responses-http": responses(Reply([*HI_EVENTS, b"data: " + b"x" * 8192, b"y" * 16384])),
        },
        LimitExceededError,
        words=("max_event_bytes=16,384",),
        before=HI,
        check=limit_check("max_event_bytes"),
        llm_kwargs={"limits": SMALL_LIMITS},
        not_on={"ws": "SSE lines exist on HTTP only (a frame's size is the engine's limit)"},
    ),
    Fault(
        "tool-arguments-over-the-limit",
        {
            "http": http(Reply.tool_calls(("call_1", "save", BIG_ARGUMENTS))),
            "ws": ws(WSReply.function_calls(("call_1", "save", BIG_ARGUMENTS))),
            "responses-http": responses(WSReply.function_calls(("call_1", "save", BIG_ARGUMENTS))),
        },
        LimitExceededError,
        words=("'save'", "max_tool_arguments_bytes=2,048"),
        check=limit_check("max_tool_arguments_bytes"),
        llm_kwargs={"limits": SMALL_LIMITS},
    ),
    Fault(
        "comments-trickled-are-not-events",
        {
            "http": http(Reply.text(["Hel", "lo"], then=[Pause(0.02), b": hm\n"] * 50 + [DONE])),
            "responses-http": responses(Reply([*HEL_LO_EVENTS, *[Pause(0.02), b": hm\n"] * 50])),
        },
        APITimeoutError,
        words=("no event arrived", "0.05s"),
        before=HEL_LO,
        check=lambda e: (e.phase, e.seconds) == ("idle", 0.05) or pytest.fail(repr(e)),
        llm_kwargs=STALL_GUARDS,
        not_on={"ws": "SSE comments exist on HTTP only"},
    ),
    Fault(
        "a-redirect-to-another-origin",
        {
            "http": http(REDIRECT),
            "responses-http": responses(REDIRECT),
        },
        APIStatusError,
        words=("HTTP 307", "redirected to https://elsewhere.example", "not followed"),
        check=lambda e: e.status_code == 307 or pytest.fail(repr(e)),
        # The WebSocket handshake's redirect is tests/transports' (every engine refuses it).
        not_on={"ws": "a redirected handshake is tested per engine in tests/transports"},
    ),
]


# -- statuses -------------------------------------------------------------------------------------

STATUSES: list[tuple[int, type[APIStatusError]]] = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (408, APIStatusError),
    (409, ConflictError),
    (429, RateLimitError),
    (500, InternalServerError),
    (503, InternalServerError),
]


def _http_status_check(status: int) -> Callable[[Any], None]:
    def check(error: Any) -> None:
        assert error.status_code == status
        assert error.code == "some_code"
        assert error.param == "messages"
        assert error.type == "invalid_request_error"
        assert error.message == f"HTTP {status}: Something specific went wrong."
        assert error.request_id == "req_123"
        assert error.retry_after == (7.0 if status == 429 else None)
        assert error.body["error"]["message"] == "Something specific went wrong."

    return check


def _ws_status_check(status: int) -> Callable[[Any], None]:
    def check(error: Any) -> None:
        assert error.status_code == status
        assert error.code == {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        assert any("handshake" in note for note in getattr(error, "__notes__", []))

    return check


for _status, _cls in STATUSES:
    headers = {"x-request-id": "req_123"}
    if _status == 429:
        headers["retry-after"] = "7"
    _refusal = Reply.error(
        _status,
        "Something specific went wrong.",
        code="some_code",
        param="messages",
        headers=headers,
    )
    FAULTS.append(
        Fault(
            f"http-status-{_status}",
            {"http": http(_refusal), "responses-http": responses(_refusal)},
            _cls,
            words=(f"HTTP {_status}", "Something specific went wrong.", "request_id=req_123"),
            check=_http_status_check(_status),
            not_on={"ws": NO_STATUS_ON_WS if _status not in UNSUPPORTED_UPGRADE else FALLS_BACK},
        )
    )
    if _status in UNSUPPORTED_UPGRADE:
        # "No WebSocket here": the instance falls back to the Responses API over HTTP
        # instead of failing (tests/llm/test_ws_fallback.py).
        continue
    FAULTS.append(
        Fault(
            f"ws-handshake-status-{_status}",
            {"ws": ws(handshake_status=_status)},
            _cls,
            words=(f"HTTP {_status}",),
            check=_ws_status_check(_status),
            not_on={"http": NO_SOCKET_ON_HTTP, "responses-http": NO_SOCKET_ON_HTTP},
        )
    )


_PROXY_PAGE = Reply(
    [b"<html><body><h1>502 Bad Gateway</h1></body></html>"],
    status=502,
    headers={"content-type": "text/html", "x-request-id": "req_9"},
)
FAULTS.append(
    Fault(
        "http-status-502-with-a-proxy-page",
        {"http": http(_PROXY_PAGE), "responses-http": responses(_PROXY_PAGE)},
        InternalServerError,
        words=("HTTP 502", "502 Bad Gateway", "request_id=req_9"),
        check=lambda e: (
            (e.status_code, e.code, e.body) == (502, None, None) or pytest.fail(repr(e))
        ),
        not_on={"ws": NO_STATUS_ON_WS},
    )
)


# -- WebSocket close codes mid-turn ---------------------------------------------------------------

for _code in (1000, 1001, 1006, 1011):
    FAULTS.append(
        Fault(
            f"ws-close-{_code}-mid-turn",
            {"ws": ws(WSReply.text(["Hel", "lo"], then=[CloseSocket(_code, "going away")]))},
            WebSocketClosed,
            words=("WebSocket closed", f"code {_code}", "going away"),
            before=HEL_LO,
            check=lambda e, code=_code: e.close_code == code or pytest.fail(repr(e)),
            # Over HTTP the connection drops instead: server-closes-mid-stream.
            not_on={"http": NO_SOCKET_ON_HTTP, "responses-http": NO_SOCKET_ON_HTTP},
        )
    )


# -- the Responses API's own terminal errors ------------------------------------------------------

FAULTS += [
    Fault(
        "response-failed",
        {
            "ws": ws(WSReply.failed("server_error", "Something went wrong on our side.")),
            "responses-http": responses(
                WSReply.failed("server_error", "Something went wrong on our side.")
            ),
        },
        APIStreamError,
        words=("the response failed", "Something went wrong on our side.", "code=server_error"),
        check=lambda e: (e.status, e.code) == ("failed", "server_error") or pytest.fail(repr(e)),
        not_on={"http": NO_RESPONSE_EVENTS_ON_CHAT},
    ),
    Fault(
        "response-incomplete-after-text",
        {
            "ws": ws(WSReply.incomplete("max_output_tokens", "Hello")),
            "responses-http": responses(WSReply.incomplete("max_output_tokens", "Hello")),
        },
        APIStreamError,
        words=("output token limit", "max_completion_tokens"),
        before=[("Hell", None), ("o", None)],
        check=lambda e: (
            (e.status, e.code) == ("incomplete", "max_output_tokens") or pytest.fail(repr(e))
        ),
        not_on={"http": NO_RESPONSE_EVENTS_ON_CHAT},
    ),
    Fault(
        "error-event-before-any-output",
        {
            "http": http(
                Reply(
                    [
                        b'data: {"error": {"message": "The engine is overloaded.", '
                        b'"type": "server_error", "param": null, "code": "server_error"}}\n\n'
                    ]
                )
            ),
            "ws": ws(WSReply.error("server_error", "The engine is overloaded.", status=500)),
            "responses-http": responses(
                WSReply.error("server_error", "The engine is overloaded.", status=500)
            ),
        },
        APIStreamError,
        words=("The engine is overloaded.", "code=server_error"),
        check=lambda e: e.code == "server_error" or pytest.fail(repr(e)),
    ),
]


def _case(fault: Fault, path: str) -> Any:
    if path in fault.script:
        return pytest.param(fault, path, id=f"{fault.id}-{path}")
    # Not on this path, with the reason (test_every_fault_covers_every_path requires one).
    reason = fault.not_on.get(path, "no script and no reason")
    return pytest.param(fault, path, id=f"{fault.id}-{path}", marks=pytest.mark.skip(reason))


CASES = [_case(fault, path) for fault in FAULTS for path in PATHS]


def test_every_fault_covers_every_path() -> None:
    """Each fault is scripted on a path or says why it cannot happen there, never both."""
    for fault in FAULTS:
        for path in PATHS:
            scripted, reason = path in fault.script, fault.not_on.get(path)
            assert scripted != bool(reason), (fault.id, path, scripted, reason)


@pytest.mark.anyio
@pytest.mark.parametrize(("fault", "path"), CASES)
async def test_fault(
    fake: FakeOpenAI,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    make_llm: MakeLLM,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
    fault: Fault,
    path: str,
) -> None:
    fault.script[path](fake)
    if path == "ws":
        llm = make_ws_llm(**fault.llm_kwargs)
    else:
        llm = make_llm(**fault.llm_kwargs, **({"api": "responses"} if path != "http" else {}))
    async with llm:
        items, error = await turn(llm, ctx)
        # 3. what arrived before the fault stays delivered
        assert [key(item) for item in items] == fault.before
        if fault.error is None:
            assert error is None, repr(error)
            assert errors == []
        else:
            # 1. the typed error, with words a user can act on
            assert error is not None, "the fault went unnoticed"
            if fault.exact:
                assert type(error) is fault.error, repr(error)
            else:
                assert isinstance(error, fault.error), repr(error)
            words = fault.words if isinstance(fault.words, tuple) else fault.words[path]
            for word in words:
                assert word in str(error), (word, str(error))
            if fault.check is not None:
                fault.check(error)
            # 2. the error event, once
            assert errors == [error]
        # 4. the context is untouched
        assert ctx.items == ctx_snapshot
        # 5. the llm is usable afterwards
        await next_turn_works(path, fake, llm, ctx)
        assert ctx.items == ctx_snapshot
    assert fake.counters.open_bodies == 0
    assert fake.ws_open == 0

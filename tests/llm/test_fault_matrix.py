"""The fault matrix: every fault on both paths (where it exists) and both backends, in memory.

Each case is one scripted fault. The test checks the same five things for every one:

1. the typed error, with a message a user can act on (key words in ``str(error)``);
2. the same error emitted once to ``llm.on("error")`` (the ``errors`` fixture);
3. everything delivered before the fault stays delivered (items are collected before the
   exception is raised);
4. the ``ChatContext`` is untouched (compared with a deep copy, ``ctx_snapshot``);
5. the llm is usable afterwards: the next turn returns exactly the next scripted reply.

Tolerated inputs (unknown and extra fields, a 1 MB event) check that the whole reply arrives,
intact, with no error event. Stalls use real time on asyncio, so their guards are tiny
(0.05 s); the rest take no time. Faults that exist on one path only run on that path: SSE
framing, invalid UTF-8, a truncated body and HTTP statuses on HTTP; handshake rejections
(with the same statuses) and close codes on the WebSocket.
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


def http(*replies: Reply) -> Callable[[FakeOpenAI], None]:
    return lambda fake: fake.add(*replies)


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


# -- the cases ------------------------------------------------------------------------------------

STALL_GUARDS = {"idle_timeout": 0.05, "first_token_timeout": 5.0}
FIRST_TOKEN_GUARDS = {"idle_timeout": None, "first_token_timeout": 0.05}

FAULTS: list[Fault] = [
    Fault(
        "server-closes-mid-stream",
        {
            "http": http(Reply.text(["Hel", "lo"], then=[Disconnect()])),
            "ws": ws(WSReply.text(["Hel", "lo"], then=[CloseSocket(1006)])),
        },
        APIConnectionError,
        words={
            "http": ("fake-openai.invalid/v1/chat/completions", "peer closed connection"),
            "ws": ("WebSocket closed", "code 1006"),
        },
        exact=False,
        before=HEL_LO,
    ),
    Fault(
        "stream-ends-without-its-end-marker",
        {"http": http(Reply.text(["Hel", "lo"], then=[chunk({}, finish_reason="stop")]))},
        APIConnectionError,
        words=("ended before its end marker", "[DONE]"),
        before=HEL_LO,
    ),
    Fault(
        "stall-mid-reply",
        {
            "http": http(Reply.text(["Hel", "lo"], then=[Stall()])),
            "ws": ws(WSReply.text(["Hel", "lo"], then=[Stall()])),
        },
        APITimeoutError,
        words=("stalled", "0.05s"),
        before=HEL_LO,
        check=lambda e: (e.phase, e.seconds) == ("idle", 0.05) or pytest.fail(repr(e)),
        llm_kwargs=STALL_GUARDS,
    ),
    Fault(
        "stall-before-the-first-token",
        {"http": http(Reply([Stall()])), "ws": ws(WSReply([Stall()]))},
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
            )
        },
        ProtocolError,
        words=("not valid JSON",),
        before=HI,
    ),
    Fault(
        "a-200-that-is-not-an-event-stream",
        {
            "http": http(
                Reply(
                    [b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"],
                    headers={"content-type": "text/html"},
                )
            )
        },
        ProtocolError,
        words=("text/event-stream", "text/html"),
    ),
    Fault(
        "malformed-json",
        {
            "http": http(Reply.text(["Hi"], then=[b"data: {not json\n\n", DONE])),
            "ws": ws(WSReply.text(["Hi"], then=["{not json"])),
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
            )
        },
        ProtocolError,
        words=("not valid JSON", "{not json"),
        before=HEL_LO,
    ),
    Fault(
        "malformed-json-before-any-output",
        {
            "http": http(Reply([b"data: {not json\n\n", DONE])),
            "ws": ws(WSReply.frames(["{not json"])),
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
            )
        },
        ProtocolError,
        words=("not valid UTF-8",),
        before=HI,
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
            "ws": ws(
                WSReply.text(
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
            ),
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
        },
        APIStreamError,
        words=("Model overloaded.",),
        before=HEL_LO,
        check=lambda e: (e.code is None and "code=" not in str(e)) or pytest.fail(repr(e)),
    ),
    Fault(
        "a-1mb-event-is-delivered-intact",
        {"http": lambda fake: fake.add(big_http_reply()), "ws": ws(WSReply.text([BIG]))},
        None,
        before=[(BIG, None), ("", None)],
    ),
    Fault(
        "unknown-and-extra-fields-are-tolerated",
        {"http": lambda fake: fake.add(http_with_extras()), "ws": ws(ws_with_extras())},
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
            "ws": ws(
                WSReply.function_calls(
                    ("call_ok", "get_weather", '{"city": "Paris"}'),
                    ("call_bad", "get_weather", '{"city": "Par'),
                )
            ),
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
            )
        },
        ProtocolError,
        words=("arguments",),
        before=HI,
    ),
    Fault(
        "an-sse-line-with-no-end-over-the-event-limit",
        {"http": http(Reply.text(["Hi"], then=[b"data: " + b"x" * 8192, b"y" * 16384]))},
        LimitExceededError,
        words=("max_event_bytes=16,384",),
        before=HI,
        check=limit_check("max_event_bytes"),
        llm_kwargs={"limits": SMALL_LIMITS},
    ),
    Fault(
        "tool-arguments-over-the-limit",
        {
            "http": http(Reply.tool_calls(("call_1", "save", BIG_ARGUMENTS))),
            "ws": ws(WSReply.function_calls(("call_1", "save", BIG_ARGUMENTS))),
        },
        LimitExceededError,
        words=("'save'", "max_tool_arguments_bytes=2,048"),
        check=limit_check("max_tool_arguments_bytes"),
        llm_kwargs={"limits": SMALL_LIMITS},
    ),
    Fault(
        "comments-trickled-are-not-events",
        {"http": http(Reply.text(["Hel", "lo"], then=[Pause(0.02), b": hm\n"] * 50 + [DONE]))},
        APITimeoutError,
        words=("no event arrived", "0.05s"),
        before=HEL_LO,
        check=lambda e: (e.phase, e.seconds) == ("idle", 0.05) or pytest.fail(repr(e)),
        llm_kwargs=STALL_GUARDS,
    ),
    Fault(
        "a-redirect-to-another-origin",
        {
            "http": http(
                Reply([], status=307, headers={"location": "https://elsewhere.example/v1/x"})
            )
        },
        APIStatusError,
        words=("HTTP 307", "redirected to https://elsewhere.example", "not followed"),
        check=lambda e: e.status_code == 307 or pytest.fail(repr(e)),
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
    FAULTS.append(
        Fault(
            f"http-status-{_status}",
            {
                "http": http(
                    Reply.error(
                        _status,
                        "Something specific went wrong.",
                        code="some_code",
                        param="messages",
                        headers=headers,
                    )
                )
            },
            _cls,
            words=(f"HTTP {_status}", "Something specific went wrong.", "request_id=req_123"),
            check=_http_status_check(_status),
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
        )
    )


FAULTS.append(
    Fault(
        "http-status-502-with-a-proxy-page",
        {
            "http": http(
                Reply(
                    [b"<html><body><h1>502 Bad Gateway</h1></body></html>"],
                    status=502,
                    headers={"content-type": "text/html", "x-request-id": "req_9"},
                )
            )
        },
        InternalServerError,
        words=("HTTP 502", "502 Bad Gateway", "request_id=req_9"),
        check=lambda e: (
            (e.status_code, e.code, e.body) == (502, None, None) or pytest.fail(repr(e))
        ),
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
        )
    )


CASES = [
    pytest.param(fault, path, id=f"{fault.id}-{path}")
    for fault in FAULTS
    for path in ("http", "ws")
    if path in fault.script
]


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
    make = make_llm if path == "http" else make_ws_llm
    async with make(**fault.llm_kwargs) as llm:
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

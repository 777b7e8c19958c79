"""Every chunk, event and error FakeOpenAI sends, validated against OpenAI's OpenAPI spec.

Users test their agents against the fake, so it must never send what the real API would
not. Checked in the *strict* view (``openapi_schema``): the fake invents no field the spec
does not define (the live API's extras, such as ``obfuscation``, are not needed by anyone).

- Chat Completions: each ``data:`` chunk of every ``Reply`` builder against
  ``CreateChatCompletionStreamResponse``; every error body (scripted, and the fake's own:
  unknown model, unknown route, script exhausted) against ``ErrorResponse``.
- The Responses WebSocket: every frame of every ``WSReply`` builder, the warm-up, the
  ``"stop"`` cancel reply and every refusal, played through the fake's socket, against the
  member of ``ResponsesServerEvent`` its ``type`` names (errors: ``ResponseWsError``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from httpx_ws import aconnect_ws
from openapi_schema import SKIP_REASON, SPEC_FILE, event_problems, problems, sse_payloads

from scoped_openai import APIStreamError, ChatContext, ChatRole, NotFoundError
from scoped_openai.testing import (
    FAKE_API_KEY,
    FakeOpenAI,
    Reply,
    WSReply,
    chunk,
    usage_chunk,
)
from scoped_openai.testing._ws_fake import rejection_body
from scoped_openai.testing._ws_script import ECHOED_DEFAULTS

pytestmark = pytest.mark.skipif(not SPEC_FILE.is_file(), reason=SKIP_REASON)

CHUNK = "CreateChatCompletionStreamResponse"
WS_EVENTS = "ResponsesServerEvent"
TERMINAL = {"response.completed", "response.failed", "response.incomplete", "error"}
URL = "ws://fake-openai.invalid/v1/responses"
CALLS = [("call_1", "get_weather", '{"city": "Paris"}'), ("call_2", "book", '{"guests": 2}')]


def body_of(reply: Reply) -> bytes:
    return b"".join(step for step in reply.steps if isinstance(step, bytes))


def chunk_problems(reply: Reply) -> list[str]:
    payloads = sse_payloads(body_of(reply))
    assert payloads, "a reply with no chunks checks nothing"
    return [
        f"chunk {i}: {p}" for i, c in enumerate(payloads) for p in problems(c, CHUNK, strict=True)
    ]


CHAT_REPLIES: dict[str, Callable[[], Reply]] = {
    "text": lambda: Reply.text("Hello there, friend."),
    "text-pieces-delayed": lambda: Reply.text(["Hel", "lo"], delay=0.1, model="gpt-5-mini"),
    "text-no-usage": lambda: Reply.text("Hi", usage=None),
    "text-cut-by-length": lambda: Reply.text("Hi", finish_reason="length"),
    "one-tool-call": lambda: Reply.tool_calls(CALLS[0]),
    "parallel-tool-calls-after-text": lambda: Reply.tool_calls(*CALLS, text="Let me check."),
    "raw-chunks": lambda: Reply(
        [chunk({"role": "assistant", "content": ""}), chunk({"refusal": "No."}), usage_chunk(1, 2)]
    ),
}


@pytest.mark.parametrize("kind", list(CHAT_REPLIES))
def test_every_chat_reply_kind_sends_valid_chunks(kind: str) -> None:
    assert chunk_problems(CHAT_REPLIES[kind]()) == []


def error_body(reply: Reply) -> Any:
    assert reply.status >= 400
    assert reply.headers["content-type"] == "application/json"
    return json.loads(body_of(reply))


def test_every_chat_error_body_is_valid() -> None:
    fake = FakeOpenAI()
    post = json.dumps({"model": "gpt-4o-mini", "messages": []}).encode()
    asks = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    replies = {
        "scripted": Reply.error(429, "Slow down.", code="rate_limit_exceeded"),
        "unknown model": fake.answer(
            "POST", "/v1/chat/completions", {}, {}, json.dumps({"model": "llama-3"}).encode()
        ),
        "unknown route": fake.answer("POST", "/v1/embeddings", {}, {}, post),
        "no messages": fake.answer("POST", "/v1/chat/completions", {}, {}, post),
        "script exhausted": fake.answer("POST", "/v1/chat/completions", {}, {}, asks.encode()),
    }
    bodies = {name: error_body(reply) for name, reply in replies.items()}
    for status in (401, 403, 429, 500):  # a refused WebSocket handshake's body
        bodies[f"handshake {status}"] = rejection_body(status)
    found = {name: problems(body, "ErrorResponse", strict=True) for name, body in bodies.items()}
    assert found == {name: [] for name in bodies}
    assert [r.status for r in replies.values()] == [429, 404, 404, 400, 500]
    assert bodies["no messages"]["error"]["code"] == "empty_array"


@pytest.mark.anyio
@pytest.mark.loopback
async def test_what_the_loopback_server_puts_on_the_wire_is_valid(fake: FakeOpenAI) -> None:
    # The same replies through hypercorn and a real httpx client: the bytes on the socket.
    fake.add(Reply.tool_calls(*CALLS, text="Checking."))
    body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with anyio.fail_after(10):
        async with fake.serve() as server, httpx.AsyncClient() as client:
            url = f"{server.base_url}/chat/completions"
            streamed = await client.post(url, json=body)
            refused = await client.post(url, json={**body, "model": "llama-3"})
    chunks = sse_payloads(streamed.content)
    assert len(chunks) > 3
    assert [problems(c, CHUNK, strict=True) for c in chunks] == [[] for _ in chunks]
    assert refused.status_code == 404
    assert problems(refused.json(), "ErrorResponse", strict=True) == []


# -- the Responses WebSocket --------------------------------------------------------------------


def create(**fields: Any) -> str:
    return json.dumps({"type": "response.create", "model": "gpt-5-mini", "input": [], **fields})


async def frames_until_terminal(ws: Any) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] not in TERMINAL:
        frames.append(json.loads(await ws.receive_text()))
    return frames


async def played(reply: WSReply) -> list[dict[str, Any]]:
    """The frames the fake's socket sends for one create answered by ``reply``."""
    fake = FakeOpenAI().add_ws(reply)
    async with fake.ws_connector()(URL, {"authorization": f"Bearer {FAKE_API_KEY}"}) as ws:
        await ws.send_text(create())
        return await frames_until_terminal(ws)


WS_REPLIES: dict[str, Callable[[], WSReply]] = {
    "text": lambda: WSReply.text("Hello there, friend.", model="gpt-5-mini"),
    "text-no-usage": lambda: WSReply.text("Hi", usage=None),
    "function-call": lambda: WSReply.function_calls(CALLS[0]),
    "text-then-function-calls": lambda: WSReply.function_calls(*CALLS, text="Checking."),
    "error": lambda: WSReply.error("rate_limit_exceeded", "Slow down.", status=429),
    "failed": lambda: WSReply.failed("server_error", "The model failed."),
    "incomplete": lambda: WSReply.incomplete("max_output_tokens", "Cut sho"),
    "incomplete-empty": lambda: WSReply.incomplete("content_filter"),
}


def ws_problems(frames: list[dict[str, Any]]) -> list[str]:
    assert frames, "no frames checks nothing"
    return [
        f"frame {i} ({f.get('type')}): {p}"
        for i, f in enumerate(frames)
        for p in event_problems(f, WS_EVENTS, strict=True)
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", list(WS_REPLIES))
async def test_every_websocket_reply_kind_sends_valid_frames(kind: str) -> None:
    frames = await played(WS_REPLIES[kind]())
    assert ws_problems(frames) == []
    numbers = [f["sequence_number"] for f in frames if "sequence_number" in f]
    assert numbers == list(range(len(numbers)))  # every response event numbered, in order


@pytest.mark.anyio
async def test_response_objects_echo_the_request_and_stay_valid() -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
    asked = {
        "instructions": "Be brief.",
        "tools": [tool],
        "tool_choice": "required",
        "temperature": 0.2,
        "top_p": 0.9,
        "parallel_tool_calls": False,
    }
    raw = [{"type": "response.completed", "response": {"id": "resp_raw", "output": []}}]
    fake = FakeOpenAI().add_ws(
        WSReply.function_calls(CALLS[0]), WSReply.text("chained"), WSReply.frames(raw)
    )
    async with fake.ws_connector()(URL, {}) as ws:
        await ws.send_text(create(**asked))
        first = await frames_until_terminal(ws)
        await ws.send_text(create(previous_response_id="resp_fake_1"))
        second = await frames_until_terminal(ws)
        await ws.send_text(create(**asked))
        (as_given,) = await frames_until_terminal(ws)
    for frame in (first[0], first[-1]):
        assert {key: frame["response"][key] for key in asked} == asked
    assert first[-1]["response"]["previous_response_id"] is None
    defaults = {key: second[-1]["response"][key] for key in [*asked, "previous_response_id"]}
    assert defaults == {**ECHOED_DEFAULTS, "previous_response_id": "resp_fake_1"}
    assert as_given == raw[0]  # raw frames are sent as they are
    assert ws_problems(first + second) == []


@pytest.mark.anyio
async def test_the_warm_up_and_the_refusals_send_valid_frames() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("slow", delay=1.0), WSReply.text("next"))
    sent: dict[str, list[dict[str, Any]]] = {}
    async with fake.ws_connector()(URL, {}) as ws:
        await ws.send_text(create(generate=False, store=False))
        sent["warm-up"] = await frames_until_terminal(ws)
        await ws.send_text(create(previous_response_id=sent["warm-up"][-1]["response"]["id"]))
        await ws.send_text(create())  # while the first is in flight
        sent["in flight"] = [json.loads(await ws.receive_text())]
        sent["reply"] = await frames_until_terminal(ws)
        await ws.send_text(create(previous_response_id="resp_never_made"))
        sent["previous not found"] = await frames_until_terminal(ws)
        await ws.send_text(create(model="claude-3"))
        sent["unknown model"] = await frames_until_terminal(ws)
        for frame in ("{not json", "[1, 2]", json.dumps({"type": "session.update"})):
            await ws.send_text(frame)
            sent[frame] = await frames_until_terminal(ws)
        await ws.send_text(create())
        sent["next"] = await frames_until_terminal(ws)
        await ws.send_text(create())
        sent["script exhausted"] = await frames_until_terminal(ws)
    assert [f["type"] for f in sent["warm-up"]] == ["response.created", "response.completed"]
    assert [f["sequence_number"] for f in sent["warm-up"]] == [0, 1]
    codes = {name: frames[-1].get("error", {}).get("code") for name, frames in sent.items()}
    assert codes == {
        "warm-up": None,
        "in flight": "conversation_already_has_active_response",
        "reply": None,
        "previous not found": "previous_response_not_found",
        "unknown model": "model_not_found",
        "{not json": "invalid_json",
        "[1, 2]": "invalid_event",
        '{"type": "session.update"}': "unknown_event",
        "next": None,
        "script exhausted": "fake_script_exhausted",
    }
    assert {name: ws_problems(frames) for name, frames in sent.items()} == {
        name: [] for name in sent
    }


@pytest.mark.anyio
@pytest.mark.parametrize("created_first", [True, False])
async def test_the_stop_cancel_reply_is_valid(created_first: bool) -> None:
    fake = FakeOpenAI().add_ws(WSReply.text(["a", "b", "c"], delay=1.0))
    fake.on_cancel = "stop"
    async with fake.ws_connector()(URL, {}) as ws:
        await ws.send_text(create())
        before = [json.loads(await ws.receive_text())] if created_first else []
        await ws.send_text(json.dumps({"type": "response.cancel"}))
        frames = before + await frames_until_terminal(ws)
    assert [f["type"] for f in frames] == ["response.created", "response.incomplete"]
    assert [f["sequence_number"] for f in frames] == [0, 1]
    assert frames[-1]["response"]["status"] == "cancelled"
    assert ws_problems(frames) == []


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True], ids=["http", "websocket"])
async def test_an_unknown_model_is_the_api_s_error_and_takes_no_scripted_reply(
    fake: FakeOpenAI, streaming: bool
) -> None:
    fake.add(Reply.text("kept"))
    fake.add_ws(WSReply.text("kept"))
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    async with fake.llm(streaming=streaming, model="llama-3") as llm:
        with pytest.raises((NotFoundError, APIStreamError)) as info:
            async for _ in llm.chat(ctx):
                pass
    error = info.value
    if isinstance(error, NotFoundError):
        assert not streaming
        assert error.body == {
            "error": {
                "message": "The model `llama-3` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
        }
    else:
        assert streaming
        assert (error.status, error.code, error.param) == ("400", "model_not_found", "model")
    assert (len(fake.replies), len(fake.ws_replies)) == (1, 1)


@pytest.mark.anyio
@pytest.mark.loopback
async def test_what_the_loopback_websocket_puts_on_the_wire_is_valid(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.function_calls(*CALLS, text="Checking.", fragment_size=3))
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            httpx.AsyncClient() as client,
            aconnect_ws(f"{server.base_url}/responses", client) as ws,
        ):
            await ws.send_text(create(tools=[], instructions="Be brief."))
            frames: list[dict[str, Any]] = []
            while not frames or frames[-1]["type"] not in TERMINAL:
                frames.append(json.loads(await ws.receive_text()))
    assert len(frames) > 10
    assert ws_problems(frames) == []


async def played_over_http(reply: WSReply) -> list[dict[str, Any]]:
    """The SSE events the fake's ``POST /responses`` sends for ``reply`` (their data)."""
    fake = FakeOpenAI().add_ws(reply)
    body = {"model": "gpt-5-mini", "input": [], "stream": True}
    async with fake.client() as client:
        response = await client.post("http://fake-openai.invalid/v1/responses", json=body)
    assert response.status_code == 200
    payloads: list[dict[str, Any]] = sse_payloads(response.content)
    return payloads


@pytest.mark.anyio
@pytest.mark.parametrize("kind", list(WS_REPLIES))
async def test_every_reply_kind_over_http_sends_valid_stream_events(kind: str) -> None:
    """Over HTTP the events are the spec's ``ResponseStreamEvent`` members, the error one
    included (flat, unlike the WebSocket's nested error frame)."""
    events = await played_over_http(WS_REPLIES[kind]())
    assert events, "no events checks nothing"
    assert [
        f"event {i} ({e.get('type')}): {p}"
        for i, e in enumerate(events)
        for p in event_problems(e, "ResponseStreamEvent", strict=True)
    ] == []

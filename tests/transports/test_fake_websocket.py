"""FakeOpenAI's Responses WebSocket: the script builders, the in-memory socket, the loopback.

In-memory tests drive ``fake.ws_connector()`` directly (no OpenAILLM) and parse what comes
back with the real client's ``ResponsesEventMapper``, so the frames are known to be shaped the
way the client reads them. Cross-backend tests run on asyncio and trio (anyio's plugin); timed
tests run on trio's virtual clock (pytest-trio's ``autojump_clock``), where "at once" means "at
the same virtual instant". Loopback tests use the real adapters (trio-websocket, httpx-ws)
against hypercorn, each bounded by ``anyio.fail_after``.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from scoped_openai._errors import (
    APIStreamError,
    AuthenticationError,
    RateLimitError,
)
from scoped_openai._events import (
    Event,
    ResponseCompleted,
    ResponseCreated,
    TextDelta,
    ToolCallDone,
    UsageReport,
)
from scoped_openai._responses import ResponsesEventMapper
from scoped_openai._transports.websocket import WebSocket, WebSocketClosed, open_websocket
from scoped_openai.testing import FakeOpenAI, Pause, RecordedRequest, Stall
from scoped_openai.testing._ws_fake import FakeWebSocket, ScriptedResponsesSocket
from scoped_openai.testing._ws_script import AUTO_RESPONSE_ID, CloseSocket, WSReply, WSStep

URL = "ws://fake-openai.invalid/v1/responses"
HEADERS = {"Authorization": "Bearer sk-fake-0000", "OpenAI-Beta": "responses_websockets=v1"}
TERMINAL = {"response.completed", "response.failed", "response.incomplete", "error"}
LIMIT = 10

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(
    os.environ.get("SCOPED_OPENAI_CONFORMANCE") or REPO_ROOT.parent / "shared" / "conformance"
)


def create(**fields: Any) -> str:
    """A ``response.create`` frame."""
    return json.dumps({"type": "response.create", "model": "gpt-4o-mini", "input": [], **fields})


async def read_turn(ws: WebSocket) -> list[dict[str, Any]]:
    """Frames up to and including the next terminal one."""
    frames: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await ws.receive_text())
        frames.append(frame)
        if frame["type"] in TERMINAL:
            return frames


def mapped(frames: list[dict[str, Any]]) -> list[Event]:
    """The client's events for one turn's frames (raises what the mapper raises)."""
    mapper = ResponsesEventMapper()
    out: list[Event] = []
    for frame in frames:
        mapper.feed(frame, out)
    return out


def text_of(events: list[Event]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def stream_error(frames: list[dict[str, Any]]) -> APIStreamError:
    with pytest.raises(APIStreamError) as info:
        mapped(frames)
    return info.value


# --- builders and the in-memory socket, on both backends ----------------------------------


@pytest.mark.anyio
async def test_text_reply_round_trip() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("Hello there, friend", chunk_size=5))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        assert isinstance(ws, WebSocket)
        assert fake.ws_open == 1
        await ws.send_text(create(store=False))
        frames = await read_turn(ws)
        assert not ws.closed
    assert ws.closed
    assert fake.ws_open == 0
    assert fake.counters.connections == 1

    assert [f["type"] for f in frames] == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [f["sequence_number"] for f in frames] == list(range(len(frames)))
    delta = frames[3]
    assert delta["item_id"] == frames[1]["item"]["id"]
    assert (delta["output_index"], delta["content_index"], delta["delta"]) == (0, 0, "Hello")
    events = mapped(frames)
    assert text_of(events) == "Hello there, friend"
    assert events[0] == ResponseCreated("resp_fake_1")
    usage = next(e.usage for e in events if isinstance(e, UsageReport))
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 5, 15)
    assert (usage.prompt_cached_tokens, usage.reasoning_tokens) == (0, 0)
    completed = events[-1]
    assert isinstance(completed, ResponseCompleted)
    assert completed.response_id == "resp_fake_1"
    assert completed.output[0]["content"][0]["text"] == "Hello there, friend"

    # What the fake saw.
    assert fake.ws_handshakes[0].url == URL
    assert fake.ws_handshakes[0].headers["authorization"] == "Bearer sk-fake-0000"
    request = fake.requests[0]
    assert isinstance(request, RecordedRequest)
    assert (request.method, request.path, request.query) == ("WS", "/v1/responses", {})
    assert request.headers["openai-beta"] == "responses_websockets=v1"
    assert request.json()["type"] == "response.create"
    assert fake.ws_frames == [json.loads(create(store=False))]


@pytest.mark.anyio
async def test_function_calls_after_text() -> None:
    args_a = json.dumps({"city": "Paris", "units": "c"})
    reply = WSReply.function_calls(
        ("call_a", "get_weather", args_a),
        ("call_b", "get_time", "{}"),
        text="Let me check.",
        fragment_size=5,
    )
    fake = FakeOpenAI().add_ws(reply)
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        frames = await read_turn(ws)
    deltas = [f for f in frames if f["type"] == "response.function_call_arguments.delta"]
    assert "".join(f["delta"] for f in deltas if f["item_id"] == "fc_fake_1") == args_a
    assert all(len(f["delta"]) <= 5 for f in deltas)
    events = mapped(frames)
    assert text_of(events) == "Let me check."
    calls = [e for e in events if isinstance(e, ToolCallDone)]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_a", "get_weather", args_a),
        ("call_b", "get_time", "{}"),
    ]
    completed = events[-1]
    assert isinstance(completed, ResponseCompleted)
    assert [item["type"] for item in completed.output] == [
        "message",
        "function_call",
        "function_call",
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "status", "code", "text"),
    [
        (WSReply.error("rate_limit_exceeded", "slow down", status=429), "429", None, ""),
        (WSReply.failed("server_error", "the model broke"), "failed", "server_error", ""),
        (WSReply.incomplete(text="Partial ans"), "incomplete", "max_output_tokens", "Partial ans"),
        (WSReply.incomplete("content_filter"), "incomplete", "content_filter", ""),
    ],
    ids=["error", "failed", "incomplete", "incomplete-empty"],
)
async def test_error_shapes_parse_to_stream_errors(
    reply: WSReply, status: str, code: str | None, text: str
) -> None:
    fake = FakeOpenAI().add_ws(reply)
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        frames = await read_turn(ws)
    error = stream_error(frames)
    assert error.status == status
    if code is not None:
        assert error.code == code
    if status == "429":
        assert frames == [
            {
                "type": "error",
                "status": 429,
                "error": {
                    "type": "invalid_request_error",
                    "code": "rate_limit_exceeded",
                    "message": "slow down",
                    "param": None,
                },
            }
        ]
        assert error.code == "rate_limit_exceeded"
    if status == "failed":
        assert frames[0]["type"] == "response.created"
        assert frames[-1]["response"]["status"] == "failed"
        assert frames[-1]["response"]["error"] == {
            "code": "server_error",
            "message": "the model broke",
        }
    if status == "incomplete":
        assert frames[-1]["response"]["incomplete_details"] == {"reason": code}
        assert "".join(f["delta"] for f in frames if "delta" in f) == text
    # A response that did not complete cannot be continued.
    assert fake.ws_stored_responses == set()


@pytest.mark.anyio
async def test_script_exhausted_and_default_factory() -> None:
    seen: list[RecordedRequest] = []

    def default(request: RecordedRequest) -> WSReply:
        seen.append(request)
        return WSReply.text(f"echo {request.json()['input'][0]}")

    fake = FakeOpenAI()
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        (frame,) = await read_turn(ws)
        assert frame["error"]["code"] == "fake_script_exhausted"
        assert frame["status"] == 500
        fake.ws_default = default
        await ws.send_text(create(input=["hi"]))
        assert text_of(mapped(await read_turn(ws))) == "echo hi"
    assert len(seen) == 1


@pytest.mark.anyio
async def test_bad_client_frames_get_error_frames() -> None:
    fake = FakeOpenAI()
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text("{not json")
        await ws.send_text("[1, 2]")
        await ws.send_text('{"type": "session.update"}')
        codes = [(await read_turn(ws))[0]["error"]["code"] for _ in range(3)]
    assert codes == ["invalid_json", "invalid_event", "unknown_event"]
    assert [r.body for r in fake.requests] == [
        b"{not json",
        b"[1, 2]",
        b'{"type": "session.update"}',
    ]
    assert fake.ws_frames == [{"type": "session.update"}]


@pytest.mark.anyio
async def test_a_create_while_a_reply_is_in_flight_is_refused() -> None:
    # One response in flight per socket (WebSocket mode guide). This test used to expect the
    # second create to be queued behind the first: the real API does not serve it.
    fake = FakeOpenAI().add_ws(WSReply.text("first reply"), WSReply.text("second"))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        await ws.send_text(create())  # before reading anything
        refused = json.loads(await ws.receive_text())  # at once, ahead of the reply
        first = await read_turn(ws)
        await ws.send_text(create())  # the reply ended: served, with the script's next
        second = await read_turn(ws)
    assert refused == {
        "type": "error",
        "status": 400,
        "error": {
            "type": "invalid_request_error",
            "code": "conversation_already_has_active_response",
            "message": "Conversation already has an active response in progress: "
            "resp_fake_1. Wait until the response is finished before creating a new one.",
            "param": None,
        },
    }
    assert stream_error([refused]).code == "conversation_already_has_active_response"
    assert (text_of(mapped(first)), text_of(mapped(second))) == ("first reply", "second")
    assert first[0]["response"]["id"] == "resp_fake_1"
    assert second[-1]["response"]["id"] == "resp_fake_2"


@pytest.mark.anyio
async def test_frames_after_the_terminal_one_do_not_hold_the_socket() -> None:
    # The response is over at its terminal frame; what a script sends after it (here a
    # rate_limits.updated, as the Realtime API sends) does not count as in flight.
    late = {"type": "rate_limits.updated", "rate_limits": []}
    fake = FakeOpenAI().add_ws(WSReply.text("one").extended(late), WSReply.text("two"))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        first = await read_turn(ws)
        await ws.send_text(create())  # the late frame is still queued
        assert json.loads(await ws.receive_text()) == late
        second = await read_turn(ws)
    assert (text_of(mapped(first)), text_of(mapped(second))) == ("one", "two")


@pytest.mark.anyio
async def test_an_unknown_model_is_refused_as_the_api_does() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("for a known model"))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create(model="gpt-9-imaginary-ultra"))  # a family prefix: served
        assert text_of(mapped(await read_turn(ws))) == "for a known model"
        fake.add_ws(WSReply.text("never sent"))
        await ws.send_text(create(model="llama-3.2-3b"))
        (refused,) = await read_turn(ws)
        fake.extra_models.add("llama-3.2-3b")  # a local server's model, for such a test
        await ws.send_text(create(model="llama-3.2-3b"))
        assert text_of(mapped(await read_turn(ws))) == "never sent"
    assert refused == {
        "type": "error",
        "status": 400,
        "error": {
            "type": "invalid_request_error",
            "code": "model_not_found",
            "message": "The requested model 'llama-3.2-3b' does not exist.",
            "param": "model",
        },
    }


@pytest.mark.anyio
async def test_previous_response_id_without_store_lives_on_its_socket() -> None:
    fake = FakeOpenAI().add_ws(*(WSReply.text(f"turn {n}") for n in range(4)))
    connect = fake.ws_connector()
    async with connect(URL, HEADERS) as ws:
        await ws.send_text(create())  # store absent: connection-local only
        first = (await read_turn(ws))[-1]["response"]["id"]
        await ws.send_text(create(store=False, previous_response_id=first))
        second = (await read_turn(ws))[-1]["response"]["id"]
        assert (first, second) == ("resp_fake_1", "resp_fake_2")
        # The cache holds the most recent response only.
        await ws.send_text(create(store=False, previous_response_id=first))
        (error,) = await read_turn(ws)
        assert error["error"]["code"] == "previous_response_not_found"
        assert error["status"] == 400
        assert error["error"]["param"] == "previous_response_id"
        assert stream_error([error]).code == "previous_response_not_found"
    async with connect(URL, HEADERS) as other:
        await other.send_text(create(store=False, previous_response_id=second))
        (error,) = await read_turn(other)
        assert error["error"]["code"] == "previous_response_not_found"
        await other.send_text(create(previous_response_id="resp_never_made"))
        assert (await read_turn(other))[0]["error"]["code"] == "previous_response_not_found"
    assert len(fake.ws_replies) == 2  # rejected creates take no scripted reply


@pytest.mark.anyio
async def test_previous_response_id_with_store_survives_its_socket() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("one"), WSReply.text("two"), WSReply.text("three"))
    connect = fake.ws_connector()
    async with connect(URL, HEADERS) as ws:
        await ws.send_text(create(store=True))
        first = (await read_turn(ws))[-1]["response"]["id"]
        await ws.send_text(create(store=True, previous_response_id=first))
        await read_turn(ws)
    assert fake.ws_stored_responses == {"resp_fake_1", "resp_fake_2"}
    async with connect(URL, HEADERS) as other:
        await other.send_text(create(store=False, previous_response_id=first))
        assert text_of(mapped(await read_turn(other))) == "three"
    assert fake.counters.connections == 2


@pytest.mark.anyio
async def test_generate_false_warms_up_without_taking_a_reply() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("real turn"))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create(generate=False, instructions="be brief", tools=[]))
        warmup = await read_turn(ws)
        assert [f["type"] for f in warmup] == ["response.created", "response.completed"]
        done = warmup[-1]["response"]
        assert (done["id"], done["status"], done["output"]) == ("resp_fake_1", "completed", [])
        usage = next(e.usage for e in mapped(warmup) if isinstance(e, UsageReport))
        assert usage.total_tokens == 0
        assert len(fake.ws_replies) == 1
        await ws.send_text(create(previous_response_id="resp_fake_1"))
        turn = await read_turn(ws)
    assert text_of(mapped(turn)) == "real turn"
    assert turn[-1]["response"]["id"] == "resp_fake_2"


@pytest.mark.anyio
async def test_given_response_ids_and_raw_frames() -> None:
    raw: list[WSStep] = [
        {"type": "response.created", "response": {"id": AUTO_RESPONSE_ID}},
        '{"type": "response.output_text.delta", "item_id": "m", "delta": "raw"}',
        {"type": "response.completed", "response": {"id": AUTO_RESPONSE_ID, "output": []}},
    ]
    fake = FakeOpenAI().add_ws(
        WSReply.text("named", response_id="resp_mine"), WSReply.frames(raw), WSReply.frames(raw)
    )
    async with fake.ws_connector()(URL, HEADERS) as ws:
        ids = []
        for _ in range(3):  # one response in flight per socket: one turn at a time
            await ws.send_text(create(store=True))
            ids.append((await read_turn(ws))[-1]["response"]["id"])
    # A given id is used as is; the placeholder gets a fresh id each time it is played.
    assert ids == ["resp_mine", "resp_fake_1", "resp_fake_2"]
    assert fake.ws_stored_responses == set(ids)


@pytest.mark.anyio
async def test_close_socket_mid_stream() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("abcdefgh", then=[CloseSocket(1011, "boom")]))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        frames = [json.loads(await ws.receive_text()) for _ in range(5)]
        assert text_of(mapped(frames)) == "abcdefgh"
        for _ in range(2):  # raised when played, and on every later call
            with pytest.raises(WebSocketClosed) as info:
                await ws.receive_text()
            assert (info.value.close_code, info.value.reason) == (1011, "boom")
        assert ws.closed
        assert fake.ws_open == 0
        with pytest.raises(WebSocketClosed) as sent:
            await ws.send_text(create())
        assert sent.value.close_code == 1011
    assert fake.ws_open == 0
    assert len(fake.requests) == 1


@pytest.mark.anyio
async def test_aclose_wakes_a_pending_receive_and_is_idempotent() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("hi", then=[Stall()]))
    got: list[BaseException] = []
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        await read_until(ws, "response.output_text.delta")

        async def receive() -> None:
            try:
                await ws.receive_text()
            except WebSocketClosed as exc:
                got.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            await anyio.wait_all_tasks_blocked()
            await ws.aclose(4000, "bye")
            await ws.aclose(1000)  # idempotent: the first close stands
    assert len(got) == 1
    assert isinstance(got[0], WebSocketClosed)
    assert got[0].close_code == 4000
    assert fake.ws_open == 0


async def read_until(ws: WebSocket, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await ws.receive_text())
        if frame["type"] == kind:
            return frame


@pytest.mark.anyio
async def test_handshake_refused_with_the_typed_error() -> None:
    fake = FakeOpenAI()
    fake.ws_handshake_status = 401
    with pytest.raises(AuthenticationError) as info:
        async with fake.ws_connector()(URL, HEADERS):
            pytest.fail("the handshake should have been refused")
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert "sk-fake" not in str(info.value)
    fake.ws_handshake_status = 429
    with pytest.raises(RateLimitError):
        async with fake.ws_connector()(URL, HEADERS):
            pytest.fail("the handshake should have been refused")
    assert len(fake.ws_handshakes) == 2
    assert (fake.counters.connections, fake.ws_open) == (0, 0)


@pytest.mark.anyio
async def test_wrong_path_is_closed_with_1008() -> None:
    fake = FakeOpenAI()
    async with fake.ws_connector()("ws://fake-openai.invalid/v1/realtime", HEADERS) as ws:
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive_text()
        assert info.value.close_code == 1008
    assert fake.ws_open == 0


def test_reply_helpers_are_plain_data() -> None:
    reply = WSReply.text(["a", "b"], delay=0.5)
    assert sum(isinstance(step, Pause) for step in reply.steps) == 2
    longer = reply.extended(Pause(1), CloseSocket())
    assert longer.steps[-2:] == [Pause(1), CloseSocket(1011, "")]
    assert len(reply.steps) == len(longer.steps) - 2  # extended() copies
    assert reply.response_id is None
    assert json.dumps(reply.steps[0])  # frames are plain JSON-able dicts
    with pytest.raises(ValueError, match="chunk size"):
        WSReply.text("x", chunk_size=0)


@pytest.mark.anyio
async def test_server_side_is_usable_without_a_client_socket() -> None:
    """``ScriptedResponsesSocket`` alone: ``client_frame`` in, ``next_frame`` out."""
    fake = FakeOpenAI().add_ws(WSReply.text("direct"))
    server = ScriptedResponsesSocket(fake, path="/v1/responses", headers={"X-Test": "1"})
    server.client_frame(create())
    frames = [json.loads(await server.next_frame()) for _ in range(7)]
    assert text_of(mapped(frames)) == "direct"
    assert fake.requests[0].headers == {"x-test": "1"}
    server.close(1000)
    with pytest.raises(WebSocketClosed):
        await server.next_frame()
    assert (server.sent, fake.ws_open) == (7, 0)
    assert isinstance(FakeWebSocket(server, URL, {}), WebSocket)


# --- timing on trio's virtual clock ---------------------------------------------------------


@pytest.mark.trio
async def test_pauses_follow_the_virtual_clock(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeOpenAI().add_ws(WSReply.text(["a", "b", "c"], delay=0.5))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        start = trio.current_time()
        await ws.send_text(create())
        when: dict[str, list[float]] = {}
        while True:
            frame = json.loads(await ws.receive_text())
            when.setdefault(frame["type"], []).append(trio.current_time() - start)
            if frame["type"] == "response.completed":
                break
    assert when["response.created"] == [0.0]
    assert when["response.output_text.delta"] == [0.5, 1.0, 1.5]
    assert when["response.completed"] == [1.5]


@pytest.mark.trio
async def test_pauses_run_on_the_server_timeline(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeOpenAI().add_ws(WSReply.text(["a", "b", "c", "d"], delay=1.0))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        start = trio.current_time()
        await ws.send_text(create())
        await read_until(ws, "response.content_part.added")
        # A cancelled read loses nothing and does not restart the pause.
        with trio.move_on_after(0.25):
            await ws.receive_text()
        assert json.loads(await ws.receive_text())["delta"] == "a"
        assert trio.current_time() - start == 1.0
        # A client that reads late gets what was due in a burst, as from a socket buffer.
        await trio.sleep(2.5)  # virtual time: the client is busy elsewhere
        late = trio.current_time()
        deltas = [json.loads(await ws.receive_text())["delta"] for _ in range(2)]
        assert deltas == ["b", "c"]
        assert trio.current_time() == late
        assert json.loads(await ws.receive_text())["delta"] == "d"
        assert trio.current_time() - start == 4.0


@pytest.mark.trio
async def test_stall_then_client_close(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("stuck", then=[Stall()]))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        frames = [json.loads(await ws.receive_text()) for _ in range(5)]
        assert text_of(mapped(frames)) == "stuck"
        with trio.move_on_after(30) as scope:
            await ws.receive_text()
        assert scope.cancelled_caught  # nothing came in 30 virtual seconds
        closed_at: list[float] = []

        async def receive() -> None:
            with pytest.raises(WebSocketClosed) as info:
                await ws.receive_text()
            assert info.value.close_code == 1001
            closed_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            now = trio.current_time()
            await ws.aclose(1001)
        assert closed_at == [now]
    assert fake.ws_open == 0


@pytest.mark.trio
@pytest.mark.parametrize("behaviour", ["ignore", "error", "stop"])
async def test_on_cancel(behaviour: str, autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeOpenAI().add_ws(
        WSReply.text(["w"] * 20, delay=0.5),  # keeps streaming for 10 seconds
        WSReply.text("next turn"),
    )
    fake.on_cancel = behaviour  # type: ignore[assignment]
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        for _ in range(2):
            await read_until(ws, "response.output_text.delta")
        cancelled_at = trio.current_time()
        await ws.send_text(json.dumps({"type": "response.cancel"}))
        rest = await read_turn(ws)
        if behaviour == "stop":
            assert trio.current_time() == cancelled_at  # at once: no more pauses
            (stopped,) = rest
            assert stopped["type"] == "response.incomplete"
            assert stopped["response"]["id"] == "resp_fake_1"
            assert stopped["response"]["status"] == "cancelled"
            # null: the spec's reasons are max_output_tokens and content_filter only (this
            # test used to expect {"reason": "cancelled"}, which the spec does not allow).
            assert stopped["response"]["incomplete_details"] is None
            assert stopped["sequence_number"] == 5  # after created, item, part, 2 deltas (0-4)
            error = stream_error(rest)
            assert (error.status, error.code) == ("incomplete", None)
        else:
            if behaviour == "error":
                assert trio.current_time() == cancelled_at  # the error frame comes at once
                (error_frame,) = rest
                assert error_frame["error"]["code"] == "unknown_event"
                assert stream_error(rest).code == "unknown_event"
                rest = await read_turn(ws)
            # The cancelled response keeps streaming to its end.
            assert sum(f["type"] == "response.output_text.delta" for f in rest) == 18
            assert rest[-1]["type"] == "response.completed"
            assert trio.current_time() - cancelled_at == 9.0
        await ws.send_text(create())  # the first reply is over: one in flight per socket
        after = await read_turn(ws)
        assert text_of(mapped(after)) == "next turn"
        assert after[-1]["response"]["id"] == "resp_fake_2"
        # A stopped response never completed, so it cannot be continued.
        await ws.send_text(create(previous_response_id="resp_fake_1"))
        (refused,) = await read_turn(ws)
        assert refused["error"]["code"] == "previous_response_not_found"


@pytest.mark.trio
async def test_stop_before_anything_was_sent_still_creates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("never heard", delay=1.0))
    fake.on_cancel = "stop"
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        await ws.send_text(json.dumps({"type": "response.cancel", "response_id": "resp_other"}))
        assert json.loads(await ws.receive_text())["type"] == "response.created"  # not ours
        await ws.send_text(json.dumps({"type": "response.cancel"}))
        frames = await read_turn(ws)
    assert [f["type"] for f in frames] == ["response.incomplete"]
    assert trio.current_time() == 0.0


@pytest.mark.trio
async def test_stop_on_a_stall_before_created(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeOpenAI().add_ws(WSReply([Stall()]))
    fake.on_cancel = "stop"
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create())
        await ws.send_text(json.dumps({"type": "response.cancel"}))
        frames = await read_turn(ws)
    assert [f["type"] for f in frames] == ["response.created", "response.incomplete"]


@pytest.mark.trio
async def test_handshake_delay_can_be_cancelled(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("late"))
    fake.ws_handshake_delay = 5.0
    connect = fake.ws_connector()
    with trio.move_on_after(1.0) as scope:
        async with connect(URL, HEADERS):
            pytest.fail("the handshake should still be running")
    assert scope.cancelled_caught
    assert (fake.ws_handshakes, fake.counters.connections, fake.ws_open) == ([], 0, 0)
    start = trio.current_time()
    async with connect(URL, HEADERS) as ws:
        assert trio.current_time() - start == 5.0
        await ws.send_text(create())
        assert text_of(mapped(await read_turn(ws))) == "late"


# --- recorded streams -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_replays_a_recorded_stream() -> None:
    path = CONFORMANCE / "responses_ws_frames_from_gpt55.jsonl"
    if not path.exists():
        pytest.skip(f"conformance recordings not found at {CONFORMANCE}")
    expected = json.loads(
        path.with_name("responses_ws_frames_from_gpt55.expected.json").read_text()
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    fake = FakeOpenAI().add_ws(WSReply.frames(lines))
    async with fake.ws_connector()(URL, HEADERS) as ws:
        await ws.send_text(create(store=True))
        frames = await read_turn(ws)
    assert [f["type"] for f in frames] == expected["event_types"]
    events = mapped(frames)
    assert text_of(events) == expected["text"]
    (call,) = [e for e in events if isinstance(e, ToolCallDone)]
    assert call.arguments == expected["function_calls"][0]["arguments"]
    assert fake.ws_stored_responses == {expected["response_id"]}


# --- loopback: the real adapters against hypercorn, on both backends ------------------------


@pytest.fixture
def collect_garbage() -> Iterator[None]:
    """Collect garbage after the test, so a socket left unclosed fails *this* test (its
    ResourceWarning is an error) instead of whichever test the collector happens to run in."""
    yield
    gc.collect()


@pytest.mark.anyio
@pytest.mark.loopback
@pytest.mark.usefixtures("collect_garbage")
async def test_loopback_text_reply() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("over a real socket"), WSReply.text("again"))
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            url = f"ws://127.0.0.1:{server.port}/v1/responses"
            async with open_websocket(url, HEADERS, client=None, connect_timeout=5) as ws:
                await ws.send_text(create(store=False))
                first = await read_turn(ws)
                await ws.send_text(create(previous_response_id=first[-1]["response"]["id"]))
                second = await read_turn(ws)
    assert text_of(mapped(first)) == "over a real socket"
    assert text_of(mapped(second)) == "again"
    assert fake.ws_handshakes[0].headers["authorization"] == "Bearer sk-fake-0000"
    assert fake.requests[0].path == "/v1/responses"
    assert (fake.counters.connections, fake.ws_open) == (1, 0)


@pytest.mark.anyio
@pytest.mark.loopback
@pytest.mark.usefixtures("collect_garbage")
async def test_loopback_close_socket_mid_stream() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("cut short", then=[CloseSocket(1011, "boom")]))
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            url = f"ws://127.0.0.1:{server.port}/v1/responses"
            async with open_websocket(url, HEADERS, client=None, connect_timeout=5) as ws:
                await ws.send_text(create())
                frames = [json.loads(await ws.receive_text()) for _ in range(6)]
                with pytest.raises(WebSocketClosed) as info:
                    await ws.receive_text()
    assert text_of(mapped(frames)) == "cut short"
    assert info.value.close_code == 1011
    assert fake.ws_open == 0


@pytest.mark.anyio
@pytest.mark.loopback
@pytest.mark.usefixtures("collect_garbage")
async def test_loopback_handshake_refused() -> None:
    fake = FakeOpenAI()
    fake.ws_handshake_status = 401
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            url = f"ws://127.0.0.1:{server.port}/v1/responses"
            with pytest.raises(AuthenticationError) as info:
                async with open_websocket(url, HEADERS, client=None, connect_timeout=5):
                    pytest.fail("the handshake should have been refused")
    assert info.value.code == "invalid_api_key"
    assert len(fake.ws_handshakes) == 1


@pytest.mark.anyio
@pytest.mark.loopback
@pytest.mark.usefixtures("collect_garbage")
async def test_loopback_wrong_path_is_closed_with_1008() -> None:
    fake = FakeOpenAI()
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            url = f"ws://127.0.0.1:{server.port}/v1/realtime"
            async with open_websocket(url, HEADERS, client=None, connect_timeout=5) as ws:
                with pytest.raises(WebSocketClosed) as info:
                    await ws.receive_text()
    assert info.value.close_code == 1008

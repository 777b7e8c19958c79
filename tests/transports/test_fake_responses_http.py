"""The fake's ``POST /responses`` (the Responses API over HTTP, streamed as SSE): the
WebSocket's script played as Server-Sent Events, in memory and on loopback, with the API's
refusals as HTTP statuses. Read with the library's own SSE decoder and Responses parser."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from scoped_openai._errors import APIStreamError
from scoped_openai._events import Event, ResponseCompleted, TextDelta, ToolCallDone
from scoped_openai._responses import ResponsesEventMapper
from scoped_openai._sse import SSEDecoder
from scoped_openai.testing import CloseSocket, FakeOpenAI, Pause, Stall, WSReply

BODY = {"model": "gpt-4o-mini", "input": [{"role": "user", "content": "hi"}], "stream": True}


async def post(client: httpx.AsyncClient, url: str, **fields: Any) -> httpx.Response:
    request = client.build_request("POST", url, json={**BODY, **fields})
    return await client.send(request, stream=True)


async def sse_events(response: httpx.Response) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, data) of each SSE event of the body, read to its end."""
    decoder = SSEDecoder(1 << 20)
    out = []
    async for chunk in response.aiter_raw():
        out += [(e.event, json.loads(e.data)) for e in decoder.feed(chunk)]
    out += [(e.event, json.loads(e.data)) for e in decoder.close()]
    return out


async def read_into(response: httpx.Response, got: list[bytes]) -> None:
    async for chunk in response.aiter_raw():
        got.append(chunk)


def mapped(events: list[tuple[str | None, dict[str, Any]]]) -> list[Event]:
    mapper = ResponsesEventMapper(created_first=True)
    out: list[Event] = []
    for _, data in events:
        mapper.feed_json(json.dumps(data), out)
    return out


@pytest.mark.anyio
async def test_a_scripted_reply_streams_as_sse_events_named_by_their_type(
    fake: FakeOpenAI,
) -> None:
    fake.add_ws(WSReply.text("Hello there", chunk_size=5, usage=(7, 3)))
    async with fake.client() as client:
        response = await post(client, "http://fake-openai.invalid/v1/responses")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = await sse_events(response)
        await response.aclose()
    assert all(name == data["type"] for name, data in events)
    assert events[0][0] == "response.created"
    assert events[-1][0] == "response.completed"
    out = mapped(events)
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "Hello there"
    assert isinstance(out[-1], ResponseCompleted)
    # One HTTP body, opened and closed; no WebSocket was opened for it.
    assert (fake.counters.bodies_opened, fake.counters.bodies_closed) == (1, 1)
    assert (fake.counters.connections, fake.ws_open) == (0, 0)
    assert [r.method for r in fake.requests] == ["POST"]


@pytest.mark.anyio
async def test_function_calls_and_the_request_echo_come_through(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.function_calls(("call_1", "get_weather", '{"city": "Paris"}')))
    async with fake.client() as client:
        response = await post(client, "http://fake-openai.invalid/v1/responses", temperature=0.3)
        events = await sse_events(response)
        await response.aclose()
    calls = [e for e in mapped(events) if isinstance(e, ToolCallDone)]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_1", "get_weather", '{"city": "Paris"}')
    ]
    assert events[-1][1]["response"]["temperature"] == 0.3


@pytest.mark.anyio
async def test_an_error_is_the_flat_streaming_error_event(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.error("rate_limit_exceeded", "Slow down.", status=429))
    async with fake.client() as client:
        response = await post(client, "http://fake-openai.invalid/v1/responses")
        events = await sse_events(response)
        await response.aclose()
    ((name, data),) = events
    assert name == "error"
    assert data == {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "Slow down.",
        "param": None,
        "sequence_number": 0,
    }
    with pytest.raises(APIStreamError) as caught:
        mapped(events)
    assert caught.value.code == "rate_limit_exceeded"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"model": "no-such-model"}, "model_not_found", "model"),
        (
            {"previous_response_id": "resp_unknown"},
            "previous_response_not_found",
            "previous_response_id",
        ),
        ({"generate": False}, "unknown_parameter", "generate"),
        ({"stream": False}, "unsupported_value", "stream"),
    ],
)
async def test_what_the_api_refuses_is_an_http_400_with_its_error_body(
    fake: FakeOpenAI, fields: dict[str, Any], code: str, param: str
) -> None:
    fake.add_ws(WSReply.text("never played"))
    async with fake.client() as client:
        response = await client.post(
            "http://fake-openai.invalid/v1/responses", json={**BODY, **fields}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    assert len(fake.ws_replies) == 1  # the scripted reply was not taken


@pytest.mark.anyio
async def test_only_a_stored_response_can_be_continued_over_http(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.text("first"), WSReply.text("second"), WSReply.text("third"))
    url = "http://fake-openai.invalid/v1/responses"
    async with fake.client() as client:
        unstored = await post(client, url)
        first_id = (await sse_events(unstored))[-1][1]["response"]["id"]
        await unstored.aclose()
        stored = await post(client, url, store=True)
        stored_id = (await sse_events(stored))[-1][1]["response"]["id"]
        await stored.aclose()
        refused = await client.post(url, json={**BODY, "previous_response_id": first_id})
        chained = await post(client, url, previous_response_id=stored_id)
        events = await sse_events(chained)
        await chained.aclose()
    assert refused.status_code == 400  # no connection-local cache over HTTP
    assert events[-1][1]["response"]["previous_response_id"] == stored_id


@pytest.mark.anyio
async def test_a_scripted_close_drops_the_connection_mid_body(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.text(["Hel", "lo"], then=[CloseSocket(1011, "boom")]))
    async with fake.client() as client:
        response = await post(client, "http://fake-openai.invalid/v1/responses")
        got: list[bytes] = []
        with pytest.raises(httpx.RemoteProtocolError):
            await read_into(response, got)
        await response.aclose()
    assert b"response.output_text.delta" in b"".join(got)
    assert b"response.completed" not in b"".join(got)
    assert fake.counters.bodies_closed == 1


@pytest.mark.trio
async def test_pauses_run_on_the_server_timeline_and_a_stall_holds_the_body(
    autojump_clock: Any,
) -> None:
    import trio

    fake = FakeOpenAI().add_ws(WSReply.text(["a", "b"], delay=2.0, then=[Stall()]))
    async with fake.client() as client:
        response = await post(client, "http://fake-openai.invalid/v1/responses")
        start = trio.current_time()
        seen: list[float] = []
        with trio.move_on_after(60):
            async for chunk in response.aiter_raw():
                if b"output_text.delta" in chunk:
                    seen.append(trio.current_time() - start)
        await response.aclose()
    assert seen == [2.0, 4.0]  # then nothing: the stall held the body until we left
    assert fake.counters.bodies_closed == 1


@pytest.mark.anyio
async def test_on_loopback_the_same_script_streams_over_a_real_socket(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.text(["Hel", "lo"]).extended(Pause(0.0)))
    async with fake.serve() as server, httpx.AsyncClient() as client:
        response = await post(client, f"{server.base_url}/responses")
        events = await sse_events(response)
        await response.aclose()
    assert "".join(e.text for e in mapped(events) if isinstance(e, TextDelta)) == "Hello"
    assert fake.counters.connections == 0

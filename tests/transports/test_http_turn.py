"""``HTTPTurn``: one streamed POST, generic over its plan and parser. Driven directly here
(without the stream) against the fake in memory: the Chat Completions plan, and a Responses
plan of a few lines behind the same turn, which is all the Responses API over HTTP needs
from this module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from scoped_openai import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ChatContext,
    ChatRole,
    LLMResponse,
)
from scoped_openai._assembly import Assembler
from scoped_openai._endpoint import Endpoint
from scoped_openai._events import StreamDone, TextDelta
from scoped_openai._http_turn import (
    ChatCompletionsPlan,
    HTTPOptions,
    HTTPTurn,
    chat_completions_turn,
    post_event_stream,
)
from scoped_openai._responses import ResponsesParser
from scoped_openai._retry_plan import RetryPlan
from scoped_openai._settings import GenerationSettings
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

BASE = "http://fake-openai.invalid/v1"
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
ENDPOINT = Endpoint.openai(
    api_key="sk-test",
    base_url=BASE,
    wss_url=None,
    organization=None,
    project=None,
    extra_headers=None,
    extra_query=None,
)


def chat_turn(client: httpx.AsyncClient, overrides: dict[str, Any] | None = None) -> HTTPTurn:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Hi")
    return chat_completions_turn(
        client,
        ENDPOINT,
        GenerationSettings(),
        ctx,
        tools=None,
        graph=None,
        overrides=overrides,
        options=HTTPOptions(),
    )


async def receive_all(turn: HTTPTurn, assembler: Assembler) -> list[LLMResponse | Exception]:
    """What the stream does with a started turn, minus deadlines and barge-in."""
    items: list[LLMResponse | Exception] = []
    events: list[Any] = []
    while not assembler.done:
        await turn.receive(events)
        for event in events:
            assembler.feed(event, items)
        events.clear()
    return items


async def run(turn: HTTPTurn, assembler: Assembler) -> list[LLMResponse | Exception]:
    await turn.start()
    try:
        return await receive_all(turn, assembler)
    finally:
        await turn.aclose(completed=assembler.done)
        turn.turn_ended(assembler, cancelled=False)


def text(items: list[LLMResponse | Exception]) -> str:
    return "".join(item.content for item in items if isinstance(item, LLMResponse))


@pytest.mark.anyio
async def test_a_chat_completions_turn(fake: FakeOpenAI) -> None:
    fake.add(Reply.text("Hello there"))
    async with fake.client() as client:
        items = await run(chat_turn(client, {"user": "u-1"}), Assembler(model="gpt-4o-mini"))
    assert text(items) == "Hello there"
    (request,) = fake.requests
    assert request.path.endswith("/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["accept-encoding"] == "identity"
    assert request.json()["user"] == "u-1"
    assert fake.counters.open_bodies == 0  # drained and closed


class ResponsesOverHTTP:
    """A Responses plan, as issue 15's path starts: a URL, a body (chained on a previous
    response unless a resend asks for the full context), the parser, the resend rule."""

    def __init__(self, client: httpx.AsyncClient, previous: str | None = None) -> None:
        self._client = client
        self._previous = previous

    def request(self, retry: RetryPlan | None) -> httpx.Request:
        body: dict[str, Any] = {"model": "gpt-4o-mini", "input": "Hi", "stream": True}
        if self._previous is not None and not (retry is not None and retry.full_context):
            body["previous_response_id"] = self._previous
        return post_event_stream(self._client, f"{BASE}/responses", ENDPOINT, body)

    def parser(self) -> ResponsesParser:
        return ResponsesParser()

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        if attempt == 0 and getattr(error, "code", None) == "previous_response_not_found":
            return RetryPlan(0.0, full_context=True)
        return None

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        self.ended = (assembler.response_id, cancelled)


@pytest.mark.anyio
async def test_the_responses_api_is_a_plan_and_a_parser_behind_the_same_turn(
    fake: FakeOpenAI,
) -> None:
    fake.add_ws(WSReply.text("Hello over SSE", chunk_size=4))
    async with fake.client() as client:
        plan = ResponsesOverHTTP(client)
        assembler = Assembler(model="gpt-4o-mini")
        items = await run(HTTPTurn(client, plan, HTTPOptions()), assembler)
    assert text(items) == "Hello over SSE"
    assert assembler.response_id is not None
    assert plan.ended == (assembler.response_id, False)
    assert fake.counters.open_bodies == 0


@pytest.mark.anyio
async def test_a_resend_gets_the_request_its_retry_plan_asks_for(fake: FakeOpenAI) -> None:
    # What the stream does after a refusal: ask the turn for a plan, start again with it.
    fake.add_ws(WSReply.text("fresh"))
    async with fake.client() as client:
        turn = HTTPTurn(client, ResponsesOverHTTP(client, "resp_unknown"), HTTPOptions())
        with pytest.raises(APIStatusError) as refused:
            await turn.start()
        retry = turn.plan_retry(refused.value, 0)
        assert retry == RetryPlan(0.0, full_context=True)
        await turn.aclose(completed=False)
        await turn.start(None, retry)
        items = await receive_all(turn, Assembler(model="gpt-4o-mini"))
        await turn.aclose(completed=True)
    assert text(items) == "fresh"
    first, second = (request.json() for request in fake.requests)
    assert first["previous_response_id"] == "resp_unknown"
    assert "previous_response_id" not in second
    assert fake.counters.open_bodies == 0


@pytest.mark.anyio
async def test_a_body_that_ends_before_its_end_marker_is_a_connection_error(
    fake: FakeOpenAI,
) -> None:
    fake.add(Reply.raw(b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'))
    async with fake.client() as client:
        turn = chat_turn(client)
        with pytest.raises(APIConnectionError, match=r"before its end marker \(data: \[DONE\]\)"):
            await run(turn, Assembler(model="gpt-4o-mini"))
    assert fake.counters.open_bodies == 0


class _Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.anyio
async def test_an_empty_piece_of_the_body_is_not_its_end() -> None:
    # The turn reads the response's stream itself (not httpx's aiter_raw, which dropped
    # empty pieces): an empty piece completes no event, and only the stream's end ends the
    # body, so the turn reads on to [DONE] (it raised "ended before its end marker" if an
    # empty piece counted as the end).
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n'
    body = _Pieces([b"", chunk % b"Hel", b"", b"", chunk % b"lo", b"", b"data: [DONE]\n\n"])

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        turn = chat_turn(client)
        await turn.start()
        events: list[Any] = []
        completed = [await turn.receive(events) for _ in body.pieces]
        assert completed == [False, True, False, False, True, False, True]
        assert events == [TextDelta("Hel"), TextDelta("lo"), StreamDone()]
        await turn.aclose(completed=True)
    assert body.closed


@pytest.mark.anyio
async def test_a_refused_request_is_its_status_error_and_leaves_nothing_open(
    fake: FakeOpenAI,
) -> None:
    fake.add(Reply.error(401, "bad key"))
    async with fake.client() as client:
        plan = ChatCompletionsPlan(
            post_event_stream(client, f"{BASE}/chat/completions", ENDPOINT, CHAT_BODY),
            HTTPOptions(),
        )
        with pytest.raises(AuthenticationError, match="bad key"):
            await HTTPTurn(client, plan, HTTPOptions()).start()
    assert fake.counters.open_bodies == 0


def test_the_chat_completions_plan_resends_transient_failures_only() -> None:
    request = httpx.Request("POST", f"{BASE}/chat/completions")
    plan = ChatCompletionsPlan(request, HTTPOptions(max_retries=2))
    limited = APIStatusError("slow down", status_code=429, retry_after=1.5)
    assert plan.plan_retry(limited, 0) == RetryPlan(1.5)  # the server's Retry-After
    resend = plan.plan_retry(APIConnectionError("reset"), 1)
    assert resend is not None
    assert 0.75 <= resend.delay <= 1.0  # 0.5 * 2**1, less up to a quarter of jitter
    assert (resend.fresh_socket, resend.full_context) == (False, False)
    assert plan.plan_retry(APIStatusError("bad", status_code=400), 0) is None
    assert plan.plan_retry(limited, 2) is None  # retries spent
    assert plan.request(None) is request  # the same request each attempt
    assert plan.request(RetryPlan(1.0)) is request

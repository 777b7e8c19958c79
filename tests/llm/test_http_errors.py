"""Faults on the HTTP path: typed errors, error events, retries, stalls, secrets.

Each fault test checks four things: the typed exception, the same exception emitted to
``llm.on("error")``, that everything delivered before the fault stays delivered (items are
collected before the exception), and that the context is untouched and the next turn works.
Timing (retries, backoff, idle and first-token deadlines) runs on trio's virtual clock.
The stall guards every path shares are in ``tests/paths/test_stall_guards.py``; here, what
only HTTP has: the guards without ``async with`` and on concurrent streams.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio

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
    NotFoundError,
    OpenAILLM,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    ToolArgumentsError,
    UnprocessableEntityError,
)
from scoped_openai.testing import (
    DONE,
    Disconnect,
    FakeOpenAI,
    Pause,
    RecordedRequest,
    Reply,
    Stall,
    chunk,
    usage_chunk,
)
from support.turns import contents

MakeLLM = Callable[..., OpenAILLM]
Drain = Callable[..., Any]


async def failed_cleanly(
    error: Exception,
    errors: list[Exception],
    fake: FakeOpenAI,
    llm: OpenAILLM,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
) -> None:
    """After a failed turn: reported once, no body left open, the context untouched, and
    the next turn works."""
    assert errors == [error]
    assert fake.counters.open_bodies == 0
    assert ctx.items == ctx_snapshot
    await next_turn_works(fake, llm, ctx)


async def next_turn_works(fake: FakeOpenAI, llm: OpenAILLM, ctx: ChatContext) -> None:
    fake.replies.clear()
    fake.add(Reply.text("fine"))
    assert [item.content async for item in llm.chat(ctx)] == ["fine", ""]
    assert fake.counters.open_bodies == 0


class Script:
    """A ``FakeOpenAI.default`` that plays replies in order and records when each request
    arrived (on the running backend's clock)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.times: list[float] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        self.times.append(trio.current_time())
        return self.replies.pop(0)

    def gaps(self) -> list[float]:
        return [round(b - a, 9) for a, b in zip(self.times, self.times[1:], strict=False)]


class FlakyTransport(httpx.AsyncBaseTransport):
    """Raises the given transport errors first, then serves the fake."""

    def __init__(self, fake: FakeOpenAI, failures: list[Exception]) -> None:
        self.inner = fake.transport()
        self.failures = failures
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return await self.inner.handle_async_request(request)


# -- non-2xx answers ------------------------------------------------------------------------

STATUS_CASES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (418, APIStatusError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, InternalServerError),
    (503, InternalServerError),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "cls"), STATUS_CASES)
async def test_status_error_carries_the_api_error_body(
    fake: FakeOpenAI,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
    status: int,
    cls: type[APIStatusError],
) -> None:
    fake.add(
        Reply.error(
            status,
            "Invalid value for 'temperature'.",
            code="invalid_value",
            param="temperature",
            headers={"x-request-id": "req_abc123"},
        )
    )
    async with make_llm() as llm:
        items, error = await drain(llm.chat(ctx))
        assert items == []
        assert type(error) is cls
        assert error.status_code == status
        assert error.message == f"HTTP {status}: Invalid value for 'temperature'."
        assert error.code == "invalid_value"
        assert error.param == "temperature"
        assert error.type == "invalid_request_error"
        assert error.request_id == "req_abc123"
        assert error.retry_after is None
        assert error.body == {
            "error": {
                "message": "Invalid value for 'temperature'.",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "invalid_value",
            }
        }
        assert str(error) == (
            f"HTTP {status}: Invalid value for 'temperature'. | code=invalid_value | "
            "param=temperature | request_id=req_abc123"
        )
        await failed_cleanly(error, errors, fake, llm, ctx, ctx_snapshot)
    assert len(fake.requests) == 2


@pytest.mark.anyio
async def test_status_error_without_a_json_body(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, errors: list[Exception], drain: Drain
) -> None:
    fake.add(
        Reply([b"<html>502 Bad Gateway</html>"], status=502, headers={"content-type": "text/html"})
    )
    async with make_llm() as llm:
        items, error = await drain(llm.chat(ctx))
        assert items == []
        assert type(error) is InternalServerError
        assert str(error) == "HTTP 502: <html>502 Bad Gateway</html>"
        assert (error.code, error.param, error.request_id, error.body) == (None, None, None, None)
        assert errors == [error]
        await next_turn_works(fake, llm, ctx)


# -- errors inside a started stream ---------------------------------------------------------


@pytest.mark.anyio
async def test_error_as_the_first_event_is_not_retried(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, errors: list[Exception], drain: Drain
) -> None:
    fake.add(Reply([b'data: {"error": {"message": "bad things", "code": "oops"}}\n\n']))
    async with make_llm() as llm:
        items, error = await drain(llm.chat(ctx))
    assert items == []
    assert type(error) is APIStreamError
    assert str(error) == "the API reported an error mid-stream: 'bad things' | code=oops"
    assert errors == [error]


@pytest.mark.anyio
async def test_json_error_body_with_status_200(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, errors: list[Exception], drain: Drain
) -> None:
    body = {"error": {"message": "Model overloaded", "code": "overloaded"}}
    fake.add(Reply([json.dumps(body).encode()], headers={"content-type": "application/json"}))
    async with make_llm() as llm:
        items, error = await drain(llm.chat(ctx))
        assert items == []
        assert type(error) is APIStreamError
        assert error.message == "the API answered with an error: Model overloaded"
        assert errors == [error]
        assert fake.counters.open_bodies == 0
        await next_turn_works(fake, llm, ctx)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("bad_event", "message"),
    [
        (
            b'data: {"choices": [{"index": 0, "delta": \n\n',
            'an event\'s data is not valid JSON: \'{"choices": [{"index": 0, "delta": \'',
        ),
        (b'data: {"x": "\xff"}\n\n', "not valid UTF-8"),
        (b"data: [1, 2]\n\n", "Expected `object`, got `array`"),
        (
            b'data: {"choices": [{"index": 0, "delta": {"content": 7}}]}\n\n',
            "Expected `str | null`, got `int` - at `$.choices[0].delta.content`",
        ),
    ],
    ids=["malformed-json", "invalid-utf8", "misshapen-chunk", "wrong-type"],
)
async def test_unreadable_event_after_text(
    fake: FakeOpenAI,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
    bad_event: bytes,
    message: str,
) -> None:
    # A ProtocolError after some text: the text stays delivered, nothing is retried (it is
    # the server's bytes, not the network), the context is untouched, the next turn works.
    fake.add(Reply.text(["Hi"], then=[bad_event, DONE]))
    async with make_llm(max_retries=2) as llm:
        items, error = await drain(llm.chat(ctx))
        assert contents(items) == ["Hi"]
        assert type(error) is ProtocolError
        assert message in str(error)
        assert errors == [error]
        assert fake.counters.open_bodies == 0
        assert len(fake.requests) == 1
        assert ctx.items == ctx_snapshot
        await next_turn_works(fake, llm, ctx)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ending", "expected"),
    [
        pytest.param([chunk({"content": "!"})], ["Hel", "lo", "!"], id="clean-eof"),
        pytest.param([Disconnect()], ["Hel", "lo"], id="disconnect"),
        pytest.param(
            [chunk({}, finish_reason="stop"), usage_chunk(1, 2)],
            ["Hel", "lo", ""],
            id="eof-after-usage",
        ),
    ],
)
async def test_stream_that_ends_without_done(
    fake: FakeOpenAI,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
    ending: list[Any],
    expected: list[str],
) -> None:
    fake.add(Reply.text(["Hel", "lo"], then=ending))
    async with make_llm(max_retries=3) as llm:
        items, error = await drain(llm.chat(ctx))
        assert contents(items) == expected
        assert type(error) is APIConnectionError
        assert errors == [error]
        assert len(fake.requests) == 1  # items reached the caller: never retried
        assert fake.counters.open_bodies == 0
        assert ctx.items == ctx_snapshot
        await next_turn_works(fake, llm, ctx)


@pytest.mark.anyio
async def test_trailing_done_without_blank_line_is_accepted(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, errors: list[Exception]
) -> None:
    fake.add(Reply.text(["ok"], then=[chunk({}, finish_reason="stop"), b"data: [DONE]\n"]))
    async with make_llm() as llm, llm.chat(ctx) as stream:
        assert [i.content async for i in stream] == ["ok"]
    assert stream.assembler.finish_reason == "stop"
    assert errors == []


# -- tool-call arguments --------------------------------------------------------------------


@pytest.mark.anyio
async def test_invalid_tool_arguments_after_the_valid_calls(
    fake: FakeOpenAI,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
) -> None:
    fake.add(
        Reply.tool_calls(
            ("call_bad", "get_weather", '{"city": "Par'),
            ("call_ok", "get_time", '{"tz": "CET"}'),
            ("call_empty", "noop", ""),
            fragment_size=4,
        )
    )
    async with make_llm() as llm:
        items, error = await drain(llm.chat(ctx))
        assert [i.function_call for i in items] == [
            {"name": "get_time", "arguments": {"tz": "CET"}, "id": "call_ok"}
        ]
        assert type(error) is ToolArgumentsError
        assert (error.name, error.call_id, error.raw_arguments) == (
            "get_weather",
            "call_bad",
            '{"city": "Par',
        )
        assert str(error) == (
            "the model called tool 'get_weather' (call call_bad) with arguments that are not "
            'a JSON object (Unterminated string starting at at character 9): \'{"city": "Par\''
        )
        await failed_cleanly(error, errors, fake, llm, ctx, ctx_snapshot)


@pytest.mark.anyio
async def test_tool_arguments_that_are_not_an_object(
    fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, errors: list[Exception], drain: Drain
) -> None:
    fake.add(Reply.tool_calls(("call_1", "f", '["a"]')))
    async with make_llm() as llm:
        items, error = await drain(llm.chat(ctx))
    assert items == []
    assert type(error) is ToolArgumentsError
    assert error.raw_arguments == '["a"]'
    assert "a JSON list, not an object" in str(error)
    assert errors == [error]


# -- retries (virtual clock) ----------------------------------------------------------------

RETRYABLE = [408, 409, 429, 500, 502, 503, 504]


@pytest.mark.trio
@pytest.mark.parametrize("status", RETRYABLE)
async def test_retryable_status_is_retried(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    errors: list[Exception],
    status: int,
) -> None:
    script = Script(
        Reply.error(status, "try again", headers={"retry-after": "1.5"}), Reply.text("ok")
    )
    fake.default = script
    async with make_llm(max_retries=1) as llm:
        items = [i.content async for i in llm.chat(ctx)]
    assert items == ["ok", ""]
    assert len(script.times) == 2
    assert script.gaps() == [1.5]
    assert errors == []
    assert fake.counters.open_bodies == 0


@pytest.mark.trio
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
    status: int,
) -> None:
    script = Script(Reply.error(status, "no"), Reply.text("ok"))
    fake.default = script
    async with make_llm(max_retries=3) as llm:
        items, error = await drain(llm.chat(ctx))
    assert items == []
    assert isinstance(error, APIStatusError)
    assert error.status_code == status
    assert len(script.times) == 1
    assert errors == [error]


@pytest.mark.trio
async def test_retry_after_seconds_and_ms_are_honoured(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    script = Script(
        Reply.error(429, "slow down", headers={"retry-after": "2"}),
        Reply.error(503, "busy", headers={"retry-after-ms": "250"}),
        Reply.error(429, "slow down", headers={"retry-after": "7", "retry-after-ms": "1200"}),
        Reply.text("ok"),
    )
    fake.default = script
    async with make_llm(max_retries=3) as llm:
        assert [i.content async for i in llm.chat(ctx)] == ["ok", ""]
    assert script.gaps() == [2.0, 0.25, 1.2]


@pytest.mark.trio
async def test_backoff_doubles_without_retry_after(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.0)  # no jitter: exact exponential backoff
    script = Script(
        Reply.error(500, "x"),
        Reply.error(500, "x"),
        Reply.error(500, "x", headers={"retry-after": "3600"}),  # absurd: ignored
        Reply.text("ok"),
    )
    fake.default = script
    async with make_llm(max_retries=3, first_token_timeout=None) as llm:
        assert [i.content async for i in llm.chat(ctx)] == ["ok", ""]
    assert script.gaps() == [0.5, 1.0, 2.0]


@pytest.mark.trio
async def test_backoff_has_bounded_jitter(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    script = Script(Reply.error(500, "x"), Reply.error(500, "x"), Reply.text("ok"))
    fake.default = script
    async with make_llm(max_retries=2) as llm:
        assert [i.content async for i in llm.chat(ctx)] == ["ok", ""]
    first, second = script.gaps()
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


@pytest.mark.trio
async def test_retries_are_bounded_by_max_retries(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
) -> None:
    script = Script(
        *(Reply.error(503, f"busy {n}", headers={"retry-after": "1"}) for n in range(4))
    )
    fake.default = script
    async with make_llm(max_retries=2) as llm:
        items, error = await drain(llm.chat(ctx))
        assert items == []
        assert type(error) is InternalServerError
        assert error.message == "HTTP 503: busy 2"
        assert script.gaps() == [1.0, 1.0]
        await failed_cleanly(error, errors, fake, llm, ctx, ctx_snapshot)


@pytest.mark.trio
async def test_no_retries_by_default(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, drain: Drain
) -> None:
    script = Script(Reply.error(503, "busy"), Reply.text("ok"))
    fake.default = script
    async with fake.llm() as llm:
        _, error = await drain(llm.chat(ctx))
    assert type(error) is InternalServerError
    assert len(script.times) == 1


@pytest.mark.trio
async def test_connect_errors_are_retried_with_backoff(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    errors: list[Exception],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.0)
    transport = FlakyTransport(fake, [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
    fake.add(Reply.text("ok"))
    llm = fake.llm(client=httpx.AsyncClient(transport=transport), max_retries=2)
    llm.on("error", errors.append)
    start = trio.current_time()
    async with llm:
        assert [i.content async for i in llm.chat(ctx)] == ["ok", ""]
    assert transport.attempts == 3
    assert trio.current_time() - start == pytest.approx(1.5, abs=1e-9)
    assert errors == []


@pytest.mark.trio
async def test_connect_error_when_retries_are_spent(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    errors: list[Exception],
    drain: Drain,
) -> None:
    transport = FlakyTransport(fake, [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")])
    llm = fake.llm(client=httpx.AsyncClient(transport=transport), max_retries=1)
    llm.on("error", errors.append)
    async with llm:
        items, error = await drain(llm.chat(ctx))
        assert items == []
        assert type(error) is APITimeoutError
        assert error.phase == "connect"
        assert str(error) == (
            "timed out talking to http://fake-openai.invalid/v1/chat/completions: slow"
        )
        assert errors == [error]
        assert transport.attempts == 2
        fake.add(Reply.text("ok"))
        assert [i.content async for i in llm.chat(ctx)] == ["ok", ""]


@pytest.mark.anyio
async def test_connect_error_message(
    fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception], drain: Drain
) -> None:
    transport = FlakyTransport(fake, [httpx.ConnectError("[Errno 111] Connection refused")])
    llm = fake.llm(client=httpx.AsyncClient(transport=transport))
    llm.on("error", errors.append)
    async with llm:
        items, error = await drain(llm.chat(ctx))
    assert items == []
    assert type(error) is APIConnectionError
    assert str(error) == (
        "connection to http://fake-openai.invalid/v1/chat/completions failed: "
        "[Errno 111] Connection refused"
    )
    assert errors == [error]


@pytest.mark.trio
async def test_never_retried_once_an_item_reached_the_caller(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
) -> None:
    script = Script(
        Reply.text(["one"], then=[Pause(1.0), Disconnect()]),
        Reply.text("second attempt"),
    )
    fake.default = script
    async with make_llm(max_retries=5) as llm:
        items, error = await drain(llm.chat(ctx))
    assert contents(items) == ["one"]
    assert type(error) is APIConnectionError
    assert len(script.times) == 1
    assert errors == [error]


@pytest.mark.trio
async def test_truncated_stream_before_any_item_is_retried(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    errors: list[Exception],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.0)
    script = Script(
        # An event arrives but the body ends before its blank line and before [DONE]:
        # nothing reached the caller, so the turn is resent from scratch.
        Reply([chunk({"role": "assistant", "content": ""}), b'data: {"choices": []}']),
        Reply([chunk({"role": "assistant"}), Disconnect()]),
        Reply.text("whole"),
    )
    fake.default = script
    async with make_llm(max_retries=2) as llm:
        items = [i.content async for i in llm.chat(ctx)]
    assert items == ["whol", "e", ""]
    assert script.gaps() == [0.5, 1.0]
    assert errors == []
    assert fake.counters.open_bodies == 0


# -- stalls (virtual clock) -----------------------------------------------------------------


@asynccontextmanager
async def not_entered(llm: OpenAILLM) -> AsyncIterator[OpenAILLM]:
    """The llm used without ``async with`` (each wait's own scope carries its deadline),
    closed at the end. The entered form runs on every path in tests/paths/test_stall_guards.py:
    the deadlines must be the same either way."""
    try:
        yield llm
    finally:
        await llm.aclose()


@pytest.mark.trio
async def test_first_token_deadline_without_async_with(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
) -> None:
    fake.add(Reply([chunk({"role": "assistant", "content": ""}), Stall()]))
    llm = make_llm(first_token_timeout=3.0, idle_timeout=None, max_retries=2)
    async with not_entered(llm):
        start = trio.current_time()
        items, error = await drain(llm.chat(ctx))
        assert trio.current_time() - start == pytest.approx(3.0, abs=1e-9)
        assert items == []
        assert type(error) is APITimeoutError
        assert (error.phase, error.seconds) == ("first_token", 3.0)
        assert str(error) == "no output from the model before the first-token deadline (3s)"
        assert errors == [error]
        assert len(fake.requests) == 1
        assert fake.counters.open_bodies == 0
        assert ctx.items == ctx_snapshot
        await next_turn_works(fake, llm, ctx)


@pytest.mark.trio
async def test_idle_timeout_between_chunks_without_async_with(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    make_llm: MakeLLM,
    errors: list[Exception],
    drain: Drain,
) -> None:
    # Pauses shorter than the idle timeout are fine; the stall after "b" is not.
    fake.add(
        Reply.text(
            ["a"],
            then=[
                Pause(4.0),
                chunk({"content": "b"}),
                Pause(4.5),
                chunk({"content": "c"}),
                Stall(),
            ],
        )
    )
    llm = make_llm(idle_timeout=5.0, first_token_timeout=100.0)
    async with not_entered(llm):
        start = trio.current_time()
        items, error = await drain(llm.chat(ctx))
        assert trio.current_time() - start == pytest.approx(13.5, abs=1e-9)
        assert contents(items) == ["a", "b", "c"]
        assert type(error) is APITimeoutError
        assert (error.phase, error.seconds) == ("idle", 5.0)
        assert str(error) == "the stream stalled: no event arrived for 5s"
        await failed_cleanly(error, errors, fake, llm, ctx, ctx_snapshot)


@pytest.mark.trio
async def test_concurrent_streams_each_keep_their_own_deadline(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM
) -> None:
    # One llm, one watchdog: a stalled stream times out at its deadline while a slow but
    # steady one beside it (a chunk every 4 s against a 5 s idle timeout) runs to its end.
    fake.add(Reply.text(["a"], then=[Stall()]))
    fake.add(Reply.text(list("bcdef"), delay=4.0))
    ended: dict[str, tuple[float, str]] = {}

    async def consume(name: str, started: trio.Event | None) -> None:
        try:
            async with llm.chat(ctx) as stream:
                async for _ in stream:
                    if started is not None:
                        started.set()
                        started = None
        except APITimeoutError as exc:
            ended[name] = (trio.current_time(), exc.phase)
        else:
            ended[name] = (trio.current_time(), "done")

    llm = make_llm(idle_timeout=5.0, first_token_timeout=4.5)
    async with llm, trio.open_nursery() as nursery:
        first_item = trio.Event()
        nursery.start_soon(consume, "stalled", first_item)
        await first_item.wait()
        nursery.start_soon(consume, "steady", None)
    assert ended == {"stalled": (5.0, "idle"), "steady": (20.0, "done")}


# -- secrets --------------------------------------------------------------------------------

SECRET = "sk-proj-SECRET-do-not-leak-0123456789"


@pytest.mark.trio
async def test_api_key_never_appears_in_reprs_errors_or_logs(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    caplog: pytest.LogCaptureFixture,
    drain: Drain,
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = FlakyTransport(fake, [httpx.ConnectError("refused"), httpx.ConnectError("refused")])
    fake.add(
        Reply.error(401, "Incorrect API key provided.", code="invalid_api_key"),
        Reply.error(429, "slow down", headers={"retry-after": "1"}),
        Reply.text(["a"], then=[b"data: {oops\n\n"]),
        Reply.text(["a"], then=[Stall()]),
        Reply.tool_calls(("call_1", "f", "{bad")),
        Reply.text(["a"], then=[Disconnect()]),
    )
    seen: list[Exception] = []
    llm = OpenAILLM(
        api_key=SECRET,
        base_url="http://fake-openai.invalid/v1",
        client=httpx.AsyncClient(transport=transport),
        max_retries=1,
        idle_timeout=1.0,
    )
    llm.on("error", seen.append)
    assert SECRET not in repr(llm)
    assert SECRET not in str(llm)
    async with llm:
        for _ in range(6):
            await drain(llm.chat(ctx))
    assert fake.requests[0].headers["authorization"] == f"Bearer {SECRET}"  # it was sent
    assert [type(e) for e in seen] == [
        APIConnectionError,
        AuthenticationError,
        ProtocolError,
        APITimeoutError,
        ToolArgumentsError,
        APIConnectionError,
    ]
    for error in seen:
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
        assert SECRET not in repr(error.args)
    assert caplog.records  # the retries were logged
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in caplog.text


def test_api_key_not_in_the_repr_of_an_azure_llm() -> None:
    llm = OpenAILLM.azure(
        azure_endpoint="https://example.openai.azure.com",
        api_key=SECRET,
        api_version="2024-10-21",
    )
    assert SECRET not in repr(llm)
    assert SECRET not in repr(llm.settings)

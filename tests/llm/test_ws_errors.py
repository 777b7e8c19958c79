"""Errors, stalls and recovery on the WebSocket path, end to end through the in-memory fake.

Terminal error events end the turn with a typed ``APIStreamError`` that keeps the API's code,
message and param; bad frames are ``ProtocolError``; stalls are ``APITimeoutError`` (on trio's
virtual clock, at the exact deadline). Recovery happens once and only while nothing reached
the caller: ``previous_response_not_found`` resends the full context, a connection limit or a
socket that closes before any output reconnects and resends; a second failure surfaces.
The stall guards every path shares are in ``tests/paths/test_stall_guards.py``; here, a
handshake that never finishes and frames that map to nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from scoped_openai import (
    APIConnectionError,
    APIStreamError,
    APITimeoutError,
    ChatContext,
    ChatRole,
    OpenAILLM,
    ProtocolError,
    WebSocketClosed,
)
from scoped_openai.testing import CloseSocket, FakeOpenAI, Pause, WSReply
from scoped_openai.testing._ws_script import error_frame, request_echo
from support.turns import contents, turn
from support.wire_items import msg

MakeLLM = Callable[..., OpenAILLM]


CTX_INPUT = [msg("system", "You are terse."), msg("user", "Say hello.")]


def creates(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [frame for frame in fake.ws_frames if frame["type"] == "response.create"]


async def next_turn_works(fake: FakeOpenAI, llm: OpenAILLM, ctx: ChatContext) -> None:
    fake.add_ws(WSReply.text("next answer"))
    items, error = await turn(llm, ctx)
    assert error is None
    assert contents(items) == ["next", " ans", "wer", ""]


# -- terminal error events ------------------------------------------------------------------


@pytest.mark.anyio
async def test_response_failed(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    fake.add_ws(WSReply.failed("server_error", "The model had an internal error."))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert items == []
        assert isinstance(error, APIStreamError)
        assert error.status == "failed"
        assert error.code == "server_error"
        assert "The model had an internal error." in error.message
        assert error.param is None
        assert error.request_id == "resp_fake_1"
        assert errors == [error]
        await next_turn_works(fake, llm, ctx)


@pytest.mark.anyio
async def test_response_failed_keeps_the_param(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    failed = WSReply.failed("invalid_prompt", "Invalid prompt.", response_id="resp_x")
    terminal = failed.steps[-1]
    assert isinstance(terminal, dict)
    terminal["response"]["error"] = {
        "code": "invalid_prompt",
        "message": "Invalid prompt.",
        "param": "input",
        "type": "invalid_request_error",
    }
    fake.add_ws(failed)
    async with make_ws_llm() as llm:
        _, error = await turn(llm, ctx)
    assert isinstance(error, APIStreamError)
    assert (error.code, error.param, error.type, error.status) == (
        "invalid_prompt",
        "input",
        "invalid_request_error",
        "failed",
    )
    assert "Invalid prompt." in error.message
    # The body is the frame as sent: the script's, its response echoing the request.
    echoed = {**terminal["response"], **request_echo(fake.ws_frames[0])}
    assert error.body == {**terminal, "response": echoed}


@pytest.mark.anyio
async def test_response_incomplete_after_text_keeps_the_text(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    fake.add_ws(WSReply.incomplete("max_output_tokens", "Hello wor"))
    async with make_ws_llm(max_completion_tokens=3) as llm:
        items, error = await turn(llm, ctx)
        assert contents(items) == ["Hell", "o wo", "r"]
        assert isinstance(error, APIStreamError)
        assert error.status == "incomplete"
        assert error.code == "max_output_tokens"
        assert "max_output_tokens" in error.message
        assert errors == [error]
        await next_turn_works(fake, llm, ctx)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (
            error_frame("invalid_value", "Invalid value: 'x'.", param="tools[0].name"),
            ("400", "invalid_value", "tools[0].name", "invalid_request_error"),
        ),
        (
            error_frame("rate_limit_exceeded", "Slow down.", status=429, type="rate_limit_error"),
            ("429", "rate_limit_exceeded", None, "rate_limit_error"),
        ),
        (
            # The flat (SSE) shape is accepted too.
            {"type": "error", "code": "server_error", "message": "Oops.", "param": "input"},
            (None, "server_error", "input", None),
        ),
    ],
    ids=["nested-400", "nested-429", "flat"],
)
async def test_error_frames(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
    frame: dict[str, Any],
    expected: tuple[Any, ...],
) -> None:
    fake.add_ws(WSReply.frames([frame]))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert items == []
        assert isinstance(error, APIStreamError)
        assert (error.status, error.code, error.param, error.type) == expected
        message = frame["error"]["message"] if "error" in frame else frame["message"]
        assert message in error.message
        assert error.body == frame
        assert errors == [error]
        await next_turn_works(fake, llm, ctx)
    assert len(creates(fake)) == 2  # not retried


# -- frames we cannot read ------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "bad",
    [
        "this is not json",
        "[1, 2, 3]",
        '{"no_type": true}',
        '{"type": "response.output_text.delta"}',
        '{"type": "response.output_text.delta", "delta": 7}',
    ],
    ids=["not-json", "not-an-object", "no-type", "delta-without-delta", "wrong-type"],
)
async def test_a_frame_we_cannot_read_is_a_protocol_error(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    bad: str,
) -> None:
    reply = WSReply.text("Hi there")
    reply.steps.insert(4, bad)  # after the first delta
    fake.add_ws(reply)
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert contents(items) == ["Hi t"]
        assert isinstance(error, ProtocolError)
        assert bad[:40] in str(error)
        assert errors == [error]
        # The rest of that response must not reach the next turn: its socket is dropped.
        await next_turn_works(fake, llm, ctx)
    assert ws_tracker.create_sockets == [1, 2]


# -- stalls ------------------------------------------------------------------------------------


@pytest.mark.trio
async def test_a_handshake_that_never_finishes_is_bounded(
    autojump_clock: trio.testing.MockClock, fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.ws_handshake_delay = 10_000.0
    fake.add_ws(WSReply.text("never"))
    async with make_ws_llm(idle_timeout=None, first_token_timeout=5.0) as llm:
        start = trio.current_time()
        items, error = await turn(llm, ctx)
        assert trio.current_time() - start == 5.0
    assert items == []
    assert isinstance(error, APITimeoutError)
    assert error.phase == "first_token"
    assert fake.ws_open == 0


def slow_reasoning_summary() -> WSReply:
    # A reasoning model streams reasoning-summary deltas for 12 s before any text.
    reply = WSReply.text("Answer.", model="gpt-5")
    thinking: list[Any] = []
    for n in range(6):
        thinking += [
            Pause(2.0),
            {
                "type": "response.reasoning_summary_text.delta",
                "item_id": "rs_1",
                "delta": f"step {n} ",
            },
        ]
    reply.steps[1:1] = thinking
    return reply


def slow_function_arguments() -> WSReply:
    # A long function-call argument streams for 12 s (a delta every 2 s); no item is
    # complete until its output_item.done.
    reply = WSReply.function_calls(
        ("call_1", "save_note", '{"text": "a long note, streamed slowly"}'), fragment_size=6
    )
    steps: list[Any] = []
    for step in reply.steps:
        if isinstance(step, dict) and step["type"] == "response.function_call_arguments.delta":
            steps.append(Pause(2.0))
        steps.append(step)
    return WSReply(steps)


@pytest.mark.trio
@pytest.mark.parametrize(
    ("reply", "expected", "seconds"),
    [
        (slow_reasoning_summary, ["Answ", "er.", ""], 12.0),
        (slow_function_arguments, ["", ""], 14.0),
    ],
    ids=["reasoning-summary-deltas", "function-argument-deltas"],
)
async def test_frames_that_map_to_nothing_still_count_as_activity(
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
    reply: Callable[[], WSReply],
    expected: list[str],
    seconds: float,
) -> None:
    # Frames arrive every 2 s, so the socket is never silent for the idle timeout (5 s):
    # the idle timeout is "the longest silence between chunks", not between items.
    fake.add_ws(reply())
    async with make_ws_llm(model="gpt-5", idle_timeout=5.0, first_token_timeout=60.0) as llm:
        start = trio.current_time()
        items, error = await turn(llm, ctx)
    assert error is None
    assert contents(items) == expected
    assert trio.current_time() - start == seconds
    assert errors == []


# -- recovery ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_previous_response_not_found_resends_the_full_context_once(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    fake.add_ws(
        WSReply.text("Hello."),
        WSReply.error(
            "previous_response_not_found",
            "Previous response with id 'resp_fake_1' not found.",
            param="previous_response_id",
        ),
        WSReply.text("Fine."),
    )
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert error is None
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "How are you?")
        items, error = await turn(llm, ctx)
        assert error is None
        assert contents(items) == ["Fine", ".", ""]
    _first, chained, resent = creates(fake)
    assert chained["previous_response_id"] == "resp_fake_1"
    assert chained["input"] == [msg("user", "How are you?")]
    assert "previous_response_id" not in resent
    assert resent["input"] == [*CTX_INPUT, msg("assistant", "Hello."), msg("user", "How are you?")]
    assert ws_tracker.create_sockets == [1, 1, 1]  # the error left the socket clean
    assert errors == []


@pytest.mark.anyio
async def test_previous_response_not_found_twice_surfaces(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    not_found = WSReply.error(
        "previous_response_not_found", "Not found.", param="previous_response_id"
    )
    fake.add_ws(WSReply.text("Hello."), not_found, not_found)
    async with make_ws_llm() as llm:
        await turn(llm, ctx)
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "How are you?")
        items, error = await turn(llm, ctx)
        assert items == []
        assert isinstance(error, APIStreamError)
        assert (error.code, error.param) == ("previous_response_not_found", "previous_response_id")
        assert errors == [error]
        await next_turn_works(fake, llm, ctx)
    assert len(creates(fake)) == 4
    assert "previous_response_id" not in creates(fake)[3]


@pytest.mark.anyio
async def test_connection_limit_reconnects_and_resends_once(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    fake.add_ws(
        WSReply.error(
            "websocket_connection_limit_reached",
            "Responses websocket connection limit reached (60 minutes).",
        ),
        WSReply.text("Hello."),
    )
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert error is None
        assert contents(items) == ["Hell", "o.", ""]
        await anyio.wait_all_tasks_blocked()
        assert ws_tracker.create_sockets == [1, 2]
        assert 1 not in ws_tracker.open_sockets()  # the limited socket was closed
    assert [frame["input"] for frame in creates(fake)] == [CTX_INPUT, CTX_INPUT]
    assert errors == []


@pytest.mark.anyio
async def test_connection_limit_twice_surfaces(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    limit = WSReply.error("websocket_connection_limit_reached", "Limit reached.")
    fake.add_ws(limit, limit)
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert items == []
        assert isinstance(error, APIStreamError)
        assert error.code == "websocket_connection_limit_reached"
        assert errors == [error]
        await next_turn_works(fake, llm, ctx)
    assert len(creates(fake)) == 3


@pytest.mark.anyio
@pytest.mark.parametrize("after_created", [False, True], ids=["at-once", "after-created"])
async def test_a_socket_closing_before_any_output_reconnects_and_resends(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
    after_created: bool,
) -> None:
    steps: list[Any] = [CloseSocket(1011, "internal error")]
    if after_created:
        steps = WSReply.text("x").steps[:1] + steps
    fake.add_ws(WSReply(steps), WSReply.text("Hello."))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert error is None
        assert contents(items) == ["Hell", "o.", ""]
    assert ws_tracker.create_sockets == [1, 2]
    assert [frame["input"] for frame in creates(fake)] == [CTX_INPUT, CTX_INPUT]
    assert errors == []


@pytest.mark.anyio
async def test_a_socket_closing_twice_before_output_surfaces(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM, errors: list[Exception]
) -> None:
    fake.add_ws(WSReply([CloseSocket(1011, "boom")]), WSReply([CloseSocket(1012, "restart")]))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert items == []
        assert isinstance(error, WebSocketClosed)
        assert isinstance(error, APIConnectionError)
        assert (error.close_code, error.reason) == (1012, "restart")
        assert errors == [error]
        await next_turn_works(fake, llm, ctx)
    assert len(creates(fake)) == 3


@pytest.mark.anyio
async def test_nothing_is_retried_once_output_reached_the_caller(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: MakeLLM,
    ws_tracker: Any,
    errors: list[Exception],
) -> None:
    fake.add_ws(WSReply.text("Hello there", then=[CloseSocket(1011, "internal error")]))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
        assert contents(items) == ["Hell", "o th", "ere"]
        assert isinstance(error, WebSocketClosed)
        assert isinstance(error, APIConnectionError)
        assert (error.close_code, error.reason) == (1011, "internal error")
        assert errors == [error]
        assert len(creates(fake)) == 1
        await next_turn_works(fake, llm, ctx)
    assert ws_tracker.create_sockets == [1, 2]
    assert "previous_response_id" not in creates(fake)[1]


@pytest.mark.anyio
async def test_a_recoverable_code_after_output_is_not_retried(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    fake.add_ws(
        WSReply.text(
            "Hi", then=[error_frame("websocket_connection_limit_reached", "Limit reached.")]
        )
    )
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
    assert contents(items) == ["Hi"]
    assert isinstance(error, APIStreamError)
    assert error.code == "websocket_connection_limit_reached"
    assert len(creates(fake)) == 1


@pytest.mark.anyio
async def test_a_function_call_already_yielded_is_never_resent(
    fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: MakeLLM
) -> None:
    # A call item reached the caller (who may have run the tool): a drop after it is an error,
    # never a resend that could call the tool twice.
    reply = WSReply.function_calls(("call_1", "charge_card", '{"amount": 5}'))
    done = next(
        i
        for i, step in enumerate(reply.steps)
        if isinstance(step, dict) and step["type"] == "response.output_item.done"
    )
    fake.add_ws(WSReply([*reply.steps[: done + 1], CloseSocket(1006)]), WSReply.text("again"))
    async with make_ws_llm() as llm:
        items, error = await turn(llm, ctx)
    assert [i.function_call for i in items if i.function_call] == [
        {"name": "charge_card", "arguments": {"amount": 5}, "id": "call_1"}
    ]
    assert isinstance(error, WebSocketClosed)
    assert len(creates(fake)) == 1

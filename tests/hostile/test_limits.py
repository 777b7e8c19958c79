"""Issue 18, item 6: memory stays bounded whatever the server sends; each limit ends the
turn with a ``LimitExceededError`` that names it (and is emitted, and leaves nothing open).

Small limits (``StreamLimits``) keep these tests small in bytes; the defaults are pinned in
``test_default_limits``. The CPU cost of a long line (linear, not quadratic) is measured in
``benchmarks/bench_sse_long_line.py``, not asserted here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from scoped_openai import ChatContext, LimitExceededError, OpenAILLM, StreamLimits
from scoped_openai.testing import DONE, FakeOpenAI, Reply, Stall, WSReply, chunk
from support.turns import contents, turn

pytestmark = pytest.mark.anyio

KB = 1024
BIG_ARGUMENTS = json.dumps({"text": "x" * 4 * KB})


def hi_then(*steps: bytes) -> Reply:
    return Reply([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}), *steps])


HTTP_CASES: dict[str, tuple[Reply, StreamLimits, str]] = {
    "a-line-with-no-newline": (
        hi_then(*[b"data: " + b"x" * KB] + [b"y" * KB] * 64),
        StreamLimits(max_event_bytes=16 * KB),
        "max_event_bytes",
    ),
    "data-lines-without-a-blank-line": (
        hi_then(*[b"data: " + b"x" * 100 + b"\n"] * 400, DONE),
        StreamLimits(max_event_bytes=16 * KB),
        "max_event_bytes",
    ),
    "tool-arguments": (
        Reply.tool_calls(("call_1", "save", BIG_ARGUMENTS)),
        StreamLimits(max_tool_arguments_bytes=2 * KB),
        "max_tool_arguments_bytes",
    ),
    "the-whole-reply": (
        Reply.text(["word "] * 2000),
        StreamLimits(max_reply_bytes=32 * KB),
        "max_reply_bytes",
    ),
}

WS_CASES: dict[str, tuple[WSReply, StreamLimits, str]] = {
    "tool-arguments": (
        WSReply.function_calls(("call_1", "save", BIG_ARGUMENTS)),
        StreamLimits(max_tool_arguments_bytes=2 * KB),
        "max_tool_arguments_bytes",
    ),
    "the-whole-reply": (
        WSReply.text(["word "] * 2000),
        StreamLimits(max_reply_bytes=32 * KB),
        "max_reply_bytes",
    ),
}


def check(
    error: Exception | None, errors: list[Exception], name: str, limits: StreamLimits
) -> None:
    assert isinstance(error, LimitExceededError), repr(error)
    assert error.limit == name
    assert error.value == getattr(limits, name)
    assert f"{name}={getattr(limits, name):,}" in str(error)
    assert errors == [error]


@pytest.mark.parametrize("case", list(HTTP_CASES))
async def test_http_limits(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: Callable[..., OpenAILLM],
    errors: list[Exception],
    case: str,
) -> None:
    reply, limits, name = HTTP_CASES[case]
    fake.add(reply)
    async with make_llm(limits=limits) as llm:
        _, error = await turn(llm, ctx)
        check(error, errors, name, limits)
        assert fake.counters.open_bodies == 0
        fake.add(Reply.text("next"))
        items, error = await turn(llm, ctx)
        assert (error, "".join(contents(items))) == (None, "next")


@pytest.mark.parametrize("case", list(WS_CASES))
async def test_websocket_limits(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: Callable[..., OpenAILLM],
    errors: list[Exception],
    case: str,
) -> None:
    reply, limits, name = WS_CASES[case]
    fake.add_ws(reply, WSReply.text("next"))
    async with make_ws_llm(limits=limits) as llm:
        _, error = await turn(llm, ctx)
        check(error, errors, name, limits)
        items, error = await turn(llm, ctx)
        assert (error, "".join(contents(items))) == (None, "next")
    assert fake.ws_open == 0


async def test_websocket_argument_deltas_are_bounded_before_the_call_is_done(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: Callable[..., OpenAILLM],
    errors: list[Exception],
) -> None:
    # Deltas are kept until their call's output_item.done; a server that never sends it
    # (here: it stalls) must not grow them past the tool-arguments limit.
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "save"}
    frames: list[Any] = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0, "item": call},
    ]
    frames += [
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "x" * 500}
    ] * 10
    fake.add_ws(WSReply([*frames, Stall()]), WSReply.text("next"))
    limits = StreamLimits(max_tool_arguments_bytes=2 * KB)
    async with make_ws_llm(limits=limits) as llm:
        _, error = await turn(llm, ctx)
        check(error, errors, "max_tool_arguments_bytes", limits)
        assert "'save'" in str(error)
        items, error = await turn(llm, ctx)
        assert (error, "".join(contents(items))) == (None, "next")
    assert fake.ws_open == 0

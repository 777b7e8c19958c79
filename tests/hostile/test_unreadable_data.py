"""Issue 18, item 2: server data of the wrong shape or type ends the turn with our error.

Each payload once raised a raw exception (``TypeError`` from tool arguments sent as an
object, a ``'<' not supported`` from mixed tool-call indexes, ``RecursionError`` from JSON
nested 100,000 deep) or reached the caller as it was (a number as ``content``, a dict as a
tool name, a list as a call id). Now each is a ``ProtocolError``, emitted to ``on("error")``
once, and, with the reference's bare ``async for``, the HTTP response is closed when the
error is raised (``open_bodies`` is checked before the llm closes anything).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scoped_openai import ChatContext, OpenAILLM, ProtocolError
from scoped_openai.testing import DONE, FakeOpenAI, Reply, WSReply, chunk
from support.turns import turn

pytestmark = pytest.mark.anyio

DEEP = "[" * 100_000 + "]" * 100_000


def call_chunk(**call: Any) -> bytes:
    return chunk({"tool_calls": [{"type": "function", **call}]})


def http_reply(*middle: bytes) -> Reply:
    return Reply([chunk({"role": "assistant", "content": ""}), *middle, DONE])


HTTP_PAYLOADS: dict[str, Reply] = {
    "arguments-sent-as-an-object": http_reply(
        call_chunk(index=0, id="c1", function={"name": "f", "arguments": ""}),
        call_chunk(index=0, function={"arguments": {"city": "Paris"}}),
        chunk({}, finish_reason="tool_calls"),
    ),
    "mixed-type-tool-call-indexes": http_reply(
        call_chunk(index=0, id="c1", function={"name": "f", "arguments": "{}"}),
        call_chunk(index="1", id="c2", function={"name": "g", "arguments": "{}"}),
        chunk({}, finish_reason="tool_calls"),
    ),
    "content-that-is-a-number": http_reply(chunk({"content": 5})),
    "tool-name-that-is-a-dict": http_reply(
        call_chunk(index=0, id="c1", function={"name": {"x": 1}, "arguments": "{}"}),
        chunk({}, finish_reason="tool_calls"),
    ),
    "call-id-that-is-a-list": http_reply(
        call_chunk(index=0, id=["c1"], function={"name": "f", "arguments": "{}"}),
        chunk({}, finish_reason="tool_calls"),
    ),
    "json-nested-100000-deep": http_reply(b"data: " + DEEP.encode() + b"\n\n"),
    "a-choice-nested-100000-deep": http_reply(
        b'data: {"choices": [{"index": 0, "delta": {"content": ' + DEEP.encode() + b"}}]}\n\n"
    ),
}


def ws_reply(*frames: Any) -> WSReply:
    created = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}
    return WSReply([created, *frames])


WS_PAYLOADS: dict[str, WSReply] = {
    "json-nested-100000-deep": ws_reply(DEEP),
    "delta-that-is-a-number": ws_reply({"type": "response.output_text.delta", "delta": 5}),
    "function-name-that-is-a-dict": ws_reply(
        {
            "type": "response.output_item.done",
            "item": {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": {"x": 1}},
        }
    ),
    "arguments-sent-as-an-object": ws_reply(
        {
            "type": "response.output_item.done",
            "item": {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "c1",
                "name": "f",
                "arguments": {"city": "Paris"},
            },
        }
    ),
}


async def check(llm: OpenAILLM, ctx: ChatContext, errors: list[Exception], bare: bool) -> None:
    _, error = await turn(llm, ctx, bare=bare)
    assert isinstance(error, ProtocolError), repr(error)
    assert errors == [error]


@pytest.mark.parametrize("bare", [False, True], ids=["async-with", "bare-async-for"])
@pytest.mark.parametrize("payload", list(HTTP_PAYLOADS), ids=list(HTTP_PAYLOADS))
async def test_http_unreadable_data_is_a_protocol_error(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: Callable[..., OpenAILLM],
    errors: list[Exception],
    payload: str,
    bare: bool,
) -> None:
    fake.add(HTTP_PAYLOADS[payload])
    async with make_llm() as llm:
        await check(llm, ctx, errors, bare)
        assert fake.counters.open_bodies == 0  # closed when the error was raised


@pytest.mark.parametrize("bare", [False, True], ids=["async-with", "bare-async-for"])
@pytest.mark.parametrize("payload", list(WS_PAYLOADS), ids=list(WS_PAYLOADS))
async def test_websocket_unreadable_data_is_a_protocol_error(
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: Callable[..., OpenAILLM],
    errors: list[Exception],
    payload: str,
    bare: bool,
) -> None:
    fake.add_ws(WS_PAYLOADS[payload], WSReply.text("next"))
    async with make_ws_llm() as llm:
        await check(llm, ctx, errors, bare)
        items, error = await turn(llm, ctx)  # the socket that carried it is not reused
        assert (error, "".join(i.content for i in items)) == (None, "next")
    assert fake.ws_open == 0

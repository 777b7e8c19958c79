"""A turn on every path, end to end through the in-memory fake, on both backends: the items a
reply becomes, when the request goes out, tool calls, error listeners, and what the caller's
context and the llm's lifetime allow.

Each test runs once per path (``support.paths.PATHS``). What only one path has (the Chat
Completions body, ``[DONE]``; the create frame, sockets, chaining) is in
``tests/llm/test_http_chat.py`` and ``tests/llm/test_ws_chat.py``.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from scoped_openai import APIError, BadRequestError, ChatContext, ChatRole, ChatStream
from scoped_openai.testing import FakeOpenAI, Stall
from support.paths import OnPath
from support.tools import WEATHER
from support.turns import turn

# -- the items a reply becomes ----------------------------------------------------------------


@pytest.mark.anyio
async def test_text_arrives_as_items_that_share_one_usage(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, errors: list[Exception]
) -> None:
    path.add_text("Hello world", chunk_size=4, usage=(12, 3))
    async with path.llm() as llm, llm.chat(ctx) as stream:
        assert isinstance(stream, ChatStream)
        items = [item async for item in stream]
    usage = path.usage(12, 3)
    assert [(i.content, i.role, i.metadata) for i in items] == [
        ("Hell", ChatRole.ASSISTANT, {"usage": usage}),
        ("o wo", ChatRole.ASSISTANT, {"usage": usage}),
        ("rld", ChatRole.ASSISTANT, {"usage": usage}),
        ("", ChatRole.ASSISTANT, {"usage": usage}),
    ]
    shared = (items[-1].metadata or {})["usage"]
    assert all((item.metadata or {})["usage"] is shared for item in items)  # one dict
    assert [item.usage for item in items] == [None, None, None, usage]  # typed: the last one
    assert stream.cancelled is False
    assert stream.assembler.done is True
    assert stream.assembler.spoken == "Hello world"
    if path.path.api == "chat":
        assert stream.assembler.finish_reason == "stop"
        assert [(r.method, r.path) for r in fake.requests] == [("POST", "/v1/chat/completions")]
    else:
        assert stream.assembler.response_id == "resp_fake_1"
    assert errors == []
    path.assert_all_closed()


@pytest.mark.anyio
async def test_text_deltas_are_yielded_as_they_arrive(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    # The server sends two pieces and then nothing more, ever: both pieces must still
    # reach the consumer, so they were yielded as they arrived, not at the end.
    path.add_text(["Hel", "lo"], then=[Stall()])
    heard: list[str] = []
    async with path.llm(idle_timeout=None, first_token_timeout=None) as llm:
        with anyio.fail_after(5):
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    heard.append(item.content)
                    if len(heard) == 2:
                        break
        assert heard == ["Hel", "lo"]
        await path.assert_cancelled_turn_released()
    path.assert_all_closed()


@pytest.mark.anyio
async def test_nothing_is_sent_before_the_first_item_is_awaited(
    path: OnPath, ctx: ChatContext
) -> None:
    path.add_text("ok")
    async with path.llm() as llm:
        stream = llm.chat(ctx)
        await anyio.lowlevel.checkpoint()
        assert path.requests() == []
        assert [i.content async for i in stream] == ["ok", ""]
    assert len(path.requests()) == 1


# -- tool calls -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_tool_call_is_one_item_with_parsed_arguments(
    path: OnPath, ctx: ChatContext
) -> None:
    path.add(path.function_calls(("call_1", "get_weather", '{"city": "Paris"}'), fragment_size=3))
    async with path.llm() as llm, llm.chat(ctx, tools=[WEATHER]) as stream:
        items = [item async for item in stream]
    call = {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}
    assert [(i.content, i.metadata) for i in items] == [
        ("", {"function_call": call, "usage": path.usage()}),
        ("", {"usage": path.usage()}),
    ]
    if path.path.api == "chat":
        assert stream.assembler.finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_the_context_is_not_modified(
    path: OnPath, ctx: ChatContext, ctx_snapshot: list[Any]
) -> None:
    path.add(path.function_calls(("call_1", "get_weather", '{"city":"Paris"}'), text="Hm."))
    async with path.llm() as llm:
        items, error = await turn(llm, ctx, tools=[WEATHER])
    assert error is None
    assert [item.function_call for item in items if item.function_call] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}
    ]
    assert ctx.items == ctx_snapshot


# -- listeners and lifetime -------------------------------------------------------------------


@pytest.mark.anyio
async def test_error_listener_can_be_removed_and_a_raising_listener_is_contained(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Exception] = []

    def broken(error: Exception) -> None:
        raise RuntimeError("listener bug")

    path.add(path.error(400, "bad"), path.error(400, "bad again"))
    async with fake.llm(**path.path.llm_kwargs) as llm:
        llm.on("error", broken)
        llm.on("error", seen.append)
        with pytest.raises(APIError, match="bad") as first:
            [_ async for _ in llm.chat(ctx)]
        llm.off("error", seen.append)
        with pytest.raises(APIError, match="bad again"):
            [_ async for _ in llm.chat(ctx)]
    assert seen == [first.value]  # the raised error itself, once, and not the second
    if path.transport == "http":
        assert isinstance(first.value, BadRequestError)
        assert [str(e) for e in seen] == ["HTTP 400: bad"]
    assert [r.getMessage() for r in caplog.records if r.name == "scoped_openai"] == [
        "an 'error' listener raised",
        "an 'error' listener raised",
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("ended_by", ["aclose", "block"])
async def test_chat_after_the_llm_is_closed_is_a_clear_error(
    path: OnPath, ctx: ChatContext, ended_by: str
) -> None:
    if ended_by == "aclose":
        llm = path.llm()
        await llm.aclose()
    else:
        path.add_text("hi")
        async with path.llm() as llm:
            items, error = await turn(llm, ctx)
            assert ([item.content for item in items], error) == (["hi", ""], None)
    with pytest.raises(RuntimeError, match="closed"):
        llm.chat(ctx)
    path.assert_all_closed()
    assert len(path.requests()) == (0 if ended_by == "aclose" else 1)

"""Errors inside a started reply, on every path: what was heard stays heard, the error is
typed and reported once, nothing is retried once output reached the caller, the context is
untouched and the next turn is fine.

The per-fault matrix (every fault, both paths) is ``tests/llm/test_fault_matrix.py``; what
only one API or transport has is in ``tests/llm/test_http_errors.py`` and
``tests/llm/test_ws_errors.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from scoped_openai import APIStreamError, ChatContext, ToolArgumentsError
from scoped_openai.testing._ws_script import error_frame
from support.paths import OnPath, Scripted
from support.turns import contents, turn

MESSAGE = "The server had an error while processing your request."


def error_after(path: OnPath, pieces: list[str]) -> tuple[Scripted, Any]:
    """``pieces`` of text, then the API's mid-stream error event (Chat Completions: a data
    line holding ``{"error": ...}``; Responses: the nested ``error`` event, status 500,
    which the fake sends flat, without the status, over HTTP), and that event."""
    if path.path.api == "chat":
        event: Any = {
            "error": {
                "message": MESSAGE,
                "type": "server_error",
                "param": None,
                "code": "server_error",
            }
        }
        then: list[Any] = [b"data: " + json.dumps(event).encode() + b"\n\n"]
    else:
        event = error_frame("server_error", MESSAGE, status=500)
        then = [event]
    return path.text(pieces, then=then), event


@pytest.mark.anyio
async def test_an_error_event_after_text_keeps_the_text(
    path: OnPath, ctx: ChatContext, ctx_snapshot: list[Any], errors: list[Exception]
) -> None:
    reply, event = error_after(path, ["Hello", " wor"])
    path.add(reply)
    async with path.llm(max_retries=3) as llm:
        items, error = await turn(llm, ctx)
        assert contents(items) == ["Hello", " wor"]
        assert type(error) is APIStreamError
        assert error.code == "server_error"
        assert MESSAGE in error.message
        assert errors == [error]
        assert len(path.requests()) == 1  # items reached the caller: never retried
        assert ctx.items == ctx_snapshot
        if path.path.api == "chat":
            assert error.message == f"the API reported an error mid-stream: '{MESSAGE}'"
            assert (error.type, error.param) == ("server_error", None)
            assert error.body == event
        elif path.transport == "ws":
            assert error.status == "500"  # the WebSocket's nested error event carries it
        await path.next_turn_works(llm, ctx)
    path.assert_all_closed()


@pytest.mark.anyio
async def test_tool_arguments_that_are_not_json_are_never_dispatched(
    path: OnPath, ctx: ChatContext, ctx_snapshot: list[Any], errors: list[Exception]
) -> None:
    path.add(
        path.function_calls(
            ("call_ok", "get_weather", '{"city":"Paris"}'),
            ("call_bad", "get_time", '{"tz": "CET"'),
            ("call_list", "get_time", "[1, 2]"),
        )
    )
    async with path.llm() as llm:
        items, error = await turn(llm, ctx)
        assert [i.function_call for i in items if i.function_call] == [
            {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_ok"}
        ]
        assert isinstance(error, ToolArgumentsError)
        assert (error.name, error.call_id, error.raw_arguments) == (
            "get_time",
            "call_bad",
            '{"tz": "CET"',
        )
        assert errors == [error]
        assert ctx.items == ctx_snapshot
        await path.next_turn_works(llm, ctx)
    path.assert_all_closed()

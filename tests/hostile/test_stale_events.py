"""Issue 18, item 3: events a server sends after a response ended never reach a later turn.

The first reply completes, then (a moment later, on the same socket) the server sends a
second ``response.completed`` of that response, a stray delta and a ``response.failed`` of
it. The next turn's ``response.create`` is answered after them, so they arrive at the start
of the next turn: they must not end it, be spoken in it, or name its response. Before the
fix the next turn ended at once on the stale ``response.completed`` (text ``''``, the old
response id) and every later turn was one answer behind.

Trio runs on the virtual clock; asyncio waits the 0.02 s pause for real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Pause, WSReply
from support.turns import contents, turn


def stale(reply_id: str) -> list[Any]:
    old = {"id": reply_id, "status": "completed", "output": [], "usage": None}
    return [
        Pause(0.02),
        {"type": "response.completed", "response": old},
        {"type": "response.output_text.delta", "item_id": "msg_old", "delta": "stale words"},
        {"type": "response.failed", "response": {**old, "status": "failed"}},
    ]


def script(fake: FakeOpenAI) -> None:
    fake.add_ws(
        WSReply.text("one", response_id="resp_1").extended(*stale("resp_1")),
        WSReply.text("two", response_id="resp_2"),
        WSReply.text("three", response_id="resp_3"),
    )


async def run(fake: FakeOpenAI, ctx: ChatContext, make_ws_llm: Callable[..., OpenAILLM]) -> None:
    script(fake)
    heard: list[str] = []
    async with make_ws_llm() as llm:
        for _ in range(3):
            items, error = await turn(llm, ctx)
            assert error is None, repr(error)
            heard.append("".join(contents(items)))
            ctx.add_message(ChatRole.ASSISTANT, heard[-1])
            ctx.add_message(ChatRole.USER, "and?")
    assert heard == ["one", "two", "three"]
    # Each turn chained on the response before it, never on the stale one.
    assert [frame.get("previous_response_id") for frame in fake.ws_frames] == [
        None,
        "resp_1",
        "resp_2",
    ]
    assert fake.ws_open == 0


@pytest.mark.trio
async def test_stale_events_never_count_virtual_clock(
    autojump_clock: Any,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: Callable[..., OpenAILLM],
) -> None:
    await run(fake, ctx, make_ws_llm)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_stale_events_never_count_asyncio(
    anyio_backend: str,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_ws_llm: Callable[..., OpenAILLM],
) -> None:
    await run(fake, ctx, make_ws_llm)

"""Issue 18, item 9: a caller's mistake is a ``UsageError`` at ``chat()``, the same on every
path (``support.paths.PATHS``), before anything is sent.

- ``chat("hello")`` used to raise ``AttributeError: 'str' object has no attribute
  'call_id'``;
- a list of items worked on HTTP and raised on the WebSocket: now both take it;
- a tool that is not a ``FunctionTool`` failed at ``chat()`` on HTTP but at the first item
  on the WebSocket: now both fail at ``chat()``;
- one ``OpenAILLM`` used from a second event loop gave raw ``RuntimeError``s from httpx or
  anyio: now a ``UsageError`` that says to make one per loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio

from scoped_openai import ChatContext, ChatMessage, ChatRole, UsageError
from scoped_openai.testing import FakeOpenAI, Reply
from support.paths import OnPath
from support.turns import contents, turn

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ("hello", "not a str"),
        (None, "not a NoneType"),
        ({"role": "user", "content": "hi"}, "not a dict"),
        ([{"role": "user", "content": "hi"}], "item 0 is a dict"),
    ],
    ids=["a-string", "none", "a-dict", "a-list-of-dicts"],
)
async def test_messages_that_are_not_a_context(
    fake: FakeOpenAI,
    path: OnPath,
    messages: Any,
    words: str,
) -> None:
    async with path.llm() as llm:
        with pytest.raises(UsageError, match=words):
            llm.chat(messages)
    assert fake.requests == []
    assert fake.ws_frames == []


async def test_a_list_of_items_works_on_both_paths(
    fake: FakeOpenAI,
    path: OnPath,
) -> None:
    path.add_text("Hi")
    async with path.llm() as llm:
        items, error = await turn(llm, [ChatMessage(role=ChatRole.USER, content="hello")])
    assert (error, "".join(contents(items))) == (None, "Hi")


@pytest.mark.parametrize(
    ("tools", "words"),
    [
        ([lambda city: city], r"tools\[0\] is a function"),
        ("get_weather", "not a str"),
        ([{"type": "function", "name": "f"}], r"tools\[0\] is a dict"),
    ],
    ids=["a-plain-function", "a-string", "a-schema-dict"],
)
async def test_bad_tools_fail_at_chat_on_both_paths(
    fake: FakeOpenAI,
    ctx: ChatContext,
    errors: list[Exception],
    path: OnPath,
    tools: Any,
    words: str,
) -> None:
    async with path.llm() as llm:
        with pytest.raises(UsageError, match=words) as at_chat:
            llm.chat(ctx, tools=tools)
        with pytest.raises(UsageError, match=words) as at_prewarm:
            await llm.prewarm(instructions="Be brief.", tools=tools)
    assert errors == [at_chat.value, at_prewarm.value]  # emitted, like every turn's error
    assert fake.requests == []
    assert fake.ws_frames == []


def test_one_instance_in_two_event_loops(fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.add(Reply.text("first"), Reply.text("second"))
    llm = fake.llm()

    async def one_turn() -> tuple[list[str], Exception | None]:
        items, error = await turn(llm, ctx)
        return contents(items), error

    assert asyncio.run(one_turn()) == (["firs", "t", ""], None)
    for heard, error in (asyncio.run(one_turn()), trio.run(one_turn)):
        assert heard == []
        assert isinstance(error, UsageError), repr(error)
        assert "one OpenAILLM per event loop" in str(error)

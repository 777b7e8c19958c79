"""A context item edited in place between two turns reaches the server as edited, on every
path: the Responses input caches (``InputItemCache``, the chain's held items) keep the last
turn's items and must notice an edit of the very object they saw, by value."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from scoped_openai import ChatContext, ChatMessage, ChatRole
from support.paths import OnPath
from support.turns import turn_text


def replace_text(message: ChatMessage) -> None:
    message.content = "Say goodbye."


def edit_part(message: ChatMessage) -> None:
    assert isinstance(message.content, list)
    message.content[0] = "Say goodbye."


@pytest.mark.anyio
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "store"])
@pytest.mark.parametrize(
    ("content", "edit"),
    [("Say hello.", replace_text), (["Say hello."], edit_part)],
    ids=["content-replaced", "part-edited"],
)
async def test_a_message_edited_in_place_is_sent_as_edited(
    path: OnPath,
    store: bool,
    content: str | list[str],
    edit: Callable[[ChatMessage], None],
) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are terse.")
    message = ctx.add_message(ChatRole.USER, content)
    path.add_text("hello")
    path.add_text("goodbye")
    async with path.llm(store=store) as llm:
        assert await turn_text(llm, ctx) == "hello"
        edit(message)  # the same object the first turn converted
        ctx.add_message(ChatRole.USER, "Now.")
        assert await turn_text(llm, ctx) == "goodbye"
    first, second = (json.dumps(body) for body in path.requests())
    assert "Say hello." in first
    assert "Say goodbye." in second
    assert "Say hello." not in second  # neither the old item nor a chain that holds it

"""A request value JSON cannot hold, on every path: a NaN or an infinity (from a chat()
keyword, ``extra_body`` or a setting) is a ``UsageError`` naming where, raised before anything
is sent (msgspec would write ``null``, the API's "not set"; ``json.dumps`` would write ``NaN``,
refused a round trip later), and the next turn is fine."""

from __future__ import annotations

import math
from typing import Any

import pytest

from scoped_openai import ChatContext, UsageError
from support.paths import OnPath
from support.turns import turn


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("chat_kwargs", "llm_kwargs", "where"),
    [
        ({"temperature": math.nan}, {}, "$.temperature"),
        ({}, {"extra_body": {"metadata": {"score": math.inf}}}, "$.metadata.score"),
        ({}, {"top_p": -math.inf}, "$.top_p"),
    ],
    ids=["chat-keyword", "extra-body", "setting"],
)
async def test_a_value_json_cannot_hold_is_refused_before_sending(
    path: OnPath,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    errors: list[Exception],
    chat_kwargs: dict[str, Any],
    llm_kwargs: dict[str, Any],
    where: str,
) -> None:
    async with path.llm(**llm_kwargs) as llm:
        items, error = await turn(llm, ctx, **chat_kwargs)
        assert items == []
        assert type(error) is UsageError
        assert f"{where} is " in str(error)
        assert errors == [error]
        assert path.requests() == []  # nothing was sent
        assert ctx.items == ctx_snapshot
        if not llm_kwargs:  # the instance is fine: the next turn, without the value, works
            await path.next_turn_works(llm, ctx)

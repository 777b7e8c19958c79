"""One turn as a voice agent runs it, collected: the items and the exception (returned)."""

from __future__ import annotations

from typing import Any

from scoped_openai import LLMResponse, OpenAILLM


async def turn(
    llm: OpenAILLM, ctx: Any, *, bare: bool = False, **kwargs: Any
) -> tuple[list[LLMResponse], Exception | None]:
    """Every item of one reply and the exception that ended it (None: it completed).
    ``bare``: iterate without ``async with`` (the reference's style)."""
    items: list[LLMResponse] = []
    try:
        if bare:
            async for item in llm.chat(ctx, **kwargs):
                items.append(item)
        else:
            async with llm.chat(ctx, **kwargs) as stream:
                async for item in stream:
                    items.append(item)
    except Exception as exc:
        return items, exc
    return items, None


def contents(items: list[LLMResponse]) -> list[str]:
    return [item.content for item in items]


async def turn_text(llm: OpenAILLM, ctx: Any, **kwargs: Any) -> str:
    """The whole text of one reply (an exception ends the test)."""
    async with llm.chat(ctx, **kwargs) as stream:
        return "".join([item.content async for item in stream])

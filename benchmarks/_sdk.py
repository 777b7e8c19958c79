"""The peer a user would otherwise pick: the official ``openai`` SDK's
``AsyncOpenAI(...).chat.completions.create(stream=True)`` (bench-only dependency).

The SDK is built on httpx and anyio; whether it runs under trio is checked by
``sdk_runs_under_trio`` (the figures use it under asyncio only).
"""

from __future__ import annotations

import time
from typing import Any

from _common import API_KEY, MODEL, SYSTEM, Turn
from _spec import Spec


def available() -> str | None:
    """None when the SDK can be imported, else why not."""
    try:
        import openai  # noqa: F401
    except ImportError as exc:
        return f"openai SDK not installed ({exc}); pip install '.[bench]'"
    return None


def version() -> str:
    import openai

    return str(openai.__version__)


class SDK:
    """``AsyncOpenAI`` streaming Chat Completions, history as a list of dicts."""

    name = "openai-sdk"
    path = "http"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM}]
        self.client: Any = None

    async def __aenter__(self) -> SDK:
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(api_key=API_KEY, base_url=self.base_url, max_retries=0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.close()

    async def turn(self, spec: Spec, *, remember: bool = True, turn_no: int = 0) -> Turn:
        messages = self.messages if remember else [self.messages[0]]
        messages.append({"role": "user", "content": spec.user_text(turn_no)})
        parts: list[str] = []
        first = 0.0
        c0 = time.process_time()
        t0 = time.perf_counter()
        stream = await self.client.chat.completions.create(
            model=MODEL,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.7,
        )
        async with stream:
            async for chunk in stream:
                if chunk.choices:
                    content = chunk.choices[0].delta.content
                    if content:
                        if not parts:
                            first = time.perf_counter()
                        parts.append(content)
        t1 = time.perf_counter()
        c1 = time.process_time()
        text = "".join(parts)
        if remember:
            messages.append({"role": "assistant", "content": text})
        return Turn(first - t0 if parts else float("nan"), t1 - t0, c1 - c0, len(parts), text, t0)


def sdk_runs_under_trio(base_url: str) -> str:
    """Stream one short reply with the SDK under trio; say what happened."""
    import anyio

    async def one() -> int:
        async with SDK(base_url) as sdk:
            turn = await sdk.turn(Spec(chunks=5))
        return turn.chunks

    try:
        with_timeout = _bounded(one, 15.0)
        chunks = anyio.run(with_timeout, backend="trio")
    except Exception as exc:  # report, never fail the bench
        return f"no: {type(exc).__name__}: {str(exc)[:160]}"
    return f"yes: streamed {chunks}/5 chunks under trio (httpx + anyio carry it)"


def _bounded(fn: Any, seconds: float) -> Any:
    import anyio

    async def run() -> Any:
        with anyio.fail_after(seconds):
            return await fn()

    return run

"""Our client, driven the way a voice agent drives it: one ``OpenAILLM`` per session, one
``ChatContext`` that grows, ``async with llm.chat(ctx) as stream: async for item in stream``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from _common import API_KEY, SYSTEM, Turn
from _spec import Spec

from scoped_openai import ChatContext, ChatRole, OpenAILLM

#: The Responses API over HTTP: full context each turn, or stored and chained.
RESPONSES_PATHS = ("responses", "responses-store")


class Ours:
    """``OpenAILLM`` over HTTP (Chat Completions SSE, or ``path="responses"``: the Responses
    API, ``"responses-store"`` with ``store=True``) or WebSocket (Responses)."""

    name = "ours"

    def __init__(self, base_url: str, *, path: str = "http", http2: bool = False) -> None:
        self.base_url = base_url
        self.path = path
        self.http2 = http2
        self.llm: OpenAILLM | None = None
        self._client: httpx.AsyncClient | None = None
        self.ctx = self._fresh()

    @staticmethod
    def _fresh() -> ChatContext:
        ctx = ChatContext.empty()
        ctx.add_message(ChatRole.SYSTEM, SYSTEM)
        return ctx

    async def __aenter__(self) -> Ours:
        if self.http2:  # a caller-supplied client: HTTP/2 with prior knowledge (cleartext)
            self._client = httpx.AsyncClient(http1=False, http2=True)
        responses = self.path in RESPONSES_PATHS  # the Responses API over HTTP
        self.llm = OpenAILLM(
            api_key=API_KEY,
            base_url=self.base_url,
            streaming=self.path == "ws",
            client=self._client,
            api="responses" if responses else "chat",
            store=self.path == "responses-store",  # chained on previous_response_id
        )
        await self.llm.__aenter__()
        if self.path == "ws":
            await self.llm.prewarm()  # the socket and its spare, as the floor opens its own
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.llm is not None
        await self.llm.__aexit__(None, None, None)
        if self._client is not None:
            await self._client.aclose()

    async def turn(self, spec: Spec, *, remember: bool = True, turn_no: int = 0) -> Turn:
        assert self.llm is not None
        ctx = self.ctx if remember else self._fresh()
        ctx.add_message(ChatRole.USER, spec.user_text(turn_no))
        parts: list[str] = []
        first = 0.0
        c0 = time.process_time()
        t0 = time.perf_counter()
        async with self.llm.chat(ctx) as stream:
            async for item in stream:
                content = item.content
                if content:
                    if not parts:
                        first = time.perf_counter()
                    parts.append(content)
        t1 = time.perf_counter()
        c1 = time.process_time()
        text = "".join(parts)
        if remember:
            ctx.add_message(ChatRole.ASSISTANT, text)
        return Turn(first - t0 if parts else float("nan"), t1 - t0, c1 - c0, len(parts), text, t0)

    # -- barge-in -----------------------------------------------------------------------

    async def consume(self, spec: Spec, on_item: Callable[[str], None]) -> float:
        assert self.llm is not None
        self.ctx.add_message(ChatRole.USER, spec.user_text())
        async with self.llm.chat(self.ctx) as stream:
            async for item in stream:
                if item.content:
                    on_item(item.content)
            exited = time.perf_counter()
        return exited

    async def cancel(self) -> None:
        assert self.llm is not None
        await self.llm.cancel_current_generation()

    async def reset(self) -> None:
        self.ctx = self._fresh()

    def spare_snapshot(self) -> Any:
        """WebSocket: the pool's spare and whether it is open right now (before a cancel)."""
        pool = getattr(self.llm, "_pool", None)
        spare = getattr(pool, "_spare", None)
        if spare is None:
            return None
        return spare, spare.ws is not None and spare.ready.is_set()

    def used_spare(self, snapshot: Any) -> bool | None:
        """WebSocket: did the turn after the cancel run on the spare that was open before it?"""
        if self.path != "ws":
            return None
        if snapshot is None:
            return False
        spare, was_open = snapshot
        pool = getattr(self.llm, "_pool", None)
        return bool(was_open and getattr(pool, "_active", None) is spare)

    def sockets_opened(self) -> int:
        pool = getattr(self.llm, "_pool", None)
        return 0 if pool is None else int(pool.sockets_opened)

"""A consumer task for barge-in tests: iterates a reply the way a voice agent does."""

from __future__ import annotations

import anyio

from scoped_openai import ChatContext, ChatStream, LLMResponse, OpenAILLM


class Consumer:
    """Consumes one reply in a task of its own, recording what it heard and when it ended."""

    def __init__(self, llm: OpenAILLM, ctx: ChatContext, *, bare: bool = False) -> None:
        self.llm = llm
        self.ctx = ctx
        self.bare = bare
        self.heard: list[str] = []
        self.items: list[LLMResponse] = []
        self.first = anyio.Event()
        self.ended = anyio.Event()
        self.stream: ChatStream | None = None
        self.error: BaseException | None = None
        self.ended_at: float | None = None
        self.scope = anyio.CancelScope()

    def _take(self, item: LLMResponse) -> None:
        self.items.append(item)
        self.heard.append(item.content)
        self.first.set()

    async def run(self) -> None:
        try:
            with self.scope:
                if self.bare:
                    self.stream = self.llm.chat(self.ctx)
                    async for item in self.stream:
                        self._take(item)
                else:
                    async with self.llm.chat(self.ctx) as stream:
                        self.stream = stream
                        async for item in stream:
                            self._take(item)
        except Exception as exc:
            self.error = exc
        finally:
            self.ended_at = anyio.current_time()
            self.ended.set()

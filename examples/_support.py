"""Shared by the examples: talk to OpenAI when OPENAI_API_KEY is set, else to the fake.

``ExampleServer(script)`` starts ``scoped_openai.testing.FakeOpenAI`` on loopback with the
replies ``script`` queues, unless an API key is set; ``base_url``/``api_key`` then say where
to point an ``OpenAILLM``. It is a class-based async context manager (not a generator): the
fake's server holds a task group open across the block.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from types import TracebackType

from scoped_openai.testing import FakeOpenAI


class ExampleServer:
    """Where an example's ``OpenAILLM`` should point."""

    def __init__(self, script: Callable[[FakeOpenAI], None]) -> None:
        self._script = script
        self._stack = AsyncExitStack()
        self.base_url: str | None = None
        self.api_key: str | None = None
        self.fake: FakeOpenAI | None = None

    async def __aenter__(self) -> ExampleServer:
        if os.getenv("OPENAI_API_KEY"):
            return self  # the real API: OpenAILLM reads the key from the environment
        await self._stack.__aenter__()
        self.fake = FakeOpenAI()
        self._script(self.fake)
        server = await self._stack.enter_async_context(self.fake.serve())
        self.base_url, self.api_key = server.base_url, "sk-example-fake"
        print(f"(no OPENAI_API_KEY: using the embedded fake at {self.base_url})")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._stack.__aexit__(exc_type, exc, tb)

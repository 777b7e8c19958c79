"""Fixtures for the LiveKit Agents plugin suite (``nox -s livekit``).

LiveKit Agents is asyncio-only, so these tests run on asyncio alone (the ``anyio_backend``
fixture below overrides the cross-backend one). The fake serves on real loopback sockets;
both plugins (ours and LiveKit's own OpenAI plugin) talk to the same fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

pytest.importorskip("livekit.agents", reason="LiveKit Agents is not installed (nox -s livekit)")

from livekit.agents import APIConnectOptions
from livekit.agents import llm as lk_llm

from scoped_openai.integrations._owner import OWNER_TASK_NAME
from scoped_openai.integrations.livekit import LLM
from scoped_openai.testing import FAKE_API_KEY, FakeOpenAI

T = TypeVar("T")

#: Bounds every wait: only a broken test reaches it.
LIMIT = 10.0

#: No retries, so a test sees the error LiveKit would retry on (its ``retryable`` flag).
NO_RETRY = APIConnectOptions(max_retry=0, retry_interval=0.0)

PATHS = ["http", "ws"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def base_url(fake: FakeOpenAI) -> AsyncIterator[str]:
    """The fake on a loopback socket."""
    async with fake.serve() as server:
        yield server.base_url


@pytest.fixture
async def make_plugin(base_url: str) -> AsyncIterator[Callable[..., LLM]]:
    """``make_plugin(path, **kwargs)``: our LiveKit LLM on the loopback fake (``path``:
    ``"http"`` or ``"ws"``); every one made is closed at the end of the test."""
    made: list[LLM] = []

    def make(path: str = "http", **kwargs: Any) -> LLM:
        kwargs.setdefault("api_key", FAKE_API_KEY)
        plugin = LLM(base_url=base_url, streaming=path == "ws", **kwargs)
        made.append(plugin)
        return plugin

    yield make
    for plugin in made:
        await plugin.aclose()


@pytest.fixture
async def make_livekit_plugin(base_url: str) -> AsyncIterator[Callable[..., lk_llm.LLM[Any]]]:
    """``make_livekit_plugin(path)``: LiveKit's own OpenAI plugin on the same fake: its Chat
    Completions LLM (``"http"``) or its Responses LLM over a WebSocket (``"ws"``)."""
    from livekit.agents.utils import http_context
    from livekit.plugins import openai as lk_openai

    made: list[lk_llm.LLM[Any]] = []

    def make(path: str = "http", **kwargs: Any) -> lk_llm.LLM[Any]:
        kwargs.setdefault("api_key", FAKE_API_KEY)
        kwargs.setdefault("model", "gpt-4o-mini")
        plugin: lk_llm.LLM[Any]
        if path == "http":
            plugin = lk_openai.LLM(base_url=base_url, **kwargs)
        else:
            # Its WebSocket URL is the base URL itself.
            plugin = lk_openai.responses.LLM(base_url=f"{base_url}/responses", **kwargs)
        made.append(plugin)
        return plugin

    # Its WebSocket rides LiveKit's shared aiohttp session (a job provides one).
    async with http_context.open():
        yield make
        for plugin in made:
            await plugin.aclose()


def user_ctx(text: str = "hi", instructions: str | None = None) -> lk_llm.ChatContext:
    ctx = lk_llm.ChatContext.empty()
    if instructions is not None:
        ctx.add_message(role="system", content=instructions)
    ctx.add_message(role="user", content=text)
    return ctx


async def bounded(awaitable: Awaitable[T]) -> T:
    """``awaitable``, failing the test if it takes longer than ``LIMIT``."""
    return await asyncio.wait_for(awaitable, LIMIT)


def owned_tasks() -> list[asyncio.Task[Any]]:
    """The library's owner tasks still running on this loop."""
    return [t for t in asyncio.all_tasks() if t.get_name() == OWNER_TASK_NAME and not t.done()]

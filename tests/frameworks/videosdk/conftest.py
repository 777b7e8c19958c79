"""Fixtures for the VideoSDK Agents plugin suite (``nox -s videosdk``).

VideoSDK Agents is asyncio-only, so these tests run on asyncio alone (the ``anyio_backend``
fixture below overrides the cross-backend one). The fake serves on real loopback sockets;
both plugins (ours and VideoSDK's own ``videosdk-plugins-openai``) talk to the same fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("videosdk.agents", reason="VideoSDK Agents is not installed (nox -s videosdk)")

from videosdk.agents import ChatContext, ChatRole, LLMResponse

from scoped_openai.integrations._owner import OWNER_TASK_NAME
from scoped_openai.integrations.videosdk import OpenAILLM
from scoped_openai.testing import FAKE_API_KEY, FakeOpenAI

#: Bounds every wait: only a broken test reaches it.
LIMIT = 10.0
PATHS = ["http", "ws"]


def pytest_configure(config: pytest.Config) -> None:
    # The reference plugin (videosdk-plugins-openai 1.0.30), not ours: it passes aiohttp a
    # float timeout, which this aiohttp deprecates, and its failed eager prewarm leaves an
    # aiohttp session unclosed. Warnings are errors in this project; these two are its.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:parameter 'timeout' of type 'float' is deprecated:DeprecationWarning",
    )
    config.addinivalue_line("filterwarnings", "ignore:Unclosed client session:ResourceWarning")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def conversation(*turns: tuple[ChatRole, str]) -> ChatContext:
    """A VideoSDK context: a system prompt then ``turns`` (a user greeting when none)."""
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are terse.")
    for role, text in turns or ((ChatRole.USER, "Say hello."),):
        ctx.add_message(role, text)
    return ctx


def settings(server: Any, path: str, **kwargs: Any) -> dict[str, Any]:
    """Constructor keywords for either plugin on ``server`` (the same for both)."""
    kwargs.setdefault("api_key", FAKE_API_KEY)
    kwargs.setdefault("base_url", server.base_url)
    if path == "ws":
        kwargs.setdefault("streaming", True)
        kwargs.setdefault("wss_url", server.base_url.replace("http://", "ws://") + "/responses")
    return kwargs


def ours(server: Any, path: str, errors: list[Any] | None = None, **kwargs: Any) -> OpenAILLM:
    """Our plugin on ``server`` (its ``"error"`` events appended to ``errors``)."""
    llm = OpenAILLM(**settings(server, path, **kwargs))
    if errors is not None:
        # A Python function: the framework's emitter reads the handler's __code__.
        llm.on("error", lambda error: errors.append(error))
    return llm


async def collect(replies: Any, into: list[LLMResponse] | None = None) -> list[LLMResponse]:
    """Every item of one ``chat()`` (bounded), appended to ``into`` as they come when given
    (so a test still sees them when the reply ends in an error)."""
    items: list[LLMResponse] = [] if into is None else into
    with anyio.fail_after(LIMIT):
        async for item in replies:
            items.append(item)
    return items


def text_of(items: list[LLMResponse]) -> str:
    return "".join(item.content for item in items)


def calls_of(items: list[LLMResponse]) -> list[dict[str, Any]]:
    return [i.metadata["function_call"] for i in items if "function_call" in (i.metadata or {})]


def owner_tasks() -> list[asyncio.Task[Any]]:
    """The plugin owner tasks alive now."""
    return [t for t in asyncio.all_tasks() if t.get_name() == OWNER_TASK_NAME and not t.done()]


def connections_to(port: int) -> int:
    """Established TCP connections to ``port`` on this machine (the client side: the remote
    port is the server's), read from ``/proc/net/tcp``: sockets nobody closed."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if remote_port == port and fields[3] == "01":  # 01: ESTABLISHED
            count += 1
    return count


@pytest.fixture
async def server(fake: FakeOpenAI) -> AsyncIterator[Any]:
    """``fake`` served on a loopback port for the test's duration."""
    async with fake.serve() as running:
        yield running


MakeOurs = Callable[..., OpenAILLM]

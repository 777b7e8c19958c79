"""Shared fixtures.

Cross-backend async tests use anyio's pytest plugin (``@pytest.mark.anyio``), run once on
asyncio and once on trio by the ``anyio_backend`` fixture below. Deterministic timing and
cancellation tests use pytest-trio (``@pytest.mark.trio`` with its ``autojump_clock``
fixture: trio's virtual clock), never ``trio_mode``. Every fixture here is synchronous, so
both kinds of test can use them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from scoped_openai import ChatContext, ChatRole, LLMResponse, OpenAILLM
from scoped_openai.testing import FakeOpenAI
from support.paths import PATHS, OnPath, Path
from support.sockets import SocketTracker

#: ``SCOPED_OPENAI_BACKEND=asyncio|trio`` (set by each nox session) runs one backend only;
#: unset, both run.
SELECTED_BACKEND = os.environ.get("SCOPED_OPENAI_BACKEND", "")
BACKENDS = [b for b in ("asyncio", "trio") if SELECTED_BACKEND in ("", b)]


@pytest.fixture(params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an asyncio-only session, the trio-only (virtual clock) tests belong elsewhere."""
    if SELECTED_BACKEND != "asyncio":
        return
    trio_only = [item for item in items if item.get_closest_marker("trio") is not None]
    if trio_only:
        config.hook.pytest_deselected(items=trio_only)
        items[:] = [item for item in items if item.get_closest_marker("trio") is None]


@pytest.fixture
def fake() -> FakeOpenAI:
    """A fresh scripted fake of the OpenAI API."""
    return FakeOpenAI()


@pytest.fixture
def ctx() -> ChatContext:
    """A small conversation: a system prompt and one user message."""
    context = ChatContext.empty()
    context.add_message(ChatRole.SYSTEM, "You are terse.")
    context.add_message(ChatRole.USER, "Say hello.")
    return context


@pytest.fixture
def ctx_snapshot(ctx: ChatContext) -> list[Any]:
    """A deep copy of ``ctx``'s items taken before the test ran: compare to prove the
    context was left untouched."""
    return copy.deepcopy(ctx.items)


@pytest.fixture
def errors() -> list[Exception]:
    """Errors emitted to ``llm.on("error", ...)`` by LLMs made with ``make_llm``."""
    return []


@pytest.fixture
def make_llm(fake: FakeOpenAI, errors: list[Exception]) -> Callable[..., OpenAILLM]:
    """``make_llm(**kwargs)``: an in-memory ``OpenAILLM`` on ``fake`` whose error events are
    collected in ``errors``."""

    def make(**kwargs: Any) -> OpenAILLM:
        llm = fake.llm(**kwargs)
        llm.on("error", errors.append)
        return llm

    return make


Drain = Callable[
    [AsyncIterator[LLMResponse]], Awaitable[tuple[list[LLMResponse], BaseException | None]]
]


@pytest.fixture
def drain() -> Drain:
    """``items, error = await drain(stream)``: every item the stream yields before it ends
    or raises (the exception, if any, is returned, not raised)."""

    async def run(
        stream: AsyncIterator[LLMResponse],
    ) -> tuple[list[LLMResponse], BaseException | None]:
        items: list[LLMResponse] = []
        try:
            async for item in stream:
                items.append(item)
        except Exception as exc:
            return items, exc
        return items, None

    return run


# -- the WebSocket path (streaming=True) ----------------------------------------------------


@pytest.fixture
def ws_tracker(fake: FakeOpenAI) -> SocketTracker:
    """A ``SocketTracker`` on ``fake``: pass it as ``ws_connector`` (``make_ws_llm`` does)."""
    return SocketTracker(fake)


@pytest.fixture
def make_ws_llm(
    fake: FakeOpenAI, errors: list[Exception], ws_tracker: SocketTracker
) -> Callable[..., OpenAILLM]:
    """``make_ws_llm(**kwargs)``: an in-memory ``OpenAILLM(streaming=True)`` on ``fake``,
    its sockets tracked by ``ws_tracker``, its error events collected in ``errors``."""

    def make(**kwargs: Any) -> OpenAILLM:
        kwargs.setdefault("streaming", True)
        kwargs.setdefault("ws_connector", ws_tracker)
        llm = fake.llm(**kwargs)
        llm.on("error", errors.append)
        return llm

    return make


# -- every path ---------------------------------------------------------------------------


@pytest.fixture(params=PATHS, ids=lambda path: path.id)
def path(
    request: pytest.FixtureRequest,
    fake: FakeOpenAI,
    ws_tracker: SocketTracker,
    errors: list[Exception],
) -> OnPath:
    """The test runs once per path (``support.paths.PATHS``), on ``fake``: ``path.llm()``
    builds the llm, ``path.add_text()`` scripts its replies."""
    spec: Path = request.param
    return OnPath(spec, fake, ws_tracker, errors)

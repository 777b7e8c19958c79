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

import json  # noqa: E402  (appended section: existing imports stay untouched)

import anyio  # noqa: E402


class TrackedSocket:
    """A fake WebSocket that records, in its ``SocketTracker``, every frame sent on it."""

    def __init__(self, inner: Any, number: int, tracker: SocketTracker) -> None:
        self.inner = inner
        self.number = number
        self._tracker = tracker

    @property
    def closed(self) -> bool:
        return bool(self.inner.closed)

    async def send_text(self, text: str) -> None:
        await self.inner.send_text(text)
        self._tracker.sent.append((self.number, json.loads(text)))

    async def receive_text(self) -> str:
        return str(await self.inner.receive_text())

    def receive_text_nowait(self) -> str | None:
        text = self.inner.receive_text_nowait()
        return None if text is None else str(text)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.aclose(code, reason)


class _TrackedConnection:
    def __init__(self, tracker: SocketTracker, inner: Any) -> None:
        self._tracker = tracker
        self._inner = inner

    async def __aenter__(self) -> TrackedSocket:
        ws = await self._inner.__aenter__()
        tracker = self._tracker
        socket = TrackedSocket(ws, len(tracker.sockets) + 1, tracker)
        tracker.sockets.append(socket)
        tracker.opened_at.append(anyio.current_time())
        return socket

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._inner.__aexit__(*exc_info)


class SocketTracker:
    """A ``WebSocketConnector`` over ``fake.ws_connector()`` that tells sockets apart.

    Sockets are numbered 1, 2, ... in the order their handshakes finished; ``sent`` holds
    ``(socket number, parsed frame)`` for every client frame, oldest first; ``opened_at``
    the time each handshake finished (``anyio.current_time()``).
    """

    def __init__(self, fake: FakeOpenAI) -> None:
        self._connector = fake.ws_connector()
        self.sockets: list[TrackedSocket] = []
        self.opened_at: list[float] = []
        self.sent: list[tuple[int, dict[str, Any]]] = []

    def __call__(self, url: str, headers: Any) -> _TrackedConnection:
        return _TrackedConnection(self, self._connector(url, headers))

    @property
    def creates(self) -> list[tuple[int, dict[str, Any]]]:
        """``(socket number, frame)`` of every ``response.create`` sent, oldest first."""
        return [(n, frame) for n, frame in self.sent if frame.get("type") == "response.create"]

    @property
    def create_sockets(self) -> list[int]:
        """The socket number each ``response.create`` went out on, oldest first."""
        return [n for n, _ in self.creates]

    def open_sockets(self) -> list[int]:
        """Numbers of the sockets that are open now."""
        return [s.number for s in self.sockets if not s.closed]


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

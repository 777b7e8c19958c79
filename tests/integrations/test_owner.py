"""``LLMOwner``: the library's ``async with`` held by a task of its own, for frameworks and
apps that cannot hold the block. Every path (``support.paths.PATHS``), both backends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.integrations import LLMOwner
from scoped_openai.integrations._owner import OWNER_TASK_NAME
from scoped_openai.testing import FakeOpenAI, Stall, WSReply
from support.paths import OnPath
from support.sockets import SocketTracker

MakeLLM = Callable[..., OpenAILLM]


def user_ctx(text: str = "hi") -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, text)
    return ctx


@pytest.fixture
def llm(path: OnPath) -> OpenAILLM:
    """An in-memory LLM on ``fake`` for the path (its WebSockets tracked by ws_tracker)."""
    return path.llm()


def owner_tasks_running() -> int:
    return sum(1 for task in anyio.get_running_tasks() if task.name == OWNER_TASK_NAME)


def assert_released(fake: FakeOpenAI, tracker: SocketTracker, llm: OpenAILLM) -> None:
    assert fake.counters.open_bodies == 0
    assert tracker.open_sockets() == []
    with pytest.raises(RuntimeError, match="closed"):
        llm.chat(user_ctx())


@pytest.mark.anyio
async def test_concurrent_first_calls_enter_once_and_turns_need_no_async_with(
    path: OnPath, llm: OpenAILLM, fake: FakeOpenAI, ws_tracker: SocketTracker
) -> None:
    owner = LLMOwner(llm)
    path.add_text("hello there")
    got: list[OpenAILLM] = []

    async def first_use() -> None:
        got.append(await owner.get())

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(first_use)
    assert got == [llm, llm, llm]
    assert owner_tasks_running() == 1
    text = "".join([item.content async for item in llm.chat(user_ctx())])
    assert text == "hello there"

    await owner.aclose()
    assert owner.closed
    assert owner_tasks_running() == 0
    assert_released(fake, ws_tracker, llm)


@pytest.mark.anyio
async def test_aclose_from_another_task_ends_a_stalled_reply_at_once(
    path: OnPath, llm: OpenAILLM, fake: FakeOpenAI, ws_tracker: SocketTracker
) -> None:
    owner = LLMOwner(llm)
    path.add_text("one", then=[Stall()])
    heard: list[str] = []
    first_item = anyio.Event()
    outcome: list[BaseException | None] = []

    async def consumer() -> None:
        owned = await owner.get()
        try:
            async for item in owned.chat(user_ctx()):
                heard.append(item.content)
                first_item.set()
        except Exception as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        await first_item.wait()
        with anyio.fail_after(5):  # the stalled server never ends the reply by itself
            await owner.aclose()
    assert outcome == [None]  # the loop ended; no ExceptionGroup, no error
    assert "".join(heard) == "one"
    assert owner_tasks_running() == 0
    assert_released(fake, ws_tracker, llm)


@pytest.mark.anyio
async def test_get_after_aclose_is_refused_and_aclose_is_idempotent(
    make_ws_llm: MakeLLM,
) -> None:
    owner = LLMOwner(make_ws_llm())
    await owner.get()
    await owner.aclose()
    await owner.aclose()
    with pytest.raises(RuntimeError, match="LLMOwner is closed"):
        await owner.get()
    assert "closed" in repr(owner)


@pytest.mark.anyio
async def test_aclose_before_first_use_closes_the_llm_and_starts_nothing(
    make_llm: MakeLLM,
) -> None:
    llm = make_llm()
    owner = LLMOwner(llm)
    assert "not started" in repr(owner)
    await owner.aclose()
    assert owner_tasks_running() == 0
    with pytest.raises(RuntimeError, match="closed"):
        llm.chat(user_ctx())
    with pytest.raises(RuntimeError, match="LLMOwner is closed"):
        await owner.get()


@pytest.mark.anyio
async def test_an_error_entering_the_llm_reaches_every_caller_of_get(
    make_llm: MakeLLM,
) -> None:
    llm = make_llm()
    await llm.aclose()  # entering a closed LLM raises
    owner = LLMOwner(llm)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="this OpenAILLM is closed"):
            await owner.get()
    assert owner_tasks_running() == 0


@pytest.mark.anyio
async def test_a_cancelled_first_call_leaves_the_owner_usable(make_ws_llm: MakeLLM) -> None:
    owner = LLMOwner(make_ws_llm())
    with anyio.CancelScope() as scope:
        scope.cancel()
        await owner.get()  # cancelled while waiting for the owner task to enter
    llm = await owner.get()
    assert llm is owner.llm
    await owner.aclose()
    assert owner_tasks_running() == 0


def test_asyncio_run_ending_without_aclose_closes_everything(fake: FakeOpenAI) -> None:
    """An app that forgets ``aclose()``: ``asyncio.run`` cancels the owner task at its end,
    which leaves the block and closes the sockets; no pending task is destroyed."""
    tracker = SocketTracker(fake)
    fake.add_ws(WSReply.text("bye"))
    llm = fake.llm(streaming=True, ws_connector=tracker)
    owner = LLMOwner(llm)

    async def main() -> str:
        owned = await owner.get()
        return "".join([item.content async for item in owned.chat(user_ctx())])

    assert asyncio.run(main()) == "bye"
    assert owner.closed
    assert tracker.open_sockets() == []


def test_trio_run_ending_without_aclose_closes_everything(fake: FakeOpenAI) -> None:
    tracker = SocketTracker(fake)
    fake.add_ws(WSReply.text("bye"))
    llm = fake.llm(streaming=True, ws_connector=tracker)
    owner = LLMOwner(llm)

    async def main() -> str:
        owned = await owner.get()
        return "".join([item.content async for item in owned.chat(user_ctx())])

    assert trio.run(main) == "bye"
    assert owner.closed
    assert tracker.open_sockets() == []


def test_a_second_event_loop_is_refused(fake: FakeOpenAI) -> None:
    """The owner's sockets live on the loop of its first ``get()``; another loop (here, in
    another thread while the first still runs) gets a clear ``RuntimeError``."""
    owner = LLMOwner(fake.llm())
    entered = threading.Event()
    first: dict[str, Any] = {}
    failures: list[BaseException] = []

    async def first_loop() -> None:
        release = asyncio.Event()
        first["loop"], first["release"] = asyncio.get_running_loop(), release
        await owner.get()
        entered.set()
        await release.wait()
        await owner.aclose()

    def run_first() -> None:
        try:
            asyncio.run(first_loop())
        except BaseException as exc:  # reported to the test thread
            failures.append(exc)

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert entered.wait(10)

        async def second_loop() -> Any:
            return await owner.get()

        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(second_loop())
    finally:
        if entered.is_set():
            first["loop"].call_soon_threadsafe(first["release"].set)
        thread.join(10)
    assert not thread.is_alive()
    assert failures == []
    assert owner.closed

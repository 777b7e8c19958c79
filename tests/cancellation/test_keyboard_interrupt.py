"""Ctrl-C that lands in one of the library's socket tasks reaches the caller bare.

trio delivers KeyboardInterrupt to whichever task is running when the signal arrives; when
that is a socket's task inside the ``OpenAILLM``'s task group, the group used to raise
``BaseExceptionGroup([KeyboardInterrupt])`` out of ``async with`` (issue: 6 of 82 trials).
Here a socket raises it from its read, deterministically. trio only: under asyncio a
KeyboardInterrupt in a task stops the event loop itself, before any task group sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import trio

from scoped_openai import ChatContext, ChatRole
from scoped_openai.testing import FakeOpenAI, Stall, WSReply


class InterruptedSocket:
    """A socket whose reads are where Ctrl-C lands."""

    closed = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def send_text(self, text: str) -> None:
        await self.inner.send_text(text)

    async def receive_text(self) -> str:
        await trio.lowlevel.checkpoint()
        raise KeyboardInterrupt

    def receive_text_nowait(self) -> str | None:
        return None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.aclose(code, reason)


class InterruptSocket:
    """A connector over the fake whose socket number ``which`` (1-based) is interrupted."""

    def __init__(self, fake: FakeOpenAI, which: int) -> None:
        self._connector = fake.ws_connector()
        self._which = which
        self.opened = 0

    def __call__(self, url: str, headers: Mapping[str, str]) -> Any:
        self.opened += 1
        return _Connection(self._connector(url, headers), self.opened == self._which)


class _Connection:
    def __init__(self, inner: Any, interrupt: bool) -> None:
        self._inner = inner
        self._interrupt = interrupt

    async def __aenter__(self) -> Any:
        ws = await self._inner.__aenter__()
        return InterruptedSocket(ws) if self._interrupt else ws

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._inner.__aexit__(*exc_info)


def user_ctx() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    return ctx


@pytest.mark.trio
async def test_ctrl_c_in_the_idle_reader_of_a_socket_is_bare(fake: FakeOpenAI) -> None:
    llm = fake.llm(streaming=True, warm_spare=False, ws_connector=InterruptSocket(fake, 1))

    async def agent() -> None:
        async with llm:
            await llm.prewarm()  # socket open: its task reads between turns, and is hit
            await trio.sleep_forever()  # cancelled when the socket task fails

    with pytest.raises(KeyboardInterrupt):
        await agent()


@pytest.mark.trio
async def test_ctrl_c_in_the_spare_during_a_turn_is_bare(
    fake: FakeOpenAI, autojump_clock: Any
) -> None:
    fake.add_ws(WSReply.text(["one ", "two "], then=[Stall()]))
    connector = InterruptSocket(fake, 2)  # the warm spare opened beside the first turn
    llm = fake.llm(streaming=True, ws_connector=connector)

    async def agent() -> None:
        async with llm:
            async for _ in llm.chat(user_ctx()):
                pass  # the server stalls after two pieces: only the Ctrl-C ends the turn

    with pytest.raises(KeyboardInterrupt):
        await agent()
    assert connector.opened == 2

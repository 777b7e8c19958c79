"""Every path end to end on real loopback sockets: the fake served by hypercorn, the library's
own transports (httpx; the default WebSocket engine), on asyncio and trio. Each test is
bounded by ``anyio.fail_after(10)``; the stall guard is a fraction of a second of real time.

What only one path has over the wire is in ``tests/llm/test_http_loopback.py`` and
``tests/llm/test_ws_loopback.py``.
"""

from __future__ import annotations

import anyio
import pytest

from scoped_openai import APITimeoutError, ChatContext
from scoped_openai.testing import FakeOpenAI, Stall
from support.paths import NEXT_REPLY, OnPath
from support.turns import contents, turn

pytestmark = [pytest.mark.anyio, pytest.mark.loopback]

KEY = "sk-loopback-SECRET-4242"


async def test_barge_in_from_another_task_over_the_wire(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    path.add_text(["a"], then=[Stall()])
    path.add_text("next answer")
    heard: list[str] = []
    first = anyio.Event()
    with anyio.fail_after(10):
        async with fake.serve() as server:
            llm = path.llm_on(server.base_url, KEY, idle_timeout=None, first_token_timeout=None)
            async with llm:

                async def consume() -> None:
                    async with llm.chat(ctx) as stream:
                        async for item in stream:
                            heard.append(item.content)
                            first.set()
                    assert stream.cancelled is True

                async with anyio.create_task_group() as tg:
                    tg.start_soon(consume)
                    await first.wait()
                    await llm.cancel_current_generation()
                assert heard == ["a"]
                items, error = await turn(llm, ctx)
                assert (contents(items), error) == (NEXT_REPLY, None)
    path.assert_all_closed()


async def test_barge_in_while_the_server_streams_over_the_wire(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    path.add_text([f"w{n} " for n in range(40)], delay=0.05)  # 2 s of streaming
    path.add_text("next answer")
    with anyio.fail_after(10):
        async with fake.serve() as server:
            async with path.llm_on(server.base_url, KEY) as llm:
                await llm.prewarm()
                heard: list[str] = []
                async with llm.chat(ctx) as stream:
                    async for item in stream:
                        heard.append(item.content)
                        if len(heard) == 2:
                            await llm.cancel_current_generation()
                assert heard == ["w0 ", "w1 "]
                assert stream.cancelled is True
                items, error = await turn(llm, ctx)
                assert (contents(items), error) == (NEXT_REPLY, None)
            assert fake.ws_open == 0
    path.assert_all_closed()
    assert len(path.requests()) == 2
    if path.transport == "ws":
        assert [f["type"] for f in fake.ws_frames] == ["response.create", "response.create"]
        assert len(fake.ws_handshakes) == 3  # the socket, the spare, and the next spare


async def test_a_stalled_server_over_the_wire_is_an_idle_timeout(
    path: OnPath, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    path.add_text(["a"], then=[Stall()])
    path.add_text("ok")
    with anyio.fail_after(10):
        async with fake.serve() as server:
            async with path.llm_on(server.base_url, KEY, idle_timeout=0.3) as llm:
                items, error = await turn(llm, ctx)
                assert contents(items) == ["a"]
                assert type(error) is APITimeoutError
                assert (error.phase, error.seconds) == ("idle", 0.3)
                items, error = await turn(llm, ctx)
                assert (contents(items), error) == (["ok", ""], None)
            assert fake.ws_open == 0
    path.assert_all_closed()

"""``FakeOpenAI.wait_until``: a test waits for the server side to notice a client's close
(on loopback it happens in the server's own tasks, after the client's call returned),
instead of sleeping. Both backends; in memory and on loopback sockets."""

from __future__ import annotations

import anyio
import pytest

from scoped_openai import ChatContext, OpenAILLM
from scoped_openai.testing import FAKE_API_KEY, FakeOpenAI, Reply, Stall, WSReply

pytestmark = pytest.mark.anyio


async def first_item_then_leave(llm: OpenAILLM, ctx: ChatContext) -> str:
    async with llm.chat(ctx) as stream:
        async for item in stream:
            return item.content  # leaving the block early is a barge-in
    raise AssertionError("no item")


@pytest.mark.loopback
async def test_waits_for_the_server_to_see_a_barged_in_body_close(
    fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add(Reply.text("Hello there", then=[Stall()]))
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            OpenAILLM(api_key=FAKE_API_KEY, base_url=server.base_url) as llm,
        ):
            assert await first_item_then_leave(llm, ctx) == "Hell"
            await fake.wait_until(lambda: fake.counters.open_bodies == 0)
            assert fake.counters.bodies_opened == fake.counters.bodies_closed == 1


@pytest.mark.loopback
async def test_waits_for_sockets_to_open_and_close(fake: FakeOpenAI, ctx: ChatContext) -> None:
    fake.add_ws(WSReply.text("Hello there", then=[Stall()]))
    with anyio.fail_after(10):
        async with fake.serve() as server:
            llm = OpenAILLM(api_key=FAKE_API_KEY, base_url=server.base_url, streaming=True)
            async with llm:
                await llm.prewarm()
                await fake.wait_until(lambda: fake.ws_open == 2)  # the spare opens after
                assert await first_item_then_leave(llm, ctx) == "Hell"
                # The barged-in socket is retired in the background; the spare stays.
                await fake.wait_until(lambda: fake.ws_open == 1)
            await fake.wait_until(lambda: fake.ws_open == 0)


async def test_returns_at_once_when_the_condition_holds_in_memory(
    fake: FakeOpenAI, ctx: ChatContext
) -> None:
    fake.add(Reply.text("Hi"))
    with anyio.fail_after(10):
        await fake.wait_until(lambda: True)
        async with fake.llm() as llm:
            waiter_done = anyio.Event()

            async def waiter() -> None:
                await fake.wait_until(lambda: fake.counters.bodies_closed == 1)
                waiter_done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                assert [item.content async for item in llm.chat(ctx)] == ["Hi", ""]
                await waiter_done.wait()

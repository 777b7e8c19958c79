"""Over HTTP/2 a barge-in resets the reply's one stream and keeps the connection: the next
turn goes out on the same TCP connection, on both HTTP paths (Chat Completions and the
Responses API), over real loopback sockets (HTTP/2 with prior knowledge, cleartext). Over
HTTP/1.1 the same barge-in has to drop the connection (its body is still coming), so the
next turn opens another: the contrast is the point."""

from __future__ import annotations

from typing import Literal

import anyio
import httpx
import pytest

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply, Stall, WSReply

pytestmark = pytest.mark.anyio


def script(fake: FakeOpenAI, api: str) -> None:
    """A reply that sends one piece and then nothing (it is still in flight when the user
    speaks), then the next turn's reply."""
    if api == "chat":
        fake.add(Reply.text(["Hel"], then=[Stall()]), Reply.text("next"))
    else:
        fake.add_ws(WSReply.text(["Hel"], then=[Stall()]), WSReply.text("next"))


@pytest.mark.parametrize(("http2", "connections"), [(True, 1), (False, 2)], ids=["h2", "h1"])
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_barge_in_over_http2_keeps_the_connection(
    fake: FakeOpenAI, api: Literal["chat", "responses"], http2: bool, connections: int
) -> None:
    script(fake, api)
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Hi.")
    with anyio.fail_after(10):
        async with fake.serve() as server:
            async with httpx.AsyncClient(http1=not http2, http2=http2) as client:
                llm = OpenAILLM(base_url=server.base_url, api_key="k", api=api, client=client)
                async with llm:
                    heard: list[str] = []
                    async with llm.chat(ctx) as stream:
                        async for item in stream:
                            heard.append(item.content)
                            await llm.cancel_current_generation()  # the user speaks
                    assert heard == ["Hel"]
                    assert stream.cancelled is True
                    async with llm.chat(ctx) as stream:
                        assert "".join([item.content async for item in stream]) == "next"
            await fake.wait_until(lambda: fake.counters.open_bodies == 0)
    assert len(fake.loopback_clients) == connections
    assert fake.counters.bodies_opened == 2

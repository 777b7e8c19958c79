"""Interruptions inside LiveKit Agents, on a paced and on a stalled server, HTTP and
WebSocket: the reply ends at once, the connection is released, the next turn is clean.

LiveKit interrupts in two ways, both driven here: ``AgentSession.interrupt()`` cancels the
task that reads the stream (its ``llm_node`` leaves ``async with llm.chat(...)``), and a
consumer may close the stream itself (``LLMStream.aclose()``). Prewarm and close are here
too: what ``AgentSession`` starts and what must be gone after ``aclose()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from livekit.agents import Agent, AgentSession
from livekit.agents import llm as lk_llm

from scoped_openai.integrations.livekit import LLM
from scoped_openai.testing import FakeOpenAI, Reply, Stall, WSReply

from .conftest import PATHS, bounded, owned_tasks, user_ctx

pytestmark = pytest.mark.anyio

MakePlugin = Callable[..., LLM]
SERVERS = ["paced", "stalled"]
WORDS = [f"w{i} " for i in range(40)]
NEXT = "next answer"


def script(fake: FakeOpenAI, path: str, server: str) -> None:
    """A long paced reply (50 ms between words) or two words then a stall; then ``NEXT``."""
    delay = 0.05 if server == "paced" else 0.0
    then = [Stall()] if server == "stalled" else None
    words = WORDS if server == "paced" else WORDS[:2]
    if path == "http":
        fake.add(Reply.text(words, delay=delay, then=then or ()), Reply.text(NEXT))
    else:
        fake.add_ws(WSReply.text(words, delay=delay, then=then), WSReply.text(NEXT))


async def released(fake: FakeOpenAI, path: str) -> None:
    """The interrupted reply's connection is gone on the server's side (WebSocket: the
    socket that carried it is closed; the warm spare stays open, and the spare's own
    replacement, opened at the barge-in, may already be open beside it: its connect can
    finish before the interrupted socket's polite close does).

    WebSocket: from here on no new socket can open (its handshake would outlast the test),
    so the next turn passes only if it goes out on a socket opened without waiting for it.
    """
    if path == "http":
        await fake.wait_until(lambda: fake.counters.open_bodies == 0)
    else:
        # Every socket this test opens is a WebSocket: one closed is the interrupted one.
        await fake.wait_until(lambda: fake.counters.connections - fake.ws_open == 1)
        assert fake.ws_open >= 1  # the spare
        fake.ws_handshake_delay = 3600.0


def assistant_texts(chat_ctx: lk_llm.ChatContext) -> list[tuple[str, bool]]:
    return [
        (item.text_content or "", item.interrupted)
        for item in chat_ctx.items
        if isinstance(item, lk_llm.ChatMessage) and item.role == "assistant"
    ]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("plugin_kind", ["scoped-openai", "livekit-openai"])
async def test_agent_session_interrupt(
    fake: FakeOpenAI,
    make_plugin: MakePlugin,
    make_livekit_plugin: Callable[..., lk_llm.LLM[Any]],
    path: str,
    server: str,
    plugin_kind: str,
) -> None:
    # Side by side: LiveKit's own OpenAI plugin, on the same fake, in the same session.
    script(fake, path, server)
    ours = plugin_kind == "scoped-openai"
    plugin = make_plugin(path) if ours else make_livekit_plugin(path)
    async with AgentSession(llm=plugin) as session:
        speaking = asyncio.Event()
        session.on(
            "agent_state_changed",
            lambda ev: speaking.set() if ev.new_state == "speaking" else None,
        )
        await bounded(session.start(Agent(instructions="Be brief.")))
        first = session.run(user_input="tell me a long story")
        await bounded(speaking.wait())  # the first words arrived
        await bounded(session.interrupt())
        await bounded(first)
        if ours or path == "http":
            await bounded(released(fake, path))
        else:
            # LiveKit's pool closes a removed socket at its next get(): until the next
            # turn, the server keeps streaming the interrupted reply into it.
            assert fake.ws_open == 1

        second = await bounded(session.run(user_input="again"))
        (heard, interrupted), (next_text, next_interrupted) = assistant_texts(session.history)
        assert interrupted is True
        assert heard
        assert "".join(WORDS).startswith(heard)
        assert len(heard) < len("".join(WORDS))  # it stopped early
        assert (next_text, next_interrupted) == (NEXT, False)  # nothing stale in it
        assert [e.item.text_content for e in second.events if e.type == "message"] == [NEXT]


async def read_first_chunk(stream: lk_llm.LLMStream) -> lk_llm.ChatChunk:
    async for chunk in stream:
        return chunk
    raise AssertionError("the stream ended without a chunk")


async def close_the_stream(plugin: LLM) -> list[str]:
    """A consumer closes the stream after the first chunk: what it heard."""
    stream = plugin.chat(chat_ctx=user_ctx())
    chunk = await bounded(read_first_chunk(stream))
    await bounded(stream.aclose())
    assert chunk.delta is not None
    return [chunk.delta.content or ""]


async def cancel_the_reader(plugin: LLM) -> list[str]:
    """The task reading the stream as LiveKit's llm_node does is cancelled: what it heard."""
    heard: list[str] = []
    first_word = asyncio.Event()

    async def speak() -> None:
        async with plugin.chat(chat_ctx=user_ctx()) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    heard.append(chunk.delta.content)
                    first_word.set()

    task = asyncio.create_task(speak())
    await bounded(first_word.wait())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bounded(task)
    return heard


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("interrupt", [close_the_stream, cancel_the_reader])
async def test_interrupting_the_stream_directly(
    fake: FakeOpenAI,
    make_plugin: MakePlugin,
    path: str,
    server: str,
    interrupt: Callable[[LLM], Awaitable[list[str]]],
) -> None:
    script(fake, path, server)
    plugin = make_plugin(path)
    heard = await interrupt(plugin)
    await bounded(released(fake, path))
    assert heard
    assert "".join(heard) == "".join(WORDS[: len(heard)])
    collected = await bounded(plugin.chat(chat_ctx=user_ctx("again")).collect())
    assert collected.text == NEXT


@pytest.mark.parametrize("path", PATHS)
async def test_prewarm_opens_what_the_first_turn_uses(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str
) -> None:
    if path == "http":
        fake.add(Reply.text("hi"))
    else:
        fake.add_ws(WSReply.text("hi"))
    plugin = make_plugin(path)
    plugin.prewarm()  # as AgentSession does: fire and forget
    assert plugin._prewarm_task is not None
    await bounded(plugin._prewarm_task)
    if path == "http":
        assert [r.method for r in fake.requests] == ["HEAD"]
    else:
        await bounded(fake.wait_until(lambda: fake.ws_open == 2))  # the socket and its spare
    collected = await bounded(plugin.chat(chat_ctx=user_ctx()).collect())
    assert collected.text == "hi"
    if path == "http":
        assert len(fake.loopback_clients) == 1  # the turn went out on the warm connection
    else:
        assert len(fake.ws_handshakes) == 2  # no handshake of its own


@pytest.mark.parametrize("path", PATHS)
async def test_nothing_left_running_after_close(
    fake: FakeOpenAI, make_plugin: MakePlugin, path: str
) -> None:
    script(fake, path, "stalled")
    plugin = make_plugin(path)
    stream = plugin.chat(chat_ctx=user_ctx())
    await bounded(read_first_chunk(stream))
    assert owned_tasks() != []  # the owner task holds the library's block
    # LiveKit closes the LLM while a reply is still being read (a session shutting down).
    await bounded(plugin.aclose())
    assert owned_tasks() == []
    await bounded(stream.aclose())
    await bounded(fake.wait_until(lambda: fake.ws_open == 0 and fake.counters.open_bodies == 0))
    await bounded(plugin.aclose())  # idempotent
    chunks: list[Any] = []
    with pytest.raises(RuntimeError, match="closed"):
        async with plugin.chat(chat_ctx=user_ctx()) as closed:
            chunks.extend([chunk async for chunk in closed])
    assert chunks == []

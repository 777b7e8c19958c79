"""A LiveKit Agents session whose LLM is scoped-openai: a tool call, an interruption, and
the turn after it.

Runs LiveKit's own ``AgentSession`` in text mode (no room, no STT/TTS needed), with
``scoped_openai.integrations.livekit.LLM`` in WebSocket mode. Without OPENAI_API_KEY it
talks to the embedded fake on loopback; with one, to OpenAI.

    pip install 'scoped-openai[livekit,fake]' && python examples/frameworks/livekit_agent.py
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from livekit.agents import Agent, AgentSession, function_tool

from scoped_openai.integrations.livekit import LLM
from scoped_openai.testing import FakeOpenAI, WSReply

STORY = ["Once ", "upon ", "a ", "time ", "a ", "lighthouse ", "keeper ", "counted ", "waves. "] * 8


def script(fake: FakeOpenAI) -> None:
    fake.add_ws(
        WSReply.function_calls(("call_1", "get_weather", '{"city": "Oslo"}')),
        WSReply.text("It is sunny in Oslo."),
        WSReply.text(STORY, delay=0.05),  # a long reply, spoken word by word
        WSReply.text("Sure: one lighthouse, many waves."),
    )


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a concise voice assistant.")

    @function_tool
    async def get_weather(self, city: str) -> str:
        """The weather in a city.

        Args:
            city: The city's name.
        """
        return f"sunny in {city}"


def describe(item: Any) -> str:
    if item.type == "message":
        cut = " (interrupted)" if item.interrupted else ""
        return f"{item.role}: {item.text_content!r}{cut}"
    if item.type == "function_call":
        return f"call {item.name}({item.arguments})"
    if item.type == "function_call_output":
        return f"tool output: {item.output!r}"
    return item.type


async def run(base_url: str | None, api_key: str | None) -> None:
    llm = LLM(model="gpt-4o-mini", base_url=base_url, api_key=api_key, streaming=True)
    async with AgentSession(llm=llm) as session:
        speaking = asyncio.Event()
        session.on(
            "agent_state_changed", lambda ev: speaking.set() if ev.new_state == "speaking" else None
        )
        await session.start(Assistant())

        result = await session.run(user_input="What's the weather in Oslo?")
        for event in result.events:
            print(f"[{event.type}] {describe(event.item)}")

        speaking.clear()
        story = session.run(user_input="Tell me a long story.")
        await speaking.wait()  # the first words are out: the user talks over them
        started = time.perf_counter()
        await session.interrupt()
        print(f"[interrupted: {1000 * (time.perf_counter() - started):.1f} ms]")
        await story

        await session.run(user_input="Shorter, please.")
        print("history:")
        for item in session.history.items:
            print(f"  {describe(item)}")
    await llm.aclose()


async def main() -> None:
    if os.getenv("OPENAI_API_KEY"):
        await run(None, None)
        return
    fake = FakeOpenAI()
    script(fake)
    async with fake.serve() as server:
        print(f"(no OPENAI_API_KEY: using the embedded fake at {server.base_url})")
        await run(server.base_url, "sk-example-fake")


if __name__ == "__main__":
    asyncio.run(main())

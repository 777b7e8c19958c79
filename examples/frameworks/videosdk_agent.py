"""A VideoSDK Agents turn on scoped-openai: the one-line change, a tool, a barge-in.

Runs VideoSDK's own ``ContentGeneration`` (the component its pipeline calls the LLM through)
with ``scoped_openai.integrations.videosdk.OpenAILLM``. With ``OPENAI_API_KEY`` set it talks
to OpenAI; otherwise to the embedded fake on loopback. Needs ``scoped-openai[videosdk,fake]``.

    python examples/frameworks/videosdk_agent.py [--websocket]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/_support.py

from _support import ExampleServer
from videosdk.agents import Agent, ChatRole, function_tool
from videosdk.agents.content_generation import ContentGeneration

# The one-line change: was `from videosdk.plugins.openai import OpenAILLM`.
from scoped_openai.integrations.videosdk import OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

WEBSOCKET = "--websocket" in sys.argv


class WeatherAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a terse voice assistant.")

    async def on_enter(self) -> None:
        pass

    async def on_exit(self) -> None:
        pass

    @function_tool
    async def get_weather(self, city: str) -> dict[str, object]:
        """Get the current weather in a city."""
        return {"city": city, "celsius": 18}


def script(fake: FakeOpenAI) -> None:
    story = ["Once upon a time, "] + ["a cat sat on a mat. "] * 50
    call = ("call_1", "get_weather", '{"city":"Paris"}')
    if WEBSOCKET:
        fake.add_ws(WSReply.function_calls(call), WSReply.text("It is 18 degrees in Paris."))
        fake.add_ws(WSReply.text(story, delay=0.05), WSReply.text("Sure, what next?"))
    else:
        fake.add(Reply.tool_calls(call), Reply.text("It is 18 degrees in Paris."))
        fake.add(Reply.text(story, delay=0.05), Reply.text("Sure, what next?"))


async def say(generation: ContentGeneration, text: str) -> str:
    generation.agent.chat_context.add_message(ChatRole.USER, text)
    return "".join([str(chunk) async for chunk in generation.generate(text)])


async def main() -> None:
    async with ExampleServer(script) as where:
        llm = OpenAILLM(api_key=where.api_key, base_url=where.base_url, streaming=WEBSOCKET)
        llm.on("error", lambda error: print("error event:", error))
        generation = ContentGeneration(agent=WeatherAgent(), llm=llm)
        print("agent:", await say(generation, "What's the weather in Paris?"))

        # A barge-in as VideoSDK's orchestrator does it: cancel the LLM, then the task.
        heard: list[str] = []
        started = asyncio.Event()

        async def speak() -> None:
            async for chunk in generation.generate("Tell me a long story."):
                heard.append(str(chunk))
                started.set()

        generation.agent.chat_context.add_message(ChatRole.USER, "Tell me a long story.")
        task = asyncio.get_running_loop().create_task(speak())
        await started.wait()
        began = time.perf_counter()
        await generation.cancel()
        await asyncio.wait({task})
        took = (time.perf_counter() - began) * 1000
        print(f"agent (barged in after {len(heard)} chunk(s), stopped in {took:.2f} ms):", *heard)
        print("agent:", await say(generation, "Stop. Something else."))
        await llm.aclose()


if __name__ == "__main__":
    asyncio.run(main())

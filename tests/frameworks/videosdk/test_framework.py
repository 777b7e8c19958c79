"""The plugin inside the framework's own code: ``ContentGeneration``, the component that calls
``llm.chat`` for VideoSDK's pipeline, runs its tools and barges in through
``cancel_current_generation()`` and a task cancel (as ``pipeline_orchestrator`` does).

Each test runs the same script through the reference plugin too, on the same loopback fake.
Asyncio only (the framework is).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import pytest
from videosdk.agents import Agent, ChatRole, FunctionCall, FunctionCallOutput, function_tool
from videosdk.agents.content_generation import ContentGeneration
from videosdk.plugins.openai import OpenAILLM as Reference

from scoped_openai.testing import FakeOpenAI, Reply, Stall, WSReply

from .conftest import LIMIT, PATHS, ours, owner_tasks, settings
from .test_chat import bodies

pytestmark = pytest.mark.anyio


class WeatherAgent(Agent):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(instructions="You are terse.")
        self.calls: list[tuple[str, str]] = []

    async def on_enter(self) -> None:
        pass

    async def on_exit(self) -> None:
        pass

    @function_tool
    async def get_weather(self, city: str) -> dict[str, Any]:
        """Get the current weather in a city."""
        self.calls.append(("get_weather", city))
        return {"city": city, "celsius": 18}


async def spoken(generation: ContentGeneration, text: str) -> str:
    """Run one framework turn: the user's text in, the spoken chunks out (bounded)."""
    generation.agent.chat_context.add_message(ChatRole.USER, text)
    out = []
    with anyio.fail_after(LIMIT):
        async for chunk in generation.generate(text):
            out.append(str(chunk))
    return "".join(out)


def make_plugin(kind: str, server: Any, path: str) -> Any:
    return Reference(**settings(server, path)) if kind == "reference" else ours(server, path)


@pytest.mark.parametrize("kind", ["ours", "reference"])
@pytest.mark.parametrize("path", PATHS)
async def test_a_tool_turn_through_content_generation(
    fake: FakeOpenAI, server: Any, path: str, kind: str
) -> None:
    raw = '{"city":"Paris"}'  # the model's text; the framework records json.dumps(args)
    if path == "http":
        fake.add(Reply.tool_calls(("call_1", "get_weather", raw)), Reply.text("It is 18C."))
    else:
        call = WSReply.function_calls(("call_1", "get_weather", raw))
        fake.add_ws(call, WSReply.text("It is 18C."))
        # The reference sends the next turn while the first is still in flight on the same
        # socket, then one more (chained, empty) create: answered here so it can finish.
        fake.ws_default = lambda request: WSReply.text("")
    agent = WeatherAgent()
    llm = make_plugin(kind, server, path)
    generation = ContentGeneration(agent=agent, llm=llm)
    heard = await spoken(generation, "Weather in Paris?")
    await llm.aclose()
    assert heard == "It is 18C."
    assert agent.calls == [("get_weather", "Paris")]
    recorded = [
        i for i in agent.chat_context.items if isinstance(i, FunctionCall | FunctionCallOutput)
    ]
    assert [type(i).__name__ for i in recorded] == ["FunctionCall", "FunctionCallOutput"]
    assert recorded[0].arguments == json.dumps({"city": "Paris"}) != raw
    second = bodies(fake, path)[1]
    if kind == "ours":
        assert len(bodies(fake, path)) == 2
        # The tool output answers the model's own call id...
        assert recorded[0].call_id == recorded[1].call_id == "call_1"
        if path == "ws":
            # ...and the next turn chains: one input item, not the whole context.
            assert second["previous_response_id"] == "resp_fake_1"
            output = json.dumps({"city": "Paris", "celsius": 18})
            assert second["input"] == [
                {"type": "function_call_output", "call_id": "call_1", "output": output}
            ]
    else:
        # The reference left call_id unset: the framework invented one, so the output
        # answers a call the model never made (and the WebSocket turn cannot chain on it).
        assert recorded[0].call_id != "call_1"
        if path == "ws":
            assert "previous_response_id" not in second
    assert owner_tasks() == []


@pytest.mark.parametrize("stalled", [False, True], ids=["paced", "stalled"])
@pytest.mark.parametrize("path", PATHS)
async def test_a_barge_in_as_the_orchestrator_does_it(
    fake: FakeOpenAI, server: Any, path: str, stalled: bool
) -> None:
    first, rest = ["Once upon "], ["a time "] * 200
    kind = Reply if path == "http" else WSReply
    if stalled:
        story: Any = kind.text(first, then=[Stall()])
    else:
        story = kind.text(first + rest, delay=0.05)
    if path == "http":
        fake.add(story, Reply.text("Yes?"))
    else:
        fake.add_ws(story, WSReply.text("Yes?"))
    agent = WeatherAgent()
    llm = ours(server, path)
    generation = ContentGeneration(agent=agent, llm=llm)
    agent.chat_context.add_message(ChatRole.USER, "Tell me a story.")
    heard: list[str] = []
    started = asyncio.Event()

    async def speak() -> None:
        async for chunk in generation.generate("Tell me a story."):
            heard.append(str(chunk))
            started.set()

    with anyio.fail_after(LIMIT):
        task = asyncio.get_running_loop().create_task(speak())
        await started.wait()
        # pipeline_orchestrator._interrupt_pipeline: cancel the LLM, then the task.
        await generation.cancel()
        # The reply ended at the barge-in itself: the task finished before any cancel.
        await asyncio.wait({task})
        assert task.done()
        assert not task.cancelled()
        assert heard == ["Once upon "]
        assert await spoken(generation, "Hello?") == "Yes?"
        await llm.aclose()
    assert owner_tasks() == []
    assert fake.counters.open_bodies == 0
    assert fake.ws_open == 0

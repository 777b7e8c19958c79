"""Tool calls inside a real Pipecat pipeline: parallel calls reach Pipecat's handlers with
their ids and arguments; invalid arguments are an ErrorFrame, never a call with ``{}``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import FunctionCallResultFrame
from pipecat.processors.aggregators.llm_context import LLMContext

from scoped_openai import ToolArgumentsError
from scoped_openai.integrations.pipecat import OpenAILLMService
from scoped_openai.testing import FakeOpenAI

from .conftest import MakeService, script_calls, sent_requests
from .harness import Harness, running

pytestmark = pytest.mark.anyio

WEATHER = FunctionSchema(
    name="get_weather",
    description="The weather in a city.",
    properties={"city": {"type": "string"}},
    required=["city"],
)
PARIS = '{"city": "Paris"}'
TIME = FunctionSchema(
    name="get_time",
    description="The time in a city.",
    properties={"city": {"type": "string"}},
    required=["city"],
)


def tool_context() -> LLMContext:
    return LLMContext(
        messages=[{"role": "user", "content": "Weather and time in Paris?"}],
        tools=ToolsSchema(standard_tools=[WEATHER, TIME]),
    )


def recording_handlers(service: OpenAILLMService) -> list[tuple[str, str, dict[str, Any]]]:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    async def handler(params: Any) -> None:
        seen.append((params.function_name, params.tool_call_id, dict(params.arguments)))
        await params.result_callback({"ok": params.function_name})

    service.register_function("get_weather", handler)
    service.register_function("get_time", handler)
    return seen


def sent_tools(fake: FakeOpenAI, path: str) -> list[str]:
    tools = sent_requests(fake, path)[-1]["tools"]
    return [tool["function"]["name"] if path == "http" else tool["name"] for tool in tools]


@asynccontextmanager
async def tool_turn(
    fake: FakeOpenAI, path: str, service: OpenAILLMService, *calls: tuple[str, str, str]
) -> AsyncIterator[tuple[Harness, list[tuple[str, str, dict[str, Any]]]]]:
    """A pipeline answering one tool context with ``calls``; yields it and the calls seen."""
    script_calls(fake, path, *calls)
    seen = recording_handlers(service)
    async with running(service) as pipe:
        await pipe.push_context(tool_context())
        yield pipe, seen


async def test_parallel_tool_calls_run_pipecat_handlers(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    calls = (("call_w", "get_weather", PARIS), ("call_t", "get_time", PARIS))
    async with tool_turn(fake, path, make_service(), *calls) as (pipe, seen):
        await pipe.sink.wait_for(FunctionCallResultFrame, 2)
    assert sorted(seen) == [
        ("get_time", "call_t", {"city": "Paris"}),
        ("get_weather", "call_w", {"city": "Paris"}),
    ]
    results = {f.tool_call_id: f.result for f in pipe.sink.of(FunctionCallResultFrame)}
    assert results == {"call_w": {"ok": "get_weather"}, "call_t": {"ok": "get_time"}}
    assert sent_tools(fake, path) == ["get_weather", "get_time"]
    assert pipe.errors == []


async def test_invalid_tool_arguments_are_an_error_frame(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    calls = (("call_ok", "get_weather", PARIS), ("call_bad", "get_time", '{"city": Par'))
    async with tool_turn(fake, path, make_service(), *calls) as (pipe, seen):
        error = await pipe.source.wait_for_error()
        await pipe.sink.wait_for(FunctionCallResultFrame, 1)
    assert isinstance(error.exception, ToolArgumentsError)
    assert error.exception.call_id == "call_bad"
    assert error.exception.raw_arguments == '{"city": Par'
    # The valid call of the batch still ran; the invalid one was never dispatched.
    assert seen == [("get_weather", "call_ok", {"city": "Paris"})]


async def test_the_contexts_tool_choice_is_sent_in_the_paths_shape(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_calls(fake, path, ("call_w", "get_weather", '{"city": "Paris"}'))
    service = make_service()
    recording_handlers(service)
    context = tool_context()
    context.set_tool_choice({"type": "function", "function": {"name": "get_weather"}})
    async with running(service) as pipe:
        await pipe.push_context(context)
        await pipe.sink.wait_for(FunctionCallResultFrame, 1)
    choice = sent_requests(fake, path)[-1]["tool_choice"]
    if path == "http":
        assert choice == {"type": "function", "function": {"name": "get_weather"}}
    else:
        assert choice == {"type": "function", "name": "get_weather"}

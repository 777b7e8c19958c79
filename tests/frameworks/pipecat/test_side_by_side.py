"""Side by side with Pipecat's own OpenAI services on the same fake server.

The same script through ``pipecat.services.openai.llm.OpenAILLMService`` (HTTP, openai SDK)
or ``OpenAIResponsesLLMService`` (WebSocket) and through ours must give the same frames to
the pipeline and send the same conversation.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import (
    FunctionCallResultFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)
from pipecat.services.openai.llm import OpenAILLMService as PipecatOpenAILLMService
from pipecat.services.openai.responses.llm import OpenAIResponsesLLMService
from pipecat.services.settings import LLMSettings

from scoped_openai.integrations.pipecat import OpenAILLMService
from scoped_openai.testing import FakeOpenAI
from scoped_openai.testing._loopback import LoopbackServer

from .conftest import MakeService, script_calls, script_text, sent_requests
from .harness import running, user_context
from .test_tools import recording_handlers, tool_context


async def release(service: Any) -> None:
    """Close the openai SDK client Pipecat's own services leave open when the pipeline
    ends (their HTTP pool's socket would otherwise leak; ours closes in ``stop``)."""
    client = getattr(service, "_client", None)
    if client is not None and not isinstance(service, OpenAILLMService):
        await client.close()


pytestmark = pytest.mark.anyio

RESPONSE_FRAMES = (LLMFullResponseStartFrame, LLMTextFrame, LLMFullResponseEndFrame)


def pipecats_own(server: LoopbackServer, path: str) -> Any:
    settings = LLMSettings(model="gpt-4o-mini")
    if path == "http":
        return PipecatOpenAILLMService(
            api_key="sk-test",
            base_url=server.base_url,
            settings=PipecatOpenAILLMService.Settings(model="gpt-4o-mini"),
        )
    ws_url = server.base_url.replace("http://", "ws://") + "/responses"
    return OpenAIResponsesLLMService(
        api_key="sk-test",
        ws_url=ws_url,
        settings=OpenAIResponsesLLMService.Settings(model=settings.model),
    )


def sent_conversation(fake: FakeOpenAI, path: str) -> list[Any]:
    if path == "http":
        return [body["messages"] for body in sent_requests(fake, path)]
    creates = sent_requests(fake, path)
    return [[(i.get("role"), text_of(i.get("content"))) for i in f["input"]] for f in creates]


def text_of(content: Any) -> str:
    """A message's text: a string, or its text parts joined (the same request either way)."""
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content)


async def test_same_frames_and_same_conversation(
    fake: FakeOpenAI, server: LoopbackServer, path: str, make_service: MakeService
) -> None:
    runs = []
    for service in (pipecats_own(server, path), make_service(model="gpt-4o-mini")):
        script_text(fake, path, "Hello there, friend.")
        async with running(service) as pipe:
            text = await pipe.reply(user_context(), 1)
        await release(service)
        kinds = [type(f).__name__ for f in pipe.sink.frames if isinstance(f, RESPONSE_FRAMES)]
        runs.append((text, kinds, pipe.errors))
    theirs, ours = runs
    assert ours == theirs
    assert ours[0] == "Hello there, friend."
    first, second = sent_conversation(fake, path)
    assert second == first


async def test_same_tool_calls(
    fake: FakeOpenAI, server: LoopbackServer, path: str, make_service: MakeService
) -> None:
    seen = []
    for service in (pipecats_own(server, path), make_service(model="gpt-4o-mini")):
        script_calls(
            fake,
            path,
            ("call_w", "get_weather", '{"city": "Paris"}'),
            ("call_t", "get_time", '{"city": "Paris"}'),
        )
        calls = recording_handlers(service)
        async with running(service) as pipe:
            await pipe.push_context(tool_context())
            await pipe.sink.wait_for(FunctionCallResultFrame, 2)
        await release(service)
        seen.append(sorted(calls))
    assert seen[0] == seen[1]
    assert len(seen[0]) == 2

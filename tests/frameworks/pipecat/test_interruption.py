"""Interruptions, stalls and shutdown inside a real Pipecat pipeline, HTTP and WebSocket.

An ``InterruptionFrame`` makes Pipecat cancel the task running the reply. The reply must end
in that step on a paced server and on a stalled one (the idle timeout here is far beyond
the harness's wait bound, so a reply that waited for the server would fail the test, not end
by timing out), the next turn must be clean, and no text of the cut reply may follow the
interruption. A stall with a short idle timeout ends in a typed error. After the pipeline
ends (or is cancelled), no socket, response body or owner task is left.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest
from pipecat.frames.frames import (
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)

from scoped_openai import APITimeoutError
from scoped_openai.integrations._owner import OWNER_TASK_NAME
from scoped_openai.testing import FakeOpenAI, Reply, Stall, WSReply, chunk

from .conftest import MakeService, script_text
from .harness import WAIT, Harness, running, user_context

pytestmark = pytest.mark.anyio

WORDS = ["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight "]
NEVER = 600.0  # an idle timeout no test reaches: a hung reply fails the harness's bound


async def interrupt_after_text(pipe: Harness, texts: int) -> None:
    """Ask for a reply, wait for its first ``texts`` text frames, then interrupt."""
    await pipe.push_context(user_context())
    await pipe.sink.wait_for(LLMTextFrame, texts)
    await pipe.push(InterruptionFrame())
    await pipe.sink.wait_for(InterruptionFrame)


def assert_clean_after_interruption(pipe: Harness) -> None:
    """Between the interruption and the next reply's start, no text arrived."""
    frames = pipe.sink.frames
    cut = next(i for i, f in enumerate(frames) if isinstance(f, InterruptionFrame))
    starts = [i for i, f in enumerate(frames) if isinstance(f, LLMFullResponseStartFrame)]
    next_start = next(i for i in starts if i > cut)
    assert not [f for f in frames[cut:next_start] if isinstance(f, LLMTextFrame)]


async def assert_nothing_left(fake: FakeOpenAI) -> None:
    # On loopback the server sees a client's close in its own tasks, a moment later.
    with anyio.fail_after(WAIT):
        await fake.wait_until(lambda: fake.counters.open_bodies == 0 and fake.ws_open == 0)
    assert not [t for t in asyncio.all_tasks() if t.get_name() == OWNER_TASK_NAME]


@pytest.mark.parametrize("stall", [False, True], ids=["paced", "stalled"])
async def test_interruption_ends_the_reply_and_the_next_turn_is_clean(
    fake: FakeOpenAI, path: str, make_service: MakeService, stall: bool
) -> None:
    if stall:  # two words, then nothing, ever: only the interruption can end this reply
        script_text(fake, path, WORDS[:2], stall=True)
    else:  # a word every 50 ms: the interruption lands mid-stream
        script_text(fake, path, WORDS, delay=0.05)
    script_text(fake, path, "next answer")
    service = make_service(idle_timeout=NEVER, first_token_timeout=NEVER)
    async with running(service) as pipe:
        await interrupt_after_text(pipe, 2)
        assert await pipe.reply(user_context(), 2) == "next answer"
    cut_text = pipe.text_of(1)
    assert cut_text.startswith("one two ")
    if stall:
        assert cut_text == "one two "
    else:
        assert len(cut_text) < len("".join(WORDS))
    assert_clean_after_interruption(pipe)
    assert pipe.errors == []
    await assert_nothing_left(fake)


async def test_a_stall_ends_in_a_typed_error(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_text(fake, path, WORDS[:2], stall=True)
    script_text(fake, path, "after the stall")
    service = make_service(idle_timeout=0.3)
    timeouts: list[object] = []

    @service.event_handler("on_completion_timeout")  # type: ignore[misc]
    async def _timeout(service: object) -> None:
        timeouts.append(service)

    async with running(service) as pipe:
        await pipe.push_context(user_context())
        error = await pipe.source.wait_for_error()
        await pipe.sink.wait_for(LLMFullResponseEndFrame, 1)
        assert await pipe.reply(user_context(), 2) == "after the stall"
    assert isinstance(error.exception, APITimeoutError)
    assert pipe.text_of(1) == "one two "
    assert timeouts == [service]
    await assert_nothing_left(fake)


async def test_cancelling_the_pipeline_mid_reply_leaves_nothing(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_text(fake, path, WORDS[:2], stall=True)
    service = make_service(idle_timeout=NEVER, first_token_timeout=NEVER)
    async with running(service, end="cancel") as pipe:
        await pipe.push_context(user_context())
        await pipe.sink.wait_for(LLMTextFrame, 2)
    assert service._owner.closed
    await assert_nothing_left(fake)


def script_tool_call_then_stall(fake: FakeOpenAI, path: str) -> None:
    """A reply that speaks, starts a tool call, and stalls inside its arguments."""
    if path == "http":
        call = {"index": 0, "id": "call_w", "type": "function"}
        call["function"] = {"name": "get_weather", "arguments": '{"ci'}
        fake.add(Reply.text("Let me check. ", then=[chunk({"tool_calls": [call]}), Stall()]))
        return
    item = {"id": "fc_1", "type": "function_call", "status": "in_progress"}
    item |= {"arguments": "", "call_id": "call_w", "name": "get_weather"}
    added = {"type": "response.output_item.added", "output_index": 1, "item": item}
    delta = {"type": "response.function_call_arguments.delta", "item_id": "fc_1"}
    delta |= {"output_index": 1, "delta": '{"ci'}
    fake.add_ws(WSReply.text("Let me check. ", then=[added, delta, Stall()]))


async def test_interruption_during_a_tool_call_runs_nothing_and_the_next_turn_is_clean(
    fake: FakeOpenAI, path: str, make_service: MakeService
) -> None:
    script_tool_call_then_stall(fake, path)
    script_text(fake, path, "next answer")
    service = make_service(idle_timeout=NEVER, first_token_timeout=NEVER)
    called: list[object] = []

    async def get_weather(params: object) -> None:
        called.append(params)

    service.register_function("get_weather", get_weather)
    async with running(service) as pipe:
        await interrupt_after_text(pipe, 4)  # "Let me check. " in four pieces
        assert await pipe.reply(user_context(), 2) == "next answer"
    assert called == []  # a half-streamed call is never dispatched
    assert not pipe.sink.of(FunctionCallsStartedFrame)
    assert_clean_after_interruption(pipe)
    assert pipe.errors == []
    await assert_nothing_left(fake)

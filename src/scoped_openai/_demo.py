"""``scoped-openai demo``: a scripted voice-agent session on both paths, with figures.

Four turns per path (HTTP Chat Completions, then the Responses WebSocket): a plain turn, a
turn that calls a Python tool and answers with its result, a turn interrupted after a few
chunks (a barge-in), and the turn after it. Against the embedded fake the replies are
scripted with a realistic pace; against a real server the model decides.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TextIO

from . import ChatContext, ChatRole, OpenAILLM, function_tool
from ._cli_fake import word_pieces
from .testing import FakeOpenAI, Reply, WSReply

BARGE_IN_AFTER = 4  # chunks heard before the simulated user interrupts
PACE = 0.02  # seconds between chunks from the embedded fake (about 50 chunks a second)


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather in a city.

    Args:
        city: The city, e.g. "Paris".
    """
    return json.dumps({"city": city, "forecast": "sunny", "celsius": 21})


TURNS = [
    "Hi! Who am I talking to?",
    "What's the weather in Paris right now?",
    "Tell me a long story about a lighthouse keeper.",
    "Sorry to interrupt: just give me one sentence instead.",
]

_SCRIPT = [
    "I'm your voice assistant, running on scoped-openai. How can I help?",
    "It's sunny in Paris, twenty-one degrees. A good day for a walk.",
    "Once upon a time, on a rocky island far out at sea, there lived a lighthouse keeper "
    "named Ada, who had not spoken to another person for seven long winters...",
    "A lighthouse keeper found a friend in the ships she guided home.",
]


def script_fake(fake: FakeOpenAI) -> None:
    """Queue the demo's replies on both paths of ``fake``."""
    call = ("call_weather_1", "get_weather", '{"city": "Paris"}')
    fake.add(
        Reply.text(word_pieces(_SCRIPT[0]), delay=PACE),
        Reply.tool_calls(call),
        Reply.text(word_pieces(_SCRIPT[1]), delay=PACE),
        Reply.text(word_pieces(_SCRIPT[2]), delay=PACE),
        Reply.text(word_pieces(_SCRIPT[3]), delay=PACE),
    )
    fake.add_ws(
        WSReply.text(word_pieces(_SCRIPT[0]), delay=PACE),
        WSReply.function_calls(call),
        WSReply.text(word_pieces(_SCRIPT[1]), delay=PACE),
        WSReply.text(word_pieces(_SCRIPT[2]), delay=PACE),
        WSReply.text(word_pieces(_SCRIPT[3]), delay=PACE),
    )


@dataclass
class TurnFigures:
    """What one turn measured."""

    path: str
    turn: str
    ttft_ms: float | None = None
    barge_in_ms: float | None = None
    tokens_per_s: float | None = None
    notes: list[str] = field(default_factory=list)


async def run_session(llm: OpenAILLM, path: str, out: TextIO) -> list[TurnFigures]:
    """Play the four turns on ``llm``; return each turn's figures."""
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are a concise, friendly voice assistant.")
    figures: list[TurnFigures] = []
    for index, prompt in enumerate(TURNS):
        print(f"\n[{path}] user: {prompt}", file=out)
        ctx.add_message(ChatRole.USER, prompt)
        label = ["plain", "tool call", "barge-in", "after barge-in"][index]
        turn = TurnFigures(path, label)
        spoken = await _turn(llm, ctx, turn, out, barge_in=index == 2)
        ctx.add_message(ChatRole.ASSISTANT, spoken)
        figures.append(turn)
    return figures


async def _turn(
    llm: OpenAILLM, ctx: ChatContext, turn: TurnFigures, out: TextIO, *, barge_in: bool
) -> str:
    print(f"[{turn.path}] assistant: ", end="", file=out, flush=True)
    heard: list[str] = []
    chunks = 0
    cancel_at: float | None = None
    called_tool = False
    async with llm.chat(ctx, tools=[get_weather]) as stream:
        async for item in stream:
            call = item.function_call
            if call is not None:
                result = await get_weather.invoke(call["arguments"])
                turn.notes.append(f"tool {call['name']}({call['arguments']}) -> {result}")
                print(f"(calls {call['name']} -> {result}) ", end="", file=out, flush=True)
                ctx.add_function_call(call["name"], json.dumps(call["arguments"]), call["id"])
                ctx.add_function_output(call["name"], result, call["id"])
                called_tool = True
                continue
            if not item.content:
                continue
            heard.append(item.content)
            chunks += 1
            print(item.content, end="", file=out, flush=True)
            if barge_in and chunks == BARGE_IN_AFTER:
                cancel_at = time.perf_counter()
                await llm.cancel_current_generation()
    ended = time.perf_counter()
    if cancel_at is not None:
        turn.barge_in_ms = (ended - cancel_at) * 1000
        print(" [user interrupts]", end="", file=out)
    print(file=out, flush=True)
    metrics = stream.metrics
    if called_tool:
        # The tool turn: ask again with the result; that reply is the turn's answer, and
        # the time to first token is the first call's (what the user waited for).
        if metrics is not None and metrics.ttft is not None:
            turn.ttft_ms = metrics.ttft * 1000
        return await _turn(llm, ctx, turn, out, barge_in=False)
    if metrics is not None:
        if turn.ttft_ms is None and metrics.ttft is not None:
            turn.ttft_ms = metrics.ttft * 1000
        if metrics.completion_tokens:
            turn.tokens_per_s = metrics.tokens_per_second
    return "".join(heard)


def print_table(figures: list[TurnFigures], out: TextIO) -> None:
    """The closing table: time to first token, barge-in latency, tokens per second."""

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    print(
        "\n| path | turn | time to first token (ms) | barge-in (ms) | tokens/s |",
        file=out,
    )
    print("|---|---|---:|---:|---:|", file=out)
    for f in figures:
        print(
            f"| {f.path} | {f.turn} | {fmt(f.ttft_ms, '.1f')} | {fmt(f.barge_in_ms, '.2f')} | "
            f"{fmt(f.tokens_per_s, '.0f')} |",
            file=out,
        )

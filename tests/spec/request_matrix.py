"""The request matrix the spec tests build bodies from: models, settings, tools, contexts."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from msgspec.structs import replace

from scoped_openai import (
    ChatContext,
    ChatRole,
    ConversationalGraph,
    FunctionTool,
    function_tool,
)
from scoped_openai._chat import ImageContent
from scoped_openai._settings import GenerationSettings

MODELS = ["gpt-4o-mini", "gpt-4.1", "o3-mini", "o4-mini", "gpt-5-mini", "gpt-5.1"]


@dataclass
class Seat:
    row: int
    window: bool


class Unit(enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


@function_tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """The weather in a city.

    Args:
        city: The city.
        unit: Celsius or Fahrenheit.
    """
    return f"sunny in {city}"


@function_tool(strict=False)
def find_table(area: str, wishes: dict[str, str] | None = None) -> str:
    """Find a free table (not strict: free-form wishes).

    Args:
        area: Where in the restaurant.
        wishes: Free-form wishes.
    """
    return "table 4"


@function_tool
def book_table(
    guests: int,
    budget: float,
    outdoor: bool,
    dishes: list[str],
    unit: Unit,
    seat: Seat,
    note: str | None = None,
) -> str:
    """Book a table.

    Args:
        guests: How many people.
        budget: Per person.
        outdoor: Outside if possible.
        dishes: Dishes to pre-order.
        unit: Temperature unit for the terrace heater.
        seat: Where to sit.
        note: Anything else.
    """
    return "booked"


#: Described only (executed elsewhere), non-strict, with a nested object and an array of them.
ROUTE = FunctionTool(
    name="plan_route",
    description="",
    strict=False,
    parameters={
        "type": "object",
        "properties": {
            "stops": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                    "required": ["lat", "lon"],
                },
            },
            "avoid": {"type": "string", "enum": ["tolls", "ferries"]},
        },
        "required": ["stops"],
    },
)

TOOLS: dict[str, list[FunctionTool] | None] = {
    "no-tools": None,
    "one-tool": [get_weather],
    "many-argument-types": [get_weather, book_table, find_table, ROUTE],
}

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _context(*steps: Callable[[ChatContext], Any]) -> Callable[[], ChatContext]:
    def build() -> ChatContext:
        ctx = ChatContext.empty()
        for step in steps:
            step(ctx)
        return ctx

    return build


def _msg(role: ChatRole, content: Any) -> Callable[[ChatContext], Any]:
    return lambda ctx: ctx.add_message(role, content)


def _call(call_id: str, name: str, arguments: str) -> Callable[[ChatContext], Any]:
    return lambda ctx: ctx.add_function_call(call_id=call_id, name=name, arguments=arguments)


def _output(call_id: str, name: str, output: str) -> Callable[[ChatContext], Any]:
    return lambda ctx: ctx.add_function_output(call_id=call_id, name=name, output=output)


CONTEXTS: dict[str, Callable[[], ChatContext]] = {
    "system-user": _context(
        _msg(ChatRole.SYSTEM, "You are terse."), _msg(ChatRole.USER, "Say hello.")
    ),
    "developer": _context(
        _msg(ChatRole.DEVELOPER, "Answer in French."), _msg(ChatRole.USER, "Hello?")
    ),
    "history": _context(
        _msg(ChatRole.SYSTEM, "You are terse."),
        _msg(ChatRole.USER, "Hi."),
        _msg(ChatRole.ASSISTANT, "Hello."),
        _msg(ChatRole.USER, "And again?"),
    ),
    "tool-history": _context(
        _msg(ChatRole.USER, "Weather in Paris and Oslo?"),
        _call("call_1", "get_weather", '{"city": "Paris"}'),
        _call("call_2", "get_weather", '{"city": "Oslo", "unit": "f"}'),
        _output("call_1", "get_weather", "sunny"),
        _output("call_2", "get_weather", "snow"),
        _msg(ChatRole.ASSISTANT, "Paris is sunny, Oslo has snow."),
        _msg(ChatRole.USER, "Thanks."),
    ),
    "text-then-call": _context(
        _msg(ChatRole.USER, "Book for two."),
        _msg(ChatRole.ASSISTANT, "Let me book that."),
        _call("call_9", "book_table", '{"guests": 2}'),
        _output("call_9", "book_table", "booked"),
    ),
    "images": _context(
        _msg(ChatRole.SYSTEM, "Describe images."),
        _msg(
            ChatRole.USER,
            [
                "What is in these?",
                ImageContent("https://example.com/cat.jpg"),
                ImageContent(PNG, inference_detail="high", mime_type="image/png"),
            ],
        ),
    ),
    "multi-part-text": _context(_msg(ChatRole.USER, ["first line", "", "second line"])),
}


#: Contexts only the Responses API takes (Chat Completions refuses them before sending).
RESPONSES_ONLY_CONTEXTS: dict[str, Callable[[], ChatContext]] = {
    "image-in-developer": _context(
        _msg(ChatRole.DEVELOPER, ["Match this style:", ImageContent("https://example.com/s.png")]),
        _msg(ChatRole.USER, "Describe it."),
    ),
}


def _settings(model: str, **changes: Any) -> GenerationSettings:
    return replace(GenerationSettings(model=model), **changes)


SETTINGS: dict[str, Callable[[str], GenerationSettings]] = {
    "defaults": lambda m: _settings(m),
    "every-sampling-parameter": lambda m: _settings(
        m,
        temperature=0.2,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        seed=7,
        max_completion_tokens=256,
        parallel_tool_calls=False,
    ),
    "reasoning-none-verbosity-low": lambda m: _settings(
        m, reasoning_effort="none", verbosity="low"
    ),
    "reasoning-minimal": lambda m: _settings(m, reasoning_effort="minimal"),
    "reasoning-low-verbosity-medium": lambda m: _settings(
        m, reasoning_effort="low", verbosity="medium"
    ),
    "reasoning-medium": lambda m: _settings(m, reasoning_effort="medium", top_p=0.5),
    "reasoning-high-verbosity-high": lambda m: _settings(
        m, reasoning_effort="high", verbosity="high", max_completion_tokens=1024
    ),
    "reasoning-xhigh": lambda m: _settings(m, reasoning_effort="xhigh", verbosity="medium"),
    "tool-choice-required": lambda m: _settings(m, tool_choice="required"),
    "tool-choice-none": lambda m: _settings(m, tool_choice="none"),
    "tool-choice-named": lambda m: _settings(
        m, tool_choice={"type": "function", "function": {"name": "get_weather"}}
    ),
    "extra-body": lambda m: _settings(
        m,
        extra_body={
            "service_tier": "auto",
            "prompt_cache_key": "agent-1",
            "metadata": {"session": "s-1"},
            "safety_identifier": "user-hash-1",
        },
    ),
    # Merged deeply into what the library builds (on Chat Completions: include_usage stays).
    "extra-body-nested": lambda m: _settings(
        m, extra_body={"stream_options": {"include_obfuscation": False}}
    ),
    "store": lambda m: _settings(m, store=True),
}


def graph() -> ConversationalGraph:
    return ConversationalGraph()

"""The tools the tests call, defined once, with the wire forms the library sends for them."""

from __future__ import annotations

from typing import Any

from scoped_openai import FunctionTool


def weather_params() -> dict[str, Any]:
    """A fresh copy of ``WEATHER``'s parameters: the wire forms below get their own, so a
    library that changed the tool's schema in place could not pass by aliasing."""
    return {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }


def time_params() -> dict[str, Any]:
    """A fresh copy of ``TIME``'s parameters (see ``weather_params``)."""
    return {"type": "object", "properties": {}, "required": [], "additionalProperties": False}


#: A strict tool with one required argument.
WEATHER = FunctionTool(
    name="get_weather", description="Get the weather.", parameters=weather_params()
)

#: ``WEATHER`` as a Responses ``tools`` entry (flat: no ``function`` wrapper).
WEATHER_RESPONSES = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather.",
    "parameters": weather_params(),
    "strict": True,
}

#: A non-strict tool without arguments or description.
TIME = FunctionTool(
    name="get_time",
    description="",
    parameters=time_params(),
    strict=False,
)

#: ``TIME`` as a Responses ``tools`` entry.
TIME_RESPONSES = {
    "type": "function",
    "name": "get_time",
    "parameters": time_params(),
    "strict": False,
}

#: ``WEATHER`` as a Chat Completions ``tools`` entry (wrapped in ``function``).
WEATHER_CHAT = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather.",
        "parameters": weather_params(),
        "strict": True,
    },
}

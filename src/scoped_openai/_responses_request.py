"""The ``response.create`` body of one Responses API turn (sent as a WebSocket frame, its
fields flat beside ``"type"``). No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._body import merge_into
from ._graph import ConversationalGraph
from ._responses_input import InputItem
from ._settings import GenerationSettings, ToolChoice
from ._tools import FunctionTool


def responses_tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    """``tool_choice`` in the Responses shape.

    Strings (``"auto"``, ``"none"``, ``"required"``) pass through. The Chat Completions
    form ``{"type": "function", "function": {"name": X}}`` becomes the flat
    ``{"type": "function", "name": X}``; other dicts (already flat, ``allowed_tools``...)
    pass through.

    Raises:
        ValueError: A function choice names no function.
    """
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and "name" not in choice:
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"tool_choice {choice!r} names no function")
        return {"type": "function", "name": name}
    return dict(choice)


def build_create_event(
    settings: GenerationSettings,
    input_items: Sequence[InputItem],
    *,
    tools: Sequence[FunctionTool] | None = None,
    graph: ConversationalGraph | None = None,
    previous_response_id: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    generate: bool | None = None,
) -> dict[str, Any]:
    """The ``response.create`` frame for one turn (or a ``generate: false`` warm-up).

    Fields, flat beside ``"type": "response.create"``: ``model``, ``store``, ``input``,
    ``previous_response_id`` when given, ``max_output_tokens`` from
    ``max_completion_tokens``. Reasoning models (o1/o3/o4/gpt-5*) get
    ``reasoning.effort`` and ``text.verbosity`` when set and no sampling parameters; other
    models get ``temperature`` and ``top_p`` when set. The effort is sent whenever it is
    set, ``"none"`` included: gpt-5.1 and later accept it and it is the low-latency setting a
    voice agent wants, the HTTP path sends it too, and a model that rejects it answers with a
    clear 400 instead of silently reasoning at its default effort (the reference drops
    ``"none"`` here). ``text.format`` is the graph's schema. ``tools`` (flat Responses
    shape), ``tool_choice`` (converted by :func:`responses_tool_choice`) and
    ``parallel_tool_calls`` are sent only with tools. ``"generate": false`` when ``generate``
    is False. ``stream`` is never sent: WebSocket mode streams implicitly.

    ``settings.extra_body`` then ``overrides`` are merged last, objects deeply (see
    :func:`_merge`); a None value removes a field. No None value is sent. A
    ``tool_choice`` in ``overrides`` is converted like the configured one and replaces it.
    """
    event: dict[str, Any] = {
        "type": "response.create",
        "model": settings.model,
        "store": settings.store,
        "input": list(input_items),
    }
    if previous_response_id is not None:
        event["previous_response_id"] = previous_response_id
    if settings.max_completion_tokens is not None:
        event["max_output_tokens"] = settings.max_completion_tokens
    text: dict[str, Any] = {}
    if settings.reasoning:
        if settings.reasoning_effort is not None:
            event["reasoning"] = {"effort": settings.reasoning_effort}
        if settings.verbosity is not None:
            text["verbosity"] = settings.verbosity
    else:
        event["temperature"] = settings.temperature
        if settings.top_p is not None:
            event["top_p"] = settings.top_p
    if graph is not None:
        text["format"] = graph.text_format()
    if text:
        event["text"] = text
    if tools:
        event["tools"] = [tool.to_responses() for tool in tools]
        event["tool_choice"] = responses_tool_choice(settings.tool_choice)
        if settings.parallel_tool_calls is not None:
            event["parallel_tool_calls"] = settings.parallel_tool_calls
    if generate is False:
        event["generate"] = False
    if settings.extra_body:
        merge_into(event, settings.extra_body)
    if overrides:
        choice = overrides.get("tool_choice")
        if choice is not None:
            # chat(tool_choice=...) is one keyword on every path: the Chat Completions
            # shape is converted here, and it replaces the configured choice whole.
            overrides = {key: value for key, value in overrides.items() if key != "tool_choice"}
            event["tool_choice"] = responses_tool_choice(choice)
        merge_into(event, overrides)
    if None in event.values():  # rare (e.g. temperature=None): a copy only then
        return {key: value for key, value in event.items() if value is not None}
    return event

"""The sans-IO assembler: provider-neutral events in, ``LLMResponse`` items out.

Shared by the HTTP and WebSocket paths, so both yield the same items for the same reply:
text as it arrives (or, with a conversational graph, only the spoken field's text), tool
calls with parsed arguments (Chat Completions fragments assembled by index and yielded in
index order when the choice finishes; Responses calls as each one is done), a usage item,
and at the end the graph object. Tool-call arguments that are not a JSON object are never
dispatched: the valid calls of the batch go first, then a ``ToolArgumentsError``.

The events come from the server's JSON, so their fields are checked here, where both paths
meet: a value of the wrong type (``arguments`` sent as an object, an ``index`` that is a
string, ``content`` that is a number) is a ``ProtocolError`` naming the field, never a raw
``TypeError`` later or a wrong value in an item. A tool call's assembled arguments are
bounded by ``StreamLimits.max_tool_arguments_bytes``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, MutableSequence
from typing import Any, cast

from ._chat import ChatRole
from ._errors import ProtocolError, ToolArgumentsError
from ._events import (
    ChoiceFinished,
    Event,
    RefusalDelta,
    ResponseCompleted,
    ResponseCreated,
    StreamDone,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    Usage,
    UsageReport,
)
from ._graph import ConversationalGraph, GraphParseError, SpokenFieldExtractor
from ._limits import DEFAULT_LIMITS, StreamLimits, arguments_too_large
from ._response import LLMResponse, TokenUsage

_ASSISTANT = ChatRole.ASSISTANT
#: Usage fields and their types (``str`` ones may be null).
_USAGE_FIELDS = (
    ("prompt_tokens", int),
    ("completion_tokens", int),
    ("total_tokens", int),
    ("prompt_cached_tokens", int),
    ("reasoning_tokens", int),
    ("request_id", str),
    ("model", str),
)


class _PendingCall:
    __slots__ = ("arguments", "id", "name", "size")

    def __init__(self, call_id: str, name: str, arguments: str) -> None:
        self.id = call_id
        self.name = name
        self.arguments = [arguments] if arguments else []
        self.size = len(arguments)


def _wrong_type(event: Event, field: str, value: object, expected: str) -> ProtocolError:
    return ProtocolError(
        f"the server sent {type(value).__name__} {repr(value)[:80]} as a {field}, "
        f"expected {expected} ({type(event).__name__})"
    )


def _check_str(event: Event, field: str, value: object, *, optional: bool = False) -> None:
    if type(value) is not str and not (optional and value is None):
        raise _wrong_type(event, field, value, "a string" + (" or null" if optional else ""))


class Assembler:
    """Turns one turn's events into items; knows nothing of sockets or tasks.

    Attributes:
        text: All assistant text received (the raw JSON text with a graph).
        spoken: The text yielded as ``content`` so far: what the user heard.
        finish_reason: The last ``finish_reason`` seen, or None.
        response_id: The Responses API id of the turn, or None.
        output: The Responses API output items of a completed turn.
        done: True once the turn's end marker was assembled.
        warnings: Non-fatal errors to report to ``on("error")`` listeners (drained by the
            caller), e.g. a graph reply that was not valid JSON.
        calls: Every tool call yielded, as ``(call_id, name, raw_arguments)``.
    """

    __slots__ = (
        "_extractor",
        "_graph",
        "_max_arguments",
        "_model",
        "_pending",
        "_text",
        "_usage",
        "_usage_dict",
        "calls",
        "done",
        "finish_reason",
        "output",
        "response_id",
        "spoken_parts",
        "warnings",
    )

    def __init__(
        self,
        *,
        model: str | None = None,
        graph: ConversationalGraph | None = None,
        limits: StreamLimits = DEFAULT_LIMITS,
    ):
        self._model = model
        self._graph = graph
        self._max_arguments = limits.max_tool_arguments_bytes
        self.reset()

    def reset(self) -> None:
        """Forget everything assembled: the turn is being resent from scratch."""
        self._usage = Usage(model=self._model)
        self._usage_dict: dict[str, Any] = self._usage.as_metadata()
        graph = self._graph
        self._extractor: SpokenFieldExtractor | None = graph.extractor() if graph else None
        self._pending: dict[int, _PendingCall] = {}
        self._text: list[str] = []
        self.spoken_parts: list[str] = []
        self.finish_reason: str | None = None
        self.response_id: str | None = None
        self.output: list[dict[str, Any]] = []
        self.done = False
        self.warnings: list[Exception] = []
        self.calls: list[tuple[str, str, str]] = []

    @property
    def text(self) -> str:
        """All assistant text received so far."""
        return "".join(self._text)

    @property
    def spoken(self) -> str:
        """The text yielded as content so far."""
        return "".join(self.spoken_parts)

    @property
    def usage(self) -> dict[str, Any]:
        """The turn's usage dict (shared by every item's ``metadata["usage"]``)."""
        return self._usage_dict

    def unsay(self, dropped: Iterable[LLMResponse | Exception]) -> None:
        """Items that were built but never delivered (dropped at a barge-in or a failure):
        their text leaves ``spoken``, which stays what the user heard. They are the last
        items built, so their parts are the last ones."""
        parts = self.spoken_parts
        for item in reversed(list(dropped)):
            if isinstance(item, LLMResponse) and item.content and parts[-1:] == [item.content]:
                parts.pop()

    def feed(self, event: Event, out: MutableSequence[LLMResponse | Exception]) -> None:
        """Append the items (and at most one trailing error) that ``event`` completes."""
        if self.done:
            return  # nothing after the end marker belongs to this turn
        if type(event) is TextDelta:
            if type(event.text) is not str:
                raise _wrong_type(event, "text delta", event.text, "a string")
            self._text.append(event.text)
            if self._extractor is None:
                self.spoken_parts.append(event.text)
                out.append(LLMResponse(event.text, _ASSISTANT, {"usage": self._usage_dict}))
            else:
                spoken = self._extractor.feed(event.text)
                if spoken:
                    self.spoken_parts.append(spoken)
                    out.append(LLMResponse(spoken, _ASSISTANT, {"usage": self._usage_dict}))
        elif isinstance(event, ToolCallDelta):
            self._call_fragment(event)
        elif isinstance(event, ChoiceFinished):
            _check_str(event, "finish_reason", event.reason)
            self.finish_reason = event.reason
            self._flush_calls(out)
        elif isinstance(event, ToolCallDone):
            _check_str(event, "tool call id", event.call_id)
            _check_str(event, "tool name", event.name)
            _check_str(event, "tool call arguments", event.arguments)
            if len(event.arguments) > self._max_arguments:
                raise arguments_too_large(event.name, self._max_arguments)
            self._dispatch([(event.call_id, event.name, event.arguments)], out)
        elif isinstance(event, UsageReport):
            self._set_usage(event.usage)
            usage = self._usage_dict
            out.append(LLMResponse("", _ASSISTANT, {"usage": usage}, usage=cast(TokenUsage, usage)))
        elif isinstance(event, RefusalDelta):
            _check_str(event, "refusal delta", event.text)
            self.spoken_parts.append(event.text)
            out.append(
                LLMResponse(event.text, _ASSISTANT, {"usage": self._usage_dict, "refusal": True})
            )
        elif isinstance(event, ResponseCreated):
            _check_str(event, "response id", event.response_id)
            self.response_id = event.response_id
        elif isinstance(event, ResponseCompleted):
            _check_str(event, "response id", event.response_id)
            if type(event.output) is not list:
                raise _wrong_type(event, "response output", event.output, "a list")
            self.response_id = event.response_id
            self.output = event.output
            self._finish(out)
        elif isinstance(event, StreamDone):
            self._finish(out)

    def _set_usage(self, usage: Usage) -> None:
        for name, kind in _USAGE_FIELDS:
            value = getattr(usage, name)
            if type(value) is not kind and not (kind is str and value is None):
                raise ProtocolError(f"the server sent {repr(value)[:80]} as usage.{name}")
        if usage.model is None:
            usage.model = self._usage.model
        self._usage = usage
        self._usage_dict.update(usage.as_metadata())

    def _call_fragment(self, delta: ToolCallDelta) -> None:
        if type(delta.index) is not int:  # mixed types would break the sort by index
            raise _wrong_type(delta, "tool call index", delta.index, "an integer")
        _check_str(delta, "tool call id", delta.id, optional=True)
        _check_str(delta, "tool name", delta.name, optional=True)
        _check_str(delta, "tool call arguments", delta.arguments)
        pending = self._pending.get(delta.index)
        if pending is None:
            pending = self._pending[delta.index] = _PendingCall(
                delta.id or "", delta.name or "", delta.arguments
            )
            if pending.size > self._max_arguments:
                raise arguments_too_large(pending.name, self._max_arguments)
            return
        if delta.id and not pending.id:
            pending.id = delta.id
        # Some servers resend the name in every fragment; only the first one counts.
        if delta.name and not pending.name:
            pending.name = delta.name
        if delta.arguments:
            pending.size += len(delta.arguments)
            if pending.size > self._max_arguments:
                raise arguments_too_large(pending.name, self._max_arguments)
            pending.arguments.append(delta.arguments)

    def _flush_calls(self, out: MutableSequence[LLMResponse | Exception]) -> None:
        if not self._pending:
            return
        ordered = sorted(self._pending.items())
        self._pending = {}
        self._dispatch([(c.id, c.name, "".join(c.arguments)) for _, c in ordered], out)

    def _dispatch(
        self, calls: list[tuple[str, str, str]], out: MutableSequence[LLMResponse | Exception]
    ) -> None:
        error: Exception | None = None
        for call_id, name, raw in calls:
            try:
                arguments = json.loads(raw)
                if not isinstance(arguments, dict):
                    raise ValueError(f"a JSON {type(arguments).__name__}, not an object")
            except ValueError as exc:
                if error is None:
                    error = ToolArgumentsError(name, call_id, raw, _reason(exc))
                continue
            self.calls.append((call_id, name, raw))
            out.append(
                LLMResponse(
                    "",
                    _ASSISTANT,
                    {
                        "function_call": {"name": name, "arguments": arguments, "id": call_id},
                        "usage": self._usage_dict,
                    },
                )
            )
        if error is not None:
            out.append(error)

    def _finish(self, out: MutableSequence[LLMResponse | Exception]) -> None:
        self.done = True
        self._flush_calls(out)
        if self._extractor is None or not self._text:
            return
        try:
            parsed = self._extractor.finish()
        except GraphParseError as exc:
            # The reference's fallback: speak the raw reply; we also say why.
            self.warnings.append(
                ProtocolError(f"the conversational graph reply is not valid JSON: {exc}")
            )
            raw = self.text
            self.spoken_parts.append(raw)
            out.append(LLMResponse(raw, _ASSISTANT, {"usage": self._usage_dict}))
            return
        out.append(
            LLMResponse("", _ASSISTANT, {"usage": self._usage_dict, "graph_response": parsed})
        )


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at character {exc.pos}"
    return str(exc)

"""The Responses API in WebSocket mode, as pure mapping: frames out, server events in, chain state.

No I/O here. Facts this module relies on (DESIGN.md section 4, and the sources named below):

- A turn starts with a ``response.create`` frame whose fields are the ``POST /v1/responses``
  body, flat beside ``"type"``. ``stream`` is implicit over WebSocket and is not sent;
  ``background`` is not supported there (OpenAI, "WebSocket events" reference and "WebSocket
  mode" guide). ``"generate": false`` prepares request state (tools, instructions) without
  generating; its response id can be chained from.
- The create body has ``temperature`` and ``top_p`` but no ``seed``, ``frequency_penalty`` or
  ``presence_penalty`` (openai-python ``ResponseCreateParamsBase``): those stay on the Chat
  Completions path; ``extra_body`` can still send anything.
- Server events are the Responses streaming events, one JSON object per frame. Function-call
  argument deltas are keyed by ``item_id``; ``call_id`` and ``name`` come on the item events.
  Terminal: ``response.completed``, ``response.failed``, ``response.incomplete`` and
  ``error``, which over WebSocket comes nested
  (``{"type": "error", "status": 400, "error": {"type", "code", "message", "param"}}``); the
  flat SSE shape (``{"type": "error", "code", "message", "param"}``) is accepted too.
- ``previous_response_id`` makes the server prepend what it holds for that response: its full
  input (including what *its* previous response held) and its output. With ``store=False``
  that state lives only in the socket's connection-local cache, so it dies with the socket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import msgspec

from ._chat import ChatItem, ChatMessage, ChatRole, FunctionCall, ImageContent
from ._errors import APIStreamError, InvalidContextError, ProtocolError
from ._events import (
    Event,
    RefusalDelta,
    ResponseCompleted,
    ResponseCreated,
    TextDelta,
    ToolCallDone,
    Usage,
    UsageReport,
)
from ._graph import ConversationalGraph
from ._limits import DEFAULT_LIMITS, arguments_too_large
from ._settings import GenerationSettings, ToolChoice
from ._tools import FunctionTool
from ._wire import (
    ErrorFields,
    ErrorText,
    OutputItem,
    ResponseBody,
    ResponsesUsage,
    ServerEvent,
    decode_server_event,
)

__all__ = [
    "ChainState",
    "InputItem",
    "ResponsesEventMapper",
    "build_create_event",
    "output_to_input_items",
    "responses_tool_choice",
    "server_event_events",
    "to_input_items",
]

InputItem: TypeAlias = dict[str, Any]
"""One Responses ``input`` item, as sent on the wire."""


# ---------------------------------------------------------------------------------------------
# Context -> input items
# ---------------------------------------------------------------------------------------------


def _assistant_item(index: int, message: ChatMessage) -> InputItem | None:
    """An assistant turn as the client-authored ``EasyInputMessage``.

    ``{"role": "assistant", "content": "text"}`` is valid input everywhere: the spec's
    ``OutputMessage`` (``type: message`` with ``output_text`` parts) requires the server's
    ``id``, ``status`` and per-part ``annotations``/``logprobs``, which a client does not
    have, and OpenAI-compatible servers (vLLM, gateways) validate against the spec. Text
    parts are joined with newlines, as on the Chat Completions path.
    """
    content = message.content
    if not isinstance(content, str):
        for part in content:
            if isinstance(part, ImageContent):
                raise InvalidContextError(
                    f"message {index} (assistant) holds an image: the Responses API accepts "
                    "images only in user, system and developer messages",
                    index=index,
                )
            if not isinstance(part, str):
                raise TypeError(f"unsupported message content part: {type(part).__name__}")
        content = "\n".join(part for part in content if isinstance(part, str) and part)
    if not content:
        return None  # an empty message says nothing (and the server never echoes one)
    return {"role": "assistant", "content": content}


def _message_item(index: int, message: ChatMessage) -> InputItem | None:
    if message.role is ChatRole.ASSISTANT:
        return _assistant_item(index, message)
    content = [message.content] if isinstance(message.content, str) else message.content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            # Empty text parts carry nothing and the server never echoes them back, so
            # dropping them keeps local items comparable with the server's (ChainState).
            if part:
                parts.append({"type": "input_text", "text": part})
        elif isinstance(part, ImageContent):
            parts.append(
                {
                    "type": "input_image",
                    "image_url": part.to_data_url(),
                    "detail": part.inference_detail,
                }
            )
        else:
            raise TypeError(f"unsupported message content part: {type(part).__name__}")
    if not parts:
        return None  # an empty message says nothing; an empty content list is rejected
    return {"type": "message", "role": message.role.value, "content": parts}


def to_input_items(items: Sequence[ChatItem]) -> list[InputItem]:
    """Convert chat items to Responses ``input`` items.

    - A user, system or developer message becomes ``{"type": "message", "role", "content":
      [parts]}``: text parts ``input_text``, images ``{"type": "input_image", "image_url",
      "detail"}``. An assistant message becomes ``{"role": "assistant", "content": "text"}``
      (see :func:`_assistant_item`). Empty text parts are left out, and a message left with
      no content is left out entirely.
    - A :class:`FunctionCall` becomes ``{"type": "function_call", "call_id", "name",
      "arguments"}``; a :class:`FunctionCallOutput` ``{"type": "function_call_output",
      "call_id", "output"}``.

    Raises:
        InvalidContextError: An assistant message holds an image (the API has no such part).
    """
    out: list[InputItem] = []
    for index, item in enumerate(items):
        if isinstance(item, ChatMessage):
            message = _message_item(index, item)
            if message is not None:
                out.append(message)
        elif isinstance(item, FunctionCall):
            out.append(
                {
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                }
            )
        else:
            out.append(
                {"type": "function_call_output", "call_id": item.call_id, "output": item.output}
            )
    return out


def _is_text(part: object) -> bool:
    return (
        isinstance(part, dict)
        and part.get("type") == "output_text"
        and isinstance(part.get("text"), str)
    )


def _empty_text(part: object) -> bool:
    return isinstance(part, dict) and _is_text(part) and not part["text"]


def output_to_input_items(output: Sequence[object]) -> list[InputItem]:
    """Convert a response's ``output`` items to the input-item shape of :func:`to_input_items`.

    This is what the server holds for a response, in the form our own context converts to,
    so the two can be compared: an assistant message with one ``output_text`` part becomes
    ``{"role": "assistant", "content": text}``; ids, statuses, annotations, logprobs and
    ``phase`` are left out (our items do not have them). ``reasoning`` items are dropped:
    they are the model's hidden work, never part of the local context; continuing from the
    response keeps them on the server side, which is what OpenAI recommends, and the
    visible conversation is the same either way. Item kinds we do not produce ourselves
    are kept whole, so a context never matches them and such a response is never chained
    from.

    Raises:
        ProtocolError: An output item is not a JSON object.
    """
    items: list[InputItem] = []
    for raw in output:
        if not isinstance(raw, dict):
            raise ProtocolError(f"a response output item is not an object: {repr(raw)[:200]}")
        kind = raw.get("type")
        if kind == "reasoning":
            continue
        if kind == "function_call":
            items.append(
                {
                    "type": "function_call",
                    "call_id": raw.get("call_id"),
                    "name": raw.get("name"),
                    "arguments": raw.get("arguments"),
                }
            )
        elif kind == "message" and isinstance(raw.get("content"), list):
            # Empty text parts are left out, as from local messages (an empty one says nothing).
            parts = [part for part in raw["content"] if not _empty_text(part)]
            if not parts:
                continue
            if len(parts) == 1 and _is_text(parts[0]) and raw.get("role") == "assistant":
                items.append({"role": "assistant", "content": parts[0]["text"]})
            else:
                # Several parts, a refusal, an unknown part: kept whole, so no local
                # message equals it and the response is never chained from.
                items.append({"unknown_message": raw})
        else:
            items.append({"unknown_item": raw})
    return items


# ---------------------------------------------------------------------------------------------
# The response.create frame
# ---------------------------------------------------------------------------------------------


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


def _without_none(value: Any) -> Any:
    # None means "not set": drop it from every object, at any depth. List elements are
    # values (an enum may list null), so only the objects inside lists are cleaned.
    if isinstance(value, Mapping):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``base`` (which we own): objects deep, everything else replaced.

    Deep because the Responses settings are nested: ``extra_body={"reasoning": {"summary":
    "auto"}}`` must not wipe the configured effort, nor ``{"text": {...}}`` the graph's
    ``text.format``. A None value removes the key.
    """
    for key, value in extra.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged = dict(base[key])  # copy: never mutate a dict someone else owns
            _merge(merged, value)
            base[key] = merged
        else:
            base[key] = _without_none(value)


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
        _merge(event, settings.extra_body)
    if overrides:
        choice = overrides.get("tool_choice")
        if choice is not None:
            # chat(tool_choice=...) is one keyword on every path: the Chat Completions
            # shape is converted here, and it replaces the configured choice whole.
            overrides = {key: value for key, value in overrides.items() if key != "tool_choice"}
            event["tool_choice"] = responses_tool_choice(choice)
        _merge(event, overrides)
    return {key: value for key, value in event.items() if value is not None}


# ---------------------------------------------------------------------------------------------
# Server events -> provider-neutral events
# ---------------------------------------------------------------------------------------------


class _Decoded:
    """An event given as plain JSON values (``feed``); a bare ``str`` source is JSON text."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


def _snippet(source: object) -> str:
    return repr(source.value)[:200] if isinstance(source, _Decoded) else str(source)[:200]


def _malformed(source: object, what: str) -> ProtocolError:
    return ProtocolError(f"a Responses server event is malformed ({what}): {_snippet(source)}")


_T = TypeVar("_T")


def _required(value: _T | None, source: object, path: str) -> _T:
    """``value``, which this event kind must carry (its type was checked by the decoder)."""
    if value is None:
        raise _malformed(source, f"`$.{path}` is missing or null")
    return value


def _text(value: ErrorText) -> str | None:
    """An optional text field; numbers are rendered (codes are sometimes ints)."""
    return value if value is None or isinstance(value, str) else str(value)


def _body(source: object) -> Any:
    """The event as plain JSON values, kept as an error's ``body`` (decoded again: rare)."""
    return source.value if isinstance(source, _Decoded) else json.loads(str(source))


#: The event kinds we map; any other kind is skipped, even when its fields do not have the
#: types our struct gives the fields of the same name.
_MAPPED = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.refusal.delta",
        "response.output_item.added",
        "response.output_item.done",
        "response.created",
        "response.completed",
        "response.failed",
        "response.incomplete",
        "error",
    }
)
_ITEM_EVENTS = frozenset({"response.output_item.added", "response.output_item.done"})


def _skippable(source: object) -> bool:
    """Whether an event that did not fit our struct is one we skip anyway: an unknown kind,
    or an output item that is not a function call."""
    raw = _body(source)
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(kind, str):
        return False
    if kind not in _MAPPED:
        return True
    item = raw.get("item")
    return kind in _ITEM_EVENTS and isinstance(item, dict) and item.get("type") != "function_call"


def _usage(response: ResponseBody, usage: ResponsesUsage) -> Usage:
    in_details = usage.input_tokens_details
    out_details = usage.output_tokens_details
    return Usage(
        prompt_tokens=usage.input_tokens or 0,
        completion_tokens=usage.output_tokens or 0,
        total_tokens=usage.total_tokens or 0,
        prompt_cached_tokens=(in_details.cached_tokens if in_details else None) or 0,
        reasoning_tokens=(out_details.reasoning_tokens if out_details else None) or 0,
        request_id=response.id or None,
        model=response.model or None,
    )


_INCOMPLETE_REASONS = {
    "max_output_tokens": (
        "the response stopped at the output token limit (max_output_tokens; raise "
        "max_completion_tokens to allow longer replies)"
    ),
    "content_filter": "the content filter stopped the response",
}


def _terminal_error(event: ServerEvent, source: object) -> APIStreamError:
    response = _required(event.response, source, "response")
    if event.type == "response.failed":
        error = response.error or ErrorFields()
        return APIStreamError(
            f"the response failed: {_text(error.message) or 'no error details'}",
            status="failed",
            code=_text(error.code),
            param=_text(error.param),
            type=_text(error.type),
            request_id=response.id,
            body=_body(source),
        )
    details = response.incomplete_details
    reason = _text(details.reason) if details is not None else None
    if reason is None:
        message = "the response is incomplete (no reason given)"
    else:
        message = _INCOMPLETE_REASONS.get(reason, f"the response is incomplete ({reason})")
    return APIStreamError(
        message, status="incomplete", code=reason, request_id=response.id, body=_body(source)
    )


def _error_frame(event: ServerEvent, source: object) -> APIStreamError:
    # Nested (WebSocket) shape: the fields are in "error"; flat (SSE) shape: beside "type",
    # where "type" is the event's own and not an error type.
    nested = event.error
    fields = nested if nested is not None else event
    status = event.status
    return APIStreamError(
        f"the API reported an error: {_text(fields.message) or 'no error details'}",
        status=None if status is None else str(status),
        code=_text(fields.code),
        param=_text(fields.param),
        type=_text(nested.type) if nested is not None else None,
        body=_body(source),
    )


def _output_call(item: dict[str, Any], index: int, source: object) -> OutputItem:
    """A ``response.completed`` output item (kept as plain JSON) as a typed function call."""
    try:
        return msgspec.convert(item, OutputItem)
    except msgspec.ValidationError as exc:
        where = str(exc).replace("`$", f"`$.response.output[{index}]", 1)
        raise _malformed(source, where) from None


class _Call:
    """A function call being streamed, keyed by its output item id."""

    __slots__ = ("arguments", "call_id", "deltas", "name", "size")

    def __init__(self, call_id: str | None, name: str | None) -> None:
        self.call_id = call_id
        self.name = name
        self.deltas: list[str] = []
        self.size = 0  # characters in ``deltas``
        self.arguments: str | None = None  # from response.function_call_arguments.done


class ResponsesEventMapper:
    """Maps one turn's server events to provider-neutral events.

    Stateful where the protocol needs it: function-call arguments arrive as deltas keyed by
    ``item_id`` while ``call_id`` and ``name`` come on the item events. A call is emitted as
    one :class:`ToolCallDone` when its ``response.output_item.done`` arrives, with the
    item's own ``arguments`` when present (else the ``arguments.done`` text, else the
    concatenated deltas). A function call that the final ``response.completed`` lists but
    that never had its ``output_item.done`` is emitted then, before the usage.

    Events: ``response.created`` -> :class:`ResponseCreated`; ``response.output_text.delta``
    -> :class:`TextDelta`; ``response.refusal.delta`` -> :class:`RefusalDelta`;
    ``response.completed`` -> :class:`UsageReport` then :class:`ResponseCompleted`. Other
    event types (``response.in_progress``, content parts, reasoning events...) are skipped,
    whatever their fields hold.

    Events are decoded into ``_wire.ServerEvent`` (msgspec): :meth:`feed_json` from the
    frame's text, :meth:`feed` from plain JSON values; both map the same way.

    Raises (from :meth:`feed_json` and :meth:`feed`):
        APIStreamError: ``response.failed`` (status ``"failed"``), ``response.incomplete``
            (status ``"incomplete"``, code = the reason) or an ``error`` frame (status = the
            frame's numeric status as a string). The event is kept as ``body``: for a
            failed or incomplete response its usage is in ``body["response"]["usage"]``.
        ProtocolError: The event is not JSON or not an object, has no string ``type``, or
            a field it needs is missing or has the wrong type; the message names the JSON
            path (``$.response.usage.input_tokens``).
    """

    __slots__ = ("_calls", "_created_first", "_dispatched", "_max_arguments", "_response_id")

    _remember = True  # False for the stateless server_event_events()

    def __init__(
        self,
        *,
        created_first: bool = False,
        max_arguments: int = DEFAULT_LIMITS.max_tool_arguments_bytes,
    ) -> None:
        # created_first: a turn on a socket that carried earlier responses; see _map.
        self._created_first = created_first
        # Argument deltas are kept until their call is done: bounded like assembled ones.
        self._max_arguments = max_arguments
        self._response_id: str | None = None
        self._calls: dict[str, _Call] = {}
        self._dispatched: set[str] = set()  # call_ids already emitted

    @property
    def response_id(self) -> str | None:
        """The id of the response being streamed, once ``response.created`` arrived."""
        return self._response_id

    def feed_json(self, text: str, out: list[Event]) -> None:
        """Decode one server event's JSON text and append its events to ``out``.

        Raises:
            APIStreamError: A terminal error event (see the class docstring).
            ProtocolError: The text is not JSON or the event is malformed.
        """
        try:
            event = decode_server_event(text)
        except msgspec.ValidationError as exc:
            if _skippable(text):
                return
            raise _malformed(text, str(exc)) from None
        except msgspec.DecodeError:
            raise ProtocolError(f"a server event is not valid JSON: {text[:200]!r}") from None
        self._map(event, text, out)

    def feed(self, event: object, out: list[Event]) -> None:
        """Append the events of one server event given as plain JSON values to ``out``.

        Raises:
            APIStreamError: A terminal error event (see the class docstring).
            ProtocolError: The event is malformed.
        """
        source = _Decoded(event)
        try:
            typed = msgspec.convert(event, ServerEvent)
        except msgspec.ValidationError as exc:
            if _skippable(source):
                return
            raise _malformed(source, str(exc)) from None
        self._map(typed, source, out)

    def _map(self, event: ServerEvent, source: object, out: list[Event]) -> None:
        """The events of one typed event; ``source`` is what it was decoded from."""
        kind = event.type
        if self._remember:
            # Only this turn's response counts (a socket kept after a terminal event may
            # still carry a server's second response.completed or a late delta): an event
            # that names another response is left over, and so, with ``created_first``
            # (every response opens with response.created), is any other response.* event
            # before ours was created. Deltas name none; one response is in flight per
            # socket.
            ours = self._response_id
            if ours is None:
                if self._created_first and kind != "response.created" and kind[:9] == "response.":
                    return
            elif event.response is not None and event.response.id != ours:
                return
        # Most frequent first.
        if kind == "response.output_text.delta":
            delta = event.delta
            if delta is None:  # not _required(): this branch runs per chunk
                raise _malformed(source, "`$.delta` is missing or null")
            if delta:
                out.append(TextDelta(delta))
        elif kind == "response.function_call_arguments.delta":
            item_id = _required(event.item_id, source, "item_id")
            delta = _required(event.delta, source, "delta")
            call = self._call(item_id)
            call.size += len(delta)
            if call.size > self._max_arguments:
                raise arguments_too_large(call.name or "", self._max_arguments)
            call.deltas.append(delta)
        elif kind == "response.function_call_arguments.done":
            item_id = _required(event.item_id, source, "item_id")
            if event.arguments is not None:
                self._call(item_id).arguments = event.arguments
        elif kind == "response.refusal.delta":
            refusal = _required(event.delta, source, "delta")
            if refusal:
                out.append(RefusalDelta(refusal))
        elif kind == "response.output_item.added":
            item = _required(event.item, source, "item")
            if item.type == "function_call":
                call = self._call(_required(item.id, source, "item.id"))
                call.call_id = item.call_id or call.call_id
                call.name = item.name or call.name
        elif kind == "response.output_item.done":
            item = _required(event.item, source, "item")
            if item.type == "function_call":
                self._emit_call(item, source, out)
        elif kind == "response.created":
            response = _required(event.response, source, "response")
            self._response_id = _required(response.id, source, "response.id")
            out.append(ResponseCreated(self._response_id))
        elif kind == "response.completed":
            self._completed(event, source, out)
        elif kind in ("response.failed", "response.incomplete"):
            raise _terminal_error(event, source)
        elif kind == "error":
            raise _error_frame(event, source)
        # Anything else (in_progress, content parts, *.done, reasoning...) is skipped.

    def _call(self, item_id: str) -> _Call:
        call = self._calls.get(item_id)
        if call is None:
            call = self._calls[item_id] = _Call(None, None)
        return call

    def _emit_call(self, item: OutputItem, source: object, out: list[Event]) -> None:
        call = self._calls.pop(item.id, None) if item.id is not None else None
        call_id, name = item.call_id, item.name
        if call is not None:
            call_id = call_id or call.call_id
            name = name or call.name
        if not call_id or not name:
            raise _malformed(source, "a function call without call_id or name")
        if call_id in self._dispatched:
            return
        arguments = item.arguments
        if not arguments and call is not None:
            arguments = call.arguments if call.arguments else "".join(call.deltas)
        if self._remember:
            self._dispatched.add(call_id)
        out.append(ToolCallDone(call_id, name, arguments or "", item.id))

    def _completed(self, event: ServerEvent, source: object, out: list[Event]) -> None:
        response = _required(event.response, source, "response")
        response_id = _required(response.id, source, "response.id")
        output = response.output or []
        if self._remember:
            for index, item in enumerate(output):
                if item.get("type") == "function_call":
                    self._emit_call(_output_call(item, index, source), source, out)
        if response.usage is not None:
            out.append(UsageReport(_usage(response, response.usage)))
        self._response_id = response_id
        out.append(ResponseCompleted(response_id, output))


class _StatelessMapper(ResponsesEventMapper):
    __slots__ = ()
    _remember = False


def server_event_events(event: object, out: list[Event]) -> None:
    """Map one server event without memory of earlier ones.

    Function-call deltas are not remembered: a call is emitted from its
    ``response.output_item.done`` item, which carries ``call_id``, ``name`` and
    ``arguments``; ``response.completed`` does not re-emit calls. Use
    :class:`ResponsesEventMapper` for a whole turn.

    Raises:
        APIStreamError: A terminal error event.
        ProtocolError: The event is malformed.
    """
    _StatelessMapper().feed(event, out)


# ---------------------------------------------------------------------------------------------
# previous_response_id chaining
# ---------------------------------------------------------------------------------------------


def _tool_calls_answered(items: Sequence[InputItem]) -> bool:
    """Whether every function_call has a function_call_output after it (one pass)."""
    pending: set[Any] = set()
    for item in items:
        kind = item.get("type")
        if kind == "function_call":
            pending.add(item.get("call_id"))
        elif kind == "function_call_output":
            pending.discard(item.get("call_id"))
    return not pending


def _canonical_json(text: Any) -> Any:
    """``text`` re-serialized with default spacing, or as is when it is not JSON text.

    Re-serializing (rather than comparing parsed values) keeps JSON types apart: Python's
    ``==`` would take ``true`` for ``1`` and ``1.0`` for ``1``.
    """
    if not isinstance(text, str):
        return text
    try:
        return json.dumps(json.loads(text))
    except ValueError:
        return text


def _same_call(mine: InputItem, theirs: InputItem) -> bool:
    """Whether two function calls differ only in how their arguments JSON is spelled.

    The model's arguments text (what the server holds) and a framework's
    ``json.dumps(parsed_arguments)`` (what VideoSDK records in its context) differ in
    spacing and escapes but carry the same call, so a turn after a tool call may chain.
    """
    if mine.get("type") != "function_call" or theirs.get("type") != "function_call":
        return False
    if mine.keys() != theirs.keys() or any(
        mine[key] != theirs[key] for key in mine if key != "arguments"
    ):
        return False
    return bool(_canonical_json(mine.get("arguments")) == _canonical_json(theirs.get("arguments")))


class ChainState:
    """What the server holds for the response we could continue from, and when to continue.

    ``response_id`` is the last *completed* response; ``server_items`` is everything the
    server holds for it, in our input-item shape: the full input it was sent (the items of
    the response it continued, plus the new ones) and its output converted by
    :func:`output_to_input_items` (reasoning items dropped, see there).

    :meth:`plan` chains (sends only the new suffix with ``previous_response_id``) only when
    the local context provably extends what the server holds: its items start with exactly
    ``server_items``, compared by content (a function call's arguments by their JSON value,
    types kept apart: ``{"a":1}`` matches ``{"a": 1}``, never ``{"a": true}``), and every
    function call in it has its output.
    Truncation, a summary replacing old items, an inserted or edited system prompt, an
    edited earlier message, same count but different content: all send the full context
    with no id. The cost is linear in the context size.

    Use: ``items, prev = chain.plan(ctx.items)``; send; on ``response.completed`` call
    ``chain.completed(chain.planned_input, output, response_id)``; on a barge-in
    :meth:`interrupted`; on ``response.failed``, ``response.incomplete``, an ``error`` frame
    (``previous_response_not_found`` included) :meth:`reset`; when the socket is replaced
    :meth:`socket_retired`.

    Args:
        store: Whether responses are stored (``store=True``). Without storage the server
            keeps a response only in the socket's connection-local cache, so no id
            survives its socket.
    """

    __slots__ = ("interrupted_response_id", "planned_input", "response_id", "server_items", "store")

    def __init__(self, *, store: bool = False) -> None:
        self.store = store
        self.response_id: str | None = None
        self.server_items: list[InputItem] = []
        self.planned_input: list[InputItem] = []
        """The full input of the last :meth:`plan` (whether or not it chained)."""
        self.interrupted_response_id: str | None = None
        """The last response abandoned by a barge-in (never chained from; for logs)."""

    def plan(self, items: Sequence[ChatItem]) -> tuple[list[InputItem], str | None]:
        """Decide what to send for a turn on ``items``.

        Returns:
            ``(input_items, previous_response_id)``: the suffix after ``server_items`` and
            ``response_id`` when chaining is provably safe and there is something new to
            send; otherwise the whole context and None.
        """
        full = to_input_items(items)
        self.planned_input = full
        held = self.server_items
        if self.response_id is None or len(full) <= len(held):
            return full, None
        for mine, theirs in zip(full, held, strict=False):
            if mine != theirs and not _same_call(mine, theirs):
                return full, None
        if not _tool_calls_answered(full):
            return full, None
        return full[len(held) :], self.response_id

    def completed(
        self, sent_full_input: Sequence[InputItem], output: Sequence[object], response_id: str
    ) -> None:
        """Record a completed turn: the server now holds ``sent_full_input`` + ``output``.

        Args:
            sent_full_input: The turn's *full* input (``planned_input``), not the suffix
                sent: with chaining the server prepends the previous items itself.
            output: The ``response.completed`` output items, as received.
            response_id: The completed response's id.

        Raises:
            ProtocolError: An output item is not a JSON object.
        """
        converted = output_to_input_items(output)
        self.server_items = [*sent_full_input, *converted]
        self.response_id = response_id

    def interrupted(
        self,
        response_id: str | None,
        spoken_text: str = "",
        sent_full_input: Sequence[InputItem] | None = None,
    ) -> None:
        """Record a barge-in on the response ``response_id``.

        That response is never chained from: the server holds what it generated (status
        incomplete or cancelled, or even completed later, since nothing cancels it), which
        is more than was spoken. The caller adds the text actually spoken
        (``spoken_text``) to its context as an assistant message; the next :meth:`plan`
        then sends it with the rest of the new suffix.

        With ``store=True`` the chain stays on the last *completed* response, which stays
        reachable from any socket, and :meth:`plan` still checks the context extends it.
        With ``store=False`` the barge-in retires the socket and its connection-local cache
        with it, so the chain is reset. ``spoken_text`` and ``sent_full_input`` are accepted
        for the caller's bookkeeping; neither is held as server state.
        """
        del spoken_text, sent_full_input  # deliberately not server state (see above)
        self.interrupted_response_id = response_id
        if not self.store:
            self.reset()

    def socket_retired(self) -> None:
        """The socket this chain lived on is gone (barge-in, 60-minute limit, a drop).

        With ``store=False`` the server's state went with it: reset. With ``store=True``
        stored responses remain reachable from a new socket: keep the chain.
        """
        if not self.store:
            self.reset()

    def reset(self) -> None:
        """Forget the chain: the next turn sends the full context with no id."""
        self.response_id = None
        self.server_items = []

"""Chat Completions, sans-IO: the request body out; the streamed body in -> events.

No I/O here. ``ChatCompletionsParser`` takes the response body's bytes as they arrive and
owns the turn's decoding, its end-of-turn rule and its error messages.

Facts this module relies on (DESIGN.md section 4): only ``[DONE]`` ends the stream, a chunk
can follow the usage chunk, tool calls are keyed by ``index`` with ``id`` and ``name`` in the
first fragment only, choices are routed by ``index`` (only choice 0 is yielded), Azure's
first chunk has empty ``choices``, and a ``{"error": ...}`` payload after a 200 is an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgspec

from ._body import merge_into
from ._chat import ChatContext, ChatItem, ChatMessage, FunctionCall, ImageContent
from ._errors import (
    APIConnectionError,
    APIStreamError,
    InvalidContextError,
    ProtocolError,
    error_fields,
)
from ._events import (
    ChoiceFinished,
    Event,
    RefusalDelta,
    StreamDone,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from ._graph import ConversationalGraph
from ._limits import DEFAULT_LIMITS, StreamLimits, reply_too_large
from ._settings import GenerationSettings
from ._sse import ServerSentEvent, SSEDecoder
from ._tools import FunctionTool
from ._wire import ChatChunk, ChatUsage, decode_chunk


def message_content(content: str | Sequence[str | ImageContent]) -> str | list[dict[str, Any]]:
    """A message's content: a plain string when it has no images, parts otherwise."""
    if isinstance(content, str):
        return content
    if len(content) == 1 and isinstance(content[0], str):
        return content[0]  # the usual message: one text part
    if all(isinstance(part, str) for part in content):
        return "\n".join(part for part in content if isinstance(part, str))
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"type": "text", "text": part})
        else:
            parts.append(
                {
                    "type": "image_url",
                    "image_url": {"url": part.to_data_url(), "detail": part.inference_detail},
                }
            )
    return parts


def _image_outside_user(index: int, role: str, content: Sequence[object]) -> None:
    """The spec allows only text parts in system and developer messages (and text or
    refusal parts in assistant ones): an image there is refused before anything is sent."""
    if role != "user" and any(isinstance(part, ImageContent) for part in content):
        raise InvalidContextError(
            f"message {index} ({role}) holds an image: Chat Completions accepts images only "
            "in user messages",
            index=index,
        )


def to_messages(ctx: ChatContext | Sequence[ChatItem], *, reasoning: bool) -> list[dict[str, Any]]:
    """Convert a context to Chat Completions ``messages``.

    Consecutive function calls become one assistant message with ``tool_calls`` (merged into
    the assistant message right before them, if any), as the API requires. Reasoning models
    get system instructions as ``developer`` messages.

    Raises:
        InvalidContextError: A system, developer or assistant message holds an image.
    """
    items = ctx.items if isinstance(ctx, ChatContext) else ctx
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if isinstance(item, ChatMessage):
            # Run for every message of the history on every turn: ``_value_`` (Enum's own
            # attribute) skips the ``.value`` descriptor, and plain text, or one text part
            # (what ``add_message`` keeps of a string), skips the parts logic.
            role = item.role._value_
            content = item.content
            sent: str | list[dict[str, Any]]
            if type(content) is str:
                sent = content
            elif len(content) == 1 and type(content[0]) is str:
                sent = content[0]
            else:
                _image_outside_user(index, role, content)
                sent = message_content(content)
            if reasoning and role == "system":
                role = "developer"
            messages.append({"role": role, "content": sent})
        elif isinstance(item, FunctionCall):
            call = {
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": item.arguments},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
                if last.get("content") == "":
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        else:
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
    return messages


def build_request(
    settings: GenerationSettings,
    ctx: ChatContext,
    *,
    tools: Sequence[FunctionTool] | None = None,
    graph: ConversationalGraph | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for one streamed turn.

    Reasoning models (o1/o3/o4/gpt-5*) get no sampling parameters, ``max_completion_tokens``,
    ``reasoning_effort`` when set and ``verbosity`` as a top-level string; other models get
    ``temperature`` and the sampling parameters that are set. ``extra_body`` then the call's
    ``overrides`` are merged last by the one rule of every path (``_body.merge_into``):
    objects merge deeply, anything else is replaced, and a None value removes the key
    (``extra_body={"stream_options": {"include_obfuscation": False}}`` keeps the usage
    report). No ``None`` value is sent.

    Raises:
        InvalidContextError: The context is empty (the API requires at least one message)
            or holds an image outside a user message.
    """
    reasoning = settings.reasoning
    messages = to_messages(ctx, reasoning=reasoning)
    if not messages:
        raise InvalidContextError(
            "the context is empty: Chat Completions needs at least one message"
        )
    body: dict[str, Any] = {
        "model": settings.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if settings.max_completion_tokens is not None:
        body["max_completion_tokens"] = settings.max_completion_tokens
    if reasoning:
        if settings.reasoning_effort is not None:
            body["reasoning_effort"] = settings.reasoning_effort
        if settings.verbosity is not None:
            body["verbosity"] = settings.verbosity
    else:
        body["temperature"] = settings.temperature
        for key in ("top_p", "frequency_penalty", "presence_penalty", "seed"):
            value = getattr(settings, key)
            if value is not None:
                body[key] = value
    if graph is not None:
        body["response_format"] = graph.response_format()
    if tools:
        body["tools"] = [tool.to_chat_completions() for tool in tools]
        body["tool_choice"] = settings.tool_choice
        if settings.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = settings.parallel_tool_calls
    if settings.extra_body:
        merge_into(body, settings.extra_body)
    if overrides:
        merge_into(body, overrides)
    # Top level only: an assistant message's ``content`` is null beside its tool calls.
    return {key: value for key, value in body.items() if value is not None}


def _usage(chunk: ChatChunk, usage: ChatUsage) -> Usage:
    prompt_details = usage.prompt_tokens_details
    completion_details = usage.completion_tokens_details
    cached = prompt_details.cached_tokens if prompt_details is not None else None
    reasoning = completion_details.reasoning_tokens if completion_details is not None else None
    return Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        total_tokens=usage.total_tokens or 0,
        prompt_cached_tokens=cached or 0,
        reasoning_tokens=reasoning or 0,
        request_id=chunk.id or None,
        model=chunk.model or None,
    )


def _misshapen(exc: msgspec.ValidationError, snippet: str) -> ProtocolError:
    # msgspec's message names the JSON path: "Expected `str | null`, got `int` - at `$.x`".
    return ProtocolError(f"a chat completion chunk has an unexpected shape ({exc}): {snippet}")


def _undecodable(exc: msgspec.DecodeError, data: str) -> ProtocolError:
    """The error for a chunk's data msgspec could not decode (a ``ValidationError`` is a
    ``DecodeError`` whose message names the JSON path)."""
    if isinstance(exc, msgspec.ValidationError):
        return _misshapen(exc, data[:200])
    return ProtocolError(f"an event's data is not valid JSON: {data[:200]!r}")


def _stream_error(payload: object) -> APIStreamError:
    body = payload if isinstance(payload, dict) else json.loads(cast(str, payload))
    fields = error_fields(body)
    request_id = body.get("id")
    return APIStreamError(
        f"the API reported an error mid-stream: {fields['message'] or body['error']!r}",
        code=fields["code"],
        param=fields["param"],
        type=fields["type"],
        request_id=request_id if isinstance(request_id, str) else None,
        body=body,
    )


def chunk_data_events(data: str, out: list[Event]) -> None:
    """Decode one SSE event's data (a chunk's JSON) and append its events to ``out``.

    Raises:
        APIStreamError: The chunk is an ``{"error": ...}`` payload.
        ProtocolError: The data is not JSON, or not shaped like a chat completion chunk
            (the message names the JSON path of the wrong value).
    """
    try:
        chunk = decode_chunk(data)
    except msgspec.DecodeError as exc:
        raise _undecodable(exc, data) from None
    _map_chunk(chunk, data, out)


def chunk_events(chunk: object, out: list[Event]) -> None:
    """Append the events of one already-decoded chunk (plain JSON values) to ``out``.

    Raises:
        APIStreamError: The chunk is an ``{"error": ...}`` payload.
        ProtocolError: The chunk is not shaped like a chat completion chunk.
    """
    try:
        typed = msgspec.convert(chunk, ChatChunk)
    except msgspec.ValidationError as exc:
        raise _misshapen(exc, repr(chunk)[:200]) from None
    _map_chunk(typed, chunk, out)


def _map_chunk(chunk: ChatChunk, payload: object, out: list[Event]) -> None:
    """The events of one typed chunk; ``payload`` is its source, kept as an error's body."""
    if chunk.error is not None:
        raise _stream_error(payload)
    for choice in chunk.choices or ():
        if choice.index:
            continue  # items carry no choice index: only choice 0 is spoken
        delta = choice.delta
        if delta is not None:
            if delta.content:
                out.append(TextDelta(delta.content))
            if delta.refusal:
                out.append(RefusalDelta(delta.refusal))
            for call in delta.tool_calls or ():
                function = call.function
                if function is None:
                    out.append(ToolCallDelta(call.index, call.id, None, ""))
                else:
                    out.append(
                        ToolCallDelta(call.index, call.id, function.name, function.arguments or "")
                    )
        if choice.finish_reason:
            out.append(ChoiceFinished(choice.finish_reason))
    if chunk.usage is not None:
        out.append(UsageReport(_usage(chunk, chunk.usage)))


#: The data of the end marker: the only thing that ends a Chat Completions turn.
DONE = "[DONE]"


class ChatCompletionsParser:
    """One turn's ``text/event-stream`` body: bytes in, events out.

    The end-of-turn rule: only ``data: [DONE]`` ends the turn (a chunk can follow the usage
    chunk); it appends ``StreamDone`` and what follows it belongs to no turn. A body that
    ends before it is a connection that failed mid-reply (``end``).

    Args:
        limits: ``max_event_bytes`` bounds one SSE line or event, ``max_reply_bytes`` the
            whole body.
    """

    __slots__ = ("_decoder", "_left", "_limits", "_whole_data", "done")

    def __init__(self, limits: StreamLimits = DEFAULT_LIMITS) -> None:
        self._decoder = SSEDecoder(limits.max_event_bytes)
        self._whole_data = self._decoder.whole_data  # bound once: called per chunk
        self._limits = limits
        self._left = limits.max_reply_bytes  # what the turn may still read
        self.done = False  # [DONE] was seen

    def feed(self, data: bytes, out: list[Event]) -> bool:
        """Append the events these bytes completed; True when they completed at least one
        SSE event (a comment or half a line completes none).

        Raises:
            LimitExceededError: The body passed ``max_reply_bytes``, or one line or event
                ``max_event_bytes``.
            APIStreamError: A chunk is an ``{"error": ...}`` payload.
            ProtocolError: The body is not valid UTF-8 or a chunk is not a chat completion
                chunk (see ``chunk_data_events``).
        """
        left = self._left = self._left - len(data)
        if left < 0:
            raise reply_too_large(self._limits)
        text = self._whole_data(data)
        if text is not None and text != DONE and not self.done:
            # The common read, one whole chunk: ``chunk_data_events`` inline (a call less).
            try:
                chunk = decode_chunk(text)
            except msgspec.DecodeError as exc:
                raise _undecodable(exc, text) from None
            _map_chunk(chunk, text, out)
            return True
        events = self._decoder.feed(data)
        if events:
            self._map(events, out)
            return True
        return False

    def end(self, out: list[Event]) -> None:
        """The body ended: map a last event whose blank line never came (Azure ends with
        ``data: [DONE]\\n``), then apply the end-of-turn rule.

        Raises:
            APIConnectionError: The body ended before ``data: [DONE]``.
        """
        self._map(self._decoder.close(), out)
        if not self.done:
            raise APIConnectionError(
                "the stream ended before its end marker (data: [DONE]): the server "
                "closed the connection mid-reply"
            )

    def _map(self, events: list[ServerSentEvent], out: list[Event]) -> None:
        if self.done:
            return  # after [DONE]: no turn's
        for sse in events:
            data = sse.data
            if data == DONE:
                self.done = True
                out.append(StreamDone())
                return
            chunk_data_events(data, out)

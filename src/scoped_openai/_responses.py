"""The Responses API's server events, sans-IO: WebSocket frames or SSE bytes in -> events.

No I/O here. ``ResponsesParser`` owns one turn's decoding, its end-of-turn rule (a terminal
event) and its error messages, for the WebSocket turn (a frame's text) and for
``POST /responses`` with ``stream: true`` (the body's bytes, through the SSE decoder).
Facts this module relies on (DESIGN.md section 4, and the sources named below):

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
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from ._errors import APIConnectionError, APIStreamError, ProtocolError
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
from ._limits import DEFAULT_LIMITS, StreamLimits, arguments_too_large, reply_too_large
from ._responses_wire import (
    ErrorFields,
    OutputItem,
    ResponseBody,
    ResponsesUsage,
    ServerEvent,
    decode_server_event,
)
from ._sse import SSEDecoder
from ._wire import ErrorText

__all__ = ["ResponsesEventMapper", "ResponsesParser", "server_event_events"]

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

    Events are decoded into ``_responses_wire.ServerEvent`` (msgspec): :meth:`feed_json` from the
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
        # created_first: a turn on a socket that carried earlier responses; see map_event.
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
        self.map_event(event, text, out)

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
        self.map_event(typed, source, out)

    def map_event(self, event: ServerEvent, source: object, out: list[Event]) -> None:
        """Append the events of one event already decoded into ``ServerEvent`` (as
        ``_wire.decode_server_event`` does) to ``out``; ``source`` is what it was decoded
        from (JSON text), quoted by errors.

        Raises:
            APIStreamError: A terminal error event.
            ProtocolError: The event is malformed.
        """
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


class ResponsesParser:
    """One Responses turn's server events: WebSocket frames (``feed_frame``) or an SSE body
    (``feed``, ``end``) in, events out, mapped by one ``ResponsesEventMapper``.

    The end-of-turn rule: a terminal event ends the turn: ``response.completed`` (appended
    as ``ResponseCompleted``), or ``response.failed``, ``response.incomplete`` and
    ``error`` (raised as ``APIStreamError``). ``terminal`` is True from then on and what
    follows belongs to no turn; ``failed`` says it was an error event. An SSE body that ends
    before a terminal event is a connection that failed mid-reply (``end``); a WebSocket
    that closes is the transport's error.

    Args:
        limits: ``max_reply_bytes`` bounds what the turn reads (frame characters, body
            bytes), ``max_event_bytes`` one SSE line or event, ``max_tool_arguments_bytes``
            one call's argument deltas.
        created_first: A turn on a socket that carried earlier responses: events before
            this turn's ``response.created`` are left over (see ``ResponsesEventMapper``).
    """

    __slots__ = ("_decoder", "_left", "_limits", "_mapper", "_whole_data", "failed", "terminal")

    def __init__(
        self, limits: StreamLimits = DEFAULT_LIMITS, *, created_first: bool = False
    ) -> None:
        self._limits = limits
        self._mapper = ResponsesEventMapper(
            created_first=created_first, max_arguments=limits.max_tool_arguments_bytes
        )
        self._decoder: SSEDecoder | None = None  # made by the first ``feed``
        self._whole_data: Callable[[bytes], str | None] | None = None  # its bound whole_data
        self._left = limits.max_reply_bytes  # what the turn may still read
        self.terminal = False  # the response reached its terminal event
        self.failed = False  # ... and it was an error (failed, incomplete, error)

    @property
    def response_id(self) -> str | None:
        """The id of the response being streamed, once ``response.created`` arrived."""
        return self._mapper.response_id

    def feed_frame(self, text: str, out: list[Event]) -> bool:
        """Append the events of one WebSocket frame (one whole server event); True once the
        response reached its terminal event.

        Raises:
            LimitExceededError: The turn passed ``max_reply_bytes`` (counted in characters).
            APIStreamError: A terminal error event (see ``ResponsesEventMapper``).
            ProtocolError: The frame is not JSON or the event is malformed.
        """
        self._left -= len(text)
        if self._left < 0:
            raise reply_too_large(self._limits)
        # ``_event``, inlined: this runs per frame.
        try:
            self._mapper.feed_json(text, out)
        except APIStreamError:
            self.terminal = self.failed = True
            raise
        if out and type(out[-1]) is ResponseCompleted:
            self.terminal = True
            return True
        return False

    def feed(self, data: bytes, out: list[Event]) -> bool:
        """Append the events these SSE bytes completed; True when they completed at least one
        SSE event (a comment or half a line completes none).

        Raises:
            LimitExceededError: The body passed ``max_reply_bytes``, or one line or event
                ``max_event_bytes``.
            APIStreamError: A terminal error event.
            ProtocolError: The body is not valid UTF-8, an event's data is not JSON, or the
                event is malformed.
        """
        self._left -= len(data)
        if self._left < 0:
            raise reply_too_large(self._limits)
        whole_data = self._whole_data
        if whole_data is None:
            decoder = self._decoder = SSEDecoder(self._limits.max_event_bytes)
            whole_data = self._whole_data = decoder.whole_data  # bound once: called per read
        text = whole_data(data)
        if text is not None:  # the common read: one whole event
            if self.terminal or text == "[DONE]":
                return True  # nothing of this turn's (see _sse_data)
            # _sse_data and the mapper's feed_json inline (two calls less per chunk); what
            # does not decode takes their way, which skips it or says what is wrong.
            try:
                event = decode_server_event(text)
            except msgspec.MsgspecError:
                self._sse_data(text, out)
                return True
            try:
                self._mapper.map_event(event, text, out)
            except APIStreamError:
                self.terminal = self.failed = True  # a failed response is over too
                raise
            if out and type(out[-1]) is ResponseCompleted:
                self.terminal = True
            return True
        assert self._decoder is not None
        events = self._decoder.feed(data)
        for sse in events:
            self._sse_data(sse.data, out)
        return bool(events)

    def end(self, out: list[Event]) -> None:
        """The SSE body ended: map a last event whose blank line never came, then apply the
        end-of-turn rule.

        Raises:
            APIConnectionError: The body ended before a terminal event.
        """
        if self._decoder is not None:
            for sse in self._decoder.close():
                self._sse_data(sse.data, out)
        if not self.terminal:
            raise APIConnectionError(
                "the stream ended before the response's terminal event (response.completed, "
                "response.failed, response.incomplete or error): the server closed the "
                "connection mid-reply"
            )

    def _sse_data(self, data: str, out: list[Event]) -> None:
        # After the terminal event nothing is this turn's; "[DONE]" (which some
        # OpenAI-compatible servers send after it, as on Chat Completions) is no event.
        # One method, not two: this runs per chunk.
        if self.terminal or data == "[DONE]":
            return
        try:
            self._mapper.feed_json(data, out)
        except APIStreamError:
            self.terminal = self.failed = True  # a failed response is over too
            raise
        if out and type(out[-1]) is ResponseCompleted:
            self.terminal = True

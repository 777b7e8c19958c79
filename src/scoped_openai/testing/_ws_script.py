"""Scripted answers for the fake Responses WebSocket: what to send for one ``response.create``.

A ``WSReply`` is a list of steps. A step is a frame (a ``dict``, sent as ``json.dumps`` of it,
or a ``str`` sent as it is), a pause (``Pause``, on the event loop's clock, so trio's virtual
clock skips it), a stall (``Stall``: send nothing more, ever) or a close from the server
(``CloseSocket``: the client sees ``WebSocketClosed(code, reason)``). The same ``WSReply`` is
played by the in-memory socket and by the loopback server.

The builders shape their frames like the real API's (see the recorded ``responses_*.sse`` in
the shared conformance folder): ``response.created``, output items with their content parts,
``*.delta`` events keyed by ``item_id``, and a terminal ``response.completed`` /
``response.failed`` / ``response.incomplete`` or a nested ``error`` frame. Every frame of a
builder carries a ``sequence_number`` (0, 1, ... within the reply), text deltas and parts
their ``logprobs`` (empty), usage its ``cache_write_tokens``: every frame validates against
OpenAI's OpenAPI spec (``ResponsesServerEvent``; tests/spec checks each builder). When
played, a builder's response objects echo the request as the real API's do (see
``request_echo``; a request that did not set a field gets the API's default).

Response ids: a builder given ``response_id`` uses it. Without one, its frames carry the
placeholder ``AUTO_RESPONSE_ID`` and the fake replaces it, when the reply is played, by a fresh
``resp_fake_<n>`` (``n`` counts per fake, from 1); so the ids in a test are deterministic and
one ``WSReply`` can be queued twice. Raw frames (``WSReply.frames``) may use the placeholder
too (as the ``id`` of their ``"response"`` object).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._script import CREATED, Pause, Stall

__all__ = [
    "AUTO_RESPONSE_ID",
    "CloseSocket",
    "WSFrame",
    "WSReply",
    "WSStep",
    "cancelled_frames",
    "error_frame",
    "request_echo",
    "response_object",
    "warmup_frames",
]

#: Stands for "the id the fake assigns when it plays the reply" (see the module docstring).
AUTO_RESPONSE_ID = "resp_fake_auto"

#: ``created_at`` of every built response: the chunks' fixed time, for deterministic frames.
CREATED_AT = CREATED


@dataclass(frozen=True, slots=True)
class CloseSocket:
    """Close the WebSocket from the server side with ``code`` (1011: server error)."""

    code: int = 1011
    reason: str = ""


WSFrame = dict[str, Any] | str
"""One server frame: a JSON object (serialized when sent) or text sent as it is."""

WSStep = dict[str, Any] | str | Pause | Stall | CloseSocket
"""One step of a ``WSReply``."""


@dataclass(slots=True)
class WSReply:
    """A scripted answer to one ``response.create``.

    Attributes:
        steps: Frames, ``Pause``, ``Stall`` and ``CloseSocket``, played in order.
        response_id: The id the fake records for this reply (it needs one to answer a later
            ``previous_response_id``, and for a ``response.cancel``); None: ``resp_fake_<n>``,
            assigned when played, replacing ``AUTO_RESPONSE_ID`` in the frames.
    """

    steps: list[WSStep] = field(default_factory=list)
    response_id: str | None = None
    echo_request: bool = False
    """Whether the fake writes the request's echoes into the frames' response objects when
    it plays them (``request_echo``); the builders set it, raw frames are sent as given."""

    def extended(self, *steps: WSStep) -> WSReply:
        """A copy with ``steps`` appended (frames, ``Pause``, ``Stall``, ``CloseSocket``)."""
        return WSReply([*self.steps, *steps], self.response_id, self.echo_request)

    # -- builders ---------------------------------------------------------------------

    @classmethod
    def text(
        cls,
        text: str | Sequence[str],
        *,
        chunk_size: int = 4,
        delay: float = 0.0,
        usage: tuple[int, int] | None = (10, 5),
        response_id: str | None = None,
        model: str = "gpt-4o-mini",
        then: Sequence[WSStep] | None = None,
    ) -> WSReply:
        """A reply streaming ``text`` as one assistant message.

        Frames: ``response.created``, ``response.output_item.added`` (the message item),
        ``response.content_part.added``, one ``response.output_text.delta`` per piece
        (``text`` split into ``chunk_size`` characters, or the given pieces), each after a
        ``Pause(delay)`` when ``delay`` is set; then ``response.output_text.done``,
        ``response.content_part.done``, ``response.output_item.done`` and
        ``response.completed`` with the message in ``output`` and ``usage`` (input, output
        tokens; None: no usage).

        ``then``, when given, replaces everything after the last delta (from
        ``response.output_text.done`` on): ``then=[CloseSocket()]`` drops the socket
        mid-stream, ``then=[Stall()]`` stalls it. ``extended()`` appends after the end.
        """
        rid = response_id or AUTO_RESPONSE_ID
        pieces = _pieces(text, chunk_size)
        full = "".join(pieces)
        builder = _Builder(rid, model)
        builder.created()
        builder.message_start(0)
        for piece in pieces:
            if delay:
                builder.steps.append(Pause(delay))
            builder.text_delta(0, piece)
        if then is not None:
            builder.steps.extend(then)
            return cls(builder.steps, response_id, echo_request=True)
        item = builder.message_end(0, full)
        builder.terminal("response.completed", "completed", [item], usage)
        return cls(builder.steps, response_id, echo_request=True)

    @classmethod
    def function_calls(
        cls,
        *calls: tuple[str, str, str],
        text: str = "",
        fragment_size: int = 8,
        usage: tuple[int, int] | None = (10, 5),
        response_id: str | None = None,
        model: str = "gpt-4o-mini",
    ) -> WSReply:
        """A reply calling functions: each call is ``(call_id, name, arguments_json)``.

        With ``text``, an assistant message comes first (as in ``text()``, one delta). Each
        call is a ``function_call`` output item: ``response.output_item.added`` (with
        ``call_id``, ``name`` and empty ``arguments``), its arguments as
        ``response.function_call_arguments.delta`` events keyed by ``item_id``
        (``fragment_size`` characters each), ``response.function_call_arguments.done``,
        ``response.output_item.done``; then ``response.completed`` with every item in
        ``output``.
        """
        rid = response_id or AUTO_RESPONSE_ID
        builder = _Builder(rid, model)
        builder.created()
        output: list[dict[str, Any]] = []
        if text:
            index = len(output)
            builder.message_start(index)
            builder.text_delta(index, text)
            output.append(builder.message_end(index, text))
        for call_id, name, arguments in calls:
            index = len(output)
            item_id = f"fc_fake_{index}"
            item = {
                "id": item_id,
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": call_id,
                "name": name,
            }
            builder.frame(
                {"type": "response.output_item.added", "output_index": index, "item": item}
            )
            for piece in _pieces(arguments, fragment_size):
                builder.frame(
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item_id,
                        "output_index": index,
                        "delta": piece,
                    }
                )
            builder.frame(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": index,
                    "arguments": arguments,
                }
            )
            done = {**item, "status": "completed", "arguments": arguments}
            builder.frame(
                {"type": "response.output_item.done", "output_index": index, "item": done}
            )
            output.append(done)
        builder.terminal("response.completed", "completed", output, usage)
        return cls(builder.steps, response_id, echo_request=True)

    @classmethod
    def error(
        cls,
        code: str | None,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        type: str = "invalid_request_error",
    ) -> WSReply:
        """One nested ``error`` frame, the WebSocket shape:
        ``{"type": "error", "status": status, "error": {"type", "code", "message", "param"}}``.
        No response is created, so nothing is recorded as completed."""
        return cls([error_frame(code, message, status=status, param=param, type=type)])

    @classmethod
    def failed(
        cls,
        code: str,
        message: str,
        *,
        usage: tuple[int, int] | None = (10, 0),
        response_id: str | None = None,
        model: str = "gpt-4o-mini",
    ) -> WSReply:
        """``response.created`` then ``response.failed`` (``response.status`` ``"failed"``,
        ``response.error`` ``{"code", "message"}``)."""
        builder = _Builder(response_id or AUTO_RESPONSE_ID, model)
        builder.created()
        builder.terminal(
            "response.failed", "failed", [], usage, error={"code": code, "message": message}
        )
        return cls(builder.steps, response_id, echo_request=True)

    @classmethod
    def incomplete(
        cls,
        reason: str = "max_output_tokens",
        text: str = "",
        *,
        chunk_size: int = 4,
        usage: tuple[int, int] | None = (10, 5),
        response_id: str | None = None,
        model: str = "gpt-4o-mini",
    ) -> WSReply:
        """A reply cut short: ``text`` streamed as in ``text()`` (no deltas when empty), then
        ``response.incomplete`` (``response.status`` ``"incomplete"``,
        ``incomplete_details`` ``{"reason": reason}``, the partial message in ``output``)."""
        builder = _Builder(response_id or AUTO_RESPONSE_ID, model)
        builder.created()
        output: list[dict[str, Any]] = []
        if text:
            builder.message_start(0)
            for piece in _pieces(text, chunk_size):
                builder.text_delta(0, piece)
            output.append(builder.message_end(0, text, status="incomplete"))
        builder.terminal(
            "response.incomplete",
            "incomplete",
            output,
            usage,
            incomplete_details={"reason": reason},
        )
        return cls(builder.steps, response_id, echo_request=True)

    @classmethod
    def frames(cls, frames: Iterable[WSStep], *, response_id: str | None = None) -> WSReply:
        """These frames (and steps) as they are: for replaying recorded streams.

        ``response_id`` names the reply when its frames carry no ``response.created`` (the
        fake takes the id from the frames it sends otherwise)."""
        return cls(list(frames), response_id)


# --- frame shapes -------------------------------------------------------------------------


def error_frame(
    code: str | None,
    message: str,
    *,
    status: int = 400,
    param: str | None = None,
    type: str = "invalid_request_error",
) -> dict[str, Any]:
    """The nested WebSocket ``error`` frame."""
    return {
        "type": "error",
        "status": status,
        "error": {"type": type, "code": code, "message": message, "param": param},
    }


def usage_object(usage: tuple[int, int] | None) -> dict[str, Any] | None:
    """The Responses ``usage`` object for ``(input_tokens, output_tokens)``."""
    if usage is None:
        return None
    prompt, completion = usage
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def response_object(
    response_id: str,
    status: str,
    *,
    model: str = "gpt-4o-mini",
    output: Sequence[dict[str, Any]] = (),
    usage: tuple[int, int] | None = None,
    error: dict[str, Any] | None = None,
    incomplete_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Responses ``response`` object: the spec's required fields (request echoes at the
    API's defaults, see the module docstring) and the ones our client reads."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": CREATED_AT,
        "status": status,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": None,
        "model": model,
        "output": list(output),
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "usage": usage_object(usage),
        "metadata": {},
    }


def text_part(text: str) -> dict[str, Any]:
    """An ``output_text`` content part (no annotations, no logprobs)."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


class _Builder:
    """Accumulates one reply's steps and numbers its frames (from ``sequence``)."""

    __slots__ = ("model", "response_id", "sequence", "steps")

    def __init__(self, response_id: str, model: str, *, sequence: int = 0) -> None:
        self.response_id = response_id
        self.model = model
        self.steps: list[WSStep] = []
        self.sequence = sequence

    def frame(self, frame: dict[str, Any]) -> None:
        frame["sequence_number"] = self.sequence
        self.sequence += 1
        self.steps.append(frame)

    def created(self) -> None:
        response = response_object(self.response_id, "in_progress", model=self.model)
        self.frame({"type": "response.created", "response": response})

    def message_start(self, index: int) -> None:
        item_id = f"msg_fake_{index}"
        item = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self.frame({"type": "response.output_item.added", "output_index": index, "item": item})
        self.frame(
            {
                "type": "response.content_part.added",
                "item_id": item_id,
                "output_index": index,
                "content_index": 0,
                "part": text_part(""),
            }
        )

    def text_delta(self, index: int, piece: str) -> None:
        self.frame(
            {
                "type": "response.output_text.delta",
                "item_id": f"msg_fake_{index}",
                "output_index": index,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            }
        )

    def message_end(self, index: int, text: str, *, status: str = "completed") -> dict[str, Any]:
        item_id = f"msg_fake_{index}"
        part = text_part(text)
        self.frame(
            {
                "type": "response.output_text.done",
                "item_id": item_id,
                "output_index": index,
                "content_index": 0,
                "text": text,
                "logprobs": [],
            }
        )
        self.frame(
            {
                "type": "response.content_part.done",
                "item_id": item_id,
                "output_index": index,
                "content_index": 0,
                "part": dict(part),
            }
        )
        item = {
            "id": item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": [part],
        }
        self.frame({"type": "response.output_item.done", "output_index": index, "item": item})
        return item

    def terminal(
        self,
        kind: str,
        status: str,
        output: Sequence[dict[str, Any]],
        usage: tuple[int, int] | None,
        *,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> None:
        response = response_object(
            self.response_id,
            status,
            model=self.model,
            output=output,
            usage=usage,
            error=error,
            incomplete_details=incomplete_details,
        )
        self.frame({"type": kind, "response": response})


#: The request fields a response object echoes, and what it says when the request left one
#: out (the recorded responses_*.sse: instructions null, tools [], tool_choice "auto",
#: temperature and top_p 1.0, parallel_tool_calls true, previous_response_id null).
ECHOED_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "tools": [],
    "tool_choice": "auto",
    "temperature": 1.0,
    "top_p": 1.0,
    "parallel_tool_calls": True,
    "previous_response_id": None,
}


def request_echo(create: dict[str, Any]) -> dict[str, Any]:
    """What a response object says about the ``response.create`` that made it."""
    return {
        key: create[key] if create.get(key) is not None else default
        for key, default in ECHOED_DEFAULTS.items()
    }


def warmup_frames(response_id: str, model: str) -> list[dict[str, Any]]:
    """The answer to a ``generate: false`` create: ``response.created`` then
    ``response.completed`` with no output and zero usage."""
    builder = _Builder(response_id, model)
    builder.created()
    builder.terminal("response.completed", "completed", [], (0, 0))
    return [step for step in builder.steps if isinstance(step, dict)]


def cancelled_frames(
    response_id: str, model: str, *, sequence: int, created: bool
) -> list[dict[str, Any]]:
    """A reply stopped by the fake's ``"stop"`` cancel: ``response.created`` (unless it was
    sent already) then ``response.incomplete`` with ``status: "cancelled"`` (the spec's
    status for it; ``incomplete_details`` is null: its reasons are only
    ``max_output_tokens`` and ``content_filter``), no output, zero usage. Numbered on from
    ``sequence``, the reply's next sequence number."""
    builder = _Builder(response_id, model, sequence=sequence)
    if not created:
        builder.created()
    builder.terminal("response.incomplete", "cancelled", [], (0, 0))
    return [step for step in builder.steps if isinstance(step, dict)]


def frame_text(frame: WSFrame) -> str:
    """The text a frame is sent as."""
    return frame if isinstance(frame, str) else json.dumps(frame)


def _pieces(text: str | Sequence[str], size: int) -> list[str]:
    if not isinstance(text, str):
        return list(text)
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, not {size}")
    return [text[i : i + size] for i in range(0, len(text), size)]

"""Scripted replies for the fake server: what to send, when, and how to fail.

A ``Reply`` is a status, headers and a list of steps. Steps are bytes to send, a pause
(``Pause``, on the event loop's clock, so trio's virtual clock skips it), a stall
(``Stall``: send nothing, forever) or a disconnect (``Disconnect``: drop the connection
mid-body). The same ``Reply`` is played by the in-memory transport and the loopback server.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: ``created`` of every scripted chunk: a fixed time keeps bodies deterministic.
CREATED = 1_700_000_000


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``seconds`` before the next step."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Stall:
    """Send nothing more, ever (until the client gives up)."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Drop the connection without finishing the body."""


@dataclass(frozen=True, slots=True)
class Live:
    """Steps made while the body plays: ``next_step()`` returns the next bytes, a
    ``Disconnect``, or None when the body ends. The Responses API over HTTP plays the
    WebSocket's reply machine this way (its pauses run on the server's timeline)."""

    next_step: Callable[[], Awaitable[bytes | Disconnect | None]]
    close: Callable[[], None]
    """Called once the body is over (played out, or the client left)."""


Step = bytes | Pause | Stall | Disconnect | Live


@dataclass(slots=True)
class Reply:
    """One scripted HTTP answer."""

    steps: list[Step] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/event-stream"})

    # -- builders ---------------------------------------------------------------------

    @classmethod
    def text(
        cls,
        text: str | Sequence[str],
        *,
        chunk_size: int = 4,
        delay: float = 0.0,
        usage: tuple[int, int] | None = (10, 5),
        model: str = "gpt-4o-mini",
        finish_reason: str = "stop",
        then: Sequence[Step] = (),
    ) -> Reply:
        """A Chat Completions reply streaming ``text`` (split into ``chunk_size`` pieces,
        or as the given pieces), ``delay`` seconds apart, then usage and ``[DONE]``.
        ``then`` replaces the ending (usage and ``[DONE]``) when given."""
        pieces = _pieces(text, chunk_size)
        steps: list[Step] = [chunk({"role": "assistant", "content": ""}, model=model)]
        for piece in pieces:
            if delay:
                steps.append(Pause(delay))
            steps.append(chunk({"content": piece}, model=model))
        if then:
            steps.extend(then)
            return cls(steps)
        steps.append(chunk({}, finish_reason=finish_reason, model=model))
        steps.extend(_ending(usage, model))
        return cls(steps)

    @classmethod
    def tool_calls(
        cls,
        *calls: tuple[str, str, str],
        fragment_size: int = 8,
        text: str = "",
        usage: tuple[int, int] | None = (10, 5),
        model: str = "gpt-4o-mini",
    ) -> Reply:
        """A reply calling tools: each call is ``(call_id, name, arguments_json)``; the
        arguments arrive in ``fragment_size`` pieces, id and name in the first only."""
        steps: list[Step] = [chunk({"role": "assistant", "content": None}, model=model)]
        if text:
            steps.extend(chunk({"content": p}, model=model) for p in _pieces(text, 8))
        for index, (call_id, name, arguments) in enumerate(calls):
            first = {"index": index, "id": call_id, "type": "function"}
            first["function"] = {"name": name, "arguments": ""}
            steps.append(chunk({"tool_calls": [first]}, model=model))
            for piece in _pieces(arguments, fragment_size):
                fragment = {"index": index, "function": {"arguments": piece}}
                steps.append(chunk({"tool_calls": [fragment]}, model=model))
        steps.append(chunk({}, finish_reason="tool_calls", model=model))
        steps.extend(_ending(usage, model))
        return cls(steps)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "error",
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> Reply:
        """A non-2xx answer with the API's error body."""
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }
        all_headers = {"content-type": "application/json", **(headers or {})}
        return cls([json.dumps(body).encode()], status=status, headers=all_headers)

    @classmethod
    def raw(cls, body: bytes | Iterable[bytes], *, split: int | None = None) -> Reply:
        """Send these bytes as they are (``split``: re-chunk them into pieces this big)."""
        data = body if isinstance(body, bytes) else b"".join(body)
        if split is None:
            return cls([data])
        return cls([data[i : i + split] for i in range(0, len(data), split)])


def chunk(
    delta: dict[str, Any],
    *,
    finish_reason: str | None = None,
    model: str = "gpt-4o-mini",
    index: int = 0,
    chunk_id: str = "chatcmpl-fake",
) -> bytes:
    """One ``data:`` event of a chat completion chunk."""
    payload = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def usage_chunk(prompt: int, completion: int, *, model: str = "gpt-4o-mini") -> bytes:
    """The final usage chunk (``choices: []``)."""
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def _ending(usage: tuple[int, int] | None, model: str) -> list[Step]:
    steps: list[Step] = []
    if usage is not None:
        steps.append(usage_chunk(*usage, model=model))
    steps.append(DONE)
    return steps


def _pieces(text: str | Sequence[str], size: int) -> list[str]:
    if not isinstance(text, str):
        return list(text)
    return [text[i : i + size] for i in range(0, len(text), size)] or []

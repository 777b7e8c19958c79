"""Provider-neutral events: what the two wire formats are mapped to before assembly.

Both ``_chat_completions`` (SSE chunks) and ``_responses`` (WebSocket events) turn server
JSON into these; ``_assembly.Assembler`` turns these into ``LLMResponse`` items. Events are
nouns; they carry only what assembly needs.

The events a reply streams one per chunk (text, refusal and tool-call fragments, the finish
reason) are frozen ``msgspec.Struct``s: built in 0.05 µs where a frozen slotted dataclass
takes 0.23 µs (its ``__init__`` sets each field through ``object.__setattr__``), once per
chunk on every path. They hold only strings and integers, hence ``gc=False``. The others
are Structs too: a Struct class is built in about 20 µs where a dataclass took about 400
(``import scoped_openai`` pays for each class); those that hold a list or a ``Usage`` stay
tracked by the garbage collector.
"""

from __future__ import annotations

from typing import Any

import msgspec


class TextDelta(msgspec.Struct, frozen=True, gc=False):
    """Assistant text that arrived."""

    text: str


class RefusalDelta(msgspec.Struct, frozen=True, gc=False):
    """Refusal text (Chat Completions ``delta.refusal``): spoken like text, flagged."""

    text: str


class ToolCallDelta(msgspec.Struct, frozen=True, gc=False):
    """A fragment of a Chat Completions tool call; ``id``/``name`` come in the first only."""

    index: int
    id: str | None
    name: str | None
    arguments: str


class ToolCallDone(msgspec.Struct, frozen=True, gc=False):
    """A whole tool call (Responses ``output_item.done``): dispatch it now."""

    call_id: str
    name: str
    arguments: str
    item_id: str | None = None


class ChoiceFinished(msgspec.Struct, frozen=True, gc=False):
    """The model stopped: ``finish_reason`` as the API gave it."""

    reason: str


class Usage(msgspec.Struct):
    """Token accounting, in the reference's metadata keys (see ``as_metadata``)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_cached_tokens: int = 0
    reasoning_tokens: int = 0
    request_id: str | None = None
    model: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        """The dict the reference puts under ``metadata["usage"]``."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_cached_tokens": self.prompt_cached_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "request_id": self.request_id,
            "model": self.model,
        }


class UsageReport(msgspec.Struct, frozen=True):
    """The usage of the whole turn arrived."""

    usage: Usage


class ResponseCreated(msgspec.Struct, frozen=True, gc=False):
    """The Responses API assigned the turn its id."""

    response_id: str


class ResponseCompleted(msgspec.Struct, frozen=True):
    """The Responses API finished the turn; ``output`` is what the server now holds."""

    response_id: str
    output: list[dict[str, Any]] = msgspec.field(default_factory=list)


class StreamDone(msgspec.Struct, frozen=True, gc=False):
    """The end marker (``data: [DONE]``): nothing more belongs to this turn."""


Event = (
    TextDelta
    | RefusalDelta
    | ToolCallDelta
    | ToolCallDone
    | ChoiceFinished
    | UsageReport
    | ResponseCreated
    | ResponseCompleted
    | StreamDone
)

"""Bounds on what one turn accepts from the server, so memory stays bounded whatever it sends.

Each limit ends the turn with a ``LimitExceededError`` that names it. The defaults sit far
above anything a real reply needs (a 128k-token reply streams about 32 MB of Chat
Completions chunks; its text is under 1 MB) and far below what would hurt a process that
runs many sessions.
"""

from __future__ import annotations

from ._errors import LimitExceededError
from ._record import record

MiB = 1024 * 1024


@record(frozen=True)  # a dataclass whose __init__ is written here: see _record
class StreamLimits:
    """What one turn may receive.

    Attributes:
        max_event_bytes: One SSE line or event (an unfinished line counts as it grows).
        max_tool_arguments_bytes: The arguments of one tool call, assembled (counted in
            characters, which for JSON's usual ASCII are bytes).
        max_reply_bytes: Everything one turn reads from the wire (HTTP body bytes,
            WebSocket frame characters), so no mix of many small pieces can grow memory
            without end either.
    """

    max_event_bytes: int = 16 * MiB
    max_tool_arguments_bytes: int = 1 * MiB
    max_reply_bytes: int = 64 * MiB

    def __init__(
        self,
        max_event_bytes: int = 16 * MiB,
        max_tool_arguments_bytes: int = 1 * MiB,
        max_reply_bytes: int = 64 * MiB,
    ) -> None:
        object.__setattr__(self, "max_event_bytes", max_event_bytes)
        object.__setattr__(self, "max_tool_arguments_bytes", max_tool_arguments_bytes)
        object.__setattr__(self, "max_reply_bytes", max_reply_bytes)
        self.__post_init__()

    def __post_init__(self) -> None:
        for name in ("max_event_bytes", "max_tool_arguments_bytes", "max_reply_bytes"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise ValueError(f"StreamLimits.{name} must be a positive int, got {value!r}")


DEFAULT_LIMITS = StreamLimits()


def reply_too_large(limits: StreamLimits) -> LimitExceededError:
    """The error for a turn that read more than ``max_reply_bytes``."""
    return LimitExceededError(
        "the server sent more for this turn than the reply limit allows",
        limit="max_reply_bytes",
        value=limits.max_reply_bytes,
    )


def arguments_too_large(tool: str, limit: int) -> LimitExceededError:
    """The error for a tool call whose arguments passed ``max_tool_arguments_bytes``."""
    return LimitExceededError(
        f"the arguments of a call to tool {tool!r} are larger than the tool-arguments limit",
        limit="max_tool_arguments_bytes",
        value=limit,
    )

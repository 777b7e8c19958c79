"""``LLMResponse``: one item of a streamed reply, as the reference yields it, with typed
shortcuts on top."""

from __future__ import annotations

from dataclasses import field
from typing import Any, TypedDict, cast

from ._chat import ChatRole
from ._record import record


class TokenUsage(TypedDict):
    """A turn's token accounting: ``metadata["usage"]`` in the reference's keys."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_cached_tokens: int
    reasoning_tokens: int
    request_id: str | None
    model: str | None


class FunctionCallRequest(TypedDict):
    """A tool call the model asks for: ``metadata["function_call"]``."""

    name: str
    arguments: dict[str, Any]
    id: str


@record()  # a dataclass whose __init__ is written here: see _record
class LLMResponse:
    """One streamed item.

    ``content`` is text to speak (possibly ``""``); ``metadata`` carries the reference's keys
    in the reference's shapes, because framework plugins read them: ``"usage"``
    (prompt_tokens, completion_tokens, total_tokens, prompt_cached_tokens, reasoning_tokens,
    request_id, model), ``"function_call"`` (``{"name", "arguments": dict, "id"}``) and
    ``"graph_response"`` (the parsed conversational-graph object). Refusal text is yielded
    as content with ``metadata["refusal"] = True``.

    As in the reference, every item of one turn shares the same ``metadata["usage"]`` dict,
    zeros until the usage arrives at the end of the turn. The typed ``usage`` attribute is
    None on every item but the one that carries the usage, so ``if item.usage:`` finds it.

    Attributes:
        usage: The turn's usage on the usage item, else None.
    """

    content: str
    role: ChatRole = ChatRole.ASSISTANT
    metadata: dict[str, Any] | None = field(default=None)
    usage: TokenUsage | None = field(default=None, kw_only=True)

    def __init__(
        self,
        content: str,
        role: ChatRole = ChatRole.ASSISTANT,
        metadata: dict[str, Any] | None = None,
        *,
        usage: TokenUsage | None = None,
    ) -> None:
        self.content = content
        self.role = role
        self.metadata = metadata
        self.usage = usage

    @property
    def function_call(self) -> FunctionCallRequest | None:
        """The tool call this item carries (``metadata["function_call"]``), or None."""
        if self.metadata is None:
            return None
        return cast("FunctionCallRequest | None", self.metadata.get("function_call"))

    @property
    def graph_response(self) -> dict[str, Any] | None:
        """``metadata["graph_response"]``, or None."""
        return None if self.metadata is None else self.metadata.get("graph_response")

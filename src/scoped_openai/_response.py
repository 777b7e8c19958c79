"""``LLMResponse``: one item of a streamed reply, as the reference yields it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._chat import ChatRole


@dataclass(slots=True)
class LLMResponse:
    """One streamed item.

    ``content`` is text to speak (possibly ``""``); ``metadata`` carries the reference's keys:
    ``"usage"`` (prompt_tokens, completion_tokens, total_tokens, prompt_cached_tokens,
    reasoning_tokens, request_id, model), ``"function_call"`` (``{"name", "arguments": dict,
    "id"}``) and ``"graph_response"`` (the parsed conversational-graph object). Refusal text
    is yielded as content with ``metadata["refusal"] = True``.

    As in the reference, every item of one turn shares the same ``"usage"`` dict, which is
    filled in when the usage arrives (at the end of the turn).
    """

    content: str
    role: ChatRole = ChatRole.ASSISTANT
    metadata: dict[str, Any] | None = field(default=None)

    @property
    def usage(self) -> dict[str, Any] | None:
        """``metadata["usage"]``, or None."""
        return None if self.metadata is None else self.metadata.get("usage")

    @property
    def function_call(self) -> dict[str, Any] | None:
        """``metadata["function_call"]`` (``{"name", "arguments", "id"}``), or None."""
        return None if self.metadata is None else self.metadata.get("function_call")

    @property
    def graph_response(self) -> dict[str, Any] | None:
        """``metadata["graph_response"]``, or None."""
        return None if self.metadata is None else self.metadata.get("graph_response")

"""Generation settings shared by both request builders, and the model-family rule."""

from __future__ import annotations

import functools
from typing import Any, Literal, TypeAlias

import msgspec

ToolChoice: TypeAlias = str | dict[str, Any]
ReasoningEffort: TypeAlias = Literal["none", "minimal", "low", "medium", "high", "xhigh"]
Verbosity: TypeAlias = Literal["low", "medium", "high"]

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


@functools.lru_cache(maxsize=64)  # asked on every turn, for the same few names
def is_reasoning_model(model: str) -> bool:
    """True for the families that reject sampling parameters (o1, o3, o4, gpt-5*).

    Azure deployments and fine-tunes keep the family as a prefix (``ft:gpt-5...`` is
    handled by looking past an ``ft:`` prefix).
    """
    name = model.lower()
    if name.startswith("ft:"):
        name = name[3:]
    return name.startswith(_REASONING_PREFIXES)


class GenerationSettings(msgspec.Struct, frozen=True):  # a Struct: see _retry_plan.RetryPlan
    """What the user configured on ``OpenAILLM`` that shapes every request body (a new
    value: ``msgspec.structs.replace``)."""

    model: str = "gpt-4o-mini"
    temperature: float = 0.7
    tool_choice: ToolChoice = "auto"
    max_completion_tokens: int | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: ReasoningEffort | None = None
    verbosity: Verbosity | None = None
    extra_body: dict[str, Any] | None = None
    store: bool = False

    @property
    def reasoning(self) -> bool:
        """Whether the configured model is a reasoning-family model."""
        return is_reasoning_model(self.model)

"""``_settings``: which models are reasoning models (they take no sampling parameters and get
``reasoning_effort`` and top-level ``verbosity`` instead)."""

from __future__ import annotations

import pytest

from scoped_openai._settings import GenerationSettings, is_reasoning_model


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("o1", True),
        ("o1-mini", True),
        ("o3-mini", True),
        ("o4-mini", True),
        ("gpt-5", True),
        ("gpt-5-mini", True),
        ("GPT-5-nano", True),
        ("ft:gpt-5-mini:org::abc", True),
        ("gpt-4o-mini", False),
        ("gpt-4.1", False),
        ("chatgpt-4o-latest", False),
        ("o2", False),
    ],
)
def test_reasoning_family(model: str, reasoning: bool) -> None:
    assert is_reasoning_model(model) is reasoning


def test_the_settings_know_their_model_family() -> None:
    assert GenerationSettings(model="gpt-5-mini").reasoning is True
    assert GenerationSettings(model="gpt-4o-mini").reasoning is False

"""``_events``: the provider-neutral events both parsers emit; what ``Usage`` hands the
caller is the reference plugin's ``metadata["usage"]``, key for key."""

from __future__ import annotations

from scoped_openai._events import Usage

#: The reference's usage keys (DESIGN.md section 1), in its order.
REFERENCE_USAGE_KEYS = [
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_cached_tokens",
    "reasoning_tokens",
    "request_id",
    "model",
]


def test_usage_as_metadata_has_the_reference_keys() -> None:
    assert list(Usage().as_metadata()) == REFERENCE_USAGE_KEYS


def test_usage_as_metadata_carries_every_value() -> None:
    usage = Usage(10, 5, 15, 4, 2, "req_1", "gpt-5-mini")
    assert usage.as_metadata() == dict(
        zip(REFERENCE_USAGE_KEYS, [10, 5, 15, 4, 2, "req_1", "gpt-5-mini"], strict=True)
    )
    assert usage.as_metadata() is not usage.as_metadata()  # a fresh dict for each caller

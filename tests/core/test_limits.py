"""``_limits``: what one turn may receive by default, and limits that cannot be limits."""

from __future__ import annotations

import pytest

from scoped_openai import LimitExceededError, StreamLimits
from scoped_openai._limits import arguments_too_large, reply_too_large

KB = 1024


def test_default_limits() -> None:
    limits = StreamLimits()
    assert (limits.max_event_bytes, limits.max_tool_arguments_bytes, limits.max_reply_bytes) == (
        16 * KB * KB,
        1 * KB * KB,
        64 * KB * KB,
    )
    with pytest.raises(ValueError, match="max_reply_bytes"):
        StreamLimits(max_reply_bytes=0)


@pytest.mark.parametrize("value", [-1, 1.5, True, "1"])
@pytest.mark.parametrize("name", ["max_event_bytes", "max_tool_arguments_bytes", "max_reply_bytes"])
def test_a_limit_is_a_positive_int(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"StreamLimits.{name} must be a positive int"):
        StreamLimits(**{name: value})  # type: ignore[arg-type]


def test_the_errors_name_the_limit_and_its_value() -> None:
    reply = reply_too_large(StreamLimits(max_reply_bytes=10))
    assert isinstance(reply, LimitExceededError)
    assert (reply.limit, reply.value) == ("max_reply_bytes", 10)
    arguments = arguments_too_large("get_weather", 2048)
    assert (arguments.limit, arguments.value) == ("max_tool_arguments_bytes", 2048)
    assert "'get_weather'" in str(arguments)

"""LLMResponse's typed shortcuts: ``usage`` only on the usage item, typed tool calls, and the
reference's shared ``metadata["usage"]`` dict kept for the frameworks that read it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scoped_openai import LLMResponse
from scoped_openai._assembly import Assembler
from scoped_openai._events import (
    ChoiceFinished,
    Event,
    StreamDone,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)

TURN: list[Event] = [
    TextDelta("Checking "),
    TextDelta("now."),
    ToolCallDelta(0, "call_1", "get_weather", '{"city": '),
    ToolCallDelta(0, None, None, '"Paris"}'),
    ChoiceFinished("tool_calls"),
    UsageReport(Usage(prompt_tokens=9, completion_tokens=4, total_tokens=13, request_id="r1")),
    StreamDone(),
]


def items() -> list[LLMResponse]:
    assembler = Assembler(model="gpt-4o-mini")
    out: list[LLMResponse | Exception] = []
    for event in TURN:
        assembler.feed(event, out)
    assert all(isinstance(item, LLMResponse) for item in out)
    return [item for item in out if isinstance(item, LLMResponse)]


def test_usage_is_none_except_on_the_usage_item() -> None:
    turn = items()
    with_usage = [item for item in turn if item.usage]
    assert len(with_usage) == 1
    (usage_item,) = with_usage
    assert usage_item is turn[-1]
    assert usage_item.content == ""
    assert usage_item.usage == {
        "prompt_tokens": 9,
        "completion_tokens": 4,
        "total_tokens": 13,
        "prompt_cached_tokens": 0,
        "reasoning_tokens": 0,
        "request_id": "r1",
        "model": "gpt-4o-mini",
    }


def test_metadata_usage_stays_the_references_shared_dict() -> None:
    turn = items()
    shared = (turn[-1].metadata or {})["usage"]
    assert all((item.metadata or {})["usage"] is shared for item in turn)
    assert shared["total_tokens"] == 13  # filled in when the usage arrived


def test_function_call_is_typed_and_is_the_metadata_dict() -> None:
    (call_item,) = [item for item in items() if item.function_call is not None]
    call = call_item.function_call
    assert call == {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}
    assert call is (call_item.metadata or {})["function_call"]


def test_type_checkers_see_the_shortcuts_types(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="no mypy here: nox -s typecheck runs it")
    snippet = textwrap.dedent(
        """
        from scoped_openai import LLMResponse

        def check(item: LLMResponse) -> None:
            call = item.function_call
            usage = item.usage
            if call is not None:
                reveal_type(call["arguments"])
                reveal_type(call["name"])
            if usage is not None:
                reveal_type(usage["completion_tokens"])
        """
    )
    (tmp_path / "check.py").write_text(snippet)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")  # not the project's file list
    config = ["--config-file", str(tmp_path / "mypy.ini"), "--no-incremental", "--strict"]
    out, _, _ = api.run([*config, str(tmp_path / "check.py")])
    revealed = [
        line.split("Revealed type is ")[1] for line in out.splitlines() if "Revealed" in line
    ]
    assert revealed == ['"dict[str, Any]"', '"str"', '"int"']
    assert " error: " not in out, out

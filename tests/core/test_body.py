"""The one rule for merging caller fields into a request body (``_body``): objects merge
deeply, everything else is replaced, None removes a key, and nothing the caller or the
library still holds is changed."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx
import pytest

from scoped_openai import UsageError
from scoped_openai._body import json_bytes, merge_into, without_none


def test_objects_merge_deeply_and_keep_the_configured_keys() -> None:
    body: dict[str, Any] = {"reasoning": {"effort": "low"}, "text": {"format": {"type": "text"}}}
    merge_into(body, {"reasoning": {"summary": "auto"}, "text": {"verbosity": "low"}})
    assert body == {
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "text"}, "verbosity": "low"},
    }


def test_everything_but_objects_is_replaced() -> None:
    body: dict[str, Any] = {"stop": ["a"], "temperature": 0.7, "reasoning": {"effort": "low"}}
    merge_into(body, {"stop": ["b"], "temperature": 0.2, "reasoning": "off"})
    assert body == {"stop": ["b"], "temperature": 0.2, "reasoning": "off"}


def test_an_object_replaces_a_value_that_is_not_one() -> None:
    body: dict[str, Any] = {"metadata": "x"}
    merge_into(body, {"metadata": {"session": "s-1"}})
    assert body == {"metadata": {"session": "s-1"}}


def test_none_removes_a_key_at_any_depth_and_a_missing_key_is_fine() -> None:
    body: dict[str, Any] = {"user": "u", "reasoning": {"effort": "low", "summary": "auto"}}
    merge_into(body, {"user": None, "reasoning": {"summary": None}, "absent": None})
    assert body == {"reasoning": {"effort": "low"}}


def test_nones_inside_a_new_value_are_dropped_from_objects_but_kept_in_lists() -> None:
    body: dict[str, Any] = {}
    merge_into(body, {"prompt": {"id": "p", "version": None}, "enum": [None, {"k": None}]})
    assert body == {"prompt": {"id": "p"}, "enum": [None, {}]}


def test_nothing_the_caller_or_the_library_holds_is_changed() -> None:
    configured = {"effort": "low"}
    body: dict[str, Any] = {"reasoning": configured}
    extra: dict[str, Any] = {"reasoning": {"summary": "auto"}, "metadata": {"a": {"b": 1}}}
    merge_into(body, extra)
    assert configured == {"effort": "low"}  # the merged object is a copy
    assert extra == {"reasoning": {"summary": "auto"}, "metadata": {"a": {"b": 1}}}
    extra["metadata"]["a"]["b"] = 2  # the caller changes its dict after the request is built
    assert body["metadata"] == {"a": {"b": 1}}


def test_without_none_cleans_objects_at_any_depth_and_leaves_list_elements() -> None:
    assert without_none({"a": None, "b": {"c": None, "d": [None, {"e": None}]}}) == {
        "b": {"d": [None, {}]}
    }
    assert without_none([None, 1]) == [None, 1]
    assert without_none("text") == "text"


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [{"role": "user", "content": 'héllo \u2028 "quoted" \n'}]},
        {"temperature": 0.7, "seed": 3, "stream": True, "nested": {"list": [1, 2.5, "x"]}},
        {"messages": [{"role": "assistant", "content": None, "tool_calls": []}]},
    ],
)
def test_json_bytes_is_the_compact_json_httpx_would_send(body: dict[str, Any]) -> None:
    sent = json_bytes(body)
    assert json.loads(sent) == body
    assert sent == httpx.Request("POST", "http://x", json=body).content


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("body", "where"),
    [
        (lambda v: {"temperature": v}, "$.temperature"),
        (lambda v: {"reasoning": {"budget": v}}, "$.reasoning.budget"),
        (lambda v: {"input": [{"content": "x"}, {"n": [1, v]}]}, "$.input[1].n[1]"),
    ],
)
def test_json_bytes_refuses_a_nan_or_infinity_naming_where(
    value: float, body: Any, where: str
) -> None:
    """msgspec would write ``null`` (the API's "not set"), ``json.dumps`` ``NaN`` (refused by
    the API a round trip later): a typed error before anything is sent, naming the place."""
    with pytest.raises(UsageError, match=re.escape(f"{where} is {value!r}")):
        json_bytes(body(value))


def test_json_bytes_keeps_a_real_null() -> None:
    body = {"messages": [{"role": "assistant", "content": None, "tool_calls": []}], "t": 0.5}
    assert json.loads(json_bytes(body)) == body

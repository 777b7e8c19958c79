"""Tests for the conversational-graph schema helpers and the incremental spoken-field extractor."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoped_openai._graph import ConversationalGraph, GraphParseError, SpokenFieldExtractor

# -- helpers ---------------------------------------------------------------------------------


def feed_all(
    chunks: list[str], field: str = "response_to_user"
) -> tuple[str, SpokenFieldExtractor]:
    ex = SpokenFieldExtractor(field)
    spoken = "".join(ex.feed(c) for c in chunks)
    assert spoken == ex.spoken
    assert ex.text == "".join(chunks)
    return spoken, ex


def check_all_splits(
    s: str, spoken: str, obj: dict[str, Any] | None, field: str = "response_to_user"
) -> None:
    """Feed ``s`` whole, split at every boundary, and one char at a time."""
    splittings: list[list[str]] = [[s], list(s)]
    splittings += [[s[:i], s[i:]] for i in range(len(s) + 1)]
    for chunks in splittings:
        got, ex = feed_all(chunks, field)
        assert got == spoken, chunks
        if obj is None:
            with pytest.raises(GraphParseError):
                ex.finish()
        else:
            assert ex.finish() == obj, chunks


def check_obj(obj: dict[str, Any], field: str = "response_to_user") -> None:
    for ensure_ascii in (True, False):
        s = json.dumps(obj, ensure_ascii=ensure_ascii)
        check_all_splits(s, obj[field], obj, field)


# -- spoken field position and nesting ------------------------------------------------------


def test_spoken_field_first() -> None:
    check_obj({"response_to_user": "Hello there!", "extracted_values": []})


def test_spoken_field_after_other_keys() -> None:
    check_obj(
        {
            "extracted_values": [
                {"key": 'tricky {"}', "value": 'x\\"y'},
                {"key": "n", "value": 3.5},
                {"key": "b", "value": True},
            ],
            "other": {"response_to_user": "NOT SPOKEN", "deep": [[{"a": "}]"}], "[{"]},
            "num": -12.5e3,
            "flag": False,
            "nothing": None,
            "response_to_user": 'Spoken {with} "quotes" and \\backslash',
        }
    )


def test_nested_key_with_same_name_is_not_spoken() -> None:
    obj = {
        "meta": {"response_to_user": "nested one"},
        "list": [{"response_to_user": "in array"}],
        "response_to_user": "top",
    }
    check_obj(obj)
    check_obj({"response_to_user": "top", "meta": {"response_to_user": "after"}})


def test_string_value_equal_to_key_is_not_a_key() -> None:
    # A *value* spelled like the key must not start speaking the next string.
    obj = {"a": "response_to_user", "b": "nope", "response_to_user": "yes"}
    check_obj(obj)


def test_non_string_spoken_value_is_not_spoken() -> None:
    s = '{"response_to_user": 42, "x": "y"}'
    check_all_splits(s, "", {"response_to_user": 42, "x": "y"})


def test_whitespace_and_pretty_printing() -> None:
    obj: dict[str, Any] = {
        "extracted_values": [{"key": "k", "value": 1}],
        "response_to_user": "hi\nthere",
    }
    s = json.dumps(obj, indent=2)
    check_all_splits(s, obj["response_to_user"], obj)
    s = "\n  " + json.dumps(obj, separators=(" , ", " : ")) + " \n"
    check_all_splits(s, obj["response_to_user"], obj)


def test_empty_spoken_value() -> None:
    check_obj({"response_to_user": "", "extracted_values": []})


def test_scalars_before_spoken_field() -> None:
    s = '{"a":1,"b":true,"c":null,"d":-0.5E+2,"response_to_user":"ok"}'
    check_all_splits(s, "ok", json.loads(s))


# -- escapes -----------------------------------------------------------------------------------


def test_every_simple_escape() -> None:
    s = r'{"response_to_user": "q\" s\\ sl\/ b\b f\f n\n r\r t\t"}'
    expected = 'q" s\\ sl/ b\b f\f n\n r\r t\t'
    check_all_splits(s, expected, {"response_to_user": expected})


def test_unicode_escapes() -> None:
    s = r'{"response_to_user": "\u00e9\u20AC\u0041\u0000"}'
    expected = "\u00e9\u20ac\u0041\u0000"
    check_all_splits(s, expected, {"response_to_user": expected})


def test_surrogate_pair() -> None:
    s = r'{"response_to_user": "a\ud83d\ude00b\uD83D\uDC4D"}'
    expected = "a\U0001f600b\U0001f44d"
    check_all_splits(s, expected, {"response_to_user": expected})


def test_surrogate_pair_is_held_until_low_half() -> None:
    ex = SpokenFieldExtractor()
    assert ex.feed('{"response_to_user": "x\\ud83d') == "x"
    assert ex.feed("\\") == ""
    assert ex.feed("ude") == ""
    assert ex.feed("00!") == "\U0001f600!"
    assert ex.feed('"}') == ""
    assert ex.finish() == {"response_to_user": "x\U0001f600!"}


@pytest.mark.parametrize(
    ("escaped", "expected"),
    [
        (r"\ud83d", "\ufffd"),  # high surrogate then end of string
        (r"\ud83dx", "\ufffdx"),  # high surrogate then a plain char
        (r"\ud83d\n", "\ufffd\n"),  # high surrogate then another escape
        (r"\ud83d\u0041", "\ufffdA"),  # high surrogate then a non-surrogate \u
        (r"\ud83d\ud83d\ude00", "\ufffd\U0001f600"),  # two highs then a low
        (r"\ude00", "\ufffd"),  # lone low surrogate
        (r"\ude00\ud83d", "\ufffd\ufffd"),  # reversed pair
    ],
)
def test_lone_surrogates_become_replacement_char(escaped: str, expected: str) -> None:
    s = '{"response_to_user": "' + escaped + '", "k": 1}'
    for chunks in [[s], list(s), *([s[:i], s[i:]] for i in range(len(s) + 1))]:
        got, ex = feed_all(chunks)
        assert got == expected
        # json.loads keeps lone surrogates as-is; the parse itself succeeds.
        assert ex.finish()["k"] == 1


def test_key_with_escapes() -> None:
    s = r'{"respon\u0073e_to\u005fuser": "escaped key", "x": 1}'
    check_all_splits(s, "escaped key", json.loads(s))
    s = r'{"response_to_user\u0000": "no", "response_to_use": "no", "response_to_user": "yes"}'
    check_all_splits(s, "yes", json.loads(s))


def test_key_with_surrogate_pair_in_custom_field() -> None:
    s = r'{"\ud83d\ude00": "smile", "x": [1]}'
    check_all_splits(s, "smile", json.loads(s), field="\U0001f600")


def test_escaped_keys_of_other_fields_are_skipped() -> None:
    s = r'{"a\"response_to_user": "no", "\\": {"\"": "}"}, "response_to_user": "yes"}'
    check_all_splits(s, "yes", json.loads(s))


def test_duplicate_top_level_key_is_spoken_once() -> None:
    ex = SpokenFieldExtractor()
    assert ex.feed('{"response_to_user": "first", "response_to_user": "second"}') == "first"
    assert ex.finish() == {"response_to_user": "second"}  # json.loads keeps the last one


# -- custom schemas ----------------------------------------------------------------------------


def custom_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "say": {"type": "string"},
            "response_to_user": {"type": "string"},
            "next_node": {"type": "string"},
        },
        "required": ["say", "response_to_user", "next_node"],
        "additionalProperties": False,
    }


def test_custom_schema_with_different_spoken_field() -> None:
    graph = ConversationalGraph(custom_schema(), spoken_field="say", name="my_graph")
    assert graph._get_graph_schema() == custom_schema()
    assert graph.response_format()["json_schema"]["name"] == "my_graph"
    obj = {"response_to_user": "not me", "next_node": "n2", "say": "Speak \u00e9 me"}
    for ensure_ascii in (True, False):
        s = json.dumps(obj, ensure_ascii=ensure_ascii)
        for i in range(len(s) + 1):
            ex = graph.extractor()
            assert ex.feed(s[:i]) + ex.feed(s[i:]) == "Speak \u00e9 me"
            assert ex.finish() == obj


def test_schema_is_copied() -> None:
    schema = custom_schema()
    graph = ConversationalGraph(schema, spoken_field="say")
    schema["properties"]["say"]["type"] = "integer"
    graph._get_graph_schema()["properties"].clear()
    assert graph._get_graph_schema() == custom_schema()


@pytest.mark.parametrize(
    ("schema", "field", "match"),
    [
        ({"type": "array", "items": {"type": "string"}}, "response_to_user", "object schema"),
        ({"type": "object"}, "response_to_user", "properties"),
        ({"type": "object", "properties": []}, "response_to_user", "properties"),
        (
            {"type": "object", "properties": {"x": {"type": "string"}}},
            "response_to_user",
            "no property",
        ),
        (
            {"type": "object", "properties": {"response_to_user": {"type": "integer"}}},
            "response_to_user",
            "string",
        ),
        (
            {"type": "object", "properties": {"response_to_user": {"type": ["string", "null"]}}},
            "response_to_user",
            "string",
        ),
        ({"type": "object", "properties": {"say": {"type": "string"}}}, "response_to_user", "say"),
        ({"type": "object", "properties": {"x": {"type": "string"}}}, "", "non-empty"),
    ],
)
def test_invalid_schema_rejected(schema: dict[str, Any], field: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ConversationalGraph(schema, spoken_field=field)


def test_default_schema_with_other_spoken_field_rejected() -> None:
    with pytest.raises(ValueError, match="no property 'say'"):
        ConversationalGraph(spoken_field="say")


def test_non_dict_schema_rejected() -> None:
    with pytest.raises(ValueError, match="must be a dict"):
        ConversationalGraph(["not", "a", "schema"])  # type: ignore[arg-type]


# -- exact request formats ---------------------------------------------------------------------

EXPECTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "response_to_user": {"type": "string", "description": "The response to say to the user"},
        "extracted_values": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "value": {
                        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]
                    },
                },
                "required": ["key", "value"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["response_to_user", "extracted_values"],
    "additionalProperties": False,
}


def test_default_schema() -> None:
    assert ConversationalGraph()._get_graph_schema() == EXPECTED_SCHEMA


def test_response_format_exact() -> None:
    assert json.dumps(ConversationalGraph().response_format(), sort_keys=True) == json.dumps(
        {
            "type": "json_schema",
            "json_schema": {
                "name": "conversational_graph_response",
                "strict": True,
                "schema": EXPECTED_SCHEMA,
            },
        },
        sort_keys=True,
    )


def test_text_format_exact() -> None:
    assert json.dumps(ConversationalGraph(name="g").text_format(), sort_keys=True) == json.dumps(
        {"type": "json_schema", "name": "g", "strict": True, "schema": EXPECTED_SCHEMA},
        sort_keys=True,
    )


def test_extractor_uses_spoken_field() -> None:
    ex = ConversationalGraph().extractor()
    assert isinstance(ex, SpokenFieldExtractor)
    assert ex.spoken_field == "response_to_user"


# -- invalid and truncated replies -------------------------------------------------------------


def test_truncated_reply() -> None:
    full = '{"response_to_user": "Hello wor'
    ex = SpokenFieldExtractor()
    assert ex.feed(full) == "Hello wor"
    with pytest.raises(GraphParseError, match="truncated"):
        ex.finish()
    assert ex.spoken == "Hello wor"  # what was spoken stays as is


@pytest.mark.parametrize("cut", ['{"response_to_user": "Hi", "extracted_values": [', '{"resp', "{"])
def test_truncated_variants(cut: str) -> None:
    ex = SpokenFieldExtractor()
    ex.feed(cut)
    with pytest.raises(GraphParseError, match="truncated"):
        ex.finish()


def test_truncated_at_every_point() -> None:
    s = json.dumps(
        {"extracted_values": [{"key": "k", "value": "v"}], "response_to_user": "abc\u00e9"}
    )
    for i in range(len(s)):
        spoken, ex = feed_all([s[:i]])
        assert "abc\u00e9".startswith(spoken)
        with pytest.raises(GraphParseError):
            ex.finish()
        assert ex.spoken == spoken


@pytest.mark.parametrize(
    ("text", "spoken", "match"),
    [
        ('{"response_to_user": "ok"} trailing', "ok", "invalid"),
        ('{"response_to_user": "ok",}', "ok", "invalid"),
        ('{"response_to_user": "bad \\x escape"}', "bad ", "invalid"),
        ('{"response_to_user": "bad \\u12G4"}', "bad ", "invalid"),
        ('{"response_to_user" "missing colon"}', "", "invalid"),
        ('["response_to_user", "x"]', "", "must be an object"),
        ("not json", "", "invalid"),
        ("", "", "empty"),
        ("   ", "", "empty"),
    ],
)
def test_invalid_reply(text: str, spoken: str, match: str) -> None:
    for chunks in [[text], list(text)]:
        got, ex = feed_all(chunks)
        assert got == spoken
        with pytest.raises(GraphParseError, match=match):
            ex.finish()
        assert ex.spoken == spoken


@pytest.mark.parametrize("text", ['"just a string"', "[1, 2]", "42", "null"])
def test_non_object_reply(text: str) -> None:
    ex = SpokenFieldExtractor()
    assert ex.feed(text) == ""
    with pytest.raises(GraphParseError, match="must be an object"):
        ex.finish()


def test_graph_parse_error_is_value_error() -> None:
    assert issubclass(GraphParseError, ValueError)


def test_feed_empty_chunk_and_properties() -> None:
    ex = SpokenFieldExtractor()
    assert ex.text == ""
    assert ex.spoken == ""
    assert ex.feed("") == ""
    assert ex.feed('{"response_to_user":"a') == "a"
    assert ex.text == '{"response_to_user":"a'
    assert ex.feed("b") == "b"
    assert ex.spoken == "ab"
    assert ex.feed('"}') == ""
    assert ex.text == '{"response_to_user":"ab"}'
    assert ex.finish() == {"response_to_user": "ab"}
    assert ex.finish() == {"response_to_user": "ab"}


# -- property tests --------------------------------------------------------------------------

json_scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
extracted = st.lists(st.fixed_dictionaries({"key": st.text(), "value": json_scalars}), max_size=4)


@st.composite
def replies(draw: st.DrawFn) -> tuple[dict[str, Any], str, list[str]]:
    items: list[tuple[str, Any]] = [
        ("response_to_user", draw(st.text())),
        ("extracted_values", draw(extracted)),
    ]
    if draw(st.booleans()):
        # A nested object carrying the same key must never be spoken.
        items.append(("meta", {"response_to_user": draw(st.text()), "x": draw(extracted)}))
    obj = dict(draw(st.permutations(items)))
    s = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(s)), max_size=12)))
    bounds = [0, *cuts, len(s)]
    chunks = [s[a:b] for a, b in itertools.pairwise(bounds)]
    return obj, s, chunks


@settings(deadline=None, max_examples=300)
@given(replies())
def test_property_random_chunking(reply: tuple[dict[str, Any], str, list[str]]) -> None:
    obj, s, chunks = reply
    assert "".join(chunks) == s
    spoken, ex = feed_all(chunks)
    assert spoken == obj["response_to_user"]
    assert ex.finish() == obj


@settings(deadline=None, max_examples=100)
@given(st.text(), extracted, st.booleans(), st.booleans())
def test_property_one_char_at_a_time(
    text: str, values: list[dict[str, Any]], first: bool, ensure_ascii: bool
) -> None:
    items = [("response_to_user", text), ("extracted_values", values)]
    obj = dict(items if first else items[::-1])
    s = json.dumps(obj, ensure_ascii=ensure_ascii)
    spoken, ex = feed_all(list(s))
    assert spoken == text
    assert ex.finish() == obj


@settings(deadline=None, max_examples=100)
@given(st.text(), st.data())
def test_property_truncation_speaks_a_prefix(text: str, data: st.DataObject) -> None:
    s = json.dumps({"response_to_user": text, "extracted_values": []})
    cut = data.draw(st.integers(min_value=0, max_value=len(s) - 1))
    spoken, ex = feed_all([s[:cut]])
    assert text.startswith(spoken)
    with pytest.raises(GraphParseError):
        ex.finish()

"""Conversational-graph replies: strict schema helpers and an incremental spoken-field extractor.

A "conversational graph" turn asks the model to answer with a JSON object in a strict
JSON schema.  One string field of that object (``response_to_user`` by default) is what
the voice agent *says*; it must reach the TTS while the JSON is still streaming, and the
whole parsed object is wanted once the stream ends.

The reference implementation re-scans the whole accumulated text on every chunk, which
is quadratic in the reply length.  :class:`SpokenFieldExtractor` is instead a small,
sans-IO, incremental JSON tokenizer: it keeps just enough state to resume exactly where
the previous chunk stopped, so the total work is linear in the reply length.

Design
------
* The state machine only tracks what is needed to find the spoken value: whether we are
  before the top-level ``{``, at a top-level key / colon / value / separator position,
  inside a string (and whether that string is a top-level key being matched, the spoken
  value being decoded, or something to skip), inside an escape or ``\\uXXXX`` sequence,
  or inside a nested container (only its depth is counted: brackets inside strings are
  skipped by the string states, so a plain counter is enough).
* Only a string value whose *top-level* key decodes to ``spoken_field`` is emitted; keys
  of nested objects are never considered, so a nested ``response_to_user`` is not spoken.
* Keys are matched while being decoded (a position into ``spoken_field`` plus a
  "still matching" flag), so escaped or chunk-split keys match without buffering them.
* Escapes are decoded exactly, and every escape may be split across chunks: the partial
  ``\\uXXXX`` digits are kept, and a high surrogate is held back until its low half
  arrives.  A lone or mismatched surrogate is emitted as U+FFFD.
* Runs of plain characters are located with precompiled regular expressions starting at
  the current offset, so each character of a chunk is looked at a constant number of
  times and Python-level work is per token, not per character.
* The tokenizer is not a validator.  When it meets something that cannot be valid JSON
  it stops emitting (what was already spoken stays spoken); :meth:`finish` runs
  :func:`json.loads` on the whole text and is the authority on validity.
* Raw chunks are appended to a list and joined only when the full text is needed.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from ._errors import ScopedOpenAIError

__all__ = [
    "ConversationalGraph",
    "GraphParseError",
    "SpokenFieldExtractor",
    "DEFAULT_SPOKEN_FIELD",
    "DEFAULT_SCHEMA_NAME",
]

DEFAULT_SPOKEN_FIELD = "response_to_user"
DEFAULT_SCHEMA_NAME = "conversational_graph_response"


class GraphParseError(ScopedOpenAIError, ValueError):
    """The streamed conversational-graph reply is not a complete, valid JSON object."""


def _default_schema() -> dict[str, Any]:
    # The reference's ConversationalGraphResponse, expressed as a strict JSON schema:
    # every object closes its properties and requires all of them.
    return {
        "type": "object",
        "properties": {
            "response_to_user": {
                "type": "string",
                "description": "The response to say to the user",
            },
            "extracted_values": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "value": {
                            "anyOf": [
                                {"type": "string"},
                                {"type": "number"},
                                {"type": "boolean"},
                            ]
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


def _check_schema(schema: Any, spoken_field: str) -> None:
    if not isinstance(schema, dict):
        raise ValueError(f"graph schema must be a dict, got {type(schema).__name__}")
    if schema.get("type") != "object":
        raise ValueError(
            f'graph schema must be an object schema ("type": "object"), '
            f"got type {schema.get('type')!r}"
        )
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        raise ValueError('graph schema must have a "properties" dict')
    prop = properties.get(spoken_field)
    if prop is None:
        raise ValueError(
            f"graph schema has no property {spoken_field!r} (the spoken field); "
            f"properties are {sorted(properties)!r}"
        )
    if not isinstance(prop, dict) or prop.get("type") != "string":
        raise ValueError(
            f'spoken field {spoken_field!r} must be declared with "type": "string" '
            f"in the graph schema, got {prop!r}"
        )


class ConversationalGraph:
    """Structured-output settings for a conversational-graph turn."""

    def __init__(
        self,
        schema: dict[str, Any] | None = None,
        *,
        spoken_field: str = DEFAULT_SPOKEN_FIELD,
        name: str = DEFAULT_SCHEMA_NAME,
    ) -> None:
        if not isinstance(spoken_field, str) or not spoken_field:
            raise ValueError("spoken_field must be a non-empty string")
        if not isinstance(name, str) or not name:
            raise ValueError("name must be a non-empty string")
        if schema is None:
            schema = _default_schema()
        _check_schema(schema, spoken_field)
        # Private copy: later mutation of the caller's dict must not change requests.
        self._schema: dict[str, Any] = copy.deepcopy(schema)
        self.spoken_field = spoken_field
        self.name = name

    def _get_graph_schema(self) -> dict[str, Any]:
        """Return (a copy of) the JSON schema the reply must follow."""
        return copy.deepcopy(self._schema)

    def response_format(self) -> dict[str, Any]:
        """``response_format`` for the Chat Completions API."""
        return {
            "type": "json_schema",
            "json_schema": {
                "name": self.name,
                "strict": True,
                "schema": self._get_graph_schema(),
            },
        }

    def text_format(self) -> dict[str, Any]:
        """``text.format`` for the Responses API."""
        return {
            "type": "json_schema",
            "name": self.name,
            "strict": True,
            "schema": self._get_graph_schema(),
        }

    def extractor(self) -> SpokenFieldExtractor:
        """A fresh extractor for one streamed reply."""
        return SpokenFieldExtractor(self.spoken_field)


# Tokenizer states.
_START = 0  # before the top-level "{"
_KEY = 1  # top level: expecting a key (or "}")
_COLON = 2  # top level: after a key, expecting ":"
_VALUE = 3  # top level: expecting a value
_SCALAR = 4  # top level: inside a number / true / false / null
_AFTER = 5  # top level: after a value, expecting "," or "}"
_NESTED = 6  # inside a nested object/array; only its depth matters
_STRING = 7  # inside a string (see _sink)
_ESCAPE = 8  # after a backslash inside a string
_UNICODE = 9  # inside the hex digits of \uXXXX
_DONE = 10  # after the top-level "}"
_DEAD = 11  # input cannot be valid JSON: stop emitting, let finish() report

# What a string's content is used for.
_SKIP = 0  # not interesting: only find its end
_MATCH = 1  # a top-level key: compare with the spoken field
_SPEAK = 2  # the spoken value: decode and emit

_WS = " \t\n\r"
_HEX = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_STRING_STOP = re.compile(r'["\\]')
_NESTED_STOP = re.compile(r'["{}\[\]]')
_SCALAR_STOP = re.compile(r"[,}\s]")


class SpokenFieldExtractor:
    """Incrementally extract one top-level string field from a streamed JSON object.

    ``feed()`` each text delta as it arrives and speak what it returns; call
    ``finish()`` at the end of the stream for the parsed object.
    """

    def __init__(self, spoken_field: str = DEFAULT_SPOKEN_FIELD) -> None:
        self._field = spoken_field
        self._raw: list[str] = []
        self._spoken_parts: list[str] = []
        self._state = _START
        self._sink = _SKIP
        self._ret = _AFTER  # state to resume after a skipped string
        self._depth = 0  # nesting depth; the top-level object is depth 1
        self._key_pos = 0  # how much of the field the current key matched so far
        self._key_ok = False  # whether the current key still matches
        self._speak_next = False  # the key just read is the spoken field
        self._spoken_seen = False  # the spoken value was already started
        self._hex = ""  # pending \uXXXX digits (at most 3 between chunks)
        self._high: int | None = None  # held-back high surrogate

    @property
    def spoken_field(self) -> str:
        return self._field

    @property
    def text(self) -> str:
        """All raw text fed so far."""
        if len(self._raw) > 1:
            self._raw[:] = ["".join(self._raw)]  # join once, reuse afterwards
        return self._raw[0] if self._raw else ""

    @property
    def spoken(self) -> str:
        """All spoken text emitted so far."""
        if len(self._spoken_parts) > 1:
            self._spoken_parts[:] = ["".join(self._spoken_parts)]
        return self._spoken_parts[0] if self._spoken_parts else ""

    def feed(self, chunk: str) -> str:
        """Consume one chunk; return the newly decoded spoken text it contains."""
        if not chunk:
            return ""
        self._raw.append(chunk)
        out: list[str] = []
        i = 0
        n = len(chunk)
        while i < n:
            state = self._state
            if state == _STRING:  # inline: most of a spoken reply is string content
                if self._high is not None and chunk[i] != "\\":
                    self._lone_high(out)  # only "\u" + low surrogate may follow a high one
                m = _STRING_STOP.search(chunk, i)
                j = n if m is None else m.start()
                if j > i and self._sink != _SKIP:
                    self._put(chunk[i:j], out)
                if m is None:
                    break
                i = j + 1
                if chunk[j] == "\\":
                    self._state = _ESCAPE
                else:
                    self._end_string()
            elif state >= _DONE:
                break
            elif state == _NESTED:  # inline too: other fields' objects and arrays
                m = _NESTED_STOP.search(chunk, i)
                if m is None:
                    break
                c = chunk[m.start()]
                i = m.end()
                if c == '"':
                    self._begin_string(_SKIP, _NESTED)
                elif c == "{" or c == "[":
                    self._depth += 1
                else:
                    self._depth -= 1
                    if self._depth == 1:
                        self._state = _AFTER
            elif state == _ESCAPE:
                i = self._escape(chunk, i, out)
            elif state == _UNICODE:
                i = self._unicode(chunk, i, out)
            elif state == _SCALAR:
                i = self._scalar(chunk, i)
            else:
                c = chunk[i]
                i += 1
                if c not in _WS:
                    self._structural(state, c)
        if not out:
            return ""
        new = "".join(out)
        self._spoken_parts.append(new)
        return new

    def finish(self) -> dict[str, Any]:
        """Parse the whole reply; raise :class:`GraphParseError` if it is not a JSON object."""
        text = self.text
        if not text.strip():
            raise GraphParseError("empty reply: no JSON object was received")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if self._state not in (_DONE, _DEAD):
                raise GraphParseError(
                    f"truncated JSON reply: the stream ended inside the object after "
                    f"{len(text)} characters ({exc.msg} at line {exc.lineno}, "
                    f"column {exc.colno})"
                ) from exc
            raise GraphParseError(
                f"invalid JSON reply: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from exc
        except RecursionError as exc:
            raise GraphParseError("invalid JSON reply: nested too deeply") from exc
        if not isinstance(obj, dict):
            raise GraphParseError(f"JSON reply must be an object, got {type(obj).__name__}")
        return obj

    # -- helpers -------------------------------------------------------------------------

    # -- the rarer states of ``feed`` (an escape, its hex digits, a scalar): each takes the
    # chunk and the position, and returns where to go on (the chunk's length: stop) --------

    def _escape(self, chunk: str, i: int, out: list[str]) -> int:
        """The character after a backslash."""
        c = chunk[i]
        if self._sink == _SKIP:
            self._state = _STRING  # escaped char (incl. "u") cannot end the string
        elif c == "u":
            self._hex = ""
            self._state = _UNICODE
        else:
            if self._high is not None:
                self._lone_high(out)
            decoded = _SIMPLE_ESCAPES.get(c)
            if decoded is None:
                self._state = _DEAD
                return len(chunk)
            self._put(decoded, out)
            self._state = _STRING
        return i + 1

    def _unicode(self, chunk: str, i: int, out: list[str]) -> int:
        """The four hex digits of a ``\\uXXXX`` escape, which may arrive split."""
        piece = chunk[i : i + 4 - len(self._hex)]
        if not _HEX.issuperset(piece):
            self._state = _DEAD
            return len(chunk)
        self._hex += piece
        if len(self._hex) == 4:
            self._code_unit(int(self._hex, 16), out)
            self._hex = ""
            self._state = _STRING
        return i + len(piece)

    def _scalar(self, chunk: str, i: int) -> int:
        """A number, ``true``, ``false`` or ``null``: skip to its delimiter."""
        m = _SCALAR_STOP.search(chunk, i)
        if m is None:
            return len(chunk)
        self._state = _AFTER
        return m.start()  # let _AFTER handle the delimiter

    def _structural(self, state: int, c: str) -> None:
        """Handle one non-whitespace character at the top level of the object."""
        if state == _START:
            if c == "{":
                self._depth = 1
                self._state = _KEY
                return
        elif state == _KEY:
            if c == '"':
                self._key_pos = 0
                self._key_ok = True
                self._begin_string(_MATCH, _COLON)
                return
            if c == "}":
                self._state = _DONE
                return
        elif state == _COLON:
            if c == ":":
                self._state = _VALUE
                return
        elif state == _VALUE:
            speak = self._speak_next
            self._speak_next = False
            if c == '"':
                if speak:
                    self._spoken_seen = True
                    self._begin_string(_SPEAK, _AFTER)
                else:
                    self._begin_string(_SKIP, _AFTER)
                return
            if c == "{" or c == "[":
                self._depth = 2
                self._state = _NESTED
                return
            if c not in ",:}]":
                self._state = _SCALAR
                return
        elif state == _AFTER:
            if c == ",":
                self._state = _KEY
                return
            if c == "}":
                self._state = _DONE
                return
        self._state = _DEAD

    def _begin_string(self, sink: int, ret: int) -> None:
        self._sink = sink
        self._ret = ret
        self._state = _STRING

    def _end_string(self) -> None:
        if self._sink == _MATCH:
            # A duplicate spoken key is not spoken again: what was said cannot be unsaid.
            self._speak_next = (
                self._key_ok and self._key_pos == len(self._field) and not self._spoken_seen
            )
        self._sink = _SKIP
        self._state = self._ret

    def _put(self, s: str, out: list[str]) -> None:
        """Deliver decoded string content to the current sink."""
        if self._sink == _SPEAK:
            out.append(s)
        elif self._key_ok:
            if self._field.startswith(s, self._key_pos):
                self._key_pos += len(s)
            else:
                self._key_ok = False

    def _lone_high(self, out: list[str]) -> None:
        self._high = None
        self._put("\ufffd", out)

    def _code_unit(self, cu: int, out: list[str]) -> None:
        """Deliver one UTF-16 code unit from a \\uXXXX escape, pairing surrogates."""
        high = self._high
        if high is not None:
            self._high = None
            if 0xDC00 <= cu <= 0xDFFF:
                self._put(chr(0x10000 + ((high - 0xD800) << 10) + (cu - 0xDC00)), out)
                return
            self._put("\ufffd", out)  # the held high surrogate was not followed by a low one
        if 0xD800 <= cu <= 0xDBFF:
            self._high = cu  # hold back until we know whether the low half follows
        elif 0xDC00 <= cu <= 0xDFFF:
            self._put("\ufffd", out)
        else:
            self._put(chr(cu), out)

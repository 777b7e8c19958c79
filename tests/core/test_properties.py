"""Properties of the sans-IO core, checked with hypothesis (synchronous, no fixtures).

1. Any re-chunking of any recorded stream (``chat_*.sse`` / ``azure_*.sse`` through
   ``SSEDecoder`` + ``chunk_events`` + ``Assembler``; ``responses_*`` frames through
   ``SSEDecoder`` + ``ResponsesEventMapper`` + ``Assembler``), with any line ends, yields the
   same items as the stream fed whole.
2. Tool-call fragments of several calls, interleaved across indices in any order that keeps
   each call's own fragments in order (id and name in each call's first fragment only),
   assemble by index into exactly the generated calls, in index order.
3. The SSE decoder agrees with a straightforward reference decoder written from the WHATWG
   rules, on generated streams fed in random chunks.

The recordings are read where they live (``SCOPED_OPENAI_CONFORMANCE``, default
``<repo root>/../shared/conformance``); the recording tests skip where the folder is absent.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoped_openai import LLMResponse
from scoped_openai._assembly import Assembler
from scoped_openai._chat_completions import chunk_events
from scoped_openai._events import ChoiceFinished, Event, StreamDone
from scoped_openai._responses import ResponsesEventMapper
from scoped_openai._sse import ServerSentEvent, SSEDecoder

# -- the recordings (a tiny loader: tests/conformance is not a package) ----------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(
    os.environ.get("SCOPED_OPENAI_CONFORMANCE") or REPO_ROOT.parent / "shared" / "conformance"
)
SKIP_REASON = f"conformance recordings not found at {CONFORMANCE} (set SCOPED_OPENAI_CONFORMANCE)"


def recording_names(*patterns: str) -> list[Any]:
    if not CONFORMANCE.is_dir():
        return [pytest.param("missing", marks=pytest.mark.skip(reason=SKIP_REASON), id="missing")]
    names = sorted(path.name for pattern in patterns for path in CONFORMANCE.glob(pattern))
    assert names, f"no {patterns} recordings in {CONFORMANCE}"
    return names


CHAT_RECORDINGS = recording_names("chat_*.sse", "azure_*.sse")
RESPONSES_RECORDINGS = recording_names("responses_*.sse", "responses_*.jsonl")


def responses_body(name: str) -> bytes:
    """A ``responses_*`` recording as an SSE body: ``.sse`` as recorded; ``.jsonl`` (one frame
    a line) framed as ``event: <type>`` + ``data: <frame>`` blocks, as the API streams them."""
    raw = (CONFORMANCE / name).read_bytes()
    if name.endswith(".sse"):
        return raw
    blocks = []
    for line in raw.decode("utf-8").splitlines():
        if line.strip():
            frame = json.loads(line)
            blocks.append(f"event: {frame['type']}\ndata: {line}\n\n")
    return "".join(blocks).encode("utf-8")


# -- feeding a body through the core ---------------------------------------------------------


def split_at(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(body)})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert b"".join(pieces) == body
    return pieces


def chat_items(pieces: list[bytes]) -> tuple[list[LLMResponse | Exception], Assembler]:
    decoder = SSEDecoder()
    assembler = Assembler(model="gpt-4o-mini")
    out: list[LLMResponse | Exception] = []

    def dispatch(sse: ServerSentEvent) -> None:
        events: list[Event] = []
        if sse.data == "[DONE]":
            events.append(StreamDone())
        else:
            chunk_events(json.loads(sse.data), events)
        for event in events:
            assembler.feed(event, out)

    for piece in pieces:
        for sse in decoder.feed(piece):
            dispatch(sse)
    for sse in decoder.close():
        dispatch(sse)
    return out, assembler


def responses_items(pieces: list[bytes]) -> tuple[list[LLMResponse | Exception], Assembler]:
    decoder = SSEDecoder()
    mapper = ResponsesEventMapper()
    assembler = Assembler(model="gpt-4o-mini")
    out: list[LLMResponse | Exception] = []

    def dispatch(sse: ServerSentEvent) -> None:
        frame = json.loads(sse.data)
        assert sse.event == frame["type"]
        events: list[Event] = []
        mapper.feed(frame, events)
        for event in events:
            assembler.feed(event, out)

    for piece in pieces:
        for sse in decoder.feed(piece):
            dispatch(sse)
    for sse in decoder.close():
        dispatch(sse)
    return out, assembler


LINE_ENDS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}


def rechunkings(body_size: int) -> st.SearchStrategy[list[int]]:
    """Cut points: a few anywhere, or many (down to byte-sized pieces in places)."""
    return st.one_of(
        st.lists(st.integers(0, body_size), max_size=12),
        st.lists(st.integers(0, body_size), min_size=50, max_size=400),
    )


# -- 1. re-chunking a recording changes nothing ----------------------------------------------


@pytest.mark.parametrize("name", CHAT_RECORDINGS)
@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_any_rechunking_of_a_chat_recording_yields_the_same_items(
    name: str, data: st.DataObject
) -> None:
    recorded = (CONFORMANCE / name).read_bytes()
    whole, whole_assembler = chat_items([recorded])
    assert whole_assembler.done
    assert whole
    assert not any(isinstance(item, Exception) for item in whole)

    line_end = LINE_ENDS[data.draw(st.sampled_from(sorted(LINE_ENDS)), label="line end")]
    body = recorded.replace(b"\n", line_end)
    cuts = data.draw(rechunkings(len(body)), label="cuts")
    items, assembler = chat_items(split_at(body, cuts))
    assert items == whole
    assert assembler.finish_reason == whole_assembler.finish_reason
    assert assembler.text == whole_assembler.text


@pytest.mark.parametrize("name", RESPONSES_RECORDINGS)
@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_any_rechunking_of_a_responses_recording_yields_the_same_items(
    name: str, data: st.DataObject
) -> None:
    recorded = responses_body(name)
    whole, whole_assembler = responses_items([recorded])
    assert whole_assembler.done
    assert whole
    assert not any(isinstance(item, Exception) for item in whole)

    line_end = LINE_ENDS[data.draw(st.sampled_from(sorted(LINE_ENDS)), label="line end")]
    body = recorded.replace(b"\r\n", b"\n").replace(b"\n", line_end)
    cuts = data.draw(rechunkings(len(body)), label="cuts")
    items, assembler = responses_items(split_at(body, cuts))
    assert items == whole
    assert assembler.response_id == whole_assembler.response_id
    assert assembler.output == whole_assembler.output


# -- 2. interleaved tool-call fragments assemble by index ------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
JSON_OBJECTS = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=5)


class GeneratedCall(NamedTuple):
    index: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    fragments: list[str]  # the arguments' JSON text, split


@st.composite
def generated_calls(draw: st.DrawFn) -> list[GeneratedCall]:
    count = draw(st.integers(1, 5), label="calls")
    # Indices are distinct, not necessarily 0..n-1 nor first seen in index order.
    indices = draw(st.lists(st.integers(0, 9), min_size=count, max_size=count, unique=True))
    calls = []
    for n, index in enumerate(indices):
        arguments = draw(JSON_OBJECTS, label=f"arguments {index}")
        text = json.dumps(arguments, ensure_ascii=draw(st.booleans()))
        cuts = draw(st.lists(st.integers(0, len(text)), max_size=8))
        points = sorted(set(cuts))
        # The first fragment may carry no arguments at all (id and name only), as the API's does.
        fragments = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
        name = draw(st.sampled_from(["get_weather", "lookup", "f", "get_stock_price"]))
        calls.append(GeneratedCall(index, f"call_{n}_{index}", name, arguments, fragments))
    return calls


@settings(deadline=None, max_examples=200)
@given(calls=generated_calls(), data=st.data())
def test_interleaved_tool_call_fragments_assemble_by_index(
    calls: list[GeneratedCall], data: st.DataObject
) -> None:
    # An interleaving that keeps each call's own fragments in order.
    cursor = {call.index: 0 for call in calls}
    by_index = {call.index: call for call in calls}
    order: list[tuple[int, int]] = []  # (index, fragment number)
    while True:
        open_indices = [i for i, c in cursor.items() if c < len(by_index[i].fragments)]
        if not open_indices:
            break
        index = data.draw(st.sampled_from(open_indices))
        order.append((index, cursor[index]))
        cursor[index] += 1
    # Consecutive fragments may share one chunk (one ``tool_calls`` list), as they can on the wire.
    chunks: list[list[dict[str, Any]]] = []
    for index, number in order:
        call = by_index[index]
        fragment: dict[str, Any] = {
            "index": index,
            "function": {"arguments": call.fragments[number]},
        }
        if number == 0:
            fragment["id"] = call.call_id
            fragment["type"] = "function"
            fragment["function"]["name"] = call.name
        if chunks and data.draw(st.booleans()):
            chunks[-1].append(fragment)
        else:
            chunks.append([fragment])

    assembler = Assembler(model="gpt-4o-mini")
    out: list[LLMResponse | Exception] = []
    events: list[Event] = []
    for tool_calls in chunks:
        chunk_events({"choices": [{"index": 0, "delta": {"tool_calls": tool_calls}}]}, events)
    events += [ChoiceFinished("tool_calls"), StreamDone()]
    for event in events:
        assembler.feed(event, out)

    assert not any(isinstance(item, Exception) for item in out)
    got = [item.function_call for item in out if isinstance(item, LLMResponse)]
    want = [
        {"name": c.name, "arguments": c.arguments, "id": c.call_id}
        for c in sorted(calls, key=lambda c: c.index)
    ]
    assert got == want
    assert all(item.content == "" for item in out if isinstance(item, LLMResponse))
    assert assembler.calls == [
        (c.call_id, c.name, "".join(c.fragments)) for c in sorted(calls, key=lambda c: c.index)
    ]


# -- 3. the SSE decoder agrees with a reference decoder ---------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # and nothing else: never str.splitlines()


def reference_decode(body: bytes) -> tuple[list[ServerSentEvent], int]:
    """The WHATWG event-stream interpretation, written out plainly: decode, split lines on
    CRLF, CR or LF, then read fields. Returns the events and the number of comment lines.

    One deliberate departure from the spec, the decoder's documented leniency: at the end of
    the stream an unterminated last line is processed and a pending event is dispatched.
    """
    text = body.decode("utf-8").removeprefix("\ufeff")  # UTF-8 decode drops one leading BOM
    lines = _LINE_BREAK.split(text)
    tail = lines.pop()  # what follows the last line break: an unterminated line, or ""
    events: list[ServerSentEvent] = []
    data: list[str] = []
    event_type = ""
    last_id: str | None = None
    comments = 0

    def dispatch() -> None:
        nonlocal data, event_type
        if data:
            events.append(ServerSentEvent("\n".join(data), event_type or "message", last_id))
        data = []
        event_type = ""

    def process(line: str) -> None:
        nonlocal event_type, last_id, comments
        if line == "":
            dispatch()
            return
        if line.startswith(":"):
            comments += 1
            return
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "event":
            event_type = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        # "retry" and anything else: ignored.

    for line in lines:
        process(line)
    if tail:
        process(tail)
    dispatch()
    return events, comments


# Text that can appear inside a line: anything but CR and LF (and lone surrogates, which UTF-8
# cannot carry), weighted towards the characters that trip naive decoders.
_TRICKY = st.sampled_from(["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", ":", " ", "\0"])
_LINE_TEXT = st.lists(
    st.one_of(
        _TRICKY,
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        st.sampled_from(["é", "€", "😀", "日本"]),
    ),
    max_size=10,
).map("".join)
_LINE_ENDS = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def sse_line(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            ["data", "json", "event", "id", "retry", "comment", "unknown", "bare", "blank"]
        )
    )
    space = draw(st.sampled_from(["", " ", "  "]))
    value = draw(_LINE_TEXT)
    if kind == "json":
        payload = {"content": value, "n": draw(st.integers(0, 9))}
        return "data:" + space + json.dumps(payload, ensure_ascii=draw(st.booleans()))
    if kind in ("data", "event", "id", "retry"):
        return kind + ":" + space + value
    if kind == "comment":
        return ":" + value
    if kind == "unknown":
        return draw(st.sampled_from(["foo", "Data", "data ", "ev"])) + ":" + space + value
    if kind == "bare":
        return draw(st.sampled_from(["data", "event", "id"]))
    return ""


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    parts = []
    for line in draw(st.lists(sse_line(), max_size=30)):
        parts.append(line + draw(_LINE_ENDS))
    if draw(st.booleans()):  # sometimes an unterminated last line
        parts.append(draw(sse_line()))
    return "".join(parts).encode("utf-8")


@settings(deadline=None, max_examples=200)
@given(body=sse_streams(), data=st.data())
def test_the_decoder_agrees_with_the_reference_decoder(body: bytes, data: st.DataObject) -> None:
    want, comments = reference_decode(body)
    pieces = split_at(body, data.draw(st.lists(st.integers(0, len(body)), max_size=40)))
    decoder = SSEDecoder()
    got: list[ServerSentEvent] = []
    for piece in pieces:
        got += decoder.feed(piece)
    got += decoder.close()
    assert got == want
    assert decoder.comments == comments


@settings(deadline=None, max_examples=100)
@given(
    texts=st.lists(_LINE_TEXT, min_size=1, max_size=5),
    ends=st.lists(_LINE_ENDS, min_size=12, max_size=12),
    data=st.data(),
)
def test_json_with_unicode_line_separators_survives_any_chunking(
    texts: list[str], ends: list[str], data: st.DataObject
) -> None:
    # U+2028, U+2029 and U+0085 inside JSON strings are data: never a line break.
    body = ""
    for n, text in enumerate(texts):
        payload = json.dumps({"content": text + "\u2028\u2029\x85"}, ensure_ascii=False)
        data_end, blank = ends[n + 1], ends[n + 2]
        if data_end == "\r" and blank == "\n":
            blank = "\r\n"  # CR then LF would be one line end: the event would not end
        body += f"event: e{n}{ends[n]}data: {payload}{data_end}{blank}"
    raw = body.encode("utf-8")
    pieces = split_at(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=30)))
    decoder = SSEDecoder()
    got: list[ServerSentEvent] = []
    for piece in pieces:
        got += decoder.feed(piece)
    got += decoder.close()
    assert [json.loads(event.data)["content"] for event in got] == [
        text + "\u2028\u2029\x85" for text in texts
    ]
    assert got == reference_decode(raw)[0]


def test_a_leading_byte_order_mark_is_ignored() -> None:
    # WHATWG: the stream is decoded with "UTF-8 decode", which drops one leading U+FEFF; the
    # first line is then an ordinary field. The decoder keeps the BOM in the first line's
    # field name ("\ufeffdata"), an unknown field, so the first event is silently lost.
    body = "\ufeffdata: first\n\ndata: second\n\n".encode()
    want = [ServerSentEvent("first"), ServerSentEvent("second")]
    assert reference_decode(body)[0] == want
    decoder = SSEDecoder()
    assert decoder.feed(body) + decoder.close() == want

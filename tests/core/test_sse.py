"""The sans-IO SSE decoder: bytes in, events out (synchronous, no fixtures)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoped_openai import LimitExceededError, ProtocolError
from scoped_openai._sse import ServerSentEvent, SSEDecoder


def feed_whole(body: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(body) + decoder.close()


def feed_pieces(pieces: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.close()


def feed_bytewise(body: bytes) -> list[ServerSentEvent]:
    return feed_pieces([body[i : i + 1] for i in range(len(body))])


TWO_EVENTS = b'data: {"a": 1}\n\ndata: {"b": 2}\n\n'
TWO_EXPECTED = [ServerSentEvent('{"a": 1}'), ServerSentEvent('{"b": 2}')]


def test_whole_body() -> None:
    assert feed_whole(TWO_EVENTS) == TWO_EXPECTED


def test_byte_by_byte() -> None:
    assert feed_bytewise(TWO_EVENTS) == TWO_EXPECTED


def test_feed_returns_only_completed_events() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n") == []
    assert decoder.pending is True
    assert decoder.feed(b"\ndata: tw") == [ServerSentEvent("one")]
    assert decoder.feed(b"o\n\n") == [ServerSentEvent("two")]
    assert decoder.pending is False
    assert decoder.close() == []


def test_empty_feed_is_a_no_op() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: x\n\n") == [ServerSentEvent("x")]


def test_u2028_and_u2029_inside_json_strings_are_data() -> None:
    payload = json.dumps({"content": "line\u2028sep\u2029para\x85nel"}, ensure_ascii=False)
    body = f"data: {payload}\n\n".encode()
    expected = [ServerSentEvent(payload)]
    assert feed_whole(body) == expected
    assert feed_bytewise(body) == expected
    assert json.loads(expected[0].data)["content"] == "line\u2028sep\u2029para\x85nel"


@pytest.mark.parametrize("cut", range(1, 4))
def test_multibyte_utf8_split_across_reads(cut: int) -> None:
    text = "h€llo 😀"
    body = f"data: {text}\n\n".encode()
    start = body.index("😀".encode())  # a 4-byte sequence
    pieces = [body[: start + cut], body[start + cut :]]
    assert feed_pieces(pieces) == [ServerSentEvent(text)]
    euro = body.index("€".encode())  # a 3-byte sequence
    assert feed_pieces([body[: euro + 1], body[euro + 1 : euro + 2], body[euro + 2 :]]) == [
        ServerSentEvent(text)
    ]


def test_crlf_line_ends() -> None:
    body = TWO_EVENTS.replace(b"\n", b"\r\n")
    assert feed_whole(body) == TWO_EXPECTED
    assert feed_bytewise(body) == TWO_EXPECTED


def test_cr_only_line_ends() -> None:
    body = TWO_EVENTS.replace(b"\n", b"\r")
    assert feed_whole(body) == TWO_EXPECTED
    assert feed_bytewise(body) == TWO_EXPECTED


def test_cr_at_end_of_one_feed_and_lf_at_start_of_the_next() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # The LF belongs to the CR before it: it must not count as a blank line.
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent("a\nb")]
    assert decoder.feed(b"\n") == []
    assert decoder.close() == []


def test_cr_at_end_of_feed_then_cr_dispatches() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [ServerSentEvent("a")]


def test_mixed_line_ends() -> None:
    body = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    expected = [ServerSentEvent("a\nb\nc"), ServerSentEvent("d")]
    assert feed_whole(body) == expected
    assert feed_bytewise(body) == expected


def test_comment_lines_are_skipped_and_counted() -> None:
    body = b": keep-alive\n\ndata: x\n: inside an event\ndata: y\n\n:\n\n"
    decoder = SSEDecoder()
    assert decoder.feed(body) == [ServerSentEvent("x\ny")]
    assert decoder.close() == []
    assert decoder.comments == 3


def test_multi_line_data_is_joined_with_lf() -> None:
    body = b"data: first\ndata:second\ndata:  third\ndata\ndata:\n\n"
    assert feed_whole(body) == [ServerSentEvent("first\nsecond\n third\n\n")]


def test_event_names_and_ids() -> None:
    body = b"event: response.created\nid: 7\ndata: {}\n\ndata: plain\n\nevent:ping\ndata: p\n\n"
    assert feed_whole(body) == [
        ServerSentEvent("{}", "response.created", "7"),
        ServerSentEvent("plain", "message", "7"),  # the last event id persists
        ServerSentEvent("p", "ping", "7"),
    ]


def test_event_without_data_dispatches_nothing_and_resets_the_name() -> None:
    body = b"event: lonely\n\ndata: x\n\n"
    assert feed_whole(body) == [ServerSentEvent("x", "message", None)]


def test_unknown_fields_and_retry_are_ignored() -> None:
    body = b"retry: 1000\nfoo: bar\nid: a\x00b\ndata: x\n\n"
    assert feed_whole(body) == [ServerSentEvent("x", "message", None)]


def test_invalid_utf8_raises_protocol_error() -> None:
    decoder = SSEDecoder()
    with pytest.raises(ProtocolError, match="not valid UTF-8"):
        decoder.feed(b"data: caf\xe9\n\n")


def test_invalid_utf8_in_a_trailing_line_raises_on_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: \xff\xfe") == []
    with pytest.raises(ProtocolError, match="not valid UTF-8"):
        decoder.close()


def test_close_dispatches_a_trailing_event_without_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x": 1}\n\ndata: [DONE]\n') == [ServerSentEvent('{"x": 1}')]
    assert decoder.pending is True
    assert decoder.close() == [ServerSentEvent("[DONE]")]
    assert decoder.pending is False


def test_close_dispatches_an_unterminated_last_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.close() == [ServerSentEvent("[DONE]")]


def test_close_with_nothing_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\n") == [ServerSentEvent("a")]
    assert decoder.close() == []


# -- property: any re-chunking gives the same events ---------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=12,
)
_LINE_END = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def sse_bodies(draw: st.DrawFn) -> bytes:
    """A body of events built from data/event/id/comment lines with any line ends."""
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 6))):
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["data", "event", "id", "comment", "bare"]))
            value = draw(_TEXT).encode()
            if kind == "comment":
                line = b":" + value
            elif kind == "bare":
                line = b"data"
            else:
                line = kind.encode() + b": " + value
            parts.append(line + draw(_LINE_END))
        parts.append(draw(_LINE_END))
    return b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(body=sse_bodies(), data=st.data())
def test_any_rechunking_gives_the_same_events(body: bytes, data: st.DataObject) -> None:
    whole = feed_whole(body)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(body) - 1)), max_size=20)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert b"".join(pieces) == body
    assert feed_pieces(pieces) == whole
    assert feed_bytewise(body) == whole


# -- limits (issue 18): memory stays bounded whatever the server sends -------------------


def test_a_line_with_no_newline_stops_at_the_event_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    decoder.feed(b"data: ")
    for _ in range(9):
        assert decoder.feed(b"x" * 100) == []  # 906 bytes kept: under the limit
    with pytest.raises(LimitExceededError) as caught:
        decoder.feed(b"x" * 100)
    assert (caught.value.limit, caught.value.value) == ("max_event_bytes", 1000)
    assert "max_event_bytes=1,000" in str(caught.value)


def test_data_lines_without_a_blank_line_stop_at_the_event_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    for _ in range(111):  # 8 characters and a line end each: 999 in all
        assert decoder.feed(b"data: xxxxxxxx\n") == []
    with pytest.raises(LimitExceededError):
        decoder.feed(b"data: xxxxxxxx\n")


def test_an_event_at_the_limit_passes_and_the_count_restarts() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    body = b"data: " + b"x" * 990 + b"\n\n"
    for _ in range(3):  # each event is counted on its own
        assert decoder.feed(body) == [ServerSentEvent("x" * 990)]


def test_one_whole_line_over_the_limit_in_one_read() -> None:
    with pytest.raises(LimitExceededError):
        SSEDecoder(max_event_bytes=100).feed(b": " + b"c" * 200 + b"\ndata: x\n\n")


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_a_line_kept_in_pieces_ends_with_any_line_end(end: bytes) -> None:
    pieces = [b"da", b"ta: ", b"he", b"llo", end, end]
    assert feed_pieces(pieces) == [ServerSentEvent("hello")]
    assert feed_pieces([b"".join(pieces)]) == [ServerSentEvent("hello")]


# --- whole_data: the one-whole-event read the parsers take without the line-by-line path ---


@pytest.mark.parametrize(
    ("chunk", "data"),
    [
        (b'data: {"a": 1}\n\n', '{"a": 1}'),
        (b'event: response.output_text.delta\ndata: {"a": 1}\n\n', '{"a": 1}'),
        (b"data: [DONE]\n\n", "[DONE]"),
        (b"data: caf\xc3\xa9\n\n", "café"),
    ],
)
def test_whole_data_of_one_whole_event(chunk: bytes, data: str) -> None:
    decoder = SSEDecoder()
    decoder.feed(b": opened\n\n")  # past the byte-order-mark check of the first read
    assert decoder.whole_data(chunk) == data
    # The line-by-line path agrees, and whole_data left nothing behind for it.
    assert [event.data for event in decoder.feed(chunk)] == [data]
    assert not decoder.pending


@pytest.mark.parametrize(
    "chunk",
    [
        b'data: {"a": 1}\n',  # no blank line yet
        b'data: {"a": 1}\n\ndata: {"b": 2}\n\n',  # two events
        b'data: {"a": 1}\r\n\r\n',  # CR line ends
        b"data: a\ndata: b\n\n",  # two data lines
        b"id: 7\ndata: a\n\n",  # a field other than the event name
        b"event: caf\xc3\xa9\ndata: a\n\n",  # a name that is not ASCII (checked the long way)
        b"data: \xff\n\n",  # not UTF-8: the long way says where
        b"event: x\n\n",  # no data
        b": comment\n\n",
    ],
)
def test_whole_data_is_none_for_anything_else(chunk: bytes) -> None:
    decoder = SSEDecoder()
    decoder.feed(b": opened\n\n")
    assert decoder.whole_data(chunk) is None


def test_whole_data_after_a_named_event_checks_every_other_head() -> None:
    """The checked ``event: <name>`` head of the last event is reused only by an event that
    starts with exactly it: another name, a name that extends it, no name, a name that is not
    ASCII, and two data lines after the same head all get what a fresh decoder gives."""
    chunks = [
        b'event: response.output_text.delta\ndata: {"a": 1}\n\n',
        b'event: response.output_text.delta\ndata: {"a": 2}\n\n',  # the same head
        b'event: response.output_text.delta.x\ndata: {"a": 3}\n\n',  # a longer name
        b'event: response.output_text\ndata: {"a": 4}\n\n',  # a shorter one
        b'data: {"a": 5}\n\n',  # none
        b"event: response.output_text\ndata: a\ndata: b\n\n",  # two data lines
        b"event: caf\xc3\xa9\ndata: a\n\n",  # not ASCII: the long way
        b'event: response.output_text.delta\ndata: {"a": 6}\n\n',
    ]
    decoder = SSEDecoder()
    decoder.feed(b": opened\n\n")
    for chunk in chunks:
        fresh = SSEDecoder()
        fresh.feed(b": opened\n\n")
        assert decoder.whole_data(chunk) == fresh.whole_data(chunk)


def test_whole_data_is_none_while_anything_is_pending_or_at_the_start() -> None:
    chunk = b'data: {"a": 1}\n\n'
    assert SSEDecoder().whole_data(chunk) is None  # a byte-order mark may still come
    decoder = SSEDecoder()
    decoder.feed(b"data: half")
    assert decoder.whole_data(chunk) is None
    decoder = SSEDecoder()
    decoder.feed(b"event: named\n")
    assert decoder.whole_data(chunk) is None
    decoder = SSEDecoder(max_event_bytes=8)
    decoder.feed(b": opened\n\n")
    assert decoder.whole_data(chunk) is None  # over the event limit: the long path raises

"""The engine's frame routing: simple text frames decoded directly, every other frame through
the ``websockets`` protocol, in wire order, however the bytes are cut into reads."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
from hypothesis import given, settings
from hypothesis import strategies as st

from scoped_openai._errors import ProtocolError
from scoped_openai._transports.ws_frames import frame_size, simple_text_frames
from scoped_openai._transports.ws_sansio import SansIOWebSocket, _protocol_for
from support.raw_websocket import BINARY, CONT, PING, PONG, TEXT, frame


class Sink(anyio.abc.ByteStream):
    """A byte stream that records what is written and never has anything to read."""

    def __init__(self) -> None:
        self.written = b""

    async def send(self, item: bytes) -> None:
        self.written += item

    async def receive(self, max_bytes: int = 65536) -> bytes:
        raise anyio.EndOfStream

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_simple_text_frames_stop_at_anything_else() -> None:
    got: list[str] = []
    data = frame(TEXT, "a") + frame(TEXT, "é" * 100) + frame(PING, b"x") + frame(TEXT, "b")
    used = simple_text_frames(data, got.append)
    assert got == ["a", "é" * 100]
    assert data[used:] == frame(PING, b"x") + frame(TEXT, "b")
    assert simple_text_frames(frame(TEXT, "cut")[:-1], got.append) == 0  # not all here
    assert simple_text_frames(frame(TEXT, b"\xff"), got.append) == 0  # not UTF-8
    assert simple_text_frames(frame(TEXT, "x" * 70_000), got.append) == 0  # 64-bit length


def test_frame_size_needs_the_whole_header() -> None:
    for payload in (b"", b"x" * 125, b"x" * 126, b"x" * 70_000):
        whole = frame(BINARY, payload)
        assert frame_size(whole) == len(whole)
        assert frame_size(whole[:1]) is None
    assert frame_size(frame(TEXT, "x" * 300)[:3]) is None
    assert frame_size(frame(TEXT, "x" * 70_000)[:9]) is None
    masked = bytes([0x81, 0x80 | 3]) + b"mask" + b"abc"
    assert frame_size(masked) == len(masked)


#: One wire item: (bytes on the wire, messages it yields, pings it carries).
Item = tuple[bytes, list[Any], int]

texts = st.text(max_size=40) | st.sampled_from(["x" * 200, "é" * 40_000, "y" * 70_000])


@st.composite
def wire_items(draw: st.DrawFn) -> Item:
    kind = draw(st.sampled_from(["text", "text", "text", "fragments", "ping", "pong", "binary"]))
    if kind == "text":
        text = draw(texts)
        return frame(TEXT, text), [text], 0
    if kind == "fragments":
        text = draw(texts)
        cut = draw(st.integers(0, len(text)))
        head, tail = text[:cut], text[cut:]
        # A ping in the middle of a fragmented message is allowed (RFC 6455 §5.4).
        data = frame(TEXT, head, fin=False) + frame(PING, b"mid") + frame(CONT, tail)
        return data, [text], 1
    if kind == "ping":
        return frame(PING, b"hi"), [], 1
    if kind == "pong":
        return frame(PONG, b"unsolicited"), [], 0
    return frame(BINARY, b"\x00\x01"), [ProtocolError], 0


@settings(max_examples=150, deadline=None)
@given(st.lists(wire_items(), max_size=12), st.lists(st.integers(1, 70_000), max_size=12))
def test_any_cut_of_any_mix_gives_the_same_messages(items: list[Item], cuts: list[int]) -> None:
    wire = b"".join(data for data, _, _ in items)
    expected = [message for _, messages, _ in items for message in messages]
    pings = sum(count for _, _, count in items)
    reads, start = [], 0
    for cut in cuts:
        reads.append(wire[start : start + cut])
        start += cut
    reads.append(wire[start:])

    async def run() -> tuple[list[Any], bytes]:
        sink = Sink()
        ws = SansIOWebSocket(sink, _protocol_for("ws://x/"))
        got: list[Any] = []
        for data in reads:
            if data:
                await ws.absorb(data)
            while True:
                try:
                    message = ws.receive_text_nowait()
                except ProtocolError:
                    got.append(ProtocolError)
                    continue
                if message is None:
                    break
                got.append(message)
        assert not ws.closed
        return got, sink.written

    got, written = anyio.run(run)
    assert got == expected
    opcodes = []
    while written:  # the client's frames: every ping answered with a pong, nothing else
        size = frame_size(written)
        assert size is not None
        opcodes.append(written[0] & 0x0F)
        written = written[size:]
    assert opcodes == [PONG] * pings


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000]), st.binary(max_size=64))
def test_masked_text_frame_is_the_frame_websockets_writes(size: int, seed: bytes) -> None:
    """The request's frame, built by hand, is byte for byte the one ``websockets`` serializes
    with the same mask key, at each length encoding's edges (7, 16 and 64 bits)."""
    from unittest import mock

    from websockets.frames import Frame, Opcode

    from scoped_openai._transports.ws_frames import masked_text_frame

    payload = (seed or b"x") * (size // max(len(seed), 1) + 1)
    payload = payload[:size]
    ours = masked_text_frame(payload)
    header = 2 if size < 126 else 4 if size < 65536 else 10
    key = ours[header : header + 4]
    with mock.patch("websockets.frames.secrets.token_bytes", return_value=key):
        theirs = Frame(Opcode.TEXT, payload).serialize(mask=True, extensions=[])
    assert ours == theirs

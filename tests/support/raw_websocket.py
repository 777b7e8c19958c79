"""RFC 6455 spoken by hand, for the handlers of ``loopback_server`` (the engine tests): read
the upgrade request with ``Reader.head``, answer with whatever the test likes (``accept_head``
for a proper 101), write frames built by ``frame`` and read the client's with
``Reader.frame``. Misbehaving servers are a few lines each; every read and write is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import anyio.abc

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


class Reader:
    """Buffered reads from one stream."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += await self.stream.receive()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    async def head(self) -> bytes:
        """The request head, up to and including the blank line (at most 64 KiB)."""
        while b"\r\n\r\n" not in self.buffer:
            assert len(self.buffer) < 65536, "request head too long"
            self.buffer += await self.stream.receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head + b"\r\n\r\n"

    async def frame(self) -> tuple[int, bool, bytes]:
        """One client frame: (opcode, fin, unmasked payload)."""
        first, second = await self.exactly(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self.exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self.exactly(8))
        assert second & 0x80, "client frames are masked"
        mask = await self.exactly(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await self.exactly(size)))
        return first & 0x0F, bool(first & 0x80), payload


def headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
    }


def accept_head(request_head: bytes, extra: bytes = b"") -> bytes:
    key = headers_of(request_head)["sec-websocket-key"].encode()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra + b"\r\n"
    )


def frame(opcode: int, payload: bytes | str = b"", *, fin: bool = True) -> bytes:
    """An unmasked server frame."""
    data = payload.encode() if isinstance(payload, str) else payload
    first = (0x80 if fin else 0) | opcode
    if len(data) < 126:
        header = struct.pack("!BB", first, len(data))
    elif len(data) < 2**16:
        header = struct.pack("!BBH", first, 126, len(data))
    else:
        header = struct.pack("!BBQ", first, 127, len(data))
    return header + data


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason.encode())


async def accept(stream: anyio.abc.ByteStream) -> Reader:
    """Read the upgrade request and answer 101: the usual start of a handler."""
    reader = Reader(stream)
    await stream.send(accept_head(await reader.head()))
    return reader

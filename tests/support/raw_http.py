"""HTTP/1.1 spoken by hand, for the handlers of ``loopback_server`` (hostile servers: a few
lines of bytes per test, no framework)."""

from __future__ import annotations

import anyio.abc

#: Bounds on what a handler reads of a request.
MAX_REQUEST = 1024 * 1024


async def read_request(stream: anyio.abc.SocketStream) -> bytes:
    """The request head and body (by Content-Length), at most ``MAX_REQUEST`` bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
        assert len(data) < MAX_REQUEST
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await stream.receive()
        assert len(body) < MAX_REQUEST
    return head + b"\r\n\r\n" + body


def sse_head() -> bytes:
    """A 200 event-stream head with a chunked body."""
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )


def chunked(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body (empty: the body's end)."""
    return b"%x\r\n%s\r\n" % (len(data), data)

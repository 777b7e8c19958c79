"""``ScopedReadStream`` sends an HTTP/1.1 ``POST``'s head with its body, one write instead of
two (``_transports.http_backend``): over an in-memory stream that records what reaches it,
on both backends. That every request still arrives whole over real sockets is what the
rest of the suite runs on (our own client wraps every connection this way)."""

from __future__ import annotations

import pytest

from scoped_openai._transports.http_backend import ScopedReadStream

pytestmark = pytest.mark.anyio

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: api\r\nContent-Length: 2\r\n\r\n"


class Recorded:
    """httpcore's network stream, in memory: what was written, what a read returns."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return b"HTTP/1.1 200 OK\r\n"

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.writes.append(buffer)

    async def aclose(self) -> None:
        self.closed = True


async def test_a_post_head_goes_out_with_its_body_in_one_write() -> None:
    inner = Recorded()
    stream = ScopedReadStream(inner)
    await stream.write(HEAD)
    assert inner.writes == []  # held for the body
    await stream.write(b"{}")
    await stream.write(b"")  # httpcore's end of a Content-Length body
    assert inner.writes == [HEAD + b"{}", b""]


async def test_a_held_head_goes_out_before_a_read() -> None:
    # A POST whose body never came (nothing after the head): the response is not awaited
    # with the request unsent.
    inner = Recorded()
    stream = ScopedReadStream(inner)
    await stream.write(HEAD)
    assert await stream.read(65536) == b"HTTP/1.1 200 OK\r\n"
    assert inner.writes == [HEAD]
    await stream.write(b"next")
    assert inner.writes == [HEAD, b"next"]


@pytest.mark.parametrize(
    "first",
    [
        b"HEAD /v1/models HTTP/1.1\r\nHost: api\r\n\r\n",  # the warm-up: no body follows
        b"GET /v1/models HTTP/1.1\r\nHost: api\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # HTTP/2's preface, then frames
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: api\r\n",  # not a whole head
    ],
)
async def test_anything_but_a_whole_post_head_goes_out_at_once(first: bytes) -> None:
    inner = Recorded()
    stream = ScopedReadStream(inner)
    await stream.write(first)
    assert inner.writes == [first]


async def test_a_held_head_is_dropped_with_the_connection() -> None:
    inner = Recorded()
    stream = ScopedReadStream(inner)
    await stream.write(HEAD)
    await stream.aclose()
    assert inner.closed
    assert inner.writes == []

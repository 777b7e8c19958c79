"""``ScopedReadStream`` sends an HTTP/1.1 ``POST``'s head with its body, one write instead of
two (``_transports.http_backend``): over an in-memory stream that records what reaches it,
on both backends, and once under the real httpcore on a loopback socket (it relies on how
httpcore writes a request: head, then body). That every request still arrives whole over
real sockets is what the rest of the suite runs on (our own client wraps every connection
this way)."""

from __future__ import annotations

from typing import Any

import anyio.abc
import httpx
import pytest

from scoped_openai._compat import wrap_each_network_backend
from scoped_openai._transports.http_backend import ScopedReadBackend, ScopedReadStream
from support.loopback_server import RawServer
from support.raw_http import read_request

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


class _RecordedBackend:
    """httpcore's network backend, the writes of its TCP streams recorded in ``writes``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.writes: list[bytes] = []

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        return _RecordedStream(await self._inner.connect_tcp(*args, **kwargs), self.writes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _RecordedStream:
    def __init__(self, inner: Any, writes: list[bytes]) -> None:
        self._inner = inner
        self._writes = writes

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._writes.append(buffer)
        await self._inner.write(buffer, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_httpcores_post_reaches_the_socket_in_one_write() -> None:
    # Pins what the holding relies on: httpcore writes a POST's whole head, then its body,
    # through the network stream (were that to change, the head would go out alone again,
    # or before the first read: slower, never lost).
    body = b'{"model": "gpt-4o-mini"}'
    received: list[bytes] = []

    async def handler(stream: anyio.abc.SocketStream) -> None:
        received.append(await read_request(stream))
        await stream.send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    recorded: list[_RecordedBackend] = []

    def wrap(inner: Any) -> ScopedReadBackend:
        recorded.append(_RecordedBackend(inner))
        return ScopedReadBackend(recorded[-1])

    with anyio.fail_after(10):
        async with RawServer(handler) as server, httpx.AsyncClient(trust_env=False) as client:
            assert wrap_each_network_backend(client, wrap) == 1
            response = await client.post(f"{server.base_url}/chat/completions", content=body)
    assert response.text == "ok"
    [request] = received
    assert request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert request.endswith(b"\r\n\r\n" + body)
    assert [write for write in recorded[0].writes if write] == [request]

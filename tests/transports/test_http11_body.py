"""Our own client reads an uncompressed HTTP/1.1 body straight from the connection's h11
state (``_transports.http11_body``), on asyncio and trio:

- on real loopback sockets, a body sent in pieces that split its chunks anywhere arrives
  whole and in order, the connection goes back to the pool after the body's end (the next
  request reuses it), and a body left mid-way has its connection dropped, as httpx's own
  iterator does;
- where it does not apply the body is read by httpx's iterator: a caller's client, a
  compressed body, httpcore's debug log on;
- inside a turn's step (its ``ReadWait`` bound) the socket under httpcore's stream is read
  in the step's one scope: the body arrives whole, a barge-in ends a read waiting on a
  stalled server, the read timeout is httpx's ``ReadTimeout`` unless the step's own deadline
  comes first (trio's virtual clock), a closed stream is httpx's ``ReadError``;
- the failures are httpx's, as the iterator raises them (an in-memory h11 connection and a
  scripted network stream): a server that closes mid-body, httpcore's read errors and
  timeouts, bytes that are not HTTP/1.1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import h11
import httpcore
import httpx
import pytest

from scoped_openai._compat import http11_state
from scoped_openai._deadlines import native_scope_and_clock
from scoped_openai._transports.http import StreamedBody, open_stream, with_scoped_reads
from scoped_openai._transports.http11_body import Http11Body
from scoped_openai._transports.http_backend import ReadWait
from support.loopback_server import RawServer
from support.raw_http import chunked, read_request, sse_head

pytestmark = pytest.mark.anyio

EVENTS = [b'data: {"n": %d}\n\n' % n for n in range(40)]


def body_bytes() -> bytes:
    return b"".join(chunked(event) for event in EVENTS) + chunked(b"")


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in writes of ``size`` bytes: chunk heads, data and line ends split anywhere."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def answering(size: int, requests: int = 2) -> RawServer:
    """A server that answers ``requests`` requests on one connection with ``EVENTS``, its
    body written ``size`` bytes at a time."""

    async def handler(stream: anyio.abc.SocketStream) -> None:
        for _ in range(requests):
            await read_request(stream)
            await stream.send(sse_head())
            for piece in pieces(body_bytes(), size):
                await stream.send(piece)
                await anyio.lowlevel.checkpoint()  # let the client read between writes

    return RawServer(handler)


async def stream_of(client: httpx.AsyncClient, url: str) -> StreamedBody:
    request = client.build_request("POST", url, content=b"{}")
    return await open_stream(client, request, headers_timeout=None)


async def read_all(body: StreamedBody) -> bytes:
    read = []
    while True:
        try:
            read.append(await body.next_piece())
        except StopAsyncIteration:
            return b"".join(read)


def read_by_h11(body: StreamedBody) -> bool:
    return isinstance(getattr(body.next_piece, "__self__", None), Http11Body)


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
async def test_a_body_in_any_pieces_arrives_whole_and_the_connection_is_reused(
    size: int,
) -> None:
    server = answering(size)
    with anyio.fail_after(10):
        async with server, with_scoped_reads(httpx.AsyncClient(trust_env=False)) as client:
            url = f"{server.base_url}/responses"
            for _ in range(2):
                body = await stream_of(client, url)
                assert read_by_h11(body)
                assert await read_all(body) == b"".join(EVENTS)
                await body.aclose(completed=True, background=None)
    assert server.connections == 1


async def test_a_body_left_mid_way_has_its_connection_dropped() -> None:
    server = answering(64)
    with anyio.fail_after(10):
        async with server, with_scoped_reads(httpx.AsyncClient(trust_env=False)) as client:
            url = f"{server.base_url}/responses"
            body = await stream_of(client, url)
            assert read_by_h11(body)
            assert (await body.next_piece()).startswith(b"data: ")
            await body.aclose(completed=False, background=None)
            body = await stream_of(client, url)  # a new connection: the server answers again
            assert await read_all(body) == b"".join(EVENTS)
            await body.aclose(completed=True, background=None)
    assert server.connections == 2


def step(body: StreamedBody, deadline: float = math.inf) -> ReadWait:
    """The body's ``ReadWait`` armed for one step as a turn arms it (the native scope)."""
    assert body.read_wait is not None
    return body.read_wait.arm(native_scope_and_clock()[0], deadline)


def reads_the_socket_in_the_step_scope(body: StreamedBody) -> bool:
    reader = getattr(body.next_piece, "__self__", None)
    return isinstance(reader, Http11Body) and reader._read == reader._read_socket


@asynccontextmanager
async def past_the_first_piece(read_timeout: float | None = None) -> AsyncIterator[StreamedBody]:
    """A body from a server that stalls after its first chunk, read in a step up to there
    (``read_timeout``: httpx's, None: none)."""
    server = stalling()
    client = with_scoped_reads(httpx.AsyncClient(trust_env=False, timeout=read_timeout))
    async with server, client:
        body = await stream_of(client, f"{server.base_url}/responses")
        with step(body):
            assert await body.next_piece() == EVENTS[0]
        yield body
        await body.aclose(completed=False, background=None)


def stalling() -> RawServer:
    """Answers with its head and one chunk, then sends nothing more."""

    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        await stream.send(sse_head() + chunked(EVENTS[0]))
        await anyio.sleep_forever()

    return RawServer(handler)


@pytest.mark.parametrize("size", [7, 100_000])
async def test_in_a_step_the_socket_is_read_in_its_scope_and_the_body_arrives_whole(
    size: int,
) -> None:
    server = answering(size, requests=1)
    with anyio.fail_after(10):
        async with server, with_scoped_reads(httpx.AsyncClient(trust_env=False)) as client:
            body = await stream_of(client, f"{server.base_url}/responses")
            assert reads_the_socket_in_the_step_scope(body)
            read = []
            while True:
                with step(body):
                    try:
                        read.append(await body.next_piece())
                    except StopAsyncIteration:
                        break
            assert b"".join(read) == b"".join(EVENTS)
            await body.aclose(completed=True, background=None)
    assert server.connections == 1


async def test_in_a_step_a_barge_in_ends_a_read_waiting_on_the_socket() -> None:
    with anyio.fail_after(10):
        async with past_the_first_piece() as body:
            read: list[bytes] = []
            wait = step(body)
            async with anyio.create_task_group() as tg:

                async def read_one() -> None:
                    with wait:  # swallows the barge-in's WaitEnded, as a scope its cancel
                        read.append(await body.next_piece())

                tg.start_soon(read_one)
                while wait.scope is None:  # until the read waits on the socket
                    await anyio.lowlevel.checkpoint()
                wait.cancel()
            assert read == []


@pytest.mark.trio
async def test_in_a_step_the_read_timeout_is_httpxs_unless_the_steps_deadline_comes_first(
    autojump_clock: Any,
) -> None:
    import trio

    async with past_the_first_piece(read_timeout=5.0) as body:
        started = trio.current_time()
        with step(body, deadline=started + 2.0):  # the step's own deadline: no error here
            await body.next_piece()
            pytest.fail("a read past the step's deadline returned")
        assert trio.current_time() == pytest.approx(started + 2.0)
        with pytest.raises(httpx.ReadTimeout), step(body, deadline=started + 60.0):
            await body.next_piece()
        assert trio.current_time() == pytest.approx(started + 7.0)


async def test_in_a_step_a_closed_stream_is_httpxs_read_error() -> None:
    with anyio.fail_after(10):
        async with past_the_first_piece() as body:
            await body._response.extensions["network_stream"].inner._stream.aclose()
            with pytest.raises(httpx.ReadError), step(body):
                await body.next_piece()


async def test_a_callers_client_reads_through_httpx() -> None:
    server = answering(64, requests=1)
    with anyio.fail_after(10):
        async with server, httpx.AsyncClient(trust_env=False) as client:
            body = await stream_of(client, f"{server.base_url}/responses")
            assert not read_by_h11(body)
            assert await read_all(body) == b"".join(EVENTS)
            await body.aclose(completed=True, background=None)


async def test_with_httpcores_debug_log_on_the_body_reads_through_httpx(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = answering(64, requests=1)
    with anyio.fail_after(10), caplog.at_level(logging.DEBUG, logger="httpcore.http11"):
        async with server, with_scoped_reads(httpx.AsyncClient(trust_env=False)) as client:
            body = await stream_of(client, f"{server.base_url}/responses")
            assert not read_by_h11(body)
            assert await read_all(body) == b"".join(EVENTS)
            await body.aclose(completed=True, background=None)
    assert any("receive_response_body" in record.getMessage() for record in caplog.records)


async def test_http11_state_is_none_for_a_transport_of_the_callers() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"ok"))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://api.test/")
    assert http11_state(response) is None


# -- failures, in memory ---------------------------------------------------------------------


class Scripted:
    """A network stream whose reads return the scripted bytes or raise the scripted error."""

    def __init__(self, *script: bytes | Exception) -> None:
        self._script = list(script)
        self.timeouts: list[float | None] = []

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        self.timeouts.append(timeout)
        step = self._script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def responding(*script: bytes | Exception, timeout: float | None = None) -> tuple[Http11Body, Any]:
    """An ``Http11Body`` past a 200 head on an in-memory h11 client connection."""
    state = h11.Connection(h11.CLIENT)
    state.send(
        h11.Request(method="POST", target="/", headers=[("Host", "api"), ("Content-Length", "0")])
    )
    state.send(h11.EndOfMessage())
    state.receive_data(sse_head())
    assert type(state.next_event()) is h11.Response
    stream = Scripted(*script)
    return Http11Body(state, stream, timeout), stream  # type: ignore[arg-type]


async def test_in_memory_pieces_and_the_end() -> None:
    body, stream = responding(
        chunked(b"ab") + chunked(b"c")[:3], chunked(b"c")[3:] + chunked(b""), timeout=2.5
    )
    assert [await body.next_piece(), await body.next_piece()] == [b"ab", b"c"]
    with pytest.raises(StopAsyncIteration):
        await body.next_piece()
    assert stream.timeouts == [2.5, 2.5]  # httpx's read timeout goes to every read


async def test_a_server_that_closes_mid_body_is_a_remote_protocol_error() -> None:
    body, _ = responding(chunked(b"ab")[:4], b"")
    assert await body.next_piece() == b"a"  # h11 hands over what it has of a chunk
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        await body.next_piece()


async def test_bytes_that_are_not_http11_are_a_remote_protocol_error() -> None:
    body, _ = responding(b"zz\r\nab\r\n")
    with pytest.raises(httpx.RemoteProtocolError):
        await body.next_piece()


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpcore.ReadTimeout("timed out"), httpx.ReadTimeout),
        (httpcore.ReadError("reset"), httpx.ReadError),
    ],
)
async def test_httpcores_read_errors_become_httpxs(
    raised: Exception, expected: type[Exception]
) -> None:
    body, _ = responding(raised)
    with pytest.raises(expected, match=str(raised)) as caught:
        await body.next_piece()
    assert type(caught.value) is expected

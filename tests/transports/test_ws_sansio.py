"""The default WebSocket engine (``ws_sansio``) against scripted servers on real loopback
sockets, on both backends: the handshake, frames, closes, limits, TLS and the proxy tunnel.

Each server is a few lines over ``wire.py`` and every test is bounded by ``anyio.fail_after``;
nothing waits for time to pass.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
import sniffio

from scoped_openai import WebSocketClosed
from scoped_openai._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    LimitExceededError,
    ProtocolError,
)
from scoped_openai._transports import ws_handshake, ws_sansio
from scoped_openai._transports.websocket import open_websocket
from scoped_openai._transports.ws_sansio import SansIOWebSocket, SansIOWebSocketConnection
from support.loopback_server import Handler, serving
from support.raw_websocket import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Reader,
    accept,
    accept_head,
    close_frame,
    frame,
    headers_of,
)
from support.tls import localhost_tls_contexts

SECRET = "sk-test-secret-do-not-print"
AUTH = {"Authorization": f"Bearer {SECRET}", "OpenAI-Beta": "responses=v1"}
LIMIT = 10
MiB = 2**20


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback tests connect directly unless a test sets a proxy itself."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def connect(port: int, path: str = "/v1/responses", **kwargs: object) -> SansIOWebSocketConnection:
    return SansIOWebSocketConnection(
        f"ws://127.0.0.1:{port}{path}",
        dict(AUTH),
        connect_timeout=5,
        **kwargs,  # type: ignore[arg-type]
    )


def no_secret(exc: BaseException) -> None:
    assert SECRET not in " ".join([str(exc), repr(exc), *getattr(exc, "__notes__", [])])


# --- handshake ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_handshake_sends_our_headers_and_frames_behind_the_101_are_kept() -> None:
    seen: list[bytes] = []

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = Reader(stream)
        head = await reader.head()
        seen.append(head)
        # The first frames in the same write as the 101: nothing may be lost.
        await stream.send(accept_head(head) + frame(TEXT, "early") + frame(TEXT, "bird"))
        assert await reader.frame() == (TEXT, True, b"hello")
        await stream.send(close_frame(1000))
        assert (await reader.frame())[0] == CLOSE

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port, "/v1/responses?x=1") as ws:
            assert isinstance(ws, SansIOWebSocket)
            assert await ws.receive_text() == "early"
            assert ws.receive_text_nowait() == "bird"
            await ws.send_text("hello")
            with pytest.raises(WebSocketClosed) as info:
                await ws.receive_text()
            assert info.value.close_code == 1000
    head = seen[0]
    assert head.startswith(b"GET /v1/responses?x=1 HTTP/1.1\r\n")
    headers = headers_of(head)
    assert headers["host"] == f"127.0.0.1:{port}"
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert headers["openai-beta"] == "responses=v1"
    assert headers["upgrade"] == "websocket"
    assert headers["sec-websocket-version"] == "13"


@pytest.mark.anyio
async def test_refusal_is_the_typed_error_with_the_api_body() -> None:
    body = json.dumps({"error": {"message": "Incorrect API key", "code": "invalid_api_key"}})

    async def handler(stream: anyio.abc.ByteStream) -> None:
        await Reader(stream).head()
        await stream.send(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n"
            b"x-request-id: req_1\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body.encode())
        )

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port:
            with pytest.raises(AuthenticationError) as info:
                async with connect(port):
                    pytest.fail("refused")
    assert info.value.code == "invalid_api_key"
    assert info.value.request_id == "req_1"
    assert "Incorrect API key" in str(info.value)
    no_secret(info.value)


@pytest.mark.anyio
async def test_a_401_with_a_30_mb_body_is_read_bounded() -> None:
    """Issue 18: the status and the start of the body make the error; the rest is never
    read (the server cannot even write it all: the client hung up)."""
    body = json.dumps({"error": {"message": "Incorrect API key", "code": "invalid_api_key"}})
    size = 30 * MiB
    sent = [0]

    async def handler(stream: anyio.abc.ByteStream) -> None:
        await Reader(stream).head()
        await stream.send(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: %d\r\n\r\n" % size)
        await stream.send(body.encode())
        sent[0] = len(body)
        pad = b" " * 65536
        while sent[0] < size:
            await stream.send(pad)
            sent[0] += len(pad)

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port:
            with pytest.raises(AuthenticationError) as info:
                async with connect(port):
                    pytest.fail("refused")
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert sent[0] < size  # the client stopped reading and hung up


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        # A 101 without Sec-WebSocket-Accept.
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        # A 101 with the wrong one.
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",  # not HTTP
    ],
    ids=["no-accept", "wrong-accept", "not-http"],
)
async def test_a_bad_101_is_a_protocol_error(answer: bytes) -> None:
    async def handler(stream: anyio.abc.ByteStream) -> None:
        await Reader(stream).head()
        await stream.send(answer)
        await anyio.sleep_forever()  # the client must not wait for more

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port:
            with pytest.raises(ProtocolError):
                async with connect(port):
                    pytest.fail("not a WebSocket")


@pytest.mark.anyio
async def test_a_100_mb_header_is_refused_after_the_head_limit() -> None:
    sent = [0]

    async def handler(stream: anyio.abc.ByteStream) -> None:
        await Reader(stream).head()
        await stream.send(b"HTTP/1.1 101 Switching Protocols\r\nX-Huge: ")
        chunk = b"a" * 65536
        while sent[0] < 100 * MiB:
            await stream.send(chunk)
            sent[0] += len(chunk)

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port:
            with pytest.raises(ProtocolError, match="65,536 bytes"):
                async with connect(port):
                    pytest.fail("not a WebSocket")
    assert sent[0] < 100 * MiB
    assert ws_handshake.HEAD_LIMIT == 64 * 1024


@pytest.mark.anyio
@pytest.mark.parametrize("status", [301, 307, 308])
async def test_a_redirect_is_never_followed(status: int) -> None:
    requests: list[bytes] = []

    async def handler(stream: anyio.abc.ByteStream) -> None:
        requests.append(await Reader(stream).head())
        await stream.send(
            b"HTTP/1.1 %d Moved\r\nlocation: ws://127.0.0.1:1/elsewhere\r\n"
            b"content-length: 0\r\n\r\n" % status
        )

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port:
            with pytest.raises(APIStatusError, match="redirects are not followed") as caught:
                async with connect(port):
                    pytest.fail("redirected")
    assert caught.value.status_code == status
    assert "redirected to ws://127.0.0.1" in str(caught.value)
    assert len(requests) == 1


# --- frames ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_fragments_pings_and_an_unsolicited_pong() -> None:
    """One write: a fragmented message, a ping, an unsolicited pong (RFC 6455 §5.5.3: to be
    ignored), a binary message, then text. The ping is answered with its payload."""
    pongs: list[bytes] = []

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        await stream.send(
            frame(TEXT, "frag", fin=False)
            + frame(PING, b"are you there")
            + frame(CONT, "men", fin=False)
            + frame(PONG, b"unsolicited")
            + frame(CONT, "ted \u2028 \u00e9")
            + frame(BINARY, b"\x00\x01")
            + frame(TEXT, "after")
        )
        opcode, _, payload = await reader.frame()
        assert opcode == PONG
        pongs.append(payload)
        assert await reader.frame() == (TEXT, True, b"done")
        await stream.send(close_frame(1000))
        await reader.frame()

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            assert await ws.receive_text() == "fragmented \u2028 \u00e9"
            with pytest.raises(ProtocolError, match="binary"):
                ws.receive_text_nowait()
            assert ws.receive_text_nowait() == "after"  # the socket stays usable
            await ws.send_text("done")
            with pytest.raises(WebSocketClosed):
                await ws.receive_text()
    assert pongs == [b"are you there"]


@pytest.mark.anyio
@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "going away"), (1011, "oops")])
async def test_close_codes_reach_the_caller_after_the_messages_before_them(
    code: int, reason: str
) -> None:
    answered: list[int] = []

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        await stream.send(frame(TEXT, "last words") + close_frame(code, reason))
        opcode, _, payload = await reader.frame()  # the client echoes the close
        assert opcode == CLOSE
        answered.append(int.from_bytes(payload[:2], "big"))

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            assert await ws.receive_text() == "last words"
            with pytest.raises(WebSocketClosed) as info:
                await ws.receive_text()
            assert (info.value.close_code, info.value.reason) == (code, reason)
            assert ws.closed
            with pytest.raises(WebSocketClosed):  # remembered, never hangs
                await ws.receive_text()
            with pytest.raises(WebSocketClosed):
                await ws.send_text("too late")
    assert answered == [code]


@pytest.mark.anyio
async def test_a_dropped_connection_is_1006() -> None:
    async def handler(stream: anyio.abc.ByteStream) -> None:
        await accept(stream)
        await stream.send(frame(TEXT, "one"))
        await stream.aclose()  # TCP gone, no close frame

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            assert await ws.receive_text() == "one"
            with pytest.raises(WebSocketClosed) as info:
                await ws.receive_text()
            assert info.value.close_code == 1006


@pytest.mark.anyio
async def test_our_close_code_reaches_the_server_and_the_close_is_bounded() -> None:
    closes: list[bytes] = []

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        opcode, _, payload = await reader.frame()
        assert opcode == CLOSE
        closes.append(payload)
        await stream.send(frame(CLOSE, payload))

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            await ws.aclose(4000, "retired")
            await ws.aclose(4001, "again")  # idempotent
            with pytest.raises(WebSocketClosed) as info:
                await ws.receive_text()
            assert (info.value.close_code, info.value.reason) == (4000, "retired")
    assert closes == [(4000).to_bytes(2, "big") + b"retired"]


@pytest.mark.anyio
async def test_one_message_over_the_limit_is_refused_before_its_payload_arrives() -> None:
    closes: list[bytes] = []
    handled = anyio.Event()

    async def handler(stream: anyio.abc.ByteStream) -> None:
        try:
            reader = await accept(stream)
            # Only the header of a 50 MB frame: the client refuses on its declared length.
            await stream.send(b"\x81\x7f" + (50 * MiB).to_bytes(8, "big"))
            opcode, _, payload = await reader.frame()
            assert opcode == CLOSE
            closes.append(payload[:2])
        finally:
            handled.set()

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port:
            async with connect(port) as ws:
                with pytest.raises(LimitExceededError, match="16,777,216") as info:
                    await ws.receive_text()
                assert info.value.limit == "MAX_MESSAGE_SIZE"
                with pytest.raises(WebSocketClosed) as closed:
                    await ws.receive_text()
                assert closed.value.close_code == 1009
            # The client drops the connection right after its close frame (the protocol
            # failed: no close handshake to wait for); the handler reads that frame in a
            # later step, which leaving ``serving`` would cancel first on some anyio versions.
            await handled.wait()
    assert closes == [(1009).to_bytes(2, "big")]


@pytest.mark.anyio
async def test_200_mb_of_fragments_are_refused_at_the_limit() -> None:
    sent = [0]

    async def handler(stream: anyio.abc.ByteStream) -> None:
        await accept(stream)
        piece = b"x" * MiB
        await stream.send(frame(TEXT, piece, fin=False))
        sent[0] = len(piece)
        while sent[0] < 200 * MiB:
            await stream.send(frame(CONT, piece, fin=False))
            sent[0] += len(piece)

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            with pytest.raises(LimitExceededError):
                await ws.receive_text()
    assert sent[0] < 200 * MiB


FLOOD_MESSAGE = "x" * 1000
FLOOD_COUNT = 5000  # about 5 MB


async def flood(stream: anyio.abc.ByteStream) -> None:
    """A server that sends ``FLOOD_COUNT`` messages at once, then waits for the close."""
    reader = await accept(stream)
    await stream.send(b"".join(frame(TEXT, FLOOD_MESSAGE) for _ in range(FLOOD_COUNT)))
    await reader.frame()  # until the client closes


async def receive_the_rest_of_the_flood(ws: SansIOWebSocket, got: int) -> None:
    while got < FLOOD_COUNT:  # and nothing was lost
        assert await ws.receive_text() == FLOOD_MESSAGE
        got += 1


@pytest.mark.anyio
async def test_a_paused_consumer_holds_at_most_one_read() -> None:
    """The engine reads only when asked: after one message it holds what one read brought
    (at most ``READ_SIZE`` bytes of frames), whatever the server has sent since."""
    with anyio.fail_after(LIMIT):
        async with serving(flood) as port, connect(port) as ws:
            assert await ws.receive_text() == FLOOD_MESSAGE
            held = 0
            while ws.receive_text_nowait() is not None:
                held += 1
            assert held * len(FLOOD_MESSAGE) <= ws_sansio.READ_SIZE
            await receive_the_rest_of_the_flood(ws, 1 + held)


#: What one asyncio socket read may bring past ``READ_AHEAD`` (the selector transport's
#: read size).
ONE_ASYNCIO_READ = 256 * 1024


@pytest.mark.anyio
async def test_the_socket_reads_ahead_of_a_paused_consumer_at_most_read_ahead(
    anyio_backend: str,
) -> None:
    """On asyncio the socket keeps reading between two reads (no selector churn per read)
    but stops once ``READ_AHEAD`` bytes wait in anyio's queue: memory stays bounded
    however long the consumer pauses, and nothing is lost. On trio a read reads the socket
    itself and nothing queues."""
    largest = 0
    with anyio.fail_after(LIMIT):
        async with serving(flood) as port, connect(port) as ws:
            inner = ws._stream
            if anyio_backend == "trio":
                assert ws_sansio.read_ahead(inner, ws_sansio.READ_AHEAD) is False
            else:
                protocol = inner._protocol  # type: ignore[attr-defined]
                received = protocol.data_received

                def watched(data: bytes) -> None:
                    nonlocal largest
                    received(data)
                    largest = max(largest, sum(map(len, protocol.read_queue)))

                protocol.data_received = watched
            assert await ws.receive_text() == FLOOD_MESSAGE
            for _ in range(20):  # the consumer pauses; the loop runs on
                await anyio.wait_all_tasks_blocked()
            if anyio_backend != "trio":
                assert inner._transport.is_reading() is False  # type: ignore[attr-defined]
                assert 0 < largest <= ws_sansio.READ_AHEAD + ONE_ASYNCIO_READ
            await receive_the_rest_of_the_flood(ws, 1)
    assert largest <= ws_sansio.READ_AHEAD + ONE_ASYNCIO_READ


@pytest.mark.anyio
async def test_ping_sends_a_ping_frame() -> None:
    pings: list[int] = []

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        opcode, _, payload = await reader.frame()
        pings.append(opcode)
        await stream.send(frame(PONG, payload) + frame(TEXT, "still here"))
        await reader.frame()

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            await ws.ping()
            assert await ws.receive_text() == "still here"  # the pong was skipped
    assert pings == [PING]


def two_frames_after(go: anyio.Event) -> Handler:
    """A server that sends the frames "one" and "two" together once ``go`` is set."""

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        await go.wait()
        await stream.send(frame(TEXT, "one") + frame(TEXT, "two"))
        await reader.frame()

    return handler


@pytest.mark.anyio
async def test_bytes_that_arrive_are_watched_without_being_read(anyio_backend: str) -> None:
    """``watch_incoming`` (asyncio, plain socket): the wake comes from the bytes' arrival,
    nothing is read until asked; with bytes (or the end) already here it says read
    instead. On trio (a read reads the socket itself) nothing can be watched."""
    go = anyio.Event()
    handler = two_frames_after(go)

    woken: list[int] = []
    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            if anyio_backend == "trio":
                assert ws.watch_incoming(lambda: woken.append(1)) is False
                go.set()
            else:
                arrived = anyio.Event()
                assert ws.watch_incoming(lambda: (woken.append(1), arrived.set())) is True
                go.set()
                await arrived.wait()
                assert ws.receive_text_nowait() is None  # not read: only noticed
                assert ws.watch_incoming(lambda: None) is False  # bytes wait: read them
                assert ws.watch_incoming(None) is True
            assert await ws.receive_text() == "one"
            if anyio_backend != "trio":
                assert ws.watch_incoming(lambda: None) is False  # "two" was read with it
            assert await ws.receive_text() == "two"
            if anyio_backend != "trio":
                assert ws.watch_incoming(lambda: woken.append(2)) is True
                ws.watch_incoming(None)
    assert woken == ([] if anyio_backend == "trio" else [1])


async def echo_one_frame(stream: anyio.abc.ByteStream) -> None:
    """A server that echoes one text frame, then waits for the client's close."""
    reader = await accept(stream)
    _, _, payload = await reader.frame()
    await stream.send(frame(TEXT, payload))
    await reader.frame()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # only an asyncio socket is watched
async def test_a_socket_read_through_anyios_receive_is_never_watched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where ``_compat.asyncio_socket_receiver`` gives None (a newer anyio that moved
    ``_protocol.read_event``, ``is_at_eof`` or ``exception``), the socket reads through
    anyio's ``receive`` and is not watched either: ``watch_incoming`` reads the same names,
    and a watch failing in the pool's slot task closed every socket right after its
    handshake (every turn a ``WebSocketClosed``)."""
    monkeypatch.setattr(ws_sansio, "asyncio_socket_receiver", lambda stream: None)

    with anyio.fail_after(LIMIT):
        async with serving(echo_one_frame) as port, connect(port) as ws:
            assert ws.watch_incoming(lambda: None) is False
            await ws.send_text("echo")
            assert await ws.receive_text() == "echo"


# --- TLS and the proxy tunnel ---------------------------------------------------------------


@asynccontextmanager
async def tls_server(handler: Handler) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    """A TLS server with a certificate for ``localhost`` from a test CA (trustme); yields
    its port and a client context that trusts that CA."""
    server_context, client_context = localhost_tls_contexts()
    async with serving(handler, tls=server_context) as port:
        yield port, client_context


async def echo_once(stream: anyio.abc.ByteStream) -> None:
    reader = await accept(stream)
    _, _, payload = await reader.frame()
    await stream.send(frame(TEXT, payload) + close_frame(1000))
    await reader.frame()


async def echo_over_tls(port: int, context: ssl.SSLContext, text: str) -> None:
    async with SansIOWebSocketConnection(
        f"wss://localhost:{port}/v1/responses", AUTH, connect_timeout=5, ssl_context=context
    ) as ws:
        # Watched between turns under TLS too, also in a proxy's tunnel (the socket once
        # the proxy answered): on asyncio the socket beneath calls back; trio reads.
        watched = sniffio.current_async_library() == "asyncio"
        assert ws.watch_incoming(lambda: None) is watched
        ws.watch_incoming(None)
        await ws.send_text(text)
        assert await ws.receive_text() == text


@pytest.mark.anyio
async def test_wss_with_a_trusted_certificate() -> None:
    with anyio.fail_after(LIMIT):
        async with tls_server(echo_once) as (port, context):
            await echo_over_tls(port, context, "over tls")


@pytest.mark.anyio
async def test_a_certificate_that_fails_verification_says_so_at_once() -> None:
    """Issue 18: not a 15 s connect timeout; the default trust does not know the test CA."""
    with anyio.fail_after(LIMIT):
        async with tls_server(echo_once) as (port, _):
            with pytest.raises(APIConnectionError, match="failed verification") as info:
                async with SansIOWebSocketConnection(
                    f"wss://localhost:{port}/v1/responses", AUTH, connect_timeout=15
                ):
                    pytest.fail("an unknown CA must not be trusted")
    assert type(info.value) is APIConnectionError  # not APITimeoutError
    no_secret(info.value)


class ConnectProxy:
    """A loopback HTTP CONNECT proxy: records each request head, then pipes both ways."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []

    async def handle(self, client: anyio.abc.ByteStream) -> None:
        reader = Reader(client)
        head = await reader.head()
        self.heads.append(head)
        host, _, port = head.split()[1].decode().rpartition(":")
        async with await anyio.connect_tcp(host.strip("[]"), int(port)) as upstream:
            await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            async with anyio.create_task_group() as tg:

                async def pump(src: anyio.abc.ByteStream, dst: anyio.abc.ByteStream) -> None:
                    try:
                        async for data in src:
                            await dst.send(data)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                    tg.cancel_scope.cancel()

                if reader.buffer:
                    await upstream.send(reader.buffer)
                tg.start_soon(pump, client, upstream)
                tg.start_soon(pump, upstream, client)


@pytest.mark.anyio
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "all_proxy"])
async def test_the_environment_proxy_carries_the_websocket(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ConnectProxy()
    with anyio.fail_after(LIMIT):
        async with serving(echo_once) as port, serving(proxy.handle) as proxy_port:
            monkeypatch.setenv(variable, f"http://user:p%40ss@127.0.0.1:{proxy_port}")
            async with open_websocket(
                f"ws://127.0.0.1:{port}/v1/responses", AUTH, client=None, connect_timeout=5
            ) as ws:
                await ws.send_text("tunnelled")
                assert await ws.receive_text() == "tunnelled"
    assert len(proxy.heads) == 1
    head = proxy.heads[0]
    assert head.startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n".encode())
    # Basic user:p@ss; the API key never goes to the proxy in clear (it is inside the tunnel).
    assert headers_of(head)["proxy-authorization"] == "Basic dXNlcjpwQHNz"
    assert SECRET.encode() not in head


@pytest.mark.anyio
async def test_wss_through_the_proxy_and_no_proxy_bypass(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = ConnectProxy()
    with anyio.fail_after(LIMIT):
        async with tls_server(echo_once) as (port, context), serving(proxy.handle) as proxy_port:
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
            await echo_over_tls(port, context, "tls in the tunnel")
            assert len(proxy.heads) == 1
            monkeypatch.setenv("NO_PROXY", "localhost")
            await echo_over_tls(port, context, "direct")
    assert len(proxy.heads) == 1  # NO_PROXY: the second socket went direct


@pytest.mark.anyio
async def test_a_proxy_that_refuses_the_tunnel_is_a_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(stream: anyio.abc.ByteStream) -> None:
        await Reader(stream).head()
        await stream.send(
            b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n"
        )

    with anyio.fail_after(LIMIT):
        async with serving(refuse) as proxy_port:
            monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{proxy_port}")
            with pytest.raises(APIConnectionError, match="HTTP 407"):
                async with connect(9):
                    pytest.fail("the proxy refused")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # only an asyncio socket is watched
async def test_a_tls_socket_whose_buffer_cannot_be_seen_is_not_watched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where ``_compat.tls_buffered_input`` gives None (a future anyio that moved its
    ``TLSStream``'s read buffer), a TLS socket is not watched: the slot reads it between
    turns as before, and it works as ever."""
    monkeypatch.setattr(ws_sansio, "tls_buffered_input", lambda stream: None)
    with anyio.fail_after(LIMIT):
        async with (
            tls_server(echo_one_frame) as (port, context),
            SansIOWebSocketConnection(
                f"wss://localhost:{port}/v1/responses", AUTH, connect_timeout=5, ssl_context=context
            ) as ws,
        ):
            assert ws.watch_incoming(lambda: None) is False
            await ws.send_text("echo")
            assert await ws.receive_text() == "echo"


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # only an asyncio socket is watched
async def test_tls_records_that_arrive_are_watched_without_being_read() -> None:
    """``watch_incoming`` under TLS: the wake comes from the encrypted bytes' arrival,
    nothing is read (or decrypted) until asked; bytes there, or a message read with the
    previous one, mean read instead."""
    go = anyio.Event()
    handler = two_frames_after(go)

    with anyio.fail_after(LIMIT):
        async with (
            tls_server(handler) as (port, context),
            SansIOWebSocketConnection(
                f"wss://localhost:{port}/v1/responses", AUTH, connect_timeout=5, ssl_context=context
            ) as ws,
        ):
            arrived = anyio.Event()
            assert ws.watch_incoming(arrived.set) is True
            go.set()
            await arrived.wait()
            assert ws.receive_text_nowait() is None  # not read: only noticed
            assert ws.watch_incoming(lambda: None) is False  # bytes wait: read them
            assert await ws.receive_text() == "one"
            assert ws.watch_incoming(lambda: None) is False  # "two" was read with it
            assert await ws.receive_text() == "two"
            assert ws.watch_incoming(lambda: None) is True
            ws.watch_incoming(None)


@pytest.mark.anyio
@pytest.mark.parametrize("writer", ["direct", "missing"])
async def test_a_request_larger_than_the_socket_takes_arrives_whole(
    anyio_backend: str, writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request is written straight to the socket where it can be (``_write_now``); what
    the socket does not take at once, and every write where the writer is missing (a
    future anyio or trio moved its names), goes through anyio's ``send``: the server gets
    the one frame whole either way."""
    if writer == "missing":
        monkeypatch.setattr(ws_sansio, "asyncio_socket_writer", lambda stream: None)
        monkeypatch.setattr(ws_sansio, "trio_socket_writer", lambda stream: None)
    text = "x" * (8 * MiB)
    received: list[tuple[int, bool, int]] = []

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        opcode, fin, payload = await reader.frame()
        received.append((opcode, fin, len(payload)))
        await stream.send(frame(TEXT, str(payload == text.encode())))
        await reader.frame()

    written: list[int] = []
    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            assert isinstance(ws, SansIOWebSocket)
            trio_write = ws._trio_write
            if anyio_backend == "trio" and writer == "direct":
                assert trio_write is not None

                def spy(data: bytes) -> int:
                    assert trio_write is not None
                    written.append(trio_write(data))
                    return written[-1]

                ws._trio_write = spy
            else:
                assert trio_write is None
            await ws.send_text(text)
            assert await ws.receive_text() == "True"
    assert received == [(TEXT, True, len(text))]
    if anyio_backend == "trio" and writer == "direct":
        # The socket took part of the frame at once (not all: 8 MiB is more than a
        # loopback socket buffers), anyio's send wrote the rest; the close went after it.
        assert 0 < written[0] < len(text)


@pytest.mark.anyio
async def test_a_task_already_cancelled_sends_nothing() -> None:
    """``send_text`` in a scope already cancelled raises before anything is written, as
    anyio's ``send`` does: the direct writes (``asyncio_socket_writer``,
    ``trio_socket_writer``) have no checkpoint of their own, and a turn started by a
    cancelled task must not put its request in front of the server."""
    got: list[bytes] = []
    received = anyio.Event()

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        _, _, payload = await reader.frame()
        got.append(payload)
        received.set()
        await reader.frame()

    with anyio.fail_after(LIMIT):
        async with serving(handler) as port, connect(port) as ws:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await ws.send_text("from a cancelled task")
            assert scope.cancelled_caught
            await ws.send_text("sent")
            await received.wait()
    assert got == [b"sent"]

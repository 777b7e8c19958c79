"""The WebSocket seam: the in-memory pair, and the real adapters against a loopback server.

The real adapters (trio-websocket under trio, httpx-ws under asyncio) are tested against one
ASGI app served by hypercorn on 127.0.0.1, on both backends. Every test is bounded by
``anyio.fail_after``; waits are on events, never on sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from functools import partial
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest
import trio.testing
import wsproto
import wsproto.events

from scoped_openai._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
)
from scoped_openai._transports.refusal import refusal_error
from scoped_openai._transports.websocket import (
    WebSocket,
    WebSocketClosed,
    WebSocketEngine,
    current_async_library,
    default_connector,
    open_websocket,
)
from scoped_openai._transports.ws_base import describe_url, resolve_exit
from scoped_openai._transports.ws_memory import MemoryConnector, memory_websocket_pair

SECRET = "sk-test-secret-do-not-print"
AUTH = {"Authorization": f"Bearer {SECRET}", "OpenAI-Beta": "responses=v1"}
LIMIT = 10


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["websockets", "native"])
def engine(request: pytest.FixtureRequest, anyio_backend: str) -> WebSocketEngine:
    """The default engine, and the backend's own library (trio-websocket, httpx-ws)."""
    if request.param == "websockets":
        return "websockets"
    return "trio-websocket" if anyio_backend == "trio" else "httpx-ws"


# --- the in-memory pair ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_memory_pair_round_trips_both_ways() -> None:
    with anyio.fail_after(LIMIT):
        client, server = memory_websocket_pair("wss://example/v1/responses", AUTH)
        async with client, server:
            assert isinstance(client, WebSocket)
            assert server.request_headers["Authorization"] == AUTH["Authorization"]
            await client.send_text("ping")
            await client.send_text("two")
            assert await server.receive_text() == "ping"
            assert await server.receive_text() == "two"
            await server.send_text("pong \u2028 é")
            assert await client.receive_text() == "pong \u2028 é"
            assert (client.sent_frames, client.received_frames) == (2, 1)
            assert (server.sent_frames, server.received_frames) == (1, 2)
            assert not client.closed
            assert not server.closed


@pytest.mark.anyio
async def test_memory_close_code_reaches_pending_receive_after_queued_frames() -> None:
    with anyio.fail_after(LIMIT):
        client, server = memory_websocket_pair()
        received: list[str] = []
        caught: list[WebSocketClosed] = []

        async def read_all() -> None:
            try:
                while True:
                    received.append(await client.receive_text())
            except WebSocketClosed as exc:
                caught.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read_all)
            await server.send_text("last words")
            await anyio.wait_all_tasks_blocked()
            await server.aclose(1011, "server error")

        assert received == ["last words"]
        assert caught[0].close_code == 1011
        assert caught[0].reason == "server error"
        assert str(caught[0]) == "the WebSocket closed (code 1011: server error)"
        assert isinstance(caught[0], APIConnectionError)
        assert client.closed
        # Every later call raises the same close; sending too.
        with pytest.raises(WebSocketClosed) as again:
            await client.receive_text()
        assert again.value.close_code == 1011
        with pytest.raises(WebSocketClosed) as send:
            await client.send_text("too late")
        assert send.value.close_code == 1011
        await client.aclose()


@pytest.mark.anyio
async def test_memory_nowait_takes_queued_frames_and_leaves_the_close() -> None:
    with anyio.fail_after(LIMIT):
        client, server = memory_websocket_pair()
        assert client.receive_text_nowait() is None  # nothing queued: no wait, no frame
        await server.send_text("a")
        await server.send_text("b")
        await server.send_bytes(b"\x00")
        await server.send_text("c")
        await server.aclose(1011, "server error")
        assert client.receive_text_nowait() == "a"
        assert client.receive_text_nowait() == "b"
        with pytest.raises(ProtocolError, match="binary"):
            client.receive_text_nowait()
        assert client.receive_text_nowait() == "c"
        assert client.receive_text_nowait() is None  # the close is not a frame...
        with pytest.raises(WebSocketClosed) as closed:  # ...receive_text reports it
            await client.receive_text()
        assert closed.value.close_code == 1011
        assert client.receive_text_nowait() is None
        await client.aclose()


@pytest.mark.anyio
async def test_memory_abort_is_1006_and_receive_after_own_close_raises() -> None:
    with anyio.fail_after(LIMIT):
        client, server = memory_websocket_pair()
        server.abort()
        with pytest.raises(WebSocketClosed) as info:
            await client.receive_text()
        assert info.value.close_code == 1006
        await client.aclose()

        client, server = memory_websocket_pair()
        await client.aclose(4000, "bye")
        await client.aclose(1000)  # idempotent: the first close stands
        assert client.closed
        with pytest.raises(WebSocketClosed) as own:
            await client.receive_text()
        assert (own.value.close_code, own.value.reason) == (4000, "bye")
        with pytest.raises(WebSocketClosed) as peer:
            await server.receive_text()
        assert (peer.value.close_code, peer.value.reason) == (4000, "bye")
        await server.aclose()
        await server.aclose()


@pytest.mark.anyio
async def test_memory_binary_frame_is_a_protocol_error_and_socket_stays_usable() -> None:
    with anyio.fail_after(LIMIT):
        client, server = memory_websocket_pair()
        async with client, server:
            await server.send_bytes(b"\x00\x01")
            await server.send_text("after")
            with pytest.raises(ProtocolError):
                await client.receive_text()
            assert await client.receive_text() == "after"


@pytest.mark.anyio
async def test_memory_connector_hands_server_ends_to_accept() -> None:
    with anyio.fail_after(LIMIT):
        async with MemoryConnector() as connector:
            async with connector("wss://api.example/v1/responses", AUTH) as ws:
                server = await connector.accept()
                assert server.url == "wss://api.example/v1/responses"
                assert server.request_headers == AUTH
                await ws.send_text("hello")
                assert await server.receive_text() == "hello"
            # Leaving the block closed the client end with 1000.
            with pytest.raises(WebSocketClosed) as info:
                await server.receive_text()
            assert info.value.close_code == 1000
            await server.aclose()
            async with connector("wss://x/", {}):
                pass  # never accepted: the connector's own close closes its server end
            assert connector.connections == 2


@pytest.mark.parametrize(
    "anyio_backend",
    [pytest.param(("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), id="mock")],
)
@pytest.mark.anyio
async def test_memory_pair_runs_on_trio_virtual_time() -> None:
    real_start = time.monotonic()
    virtual_start = anyio.current_time()
    client, server = memory_websocket_pair()
    async with client, server, anyio.create_task_group() as tg:

        async def slow_server() -> None:
            await anyio.sleep(300)  # virtual: the autojump clock skips it
            await server.send_text("late")
            await server.aclose(1001, "going away")

        tg.start_soon(slow_server)
        with anyio.fail_after(600):
            assert await client.receive_text() == "late"
            with pytest.raises(WebSocketClosed) as info:
                await client.receive_text()
    assert info.value.close_code == 1001
    assert anyio.current_time() - virtual_start >= 300
    assert time.monotonic() - real_start < 5


# --- exit resolution (no ExceptionGroup ever leaves an adapter) ----------------------------


def _mapper(exc: BaseException) -> BaseException:
    if isinstance(exc, OSError):
        return APIConnectionError("mapped")
    return exc


async def _a_cancellation() -> BaseException:
    """A real cancellation exception (trio's has no public constructor)."""
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.lowlevel.checkpoint()
        except anyio.get_cancelled_exc_class() as exc:
            return exc
    raise AssertionError("the checkpoint was not cancelled")


@pytest.mark.anyio
async def test_resolve_exit_unwraps_groups() -> None:
    body = ValueError("the block's own")
    # The block's own exception, merely wrapped: it propagates unchanged (False).
    group = BaseExceptionGroup("g", [body, await _a_cancellation()])
    assert resolve_exit(group, body, _mapper) is False
    # A library error alone in a group: mapped, raised bare, the group as its cause.
    with pytest.raises(APIConnectionError, match="mapped") as info:
        resolve_exit(ExceptionGroup("g", [ExceptionGroup("h", [OSError("x")])]), None, _mapper)
    assert isinstance(info.value.__cause__, OSError)
    # Errors win over cancellations raised beside them; KeyboardInterrupt wins over errors.
    with pytest.raises(APIConnectionError):
        resolve_exit(BaseExceptionGroup("g", [await _a_cancellation(), OSError()]), None, _mapper)
    with pytest.raises(KeyboardInterrupt):
        resolve_exit(BaseExceptionGroup("g", [OSError(), KeyboardInterrupt()]), None, _mapper)


# --- a loopback server: one ASGI app, served by hypercorn on both backends -----------------


class WsApp:
    """ASGI app. Paths: /echo, /close1011, /binary, /reject401, /reject429, /deny (403)."""

    def __init__(self) -> None:
        self.active = 0
        self.accepted = 0
        self.headers: list[dict[str, str]] = []
        self.disconnect_codes: list[int] = []
        self.idle = anyio.Event()

    async def wait_idle(self) -> None:
        """Until every accepted connection has ended on the server side."""
        if self.active:
            await self.idle.wait()
        assert self.active == 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "websocket":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        assert (await receive())["type"] == "websocket.connect"
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        path = scope["path"]
        if path == "/redirect":
            location = b"https://elsewhere.example/v1/responses?api-key=x"
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 307,
                    "headers": [(b"location", location), (b"content-length", b"0")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b""})
            return
        if path.startswith("/reject"):
            status = int(path[len("/reject") :])
            body = {
                "error": {
                    "message": "Incorrect API key provided",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"x-request-id", b"req_123"),
                        (b"retry-after", b"3"),
                    ],
                }
            )
            await send({"type": "websocket.http.response.body", "body": json.dumps(body).encode()})
            return
        if path == "/deny":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        self.active += 1
        self.accepted += 1
        try:
            if path == "/close1011":
                await receive()
                await send({"type": "websocket.send", "text": "partial"})
                await send({"type": "websocket.close", "code": 1011, "reason": "server error"})
                return
            if path == "/binary":
                await send({"type": "websocket.send", "bytes": b"\x00\x01"})
                await send({"type": "websocket.send", "text": "after"})
            while True:  # /echo (and /binary after its frames)
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    self.disconnect_codes.append(message.get("code", 1005))
                    return
                await send({"type": "websocket.send", "text": message.get("text")})
        finally:
            self.active -= 1
            if self.active == 0:
                self.idle.set()
                self.idle = anyio.Event()


class LoopbackServer:
    """hypercorn on 127.0.0.1 at a free port; class-based (it holds a task group open)."""

    def __init__(self, app: WsApp) -> None:
        self.app = app
        self._stop = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> LoopbackServer:
        from hypercorn.config import Config

        # Bound and listening before hypercorn starts: connections queue in the backlog.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn closes the fd it gets
        config.graceful_timeout = 0.5
        config.accesslog = None
        config.errorlog = None
        config.websocket_ping_interval = None
        if current_async_library() == "trio":
            from hypercorn.trio import serve
        else:
            from hypercorn.asyncio import serve  # type: ignore[assignment]
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(partial(serve, self.app, config, shutdown_trigger=self._stop.wait))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._stop.set()
        assert self._tg is not None
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            assert self._sock is not None
            self._sock.close()


def _no_secret(exc: BaseException) -> None:
    text = " ".join([str(exc), repr(exc), *getattr(exc, "__notes__", [])])
    assert SECRET not in text


# --- the real adapters over loopback ---------------------------------------------------------


@pytest.mark.anyio
async def test_real_echo_headers_and_clean_close(engine: WebSocketEngine) -> None:
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:
            async with open_websocket(
                server.url("/echo"), AUTH, client=None, connect_timeout=5, engine=engine
            ) as ws:
                assert isinstance(ws, WebSocket)
                await ws.send_text('{"type": "response.create"}')
                assert await ws.receive_text() == '{"type": "response.create"}'
                big = "é\u2028" * 100_000  # fragmented on the wire, one message to us
                await ws.send_text(big)
                assert await ws.receive_text() == big
                assert not ws.closed
            assert ws.closed
            await server.app.wait_idle()
            seen = server.app.headers[0]
            assert seen["authorization"] == f"Bearer {SECRET}"
            assert seen["openai-beta"] == "responses=v1"
            # hypercorn reports every client-initiated close as 1006 to the app, so the code
            # itself is checked against a wsproto server below.
            assert len(server.app.disconnect_codes) == 1
            assert server.app.accepted == 1


class WsprotoServer:
    """A bare wsproto echo server on anyio: it records the close code the client sent."""

    def __init__(self, *, drop_after_first: bool = False) -> None:
        self.closes: list[tuple[int, str | None]] = []
        self.finished = anyio.Event()
        # Echo one message, then drop TCP without a close frame (a network failure).
        self.drop_after_first = drop_after_first

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        async with stream:
            try:
                while True:
                    try:
                        data: bytes | None = await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        data = None
                    ws.receive_data(data)
                    for event in ws.events():
                        if isinstance(event, wsproto.events.Request):
                            await stream.send(ws.send(wsproto.events.AcceptConnection()))
                        elif isinstance(event, wsproto.events.TextMessage):
                            await stream.send(ws.send(wsproto.events.TextMessage(event.data)))
                            if self.drop_after_first:
                                return  # ``async with stream`` closes TCP: no close frame
                        elif isinstance(event, wsproto.events.CloseConnection):
                            self.closes.append((event.code, event.reason))
                            # The reply may find the client gone (httpx-ws drops TCP at once).
                            with contextlib.suppress(anyio.BrokenResourceError):
                                await stream.send(ws.send(event.response()))
                            return
                    if data is None:
                        return
            finally:
                self.finished.set()


@pytest.mark.anyio
async def test_real_local_close_code_reaches_server_and_is_idempotent(
    engine: WebSocketEngine,
) -> None:
    server = WsprotoServer()
    with anyio.fail_after(LIMIT):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, server.handle)
            connect = default_connector(None, 5.0, engine)
            async with connect(f"ws://127.0.0.1:{port}/v1/responses", AUTH) as ws:
                await ws.send_text("hi")
                assert await ws.receive_text() == "hi"
                await ws.aclose(4000, "retired")
                await ws.aclose(4001, "again")  # idempotent: no second close frame
                assert ws.closed
                with pytest.raises(WebSocketClosed) as info:
                    await ws.receive_text()
                assert (info.value.close_code, info.value.reason) == (4000, "retired")
                with pytest.raises(WebSocketClosed):
                    await ws.send_text("too late")
            await server.finished.wait()
            tg.cancel_scope.cancel()
    assert server.closes == [(4000, "retired")]


@pytest.mark.anyio
async def test_real_dropped_connection_is_1006(engine: WebSocketEngine) -> None:
    server = WsprotoServer(drop_after_first=True)
    with anyio.fail_after(LIMIT):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, server.handle)
            async with open_websocket(
                f"ws://127.0.0.1:{port}/", AUTH, client=None, connect_timeout=5, engine=engine
            ) as ws:
                await ws.send_text("one")
                assert await ws.receive_text() == "one"
                with pytest.raises(WebSocketClosed) as info:
                    await ws.receive_text()
                assert info.value.close_code == 1006
                assert ws.closed
                with pytest.raises(WebSocketClosed) as again:  # remembered, never hangs
                    await ws.receive_text()
                assert again.value.close_code == 1006
            tg.cancel_scope.cancel()
    assert server.closes == []


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # trio-websocket sends no pings
@pytest.mark.anyio
async def test_httpx_ws_keepalive_timeout_is_1006(monkeypatch: pytest.MonkeyPatch) -> None:
    from scoped_openai._transports import ws_httpx

    monkeypatch.setattr(ws_httpx, "KEEPALIVE_INTERVAL", 0.05)
    monkeypatch.setattr(ws_httpx, "KEEPALIVE_TIMEOUT", 0.05)
    server = WsprotoServer()  # never answers pings
    with anyio.fail_after(LIMIT):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, server.handle)
            async with open_websocket(
                f"ws://127.0.0.1:{port}/", AUTH, client=None, connect_timeout=5, engine="httpx-ws"
            ) as ws:
                with pytest.raises(WebSocketClosed) as info:
                    await ws.receive_text()
                assert info.value.close_code == 1006
            tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_real_cancel_during_handshake_leaks_nothing(engine: WebSocketEngine) -> None:
    with socket.socket() as sock:  # accepts TCP (backlog), never answers the upgrade
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        port = sock.getsockname()[1]
        with anyio.fail_after(LIMIT), anyio.move_on_after(0.2) as scope:
            async with open_websocket(
                f"ws://127.0.0.1:{port}/", AUTH, client=None, connect_timeout=5, engine=engine
            ):
                pytest.fail("the server never answers")
        assert scope.cancelled_caught


@pytest.mark.anyio
async def test_real_server_close_1011_maps_to_websocket_closed(engine: WebSocketEngine) -> None:
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:
            async with open_websocket(
                server.url("/close1011"), AUTH, client=None, connect_timeout=5, engine=engine
            ) as ws:
                await ws.send_text("go")
                assert await ws.receive_text() == "partial"
                with pytest.raises(WebSocketClosed) as info:
                    await ws.receive_text()
                assert (info.value.close_code, info.value.reason) == (1011, "server error")
                assert ws.closed
                with pytest.raises(WebSocketClosed) as again:  # remembered, never hangs
                    await ws.receive_text()
                assert again.value.close_code == 1011
                with pytest.raises(WebSocketClosed):
                    await ws.send_text("too late")
            await server.app.wait_idle()


@pytest.mark.anyio
async def test_real_queued_frames_are_taken_without_waiting(engine: WebSocketEngine) -> None:
    """The default engine keeps the messages of each read, trio-websocket queues what its
    reader parsed: ``receive_text_nowait`` takes them in order (one wait serves a burst).
    httpx-ws keeps its queue private: always None."""
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:
            async with open_websocket(
                server.url("/echo"), AUTH, client=None, connect_timeout=5, engine=engine
            ) as ws:
                assert ws.receive_text_nowait() is None
                for text in ("a", "b", "c"):
                    await ws.send_text(text)
                assert await ws.receive_text() == "a"
                rest: list[str] = []
                while len(rest) < 2:
                    queued = ws.receive_text_nowait()
                    if engine == "httpx-ws":
                        assert queued is None
                        rest.append(await ws.receive_text())
                    elif queued is None and engine == "websockets":
                        rest.append(await ws.receive_text())  # not yet read: a wait reads
                    elif queued is not None:
                        rest.append(queued)
                    else:  # the echo is still on its way: let the reader run
                        await anyio.lowlevel.checkpoint()
                assert rest == ["b", "c"]
                assert ws.receive_text_nowait() is None
            await server.app.wait_idle()


@pytest.mark.anyio
async def test_real_binary_frame_is_a_protocol_error(engine: WebSocketEngine) -> None:
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:
            async with open_websocket(
                server.url("/binary"), AUTH, client=None, connect_timeout=5, engine=engine
            ) as ws:
                with pytest.raises(ProtocolError):
                    await ws.receive_text()
                assert await ws.receive_text() == "after"
            await server.app.wait_idle()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "error_type", "status"),
    [("/reject401", AuthenticationError, 401), ("/reject429", RateLimitError, 429)],
)
async def test_real_rejection_is_the_typed_status_error(
    path: str, error_type: type[Exception], status: int, engine: WebSocketEngine
) -> None:
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:
            with pytest.raises(error_type) as info:
                async with open_websocket(
                    server.url(path), AUTH, client=None, connect_timeout=5, engine=engine
                ):
                    pytest.fail("the handshake should have been refused")
            error = info.value
            assert type(error) is error_type  # not an ExceptionGroup
            assert getattr(error, "status_code", None) == status
            assert getattr(error, "code", None) == "invalid_api_key"
            assert getattr(error, "request_id", None) == "req_123"
            assert "Incorrect API key provided" in str(error)
            if status == 429:
                assert getattr(error, "retry_after", None) == 3.0
            _no_secret(error)
            assert server.app.accepted == 0


@pytest.mark.anyio
async def test_real_redirect_is_the_refusal_rule_on_every_engine(engine: WebSocketEngine) -> None:
    """A 307 to the handshake is never followed, and every engine reports it as the HTTP
    path would (``refusal.refusal_error``), with the handshake named in a note."""
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:
            url = server.url("/redirect")
            with pytest.raises(APIStatusError) as info:
                async with open_websocket(url, AUTH, client=None, connect_timeout=5, engine=engine):
                    pytest.fail("the handshake should have been refused")
            assert server.app.accepted == 0
    error = info.value
    location = [(b"location", b"https://elsewhere.example/v1/responses?api-key=x")]
    expected = refusal_error(307, location, b"")
    assert (type(error), str(error), error.status_code) == (
        APIStatusError,
        str(expected),
        307,
    )
    assert "redirected to https://elsewhere.example;" in str(error)
    assert error.__notes__ == [f"the WebSocket handshake with {describe_url(url)} was refused"]


@pytest.mark.anyio
async def test_real_close_before_accept_is_permission_denied(engine: WebSocketEngine) -> None:
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:
            with pytest.raises(PermissionDeniedError) as info:
                async with open_websocket(
                    server.url("/deny"), AUTH, client=None, connect_timeout=5, engine=engine
                ):
                    pytest.fail("the handshake should have been refused")
            assert info.value.status_code == 403
            _no_secret(info.value)


@pytest.mark.anyio
async def test_real_connection_refused_is_api_connection_error(engine: WebSocketEngine) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with anyio.fail_after(LIMIT), pytest.raises(APIConnectionError) as info:
        async with open_websocket(
            f"ws://127.0.0.1:{port}/v1/responses?api-key=zzz",
            AUTH,
            client=None,
            connect_timeout=5,
            engine=engine,
        ):
            pytest.fail("nothing listens there")
    assert type(info.value) is APIConnectionError
    _no_secret(info.value)
    assert "zzz" not in str(info.value)


@pytest.mark.anyio
async def test_real_silent_server_is_a_connect_timeout(engine: WebSocketEngine) -> None:
    # Listening, never accepting: TCP connects (the backlog), the upgrade is never answered.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        port = sock.getsockname()[1]
        with anyio.fail_after(LIMIT), pytest.raises(APITimeoutError) as info:
            async with open_websocket(
                f"ws://127.0.0.1:{port}/", AUTH, client=None, connect_timeout=0.3, engine=engine
            ):
                pytest.fail("the server never answers")
    assert info.value.phase == "connect"
    assert info.value.seconds == 0.3
    _no_secret(info.value)


@pytest.mark.anyio
async def test_real_block_exception_passes_through_unwrapped(engine: WebSocketEngine) -> None:
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:

            async def use_then_fail() -> None:
                async with open_websocket(
                    server.url("/echo"), AUTH, client=None, connect_timeout=5, engine=engine
                ) as ws:
                    await ws.send_text("x")
                    assert await ws.receive_text() == "x"
                    raise KeyError("mine")

            with pytest.raises(KeyError) as info:
                await use_then_fail()
            assert type(info.value) is KeyError
            await server.app.wait_idle()


@pytest.mark.anyio
async def test_real_cancel_inside_block_closes_the_socket(engine: WebSocketEngine) -> None:
    with anyio.fail_after(LIMIT):
        async with LoopbackServer(WsApp()) as server:
            with anyio.CancelScope() as scope:
                async with open_websocket(
                    server.url("/echo"), AUTH, client=None, connect_timeout=5, engine=engine
                ) as ws:
                    scope.cancel()
                    await ws.receive_text()  # cancelled here: a barge-in
            assert scope.cancelled_caught
            await server.app.wait_idle()
            assert len(server.app.disconnect_codes) == 1


@pytest.mark.anyio
async def test_real_adapter_uses_and_keeps_a_passed_httpx_client(engine: WebSocketEngine) -> None:
    calls: list[str] = []

    async def record(request: httpx.Request) -> None:
        calls.append(request.url.scheme)

    with anyio.fail_after(LIMIT):
        async with (
            LoopbackServer(WsApp()) as server,
            httpx.AsyncClient(event_hooks={"request": [record]}) as client,
        ):
            async with open_websocket(
                server.url("/echo"), AUTH, client=client, connect_timeout=5, engine=engine
            ) as ws:
                await ws.send_text("via client")
                assert await ws.receive_text() == "via client"
            assert not client.is_closed  # the caller's client is the caller's to close
            await server.app.wait_idle()
    # httpx-ws goes through the client (with ws:// mapped to http:// for its mounts and
    # proxies); the default engine and trio-websocket do their own networking.
    assert calls == (["http"] if engine == "httpx-ws" else [])

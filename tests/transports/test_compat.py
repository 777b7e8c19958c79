"""``_compat``: the dependency internals the library reaches for, pinned so a move fails here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from scoped_openai._compat import asyncio_cancel_scope_class, environment_proxy


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_httpx_still_has_the_proxy_helpers_we_use() -> None:
    from httpx._utils import URLPattern, get_environment_proxies

    assert callable(get_environment_proxies)
    assert URLPattern("all://*example.com").matches(
        __import__("httpx").URL("https://a.example.com")
    )


def test_environment_proxy_follows_httpx_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment_proxy("https://api.openai.com/v1/responses") is None
    monkeypatch.setenv("ALL_PROXY", "proxy.local:3128")  # no scheme: httpx assumes http://
    assert environment_proxy("https://api.openai.com/v1") == "http://proxy.local:3128"
    monkeypatch.setenv("HTTPS_PROXY", "http://secure.local:8443")  # more specific than ALL
    assert environment_proxy("https://api.openai.com/v1") == "http://secure.local:8443"
    assert environment_proxy("http://api.openai.com/v1") == "http://proxy.local:3128"
    monkeypatch.setenv("NO_PROXY", "openai.com,localhost,10.0.0.1")
    assert environment_proxy("https://api.openai.com/v1") is None  # *openai.com
    assert environment_proxy("https://notopenai.com/v1") == "http://secure.local:8443"
    assert environment_proxy("http://localhost:8080/v1") is None
    assert environment_proxy("http://10.0.0.1/v1") is None
    monkeypatch.setenv("NO_PROXY", "*")
    assert environment_proxy("https://api.openai.com/v1") is None


def test_websockets_protocol_reports_why_its_parser_stopped() -> None:
    """``ws_sansio`` tells a message over the limit (1009) from a protocol violation (1002)
    and a lost connection (1006) by ``Protocol.parser_exc``."""
    from websockets.client import ClientProtocol
    from websockets.exceptions import PayloadTooBig, ProtocolError
    from websockets.protocol import State
    from websockets.uri import parse_uri

    def fed(data: bytes, *, eof: bool = False) -> ClientProtocol:
        protocol = ClientProtocol(parse_uri("ws://x/"), state=State.OPEN, max_size=10)
        protocol.receive_data(data)
        if eof:
            protocol.receive_eof()
        return protocol

    assert fed(b"\x81\x05hello").parser_exc is None
    assert isinstance(fed(b"\x81\x0bhello world").parser_exc, PayloadTooBig)
    assert isinstance(fed(b"\xf1\x00").parser_exc, ProtocolError)  # reserved bits set
    assert isinstance(fed(b"\x81\x05he", eof=True).parser_exc, EOFError)


def test_anyio_still_has_its_asyncio_cancel_scope_class() -> None:
    """Fails loudly if anyio moves it (the library would silently pay 1.6 µs more per read)."""
    scope_class = asyncio_cancel_scope_class()
    assert scope_class is not None
    assert issubclass(scope_class, anyio.CancelScope)


def test_trio_websocket_still_queues_messages_in_its_recv_channel() -> None:
    """Fails loudly if trio-websocket moves its queue (the trio engine would silently wait
    once per frame instead of taking a burst in one wait)."""
    trio = pytest.importorskip("trio", reason="trio is not installed")
    trio_testing = pytest.importorskip("trio.testing", reason="trio is not installed")
    trio_websocket = pytest.importorskip(
        "trio_websocket", reason="trio-websocket (the trio extra) is not installed"
    )
    import wsproto

    from scoped_openai._compat import trio_websocket_queue

    client, _ = trio_testing.memory_stream_pair()
    connection = trio_websocket.WebSocketConnection(
        client, wsproto.WSConnection(wsproto.ConnectionType.CLIENT), host="x", path="/"
    )
    queue = trio_websocket_queue(connection)
    assert isinstance(queue, trio.MemoryReceiveChannel)
    with pytest.raises(trio.WouldBlock):
        queue.receive_nowait()
    assert trio_websocket_queue(object()) is None


def test_anyio_still_reads_the_loop_clock_under_asyncio() -> None:
    """Fails loudly if anyio's asyncio backend stops using the loop's time for
    ``current_time`` and its scopes' deadlines (``_deadlines`` would set wrong deadlines)."""
    import asyncio

    from scoped_openai._compat import asyncio_clock

    async def check() -> None:
        clock = asyncio_clock()
        assert clock == asyncio.get_running_loop().time
        before = clock()
        now = anyio.current_time()
        after = clock()
        assert before <= now <= after
        # A deadline just past on the loop's clock has passed for anyio's scopes too (the
        # guard is in anyio's own clock, whatever it is, so a moved clock fails, not hangs).
        with anyio.move_on_after(10):
            with anyio.CancelScope(deadline=clock() - 0.001) as past:
                await anyio.sleep_forever()
        assert past.cancelled_caught

    anyio.run(check, backend="asyncio")


def test_anyio_still_queues_what_its_asyncio_socket_stream_reads() -> None:
    """Fails loudly if anyio's asyncio socket stream stops keeping its reads in
    ``_protocol.read_queue`` behind ``_transport`` (``ws_sansio.read_ahead`` would silently
    stop applying, and every read would take the socket out of the selector again)."""
    from scoped_openai._transports.ws_sansio import read_ahead

    async def check() -> None:
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                assert read_ahead(stream, 1024) is True
                assert stream._transport.is_reading() is True  # type: ignore[attr-defined]

    anyio.run(check, backend="asyncio")


def test_the_asyncio_socket_receiver_reads_what_anyio_receive_reads() -> None:
    """Fails loudly if anyio's asyncio socket stream moves ``_protocol.read_event``,
    ``is_at_eof``, ``exception`` or ``read_queue`` (``ws_sansio`` would silently read
    through anyio's ``receive`` again), and pins that the receiver reads as ``receive``
    does: the bytes in order, a read larger than ``max_bytes`` split, a wait for bytes not
    yet there, ``EndOfStream`` at the peer's end; nothing for a stream over the socket."""
    from anyio.streams.buffered import BufferedByteStream

    from scoped_openai._compat import asyncio_socket_receiver

    async def check() -> None:
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            peer_ready = anyio.Event()
            peers: list[anyio.abc.SocketStream] = []

            async def accept(peer: anyio.abc.SocketStream) -> None:
                peers.append(peer)
                peer_ready.set()
                await anyio.sleep_forever()

            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, accept)
                async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                    assert asyncio_socket_receiver(BufferedByteStream(stream)) is None
                    receive = asyncio_socket_receiver(stream)
                    assert receive is not None
                    await peer_ready.wait()
                    (peer,) = peers
                    await peer.send(b"hello world")
                    assert await receive(5) == b"hello"  # split, the rest kept in order
                    assert await receive(100) == b" world"
                    async with anyio.create_task_group() as waiting:
                        got: list[bytes] = []

                        async def read() -> None:
                            got.append(await receive(100))

                        waiting.start_soon(read)
                        await anyio.wait_all_tasks_blocked()
                        assert got == []  # nothing there yet: it waits
                        await peer.send(b"later")
                    assert got == [b"later"]
                    await peer.aclose()
                    with pytest.raises(anyio.EndOfStream):
                        await receive(100)
                tg.cancel_scope.cancel()

    anyio.run(check, backend="asyncio")


def test_the_asyncio_socket_receiver_is_none_where_a_name_it_reads_is_missing() -> None:
    """The fallback the receiver's docstring promises: with any of ``_protocol.read_event``,
    ``is_at_eof`` or ``exception`` gone (as in a future anyio that moved it), None, so
    ``ws_sansio`` reads through anyio's ``receive`` and watches nothing."""
    from scoped_openai._compat import asyncio_socket_receiver

    async def check() -> None:
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                protocol = stream._protocol  # type: ignore[attr-defined]
                assert asyncio_socket_receiver(stream) is not None
                for name in ("read_event", "is_at_eof", "exception"):
                    owner = protocol if name in vars(protocol) else type(protocol)
                    with pytest.MonkeyPatch.context() as patch:
                        patch.delattr(owner, name)
                        assert asyncio_socket_receiver(stream) is None, name
                assert asyncio_socket_receiver(stream) is not None

    anyio.run(check, backend="asyncio")


@asynccontextmanager
async def loopback_pair() -> AsyncIterator[tuple[anyio.abc.SocketStream, anyio.abc.SocketStream]]:
    """A connected loopback TCP stream and the listener's end of it."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        stream = await anyio.connect_tcp("127.0.0.1", port)
        accepted = await listener.listeners[0].accept()
        async with stream, accepted:
            yield stream, accepted


def test_anyio_asyncio_socket_stream_still_writes_through_its_transport() -> None:
    """Fails loudly if anyio's asyncio socket stream stops flagging paused writes in
    ``_protocol.write_event`` or failures in ``_protocol.exception`` (``ws_sansio`` would
    silently send every request through anyio's ``send`` again). The writer hands bytes to
    the transport (the peer gets them), declines while writing is paused, and does not
    apply to a stream over the socket."""
    from anyio.streams.buffered import BufferedByteStream

    from scoped_openai._compat import asyncio_socket_writer

    async def check() -> None:
        async with loopback_pair() as (stream, accepted):
            write = asyncio_socket_writer(stream)
            assert write is not None
            assert asyncio_socket_writer(BufferedByteStream(stream)) is None
            assert write(b"request") is True
            assert await accepted.receive() == b"request"
            protocol = stream._protocol  # type: ignore[attr-defined]
            protocol.pause_writing()
            assert write(b"held") is False
            protocol.resume_writing()
            assert write(b"again") is True
            assert await accepted.receive() == b"again"

    anyio.run(check, backend="asyncio")


def test_anyio_trio_socket_stream_still_has_its_trio_and_stdlib_sockets() -> None:
    """Fails loudly if anyio's trio socket stream or trio's socket moves ``_trio_socket``
    or ``_sock`` (``ws_sansio`` would silently send every request through anyio's
    ``send`` again, with trio's checkpoint after the write). The writer writes what the
    socket takes (the peer gets it), 0 once the socket's buffer is full, and does not apply
    to a stream over the socket, to an asyncio stream, or where a name moved."""
    from anyio.streams.buffered import BufferedByteStream

    from scoped_openai._compat import trio_socket_writer

    async def check() -> None:
        async with loopback_pair() as (stream, accepted):
            write = trio_socket_writer(stream)
            assert write is not None
            assert trio_socket_writer(BufferedByteStream(stream)) is None
            assert write(b"request") == len(b"request")
            assert await accepted.receive() == b"request"
            chunk = b"x" * 2**20
            while write(chunk) == len(chunk):  # nobody reads: the buffer fills
                pass
            assert write(chunk) == 0
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(stream, "_trio_socket", object())
                assert trio_socket_writer(stream) is None

    anyio.run(check, backend="trio")

    async def on_asyncio() -> None:
        async with loopback_pair() as (stream, _):
            assert trio_socket_writer(stream) is None

    anyio.run(on_asyncio, backend="asyncio")


def test_environment_proxy_is_read_again_when_the_environment_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answer is remembered per URL and environment: a change to any variable is seen."""
    url = "https://api.openai.com/v1/responses"
    assert environment_proxy(url) is None
    monkeypatch.setenv("https_proxy", "http://lower.local:3128")
    assert environment_proxy(url) == "http://lower.local:3128"
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert environment_proxy(url) is None
    monkeypatch.delenv("NO_PROXY")
    assert environment_proxy(url) == "http://lower.local:3128"
    monkeypatch.delenv("https_proxy")
    assert environment_proxy(url) is None


def test_httpx_pools_still_take_a_wrapped_network_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every pool behind the client (its transport, each environment proxy's mount) now
    # connects through the wrapper; a moved attribute wraps fewer and fails here.
    import httpx

    from scoped_openai._compat import wrap_each_network_backend
    from scoped_openai._transports.http_backend import ScopedReadBackend

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.local:3128")
    client = httpx.AsyncClient()
    pools = [client._transport._pool]  # type: ignore[attr-defined]
    pools += [mount._pool for mount in client._mounts.values()]  # type: ignore[union-attr]
    assert len(pools) == 3
    assert wrap_each_network_backend(client, ScopedReadBackend) == 3
    assert all(type(pool._network_backend) is ScopedReadBackend for pool in pools)


@pytest.mark.anyio
async def test_anyio_backend_still_connects_to_one_address() -> None:
    """Fails loudly if anyio moves the backend ``connect_tcp`` that ``connect_tcp_address``
    calls (it would fall back to ``anyio.connect_tcp``, slower, not wrong), and checks the
    direct connect gives what ``anyio.connect_tcp`` gives: a working stream with Nagle off,
    and a refused connection as an ``OSError``."""
    import socket

    from anyio._core._eventloop import get_async_backend

    from scoped_openai._compat import connect_tcp_address

    assert callable(get_async_backend().connect_tcp)
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def echo(accepted: anyio.abc.SocketStream) -> None:
            async with accepted:
                await accepted.send(await accepted.receive())

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, echo)
            async with await connect_tcp_address("127.0.0.1", port) as stream:
                raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
                assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                await stream.send(b"ping")
                assert await stream.receive() == b"ping"
            tg.cancel_scope.cancel()
    with pytest.raises(ConnectionRefusedError):  # the listener is closed: nobody listens
        await connect_tcp_address("127.0.0.1", port)


#: Extras the stepwise lists name but a plain install may lack (HTTP/2, SOCKS): their
#: modules are checked where the package is installed.
OPTIONAL_PACKAGES = {"socksio", "h2", "hpack", "hyperframe"}


def test_every_dependency_module_the_stepwise_import_names_still_exists() -> None:
    """``_compat`` names private modules of httpcore, h11, h2, anyio and websockets that
    ``_stepwise_import`` imports ahead, one per step. A name that no longer exists would be
    skipped silently (only speed lost, its body back in one step with whatever imports it):
    fail here instead, naming it. The standard library's names vary with the Python version by
    design and are left out."""
    import importlib.util
    import sys

    from scoped_openai import _compat

    listed = {
        *_compat.HTTP_TRANSPORT,
        *_compat.WEBSOCKET_ENGINE,
        *_compat.INDIVISIBLE,
        *_compat.CYCLES,
        *(name for names in _compat.CYCLES.values() for name in names),
    }
    third_party = sorted(
        name
        for name in listed
        if name.split(".")[0] not in sys.stdlib_module_names | {"scoped_openai"}
        and (
            name.split(".")[0] not in OPTIONAL_PACKAGES
            or importlib.util.find_spec(name.split(".")[0]) is not None
        )
    )
    assert len(third_party) > 60  # the lists were read, not emptied
    gone = [name for name in third_party if importlib.util.find_spec(name) is None]
    assert gone == [], f"moved or removed upstream: {gone}; update _stepwise_import's lists"


@pytest.mark.anyio
async def test_a_streamed_http11_response_still_leads_to_its_h11_connection() -> None:
    """Fails loudly if httpx or httpcore moves a layer ``http11_state`` walks (our own
    client would read bodies through httpx's iterator again: slower, not wrong); the
    connection it finds is the one that parsed the response's head."""
    import h11
    import httpx

    from scoped_openai._compat import http11_state

    async def handler(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
            )

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg, httpx.AsyncClient(trust_env=False) as client:
            tg.start_soon(listener.serve, handler)
            async with client.stream("GET", f"http://127.0.0.1:{port}/") as response:
                state = http11_state(response)
                assert type(state) is h11.Connection
                assert state.their_state is h11.SEND_BODY  # past the head, at the body
                assert await response.aread() == b"ok"
            tg.cancel_scope.cancel()


def test_httpcores_network_streams_still_hold_the_stream_they_read() -> None:
    """Fails loudly if httpcore renames its network streams or the stream under them
    (``Http11Body`` would read through httpcore's ``read`` again: slower, not wrong): the
    receive found is the inner stream's own, with httpcore's read errors."""
    import trio
    from httpcore._backends.anyio import AnyIOStream
    from httpcore._backends.trio import TrioStream

    from scoped_openai._compat import httpcore_socket_receive

    class Inner:
        async def receive(self, max_bytes: int = 65536) -> bytes:
            return b"anyio"

        async def receive_some(self, max_bytes: int | None = None) -> bytes:
            return b"trio"

    inner = Inner()
    found = httpcore_socket_receive(AnyIOStream(inner))  # type: ignore[arg-type]
    assert found == (inner.receive, (anyio.BrokenResourceError, anyio.ClosedResourceError))
    found = httpcore_socket_receive(TrioStream(inner))  # type: ignore[arg-type]
    assert found == (inner.receive_some, (trio.BrokenResourceError, trio.ClosedResourceError))
    assert httpcore_socket_receive(inner) is None  # not httpcore's: its own read
    assert httpcore_socket_receive(AnyIOStream(object())) is None  # type: ignore[arg-type]


def test_anyio_tls_stream_still_keeps_undecrypted_bytes_in_its_read_bio() -> None:
    """Fails loudly if anyio's ``TLSStream`` moves ``_read_bio`` (``tls_buffered_input``
    would give None and TLS sockets would be read between turns again, not watched), and
    pins what it reports: decrypted bytes a read left (``ssl_object.pending()``) and bytes
    in the BIO not yet decrypted are input; none once read. None for a plain stream."""
    from anyio.streams.tls import TLSListener, TLSStream

    from scoped_openai._compat import tls_buffered_input
    from support.tls import localhost_tls_contexts

    server_context, client_context = localhost_tls_contexts()

    async def check() -> None:
        tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = tcp.extra(anyio.abc.SocketAttribute.local_port)
        listener = TLSListener(tcp, server_context, standard_compatible=False)
        async with listener, anyio.create_task_group() as tg:

            async def serve(peer: anyio.abc.ByteStream) -> None:
                async with peer:
                    await peer.send(b"hello")
                    await anyio.sleep_forever()

            tg.start_soon(listener.serve, serve)
            async with await anyio.connect_tcp("127.0.0.1", port) as plain:
                assert tls_buffered_input(plain) is None
            stream = await TLSStream.wrap(
                await anyio.connect_tcp("127.0.0.1", port),
                hostname="localhost",
                ssl_context=client_context,
                standard_compatible=False,
            )
            async with stream:
                has_input = tls_buffered_input(stream)
                assert has_input is not None
                assert has_input() is False
                assert await stream.receive(1) == b"h"
                assert has_input() is True  # "ello", decrypted, not read yet
                assert await stream.receive(100) == b"ello"
                assert has_input() is False
                stream._read_bio.write(b"\x17")  # type: ignore[attr-defined]
                assert has_input() is True  # received, not yet decrypted
            tg.cancel_scope.cancel()

    anyio.run(check, backend="asyncio")

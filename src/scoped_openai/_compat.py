"""Every reach into a dependency's private names, in one place, each pinned by a test
(``tests/transports/test_compat.py``) that fails loudly if the dependency moves it.

- httpx's environment proxy rules (``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``, with curl's
  ``NO_PROXY`` matching): the WebSocket engine dials through the same proxy an
  ``httpx.AsyncClient(trust_env=True)`` would use for the same URL, so both paths of one
  ``OpenAILLM`` leave the machine the same way.
- anyio's asyncio ``CancelScope`` class: built directly it costs 2.3 µs per network read
  where ``anyio.CancelScope()`` (which looks the backend up on every call) costs 3.9 µs.
- anyio's asyncio clock: ``anyio.current_time()`` and the deadlines of its asyncio cancel
  scopes are the running loop's ``time()``; reading ``loop.time`` directly costs 0.08 µs
  where ``anyio.current_time()`` costs 0.46 µs (``_deadlines`` reads it once per wait). If
  anyio moved to another clock, deadlines computed from the loop's would be silently wrong.
- anyio's backend ``connect_tcp`` (``get_async_backend()``): the one-address connect that
  ``anyio.connect_tcp`` runs inside its happy-eyeballs task group; a WebSocket to an IP
  address connects through it directly (``connect_tcp_address``).
- httpx's transports and their httpcore pools (``AsyncClient._transport``, ``_mounts``,
  ``AsyncHTTPTransport._pool``, the pool's ``_network_backend``): httpx takes no network
  backend, and our own client wraps httpcore's (``_transports.http_backend``) so a network
  read, not every chunk, opens the turn's cancel scope.
- trio-websocket's message queue (``WebSocketConnection._recv_channel``, a trio memory
  channel): it has no public non-blocking read, and the queue lets a turn take a burst of
  frames in one wait (``WebSocket.receive_text_nowait``).
- anyio's asyncio socket stream's ``_protocol.write_event`` and ``_protocol.exception``
  (with its ``_transport``, as ``asyncio_socket_reader`` finds them): ``ws_sansio`` writes a
  turn's request frame straight to the transport when anyio's ``send`` would not wait
  (``asyncio_socket_writer``), and through ``send`` when they are missing.
- anyio's trio socket stream's ``_trio_socket`` and the trio socket's ``_sock`` (the
  non-blocking stdlib socket under it): ``ws_sansio`` writes a turn's request frame
  straight to that socket (``trio_socket_writer``), without trio's checkpoint after a
  write that did not wait, and through anyio's ``send`` when they are missing.
- anyio's asyncio socket stream's ``_protocol.read_event``, ``is_at_eof``, ``exception`` and
  ``read_queue``: ``ws_sansio`` reads a plain socket as anyio's ``receive`` does, less its
  two-reader guard and its pause after a wait (``asyncio_socket_receiver``), and through
  ``receive`` when they are missing.
- httpx's and httpcore's layers over a streamed HTTP/1.1 body (the response's bound stream
  ``_stream``, its ``_httpcore_stream``, the pool stream's ``_stream``, the connection
  stream's ``_connection`` and its ``_h11_state``): our own client reads a turn's body
  straight from the connection's ``h11.Connection`` (``_transports.http11_body``), and
  through httpx's iterator when any of them moved.
- httpcore's network streams' inner stream (``AnyIOStream._stream``, an anyio byte stream,
  and ``TrioStream._stream``, a trio stream): ``Http11Body`` reads a turn's body from it
  inside the turn's one cancel scope, which also carries the read timeout, where httpcore's
  ``read`` would open a second scope (``fail_after``) and an exception-mapping context
  manager per socket read (``httpcore_socket_receive``); through httpcore's ``read`` when
  they moved.
- anyio's ``TLSStream._read_bio`` (the TLS layer's incoming ``ssl.MemoryBIO``): bytes read
  from the socket that TLS has not decrypted yet (a second record read with the first) are
  input no watch on the socket sees; ``tls_buffered_input`` tells ``ws_sansio``'s idle
  watch to read them instead, and where the name moved a TLS socket is not watched (the
  slot reads between turns as before).
- ``os.environ``'s raw mapping (``_data``): the environment as it is, compared without
  decoding every variable, is the key ``environment_proxy`` remembers its answer by (a
  plain copy of ``os.environ`` when it is missing).

Three reaches stay where they are used, pinned by tests all the same: the ``websockets``
protocol's ``parser_exc`` (public by name, not documented; ``ws_sansio`` reads it inline,
its test is with these), anyio's asyncio socket stream's ``_transport`` and
``_protocol.read_queue`` (``ws_sansio.read_ahead``: the socket reads on between two reads,
bounded; where they are missing it does nothing; it also wraps the protocol's
``data_received``, ``eof_received`` and ``connection_lost`` to call back the idle watch,
whose ``SansIOWebSocket.watch_incoming`` reads ``_protocol.read_event`` and ``is_at_eof``:
only where ``asyncio_socket_receiver`` found them, pinned by ``test_ws_sansio``), and the
private module names of anyio, httpcore, h11, h2 and websockets that ``_stepwise_import``
imports ahead, one per step (names, not code): ``HTTP_TRANSPORT``, ``WEBSOCKET_ENGINE``,
``CYCLES``, ``INDIVISIBLE`` and ``UNUSED``, at the end of this module. A moved module fails
``test_every_dependency_module_the_stepwise_import_names_still_exists``).
"""

from __future__ import annotations

import functools
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio
import anyio.abc
import httpx
from httpx._utils import URLPattern, get_environment_proxies

__all__ = [
    "CYCLES",
    "HTTP_TRANSPORT",
    "INDIVISIBLE",
    "UNUSED",
    "WEBSOCKET_ENGINE",
    "ReceiveNowait",
    "asyncio_cancel_scope_class",
    "asyncio_clock",
    "asyncio_protocol_has_input",
    "asyncio_socket_receiver",
    "asyncio_socket_writer",
    "connect_tcp_address",
    "environment_proxy",
    "http11_state",
    "httpcore_socket_receive",
    "tls_buffered_input",
    "trio_socket_writer",
    "trio_websocket_queue",
    "wrap_each_network_backend",
]


class ReceiveNowait(Protocol):
    """The part of a trio memory receive channel the trio engine uses."""

    def receive_nowait(self) -> str | bytes:
        """A queued message, or ``trio.WouldBlock`` when none is queued."""
        ...


def asyncio_socket_reader(stream: object) -> tuple[Any, Any, deque[bytes]] | None:
    """The asyncio protocol, transport and read queue under anyio's asyncio socket stream
    (``_protocol``, ``_transport``, ``_protocol.read_queue``), or None for any other stream
    or a future anyio that moved them (``ws_sansio.read_ahead`` then does nothing)."""
    if type(stream).__module__ != "anyio._backends._asyncio":
        return None
    protocol = getattr(stream, "_protocol", None)
    transport = getattr(stream, "_transport", None)
    queue = getattr(protocol, "read_queue", None)
    if transport is None or not isinstance(queue, deque):
        return None
    return protocol, transport, queue


def asyncio_socket_writer(stream: object) -> Callable[[bytes], bool] | None:
    """For anyio's asyncio socket stream itself (not a stream over it, such as TLS): a
    function that hands bytes to the socket's transport at once and returns True, or
    returns False (nothing written) when the stream's ``send`` would wait or fail (writing
    paused, closing, failed); None for any other stream or a future anyio that moved the
    names it reads (``_protocol.write_event``, ``_protocol.exception``, ``_transport``).

    anyio's ``send`` checks for a cancel before the write and, when the write did not have
    to wait, yields to the event loop after it (a shielded checkpoint: about 5 µs and one
    loop iteration). A WebSocket request is one small write that the turn must not hold
    up; ``ws_sansio`` uses this when it can and anyio's ``send`` otherwise."""
    reader = asyncio_socket_reader(stream)
    if reader is None:
        return None
    protocol, transport, _ = reader
    if not hasattr(protocol, "write_event") or not hasattr(protocol, "exception"):
        return None
    return _AsyncioSocketWriter(protocol, transport).write


class _AsyncioSocketWriter:
    """``asyncio_socket_writer``'s function, as a bound method of one small object: a
    closure is a function, a tuple and a cell per variable, each an object the full
    collection walks, for every socket."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, protocol: Any, transport: Any) -> None:
        self._protocol, self._transport = protocol, transport

    def write(self, data: bytes) -> bool:
        protocol, transport = self._protocol, self._transport
        # write_event is replaced (not cleared) when writing pauses: read it every time.
        if not protocol.write_event.is_set() or protocol.exception is not None:
            return False
        if transport.is_closing():
            return False
        transport.write(data)
        return True


def asyncio_protocol_has_input(protocol: Any) -> bool:
    """Whether anyio's asyncio stream protocol (as ``asyncio_socket_reader`` finds it) holds
    bytes or the end of the stream not yet read (its ``read_event`` and ``is_at_eof``; only
    called where ``asyncio_socket_receiver`` found those names)."""
    return bool(protocol.read_event.is_set() or protocol.is_at_eof)


def asyncio_socket_receiver(stream: object) -> Callable[[int], Awaitable[bytes]] | None:
    """For anyio's asyncio socket stream itself (not a stream over it, such as TLS): its
    ``receive`` (the same bytes, waits, checkpoint and errors: ``EndOfStream``,
    ``BrokenResourceError``) without two of its steps, or None for any other stream or a
    future anyio that moved the names it reads (``_protocol.read_event``, ``is_at_eof``,
    ``exception``, ``read_queue``, ``_transport``).

    Left out: the guard against two tasks reading at once (``ws_sansio`` has one reader at
    a time by construction: ``_ws_slot``'s hand-off between the slot and the turn) and the
    pause after a wait (``ws_sansio.read_ahead`` pauses the socket only once its queue is
    full, which its own ``data_received`` already checks). A turn's first token waits on
    about four such reads, one frame each."""
    reader = asyncio_socket_reader(stream)
    if reader is None:
        return None
    protocol, transport, queue = reader
    if not all(hasattr(protocol, name) for name in ("read_event", "is_at_eof", "exception")):
        return None
    return _AsyncioSocketReceiver(protocol, transport, queue).receive


class _AsyncioSocketReceiver:
    """``asyncio_socket_receiver``'s function, as a bound method of one small object (see
    ``_AsyncioSocketWriter``)."""

    __slots__ = ("_protocol", "_queue", "_sleep", "_transport")

    def __init__(self, protocol: Any, transport: Any, queue: deque[bytes]) -> None:
        # anyio's own checkpoint on asyncio, without its look-up of the backend per read.
        from asyncio import sleep  # imported already: this is an asyncio socket

        self._protocol, self._transport, self._queue = protocol, transport, queue
        self._sleep = sleep

    async def receive(self, max_bytes: int) -> bytes:
        protocol, queue = self._protocol, self._queue
        event = protocol.read_event
        if not event.is_set() and not self._transport.is_closing() and not protocol.is_at_eof:
            self._transport.resume_reading()
            await event.wait()
        else:
            await self._sleep(0)
        try:
            chunk: bytes = queue.popleft()
        except IndexError:
            if protocol.exception:
                raise anyio.BrokenResourceError from protocol.exception
            raise anyio.EndOfStream from None
        if len(chunk) > max_bytes:
            chunk, leftover = chunk[:max_bytes], chunk[max_bytes:]
            queue.appendleft(leftover)
        if not queue:
            event.clear()
        return chunk


def asyncio_cancel_scope_class() -> type[anyio.CancelScope] | None:
    """anyio's asyncio backend ``CancelScope`` class, or None when a future anyio moved or
    changed it (callers then use the public ``anyio.CancelScope``, a little slower)."""
    try:
        from anyio._backends._asyncio import CancelScope
    except ImportError:
        return None
    if not issubclass(CancelScope, anyio.CancelScope):
        return None
    return CancelScope


def asyncio_clock() -> Callable[[], float]:
    """The clock anyio's asyncio backend reads (for ``current_time`` and scope deadlines):
    the running loop's ``time``. Call it inside a running asyncio loop."""
    import asyncio  # imported already in a running asyncio loop; not with us (a trio app)

    return asyncio.get_running_loop().time


async def connect_tcp_address(address: str, port: int) -> anyio.abc.SocketStream:
    """A TCP stream to one IP address, without ``anyio.connect_tcp``'s happy-eyeballs race.

    With one address there is nothing to race, yet ``anyio.connect_tcp`` still runs the
    attempt in a task group of its own and cancels its scope when it connected (on asyncio
    that cancel formats the task's repr): about a third of the connect's CPU on loopback, and
    a connect runs beside the turn after a barge-in (the replacement spare). This is the
    backend call ``anyio.connect_tcp`` makes for that one address; where a future anyio moved
    it, ``anyio.connect_tcp`` is used.

    Raises:
        OSError: The connection failed (as ``anyio.connect_tcp``'s attempt raises it).

    Cancellation: as ``anyio.connect_tcp``: the half-open socket is closed.
    """
    try:
        from anyio._core._eventloop import get_async_backend
    except ImportError:  # pragma: no cover - a future anyio
        return await anyio.connect_tcp(address, port)
    return await get_async_backend().connect_tcp(address, port)


def environment_proxy(url: str) -> str | None:
    """The proxy URL httpx would route ``url`` (``http``/``https``) through from the
    environment, or None for a direct connection.

    Remembered for the URL and the environment as it is (any change to any variable is a
    new key): reading the proxy settings decodes every variable, about 70 µs for each
    WebSocket handshake, one of which runs beside the turn after a barge-in.

    Raises:
        UsageError: A proxy variable httpx cannot use (a URL it cannot parse, a scheme it
            does not know), named with what is wrong with it.
    """
    data = getattr(os.environ, "_data", None)  # the raw mapping: no decoding to compare
    snapshot = tuple(data.items()) if isinstance(data, dict) else tuple(os.environ.items())
    try:
        return _environment_proxy(url, snapshot)
    except (httpx.InvalidURL, ValueError) as exc:
        from ._proxy_settings import proxy_setting_error  # only once something is wrong

        error = proxy_setting_error(socks=False)  # SOCKS: ws_dial says it is not supported
        if error is None:
            raise
        raise error from exc


@functools.lru_cache(maxsize=16)
def _environment_proxy(url: str, environment: tuple[object, ...]) -> str | None:
    del environment  # the cache key only
    target = httpx.URL(url)
    # httpx tries its mounts most specific first (URLPattern orders by priority).
    mounts = sorted(
        ((URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()),
        key=lambda mount: mount[0],
    )
    for _, proxy in mounts:
        if proxy is not None:
            httpx.Proxy(url=proxy)  # raises where an httpx client would refuse it, as one
    for pattern, proxy in mounts:
        if pattern.matches(target):
            return proxy
    return None


def trio_websocket_queue(connection: object) -> ReceiveNowait | None:
    """trio-websocket's queue of received messages on ``connection`` (a
    ``trio_websocket.WebSocketConnection``), or None when a future version moved it (the
    trio engine then waits once per frame, a little slower)."""
    queue = getattr(connection, "_recv_channel", None)
    return queue if callable(getattr(queue, "receive_nowait", None)) else None


def trio_socket_writer(stream: object) -> Callable[[bytes], int] | None:
    """For anyio's trio socket stream itself (not a stream over it, such as TLS): a
    function that writes what the socket takes at once of some bytes and returns how many
    it wrote (0 when the socket would block; an ``OSError`` when it is broken or closed);
    None for any other stream or a future anyio or trio that moved the names it reads
    (``_trio_socket``, its ``_sock``).

    trio's ``send`` yields to the scheduler after a write that did not have to wait (a
    shielded checkpoint), and anyio's adds its writer guard: together about 45 µs and a
    scheduler step before the turn reads on. ``ws_sansio`` sends the rest through anyio's
    ``send``."""
    if type(stream).__module__ != "anyio._backends._trio":
        return None
    sock = getattr(getattr(stream, "_trio_socket", None), "_sock", None)
    if not isinstance(sock, socket.socket) or sock.getblocking():
        return None
    return functools.partial(_send_nowait, sock.send)


def _send_nowait(send: Callable[[bytes], int], data: bytes) -> int:
    try:
        return send(data)
    except BlockingIOError:
        return 0


def tls_buffered_input(stream: object) -> Callable[[], bool] | None:
    """For anyio's ``TLSStream``: a function that says whether TLS holds input not yet
    read (decrypted bytes, ``ssl_object.pending()``, or received bytes not yet decrypted,
    its ``_read_bio``), which no watch on the socket beneath sees; None for any other
    stream or a future anyio that moved ``_read_bio``."""
    from anyio.streams.tls import TLSAttribute, TLSStream

    if not isinstance(stream, TLSStream):
        return None
    incoming: Any = getattr(stream, "_read_bio", None)
    ssl_object = stream.extra(TLSAttribute.ssl_object, None)
    if ssl_object is None or not hasattr(incoming, "pending"):
        return None

    def has_input() -> bool:
        return bool(ssl_object.pending() or incoming.pending)

    return has_input


def wrap_each_network_backend(client: httpx.AsyncClient, wrap: Callable[[Any], object]) -> int:
    """Replace the network backend of every httpcore pool behind ``client`` (its transport
    and its proxy mounts) by ``wrap(backend)``; how many it replaced. Call it before the
    client connects: a pool's connections keep the backend they were made with. 0 when a
    future httpx moved these (the client then works as built, without the wrapper)."""
    transports = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    wrapped = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None:
            pool._network_backend = wrap(backend)  # type: ignore[union-attr]
            wrapped += 1
    return wrapped


def http11_state(response: httpx.Response) -> Any:
    """The ``h11.Connection`` under a streamed HTTP/1.1 ``response`` of an httpx client on
    httpcore's pool (``response.stream``: httpx's ``BoundAsyncStream`` over its
    ``AsyncResponseStream`` over httpcore's ``PoolByteStream`` over the connection's
    ``HTTP11ConnectionByteStream``), or None for anything else (HTTP/2, a transport of the
    caller's, a future httpx or httpcore that moved them)."""
    layer: Any = response.stream
    for kind, attribute in _HTTP11_LAYERS:
        if type(layer).__name__ != kind:
            return None
        layer = getattr(layer, attribute, None)
    if type(layer).__name__ != "AsyncHTTP11Connection":
        return None
    return getattr(layer, "_h11_state", None)


#: The layers ``http11_state`` walks: each one's class name and the attribute that holds the
#: next one.
_HTTP11_LAYERS = (
    ("BoundAsyncStream", "_stream"),
    ("AsyncResponseStream", "_httpcore_stream"),
    ("PoolByteStream", "_stream"),
    ("HTTP11ConnectionByteStream", "_connection"),
)


def httpcore_socket_receive(
    stream: object,
) -> tuple[Callable[[int], Awaitable[bytes]], tuple[type[BaseException], ...]] | None:
    """For httpcore's ``AnyIOStream`` or ``TrioStream`` (plain or TLS): the receive of the
    stream under it (anyio's ``receive``, trio's ``receive_some``, each called with the most
    bytes to read) and the errors httpcore's ``read`` maps to ``httpcore.ReadError``
    (broken or closed resource); None for any other stream or a future httpcore that moved
    them (the caller then reads through httpcore's ``read``). anyio's ``EndOfStream`` is
    the caller's to turn into ``b""``, as httpcore does; httpcore's timeout is the caller's
    too."""
    kind = type(stream)
    inner = getattr(stream, "_stream", None)
    if kind.__name__ == "AnyIOStream" and kind.__module__ == "httpcore._backends.anyio":
        receive = getattr(inner, "receive", None)
        errors: tuple[type[BaseException], ...] = (
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        )
    elif kind.__name__ == "TrioStream" and kind.__module__ == "httpcore._backends.trio":
        import trio  # imported already: httpcore made a trio stream

        receive = getattr(inner, "receive_some", None)
        errors = (trio.BrokenResourceError, trio.ClosedResourceError)
    else:
        return None
    if not callable(receive):
        return None
    return receive, errors


# The dependency modules ``_stepwise_import`` imports ahead, one per step: private module
# names of httpcore, h11, h2, anyio and websockets (pinned by ``test_compat``).

#: The HTTP transport's imports, leaves first, a package after its submodules: what the
#: first client (httpcore, with certifi's bundle lookup, h11 and, when installed, h2) and
#: the first connection (the host's IDNA encoding in ``getaddrinfo``) import.
HTTP_TRANSPORT = (
    "stringprep",
    "encodings.idna",
    "importlib.resources.abc",
    "importlib.resources._adapters",
    "importlib.resources._common",
    "importlib.resources._legacy",
    "importlib.resources._functional",
    "importlib.resources",
    "certifi.core",
    "certifi",
    "httpcore._exceptions",
    "httpcore._utils",
    "httpcore._models",
    "httpcore._backends.base",
    "httpcore._backends.sync",
    "httpcore._ssl",
    "httpcore._synchronization",
    "httpcore._trace",
    "h11._abnf",
    "h11._util",
    "h11._headers",
    "h11._events",
    "h11._receivebuffer",
    "h11._state",
    "h11._readers",
    "h11._writers",
    "h11._connection",
    "h11._version",
    "h11",
    "httpcore._sync.interfaces",
    "httpcore._sync.http11",
    "httpcore._sync.connection",
    "httpcore._sync.connection_pool",
    "httpcore._sync.http_proxy",
    "h2",
    "h2.config",
    "hpack.exceptions",
    "hpack.huffman",
    "hpack.huffman_constants",
    "hpack.huffman_table",
    "hpack.struct",
    "hpack.table",
    "hpack.hpack",
    "hpack",
    "hyperframe",
    "hyperframe.exceptions",
    "hyperframe.flags",
    "hyperframe.frame",
    "h2.errors",
    "h2.exceptions",
    "h2.settings",
    "h2.events",
    "h2.frame_buffer",
    "h2.utilities",
    "h2.windows",
    "h2.stream",
    "h2.connection",
    "httpcore._sync.http2",
    "socksio",
    "httpcore._sync.socks_proxy",
    "httpcore._sync",
    "httpcore._api",
    "httpcore._backends.auto",
    "httpcore._async.interfaces",
    "httpcore._async.http11",
    "httpcore._async.connection",
    "httpcore._async.connection_pool",
    "httpcore._async.http_proxy",
    "httpcore._async.http2",
    "httpcore._async.socks_proxy",
    "httpcore._async",
    "httpcore._backends.mock",
    "httpcore._backends.anyio",
    "httpcore._backends.trio",
    "httpcore._backends",
    "httpcore",
    "scoped_openai._transports.http11_body",
)

#: The engine's imports, leaves first (``python -X importtime`` shows the order they
#: complete in); a package's submodules that its ``__init__`` imports come with it; a cycle
#: in the order that runs each body alone (``CYCLES``).
WEBSOCKET_ENGINE = (
    "importlib.resources",
    "websockets",
    "hmac",
    "secrets",
    "websockets.typing",
    "websockets.speedups",
    "websockets.exceptions",
    "websockets.frames",
    "websockets.extensions.base",
    "websockets.extensions",
    "websockets.datastructures",
    "websockets.http11",
    "websockets.headers",
    "websockets.streams",
    "websockets.protocol",
    "websockets.uri",
    "websockets.utils",
    "websockets.client",
    "anyio._core._typedattr",
    "anyio.abc._resources",
    "anyio._core._resources",
    "anyio._core._tasks",
    "anyio.abc._tasks",
    "anyio.to_thread",
    "anyio.abc._streams",
    "anyio.streams",
    "anyio.streams.tls",
    "h11",
    "scoped_openai._compat",
    "scoped_openai._transports.ws_handshake",
    "scoped_openai._transports.ws_dial",
    "scoped_openai._transports.ws_frames",
    "scoped_openai._transports.ws_sansio",
)

#: Modules whose body ends by importing others that import it back (``websockets``:
#: exceptions imports frames and http11, frames imports extensions), six modules in one
#: step of about 3 ms. The others are deferred (``_deferred_import.defer_module``) before it
#: runs, so each body runs in its own step when its name comes.
CYCLES = {
    "websockets.exceptions": ("websockets.frames", "websockets.http11", "websockets.extensions"),
}

#: Module bodies of the HTTP transport that alone hold a step for about 3 ms here (h11's
#: and h2's events: nearly all of it dataclass creation), which no order of imports splits.
#: Imported with ``scoped_openai``, before any loop runs, whenever httpcore is not imported
#: yet (the usual case, either backend); their packages stay deferred until entering.
INDIVISIBLE = ("h11._events", "h2.events")

#: Packages a listed module imports but uses only where it never runs here, deferred until
#: used (``_deferred_import.defer_until_used``) before that module is imported: websockets'
#: version module reads ``importlib.metadata`` only in a development checkout, and that
#: package brought zipfile, csv and eight modules more (about 4 ms, steps of up to 1.6 ms).
UNUSED = {"websockets": ("importlib.metadata",)}

"""The HTTP transport: the only module that streams with httpx. It moves bytes and nothing
else: ``open_stream`` sends a request (within the headers deadline) and checks that the
answer is an event stream, ``StreamedBody`` hands its raw body over piece by piece and
closes it (drained first after a complete reply, so the connection goes back to the pool),
and httpx's failures and the server's refusals become our errors. What the bytes mean is
the parsers' (``_chat_completions``, ``_responses``); the turn is ``_http_turn``'s.

Redirects are not followed (our client is built with ``follow_redirects=False``): a 3xx is
an ``APIStatusError`` that names where it pointed, so no credential, header or conversation
travels to an address the caller did not configure.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import sys
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, cast

import anyio
import httpx

# httpx imports its transport, httpcore, only when the first client is built: on the event
# loop, one step of about 25 ms. Imported now instead, before any loop runs, unless httpcore
# would also import trio (it does whenever trio is installed): trio's import is about 130 ms,
# which would put ``import scoped_openai`` over its budget for asyncio apps that never use
# trio. Then ``OpenAILLM.__aenter__`` imports it a module per step, with trio deferred until
# something uses it (``_stepwise_import``, ``_deferred_import``).
if "trio" in sys.modules or importlib.util.find_spec("trio") is None:
    import httpcore  # noqa: F401  (the import is the point)

from .._compat import http11_state, wrap_each_network_backend
from .._endpoint import SECRET_QUERY_NAMES, redact_url
from .._errors import (
    APIConnectionError,
    APIStreamError,
    APITimeoutError,
    PoolExhaustedError,
    ProtocolError,
)
from .http_backend import ReadWait, ScopedReadBackend, ScopedReadStream
from .refusal import read_error_body, refusal_error

#: How long the iteration waits after ``[DONE]`` for the body's end, and how long the
#: body's end may take in all before its connection is dropped.
DRAIN_INLINE = 0.01
DRAIN_TIMEOUT = 0.25
#: How long closing the answer of a refused request may take.
CLOSE_TIMEOUT = 0.5

#: Starts ``fn(*args)`` in a task group the llm owns (``TaskGroup.start_soon``).
Spawner = Callable[..., object]


class _RedactQueryFilter(logging.Filter):
    """Masks configured query parameters (``extra_query``: Azure users put ``api-key``
    there) in httpx's ``HTTP Request: POST https://...?api-key=...`` INFO line. Only the
    names callers configured are masked, so other httpx users' logs keep their queries."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if SECRET_QUERY_NAMES and isinstance(args, tuple) and args:
            record.args = tuple(
                redact_url(str(arg), SECRET_QUERY_NAMES)
                if isinstance(arg, httpx.URL) and arg.query
                else arg
                for arg in args
            )
        return True


def with_scoped_reads(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """``client`` (ours, not yet connected) with httpcore's network backend wrapped in
    ``ScopedReadBackend``: the HTTP/1.1 bodies it streams open the turn's cancel scope per
    network read instead of per chunk (``StreamedBody.read_wait``)."""
    wrap_each_network_backend(client, ScopedReadBackend)
    return client


def _read_wait(response: httpx.Response) -> ReadWait | None:
    """The body's ``ReadWait`` when its connection is ours and not shared: HTTP/1.1 over a
    ``ScopedReadStream``. None otherwise (a caller's client; HTTP/2, where a turn may wait
    on httpcore's read lock outside any read of its own): the per-step scope."""
    extensions = response.extensions
    stream = extensions.get("network_stream")
    if type(stream) is ScopedReadStream and extensions.get("http_version") == b"HTTP/1.1":
        return ReadWait(stream)
    return None


def _h11_reader(response: httpx.Response) -> Any:
    """An ``Http11Body`` over the response's h11 state (an uncompressed HTTP/1.1 body of our
    own client, see ``_read_wait``), or None: httpx's iterator reads it (httpx or httpcore
    moved their layers, or httpcore logs the body's reads)."""
    state = http11_state(response)
    if state is None or _httpcore_logs():
        return None
    stream = response.extensions["network_stream"]
    timeout = response.request.extensions.get("timeout", {}).get("read")
    return _http11_body()(state, stream, timeout)


def _httpcore_logs() -> bool:
    """Whether httpcore traces a body's reads (its ``httpcore.http11`` debug log), which
    only its own iterator writes."""
    return logging.getLogger("httpcore.http11").isEnabledFor(logging.DEBUG)


@functools.cache
def _http11_body() -> Any:
    """The ``Http11Body`` class (its module imports httpcore, which this one defers: see
    above; entering imports it with httpcore, ``_stepwise_import.HTTP_TRANSPORT``)."""
    from .http11_body import Http11Body

    return Http11Body


def _end_read(response: httpx.Response) -> bool:
    """Whether the body's end is already off the socket (our own client's HTTP/1.1): then
    reading it needs no network read and no task of its own."""
    stream = response.extensions.get("network_stream")
    return type(stream) is ScopedReadStream and stream.end_read


#: The clients that have sent a request of ours in this process (``first_use``), by id:
#: an application's client class may define ``__eq__`` and so have no hash. A client's
#: entry goes when it does (``_forget_client``), before its id can be reused.
_clients_used: dict[int, weakref.ref[httpx.AsyncClient]] = {}


def first_use(client: httpx.AsyncClient) -> bool:
    """Whether ``client`` sends its first request of ours now (a turn or a warm-up), and
    note that it has: its first turn pays what later ones do not (a new connection, the
    first answer on it; for an instance's default client, building it)."""
    key = id(client)
    known = _clients_used.get(key)
    if known is not None and known() is client:
        return False
    _clients_used[key] = weakref.ref(client, functools.partial(_forget_client, key))
    return True


def _forget_client(key: int, ref: weakref.ref[httpx.AsyncClient]) -> None:
    if _clients_used.get(key) is ref:
        del _clients_used[key]


@functools.cache
def http2_available() -> bool:
    """Whether httpx can speak HTTP/2 here (``pip install 'scoped-openai[http2]'``)."""
    return importlib.util.find_spec("h2") is not None


@functools.cache
def install_log_redaction() -> None:
    """Add the filter to the ``httpx`` logger, once per process (called when a client is
    built)."""
    logging.getLogger("httpx").addFilter(_RedactQueryFilter())


def connection_error(
    exc: httpx.HTTPError,
    url: httpx.URL,
    *,
    pool_size: int | None = None,
    pool_timeout: float | None = None,
) -> APIConnectionError:
    """Our error for an httpx transport failure; names host and path, never headers or the
    query (where an Azure user may have put a key). ``pool_size`` and ``pool_timeout``,
    where known, go into a ``PoolExhaustedError``."""
    where = f"{url.scheme}://{url.host}{':' + str(url.port) if url.port else ''}{url.path}"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.PoolTimeout):
        return PoolExhaustedError(
            f"no free connection to {where}: every connection of the pool"
            f"{f' ({pool_size})' if pool_size else ''} stayed busy"
            f"{f' for {pool_timeout:g}s' if pool_timeout is not None else ''} (too many turns "
            "at once for the pool; pass a client with larger httpx.Limits, or run fewer "
            "turns at once)",
            max_connections=pool_size,
            seconds=pool_timeout,
        )
    if isinstance(exc, httpx.TimeoutException):
        phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "idle"
        return APITimeoutError(f"timed out talking to {where}: {detail}", phase=phase)
    return APIConnectionError(f"connection to {where} failed: {detail}")


async def raise_for_status(response: httpx.Response) -> None:
    """Raise the typed error for a 3xx (never followed) or a 4xx/5xx (``refusal.py``)."""
    status = response.status_code
    if status >= 300:
        body = await read_error_body(response) if status >= 400 else b""
        raise refusal_error(status, response.headers, body)


async def _close(response: httpx.Response, chunks: AsyncGenerator[bytes, None] | None) -> None:
    # Close the generator we hold explicitly (trio warns about async generators left to the
    # garbage collector), then the response, which releases or drops the connection.
    try:
        if chunks is not None:
            await chunks.aclose()
    except httpx.HTTPError:
        pass
    finally:
        await response.aclose()


async def _drain(chunks: AsyncGenerator[bytes, None]) -> bool:
    """Read the body to its end; True when it ended (False on a transport error)."""
    try:
        async for _ in chunks:
            pass
    except httpx.HTTPError:
        return False
    return True


async def _drain_and_close(
    response: httpx.Response, chunks: AsyncGenerator[bytes, None], drained: anyio.Event
) -> None:
    """Read the body to its end for up to ``DRAIN_TIMEOUT``, then close it (a task of the
    llm's group), and set ``drained``. The body's end within the bound hands the connection
    back to the pool; past it, the read is cancelled and httpcore drops the connection."""
    left: AsyncGenerator[bytes, None] | None = chunks
    try:
        with anyio.move_on_after(DRAIN_TIMEOUT):
            if await _drain(chunks):
                left = None  # ended: only the response is left to close
        with anyio.CancelScope(shield=True):
            await _close(response, left)
    finally:
        drained.set()


class StreamedBody:
    """The body of one streamed response, read as it arrives (``open_stream`` makes it).

    Attributes:
        request_id: The answer's ``x-request-id``.
        read_wait: Set when the body's network reads open the step's scope themselves
            (``_transports.http_backend``): the step waits in it instead of a scope.
    """

    __slots__ = ("_chunks", "_h11", "_response", "_url", "next_piece", "read_wait", "request_id")

    def __init__(
        self,
        response: httpx.Response,
        chunks: AsyncGenerator[bytes, None],
        url: httpx.URL,
        *,
        raw: bool = False,
    ) -> None:
        self._response: httpx.Response | None = response
        self._chunks = chunks
        self._url = url
        self.request_id: str | None = response.headers.get("x-request-id")
        self.read_wait = _read_wait(response)
        #: For a reader that calls it once per chunk (a turn's step): the next piece (maybe
        #: empty); ``StopAsyncIteration`` at the end; httpx's errors as httpx raises them
        #: (``error`` makes ours). Read straight from h11 where the body is ours and plain
        #: (``_transports.http11_body``), else the body's iterator itself.
        self._h11 = _h11_reader(response) if self.read_wait is not None and raw else None
        self.next_piece: Callable[[], Awaitable[bytes]] = (
            chunks.__anext__ if self._h11 is None else self._h11.next_piece
        )

    def error(self, exc: httpx.HTTPError) -> APIConnectionError:
        """Our error for an httpx failure while reading this body (``APITimeoutError``
        for httpx's read timeout)."""
        return connection_error(exc, self._url)

    async def aclose(self, *, completed: bool, background: Spawner | None) -> None:
        """Close the response (idempotent).

        After a complete reply (``completed``) the body's last bytes are read first, so the
        connection goes back to the pool instead of being dropped. When our own client's
        last read already brought them, they are read here at once. Otherwise, with
        ``background`` (a task group's ``start_soon``), a task of their own reads them for
        up to ``DRAIN_TIMEOUT`` and the caller waits for it at most ``DRAIN_INLINE``: a
        server that sends them with its end marker has its connection back before the next
        turn, one that sends them late (a proxy) gets it back later, one that never does
        has it dropped. Without ``background`` the caller reads for ``DRAIN_INLINE``, then
        the connection is dropped.

        Cancellation: call it shielded; cancelled, the connection is dropped.
        """
        response, self._response = self._response, None
        if response is None:
            return
        chunks = self._chunks
        if self._h11 is not None and self._h11.ended:
            # Read to its end already: nothing to drain (httpx's iterator, started now,
            # would wait for a next response on the connection).
            await _close(response, chunks)
            return
        if completed:
            if background is not None and not _end_read(response):
                # The drain reads in a task of its own, and only the wait for it is
                # bounded here: a cancel inside httpcore's read would drop the connection.
                drained = anyio.Event()
                background(_drain_and_close, response, chunks, drained)
                with anyio.move_on_after(DRAIN_INLINE):
                    await drained.wait()
                return
            with anyio.move_on_after(DRAIN_INLINE):
                if await _drain(chunks):
                    await _close(response, None)
                    return
        await _close(response, chunks)


async def open_stream(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    headers_timeout: float | None,
    pool_size: int | None = None,
) -> StreamedBody:
    """Send ``request`` and return its event-stream body once the answer says it is one.

    Raises:
        APITimeoutError: The status and headers did not arrive within ``headers_timeout``
            (phase ``"headers"``): a server that accepts the connection and never answers
            is not "no output from the model".
        APIStatusError: A 3xx (never followed) or a 4xx/5xx, with the API's error body.
        APIStreamError: A JSON body that holds an ``error``.
        ProtocolError: Any other body that is not an event stream (a proxy's page).
        APIConnectionError: The request failed (``PoolExhaustedError`` when no connection
            of ``pool_size`` freed up in time).

    Cancellation: a cancel while sending leaves nothing open; the answer of a refused
    request is closed before the error is raised.
    """
    try:
        with anyio.move_on_after(headers_timeout) as waiting:
            response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise connection_error(
            exc, request.url, pool_size=pool_size, pool_timeout=client.timeout.pool
        ) from None
    if waiting.cancelled_caught:
        raise APITimeoutError(
            f"no response headers from {request.url.host} within the headers "
            f"deadline ({headers_timeout:g}s)",
            phase="headers",
            seconds=headers_timeout,
        )
    try:
        await _check_event_stream(response)
    except BaseException:
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            await _close(response, None)
        raise
    # An uncompressed body (we ask for one) needs no decoding layer: read its stream itself.
    # ``aiter_raw`` is one more async generator over it, whose byte chunker (no chunk size)
    # hands each piece on as it came and whose bookkeeping we never read: 0.5-0.7 µs per
    # chunk (bench_http_replay.py). Both are async generators, typed as iterators upstream.
    encoding = response.headers.get("content-encoding", "identity")
    raw = encoding in ("", "identity")
    if raw:
        body = cast(httpx.AsyncByteStream, response.stream).__aiter__()
    else:
        body = response.aiter_bytes()
    return StreamedBody(response, cast(AsyncGenerator[bytes, None], body), request.url, raw=raw)


async def _check_event_stream(response: httpx.Response) -> None:
    await raise_for_status(response)
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        await _raise_json_body(response)
    elif content_type and "event-stream" not in content_type:
        # An HTML error page from a proxy, say: not a dropped connection, not retried.
        raw = await read_error_body(response)
        raise ProtocolError(
            f"expected an event stream (text/event-stream) but got {content_type}: {raw[:200]!r}"
        )


async def _raise_json_body(response: httpx.Response) -> None:
    raw = await read_error_body(response)
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        error = body["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise APIStreamError(f"the API answered with an error: {message}", body=body)
    raise ProtocolError(
        f"expected an event stream (text/event-stream) but got a JSON body: {raw[:200]!r}"
    )


async def warm_connection(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], query: dict[str, str]
) -> None:
    """Leave a TLS + keep-alive connection to ``url``'s host in the pool: a ``HEAD``, whose
    answer (whatever its status) is not read.

    Raises:
        APIConnectionError: The connection failed.

    Cancellation: a cancelled warm-up leaves no half-open connection.
    """
    first_use(client)  # the turns after it find the client built and its connection open
    try:
        response = await client.head(url, headers=headers, params=query or None)
        await response.aclose()
    except httpx.HTTPError as exc:
        raise connection_error(exc, httpx.URL(url)) from None

"""The HTTP transport: the only module that streams with httpx.

``ChatCompletionsSource`` is the ``TurnSource`` of one Chat Completions turn: it sends the
request, turns the SSE body into events through the sans-IO decoder and mapping, and maps
httpx's errors to ours. Retries (408/409/429/5xx and connection failures, exponential
backoff with jitter, honouring ``Retry-After``) are decided here; the stream only asks,
and only while nothing has reached the caller.

Redirects are not followed (our client is built with ``follow_redirects=False``): a 3xx is
an ``APIStatusError`` that names where it pointed, so no credential, header or conversation
travels to an address the caller did not configure.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import random
import sys
from collections.abc import AsyncGenerator, Callable
from typing import Any, cast

import anyio
import httpx

# httpx imports its transport, httpcore, only when the first client is built: on the event
# loop, one step of about 25 ms. Imported now instead, before any loop runs, unless httpcore
# would also import trio (it does whenever trio is installed): trio's import is about 130 ms,
# which would put ``import scoped_openai`` over its budget for asyncio apps that never use
# trio. Then ``OpenAILLM.__aenter__`` imports it (one step: it cannot be split).
if "trio" in sys.modules or importlib.util.find_spec("trio") is None:
    import httpcore  # noqa: F401  (the import is the point)

from .._chat_completions import ChatCompletionsParser
from .._endpoint import SECRET_QUERY_NAMES, redact_url
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    PoolExhaustedError,
    ProtocolError,
)
from .._events import Event
from .._limits import DEFAULT_LIMITS, StreamLimits
from .refusal import read_error_body, refusal_error

#: How long we read after ``[DONE]`` for the body's end before dropping the connection:
#: inline (the iteration waits) and in all.
DRAIN_INLINE = 0.01
DRAIN_TIMEOUT = 0.25

#: Starts ``fn(*args)`` in a task group the llm owns (``TaskGroup.start_soon``).
Spawner = Callable[..., object]
RETRYABLE_STATUSES = frozenset({408, 409, 429})
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 8.0


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


def backoff_delay(attempt: int, error: Exception) -> float:
    """Exponential backoff with jitter, or the server's ``Retry-After`` when it sent one."""
    if isinstance(error, APIStatusError) and error.retry_after is not None:
        return error.retry_after
    base = min(BACKOFF_MAX, BACKOFF_INITIAL * 2.0**attempt)
    return base * (1.0 - 0.25 * random.random())


def is_retryable(error: Exception) -> bool:
    """Transient failures worth resending: 408/409/429/5xx and connection failures."""
    if isinstance(error, APIStatusError):
        return error.status_code in RETRYABLE_STATUSES or error.status_code >= 500
    return isinstance(error, APIConnectionError)


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


async def _drain_and_close(response: httpx.Response, chunks: AsyncGenerator[bytes, None]) -> None:
    with anyio.move_on_after(DRAIN_TIMEOUT - DRAIN_INLINE):
        await _drain(chunks)
    with anyio.CancelScope(shield=True):
        await _close(response, chunks)


class ChatCompletionsSource:
    """One streamed ``POST /chat/completions`` turn (see ``_stream.TurnSource``)."""

    __slots__ = (
        "_background",
        "_chunks",
        "_client",
        "_headers_timeout",
        "_limits",
        "_max_retries",
        "_parser",
        "_pool_size",
        "_request",
        "_response",
        "request_id",
    )

    def __init__(
        self,
        client: httpx.AsyncClient,
        request: httpx.Request,
        max_retries: int,
        background: Spawner | None = None,
        *,
        limits: StreamLimits = DEFAULT_LIMITS,
        headers_timeout: float | None = None,
        pool_size: int | None = None,
    ) -> None:
        self._background = background
        self._pool_size = pool_size
        self._limits = limits
        self._headers_timeout = headers_timeout
        self._client = client
        self._request = request
        self._max_retries = max_retries
        self._response: httpx.Response | None = None
        self._chunks: AsyncGenerator[bytes, None] | None = None
        self._parser = ChatCompletionsParser(limits)
        self.request_id: str | None = None

    async def start(self) -> None:
        """Send the request and check the answer's status and type.

        Raises ``APITimeoutError`` (phase ``"headers"``) when the status and headers do not
        arrive within the headers deadline: a server that accepts the connection and never
        answers is not "no output from the model".
        """
        self._parser = ChatCompletionsParser(self._limits)
        try:
            with anyio.move_on_after(self._headers_timeout) as waiting:
                response = await self._client.send(self._request, stream=True)
        except httpx.HTTPError as exc:
            raise connection_error(
                exc,
                self._request.url,
                pool_size=self._pool_size,
                pool_timeout=self._client.timeout.pool,
            ) from None
        if waiting.cancelled_caught:
            limit = self._headers_timeout
            raise APITimeoutError(
                f"no response headers from {self._request.url.host} within the headers "
                f"deadline ({limit:g}s)",
                phase="headers",
                seconds=limit,
            )
        self._response = response
        self.request_id = response.headers.get("x-request-id")
        await raise_for_status(response)
        content_type = response.headers.get("content-type", "")
        if "json" in content_type:
            await self._raise_json_body(response)
        elif content_type and "event-stream" not in content_type:
            # An HTML error page from a proxy, say: not a dropped connection, not retried.
            raw = await read_error_body(response)
            raise ProtocolError(
                f"expected an event stream (text/event-stream) but got {content_type}: "
                f"{raw[:200]!r}"
            )
        # An uncompressed body (we ask for one) needs no decoding layer: read it raw. Both
        # are async generators, typed as iterators upstream.
        encoding = response.headers.get("content-encoding", "identity")
        body = response.aiter_raw() if encoding in ("", "identity") else response.aiter_bytes()
        self._chunks = cast(AsyncGenerator[bytes, None], body)

    async def _raise_json_body(self, response: httpx.Response) -> None:
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

    async def receive(self, out: list[Event]) -> bool:
        """Read one network chunk and append the events it completed (maybe none); True
        when it completed at least one SSE event (a comment or half a line is none)."""
        chunks = self._chunks
        assert chunks is not None, "receive() before start()"
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            self._parser.end(out)
            return True
        except httpx.HTTPError as exc:
            raise connection_error(exc, self._request.url) from None
        return self._parser.feed(chunk, out)

    def retry_delay(self, error: Exception, attempt: int) -> float | None:
        """Backoff before a resend, or None once retries are spent or not worth it."""
        if attempt >= self._max_retries or not is_retryable(error):
            return None
        return backoff_delay(attempt, error)

    async def aclose(self, *, completed: bool) -> None:
        """Close the response.

        After ``[DONE]`` the body's last bytes are read first, so the connection goes back
        to the pool instead of being dropped. A server sends them with ``[DONE]``; one that
        does not gets ``DRAIN_INLINE`` seconds, then the rest of ``DRAIN_TIMEOUT`` in the
        llm's task group (the turn's iteration never waits longer), or, without a task
        group, its connection is dropped.
        """
        response, chunks = self._response, self._chunks
        self._response = self._chunks = None
        if response is None:
            return
        if completed and chunks is not None:
            with anyio.move_on_after(DRAIN_INLINE):
                if await _drain(chunks):
                    await _close(response, None)
                    return
            if self._background is not None:
                self._background(_drain_and_close, response, chunks)
                return
        await _close(response, chunks)

    def turn_ended(self, assembler: object, *, cancelled: bool) -> None:
        """HTTP keeps no state across turns."""

    def abandon(self) -> None:
        """Nothing to do without awaiting: the llm closes the response later."""

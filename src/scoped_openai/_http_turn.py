"""One turn over HTTP: a streamed ``POST`` whose body a parser turns into events (the HTTP
paths' ``TurnSource``).

``HTTPTurn`` is generic: what differs between HTTP paths is a ``RequestPlan`` (the request
of each attempt, whether to send again after a failure, what the turn's end records) and
the parser of its body. ``chat_completions_turn`` builds the Chat Completions one: the
request body (``_chat_completions.build_request``), ``POST {base_url}/chat/completions``
and ``ChatCompletionsParser``; the Responses API over HTTP is one more plan and
``ResponsesParser`` behind the same turn. The bytes move in ``_transports.http``.

Retries (408/409/429/5xx and connection failures, exponential backoff with jitter,
honouring ``Retry-After``) are the plan's answer; the stream only asks, and only while
nothing has reached the caller.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import anyio
import httpx
import msgspec

from ._assembly import Assembler
from ._body import json_bytes
from ._chat import ChatContext
from ._chat_completions import ChatCompletionsParser, build_request
from ._endpoint import Endpoint
from ._errors import APIConnectionError, APIStatusError
from ._events import Event
from ._give_way import give_way
from ._graph import ConversationalGraph
from ._limits import DEFAULT_LIMITS, StreamLimits
from ._retry_plan import RetryPlan
from ._settings import GenerationSettings
from ._tools import FunctionTool
from ._transports.http import CLOSE_TIMEOUT, Spawner, StreamedBody, first_use, open_stream
from ._transports.http_backend import ReadWait

RETRYABLE_STATUSES = frozenset({408, 409, 429})
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 8.0

#: What a turn sends with: the client, or (an instance's first turn, before its default
#: client exists) what builds it, called at the turn's start (``HTTPTurn.start``).
ClientOrBuilder = httpx.AsyncClient | Callable[[], httpx.AsyncClient]


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


class BodyParser(Protocol):
    """A path's sans-IO parser of one streamed body (``ChatCompletionsParser``,
    ``ResponsesParser``)."""

    def feed(self, data: bytes, out: list[Event]) -> bool:
        """Append the events ``data`` completed; True when it completed a whole event."""

    def end(self, out: list[Event]) -> None:
        """The body ended: apply the path's end-of-turn rule (raise if it ended early)."""


class RequestPlan(Protocol):
    """What one HTTP path decides for its turns."""

    def request(self, retry: RetryPlan | None) -> httpx.Request:
        """The request of the next attempt: the first (``retry`` None), or a resend as the
        plan said (e.g. ``full_context``)."""

    def parser(self) -> BodyParser:
        """A fresh parser for the next attempt's body."""

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        """How to send again after ``error`` (its backoff), or None to give up; changes
        nothing."""

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        """Bookkeeping once the turn is over (a chain's state); must not block."""


class HTTPOptions(msgspec.Struct, frozen=True):  # a Struct: see _retry_plan.RetryPlan
    """How an llm runs its HTTP turns.

    Attributes:
        max_retries: Resends after a transient failure (see ``is_retryable``).
        headers_timeout: Longest wait for the answer's status and headers (None: none).
        limits: What one turn may receive.
        pool_size: The connection pool's size, named by ``PoolExhaustedError`` (None:
            the caller's own client, whose size we do not know).
        background: Starts the drain of a finished body in the llm's task group (None:
            outside ``async with``, the connection is dropped instead).
    """

    max_retries: int = 0
    headers_timeout: float | None = None
    limits: StreamLimits = DEFAULT_LIMITS
    pool_size: int | None = None
    background: Spawner | None = None


class HTTPTurn:
    """One streamed HTTP turn (see ``_stream.TurnSource``): ``plan`` says what to send,
    its parser what the body means."""

    __slots__ = (
        "_body",
        "_client",
        "_feed",
        "_next_piece",
        "_options",
        "_parser",
        "_plan",
        "request_id",
    )

    def __init__(self, client: ClientOrBuilder, plan: RequestPlan, options: HTTPOptions) -> None:
        self._client = client
        self._plan = plan
        self._options = options
        self._body: StreamedBody | None = None
        self._parser = plan.parser()
        # Bound per attempt and called once per chunk (see ``receive``).
        self._feed = self._parser.feed
        self._next_piece: Callable[[], Awaitable[bytes]] = _not_started
        self.request_id: str | None = None

    async def start(self, owner: object = None, plan: RetryPlan | None = None) -> None:
        """Send the plan's request and check that the answer is an event stream (``owner``
        changes nothing here: HTTP turns share no connection; the retry ``plan`` goes to
        the request plan, which builds each attempt's request).

        A client's first turn (``first_use``) gives the loop back (``give_way``) before
        sending and again after the answer's headers: it runs more in each of those steps
        than later turns do (a new connection, the first answer read on it), and a realtime
        task on the same loop would wait for the lot (1.2-1.5 ms of CPU a step on this
        project's machine, against 0.7-0.9 warm). Given what builds the client (an
        instance's first turn), it builds the client and the plan its request in a step of
        their own, after the first give-way: about 0.5 ms that was in ``chat()``'s step.

        Raises:
            APITimeoutError: No status and headers within the headers deadline (phase
                ``"headers"``).
            APIStatusError: The server refused the request (its body says why).
            APIConnectionError: The request failed.
            UsageError: The default client being built met a proxy variable httpx cannot
                use (it names the variable).

        Cancellation: called under the step's scope; nothing stays open (a client built
        before the cancel stays the instance's).
        """
        options = self._options
        parser = self._parser = self._plan.parser()
        self._feed = parser.feed
        client = self._client
        first = not isinstance(client, httpx.AsyncClient) or first_use(client)
        if first:
            await give_way()
        if not isinstance(client, httpx.AsyncClient):
            client = self._client = client()
            first_use(client)
            request = self._plan.request(plan)
            await give_way()
        else:
            request = self._plan.request(plan)
        try:
            body = self._body = await open_stream(
                client,
                request,
                headers_timeout=options.headers_timeout,
                pool_size=options.pool_size,
            )
        except APIStatusError as error:
            self.request_id = error.request_id  # a refused turn's metrics name it too
            raise
        self.request_id = body.request_id
        if first:
            await self._give_way_open()
        self._next_piece = body.next_piece

    async def _give_way_open(self) -> None:
        """``give_way`` with the body open: closed (its connection dropped) if cancelled."""
        try:
            await give_way()
        except BaseException:
            with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                await self.aclose(completed=False)
            raise

    async def receive(self, out: list[Event]) -> bool:
        """Read one network chunk and append the events it completed (maybe none); True
        when it completed at least one server event (a comment or half a line is none).

        Cancellation: the barge-in point; a chunk not yet read stays unread.
        """
        # The body's iterator is awaited here, not through a method of the body: one
        # coroutine less per chunk. An empty piece completes no event (``feed``).
        try:
            chunk = await self._next_piece()
        except StopAsyncIteration:
            self._parser.end(out)  # the body ended: the end-of-turn rule says if too early
            return True
        except httpx.HTTPError as exc:
            assert self._body is not None
            raise self._body.error(exc) from None
        return self._feed(chunk, out)

    @property
    def read_wait(self) -> ReadWait | None:
        """The body's ``ReadWait`` (its reads open the step's scope), or None."""
        body = self._body
        return None if body is None else body.read_wait

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        """The request plan's answer: how to resend, or None to give up."""
        return self._plan.plan_retry(error, attempt)

    async def aclose(self, *, completed: bool) -> None:
        """Close the body: drained first after a complete reply, so its connection goes back
        to the pool (``StreamedBody.aclose``).

        Cancellation: always called shielded and bounded by the stream.
        """
        body, self._body = self._body, None
        if body is not None:
            await body.aclose(completed=completed, background=self._options.background)

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        """The plan's bookkeeping."""
        self._plan.turn_ended(assembler, cancelled=cancelled)


async def _not_started() -> bytes:
    raise AssertionError("receive() before start()")


class ChatCompletionsPlan:
    """``POST /chat/completions``: the same request on every attempt (``request``, or what
    builds it at the first: see ``chat_completions_turn``), resent after transient
    failures; nothing is kept across turns."""

    __slots__ = ("_build", "_limits", "_max_retries", "_request")

    def __init__(
        self, request: httpx.Request | Callable[[], httpx.Request], options: HTTPOptions
    ) -> None:
        if isinstance(request, httpx.Request):
            self._request: httpx.Request | None = request
            self._build: Callable[[], httpx.Request] | None = None
        else:
            self._request, self._build = None, request
        self._max_retries = options.max_retries
        self._limits = options.limits

    def request(self, retry: RetryPlan | None) -> httpx.Request:
        if self._request is None:
            assert self._build is not None
            self._request = self._build()
        return self._request  # the same request on every attempt

    def parser(self) -> ChatCompletionsParser:
        return ChatCompletionsParser(self._limits)

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        if attempt >= self._max_retries or not is_retryable(error):
            return None
        return RetryPlan(backoff_delay(attempt, error))

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        """Chat Completions keeps no state across turns."""


@functools.lru_cache(maxsize=64)
def parsed_url(url: str) -> httpx.URL:
    """``url`` parsed once: httpx parses a URL given as a string on every request (about
    40 µs of a warm turn's time before its write); given an ``httpx.URL`` (immutable, so
    shared safely) it parses nothing."""
    return httpx.URL(url)


def post_event_stream(
    client: httpx.AsyncClient,
    url: str,
    endpoint: Endpoint,
    body: dict[str, Any],
    *,
    query: bool = True,
) -> httpx.Request:
    """``POST url`` with ``body`` as JSON (``_body.json_bytes``), the endpoint's headers and
    (unless ``query`` is False: the Responses URL carries its own) its query, and no
    compression (it would only buffer a stream that is read as it arrives)."""
    return _post_json(client, parsed_url(url), endpoint, json_bytes(body), query=query)


def _post_json(
    client: httpx.AsyncClient, url: httpx.URL, endpoint: Endpoint, content: bytes, *, query: bool
) -> httpx.Request:
    return client.build_request(
        "POST",
        url,
        content=content,
        # The caller's headers win, as they do over what httpx's ``json=`` would set.
        headers={
            "Accept-Encoding": "identity",
            "Content-Type": "application/json",
            **endpoint.headers,
        },
        params=(endpoint.query or None) if query else None,
    )


def chat_completions_turn(
    client: ClientOrBuilder,
    endpoint: Endpoint,
    settings: GenerationSettings,
    ctx: ChatContext,
    *,
    tools: Sequence[FunctionTool] | None,
    graph: ConversationalGraph | None,
    overrides: Mapping[str, Any] | None,
    options: HTTPOptions,
) -> HTTPTurn:
    """One Chat Completions turn, its request built now (nothing is sent yet); given what
    builds the client (an instance's first turn), its body is checked and encoded now and
    the httpx request is built with the client at the turn's start.

    Raises:
        InvalidContextError: The context cannot be sent (empty, or an image outside a user
            message).
        UsageError: A request value is a NaN or an infinity (``_body.json_bytes``).
    """
    body = build_request(settings, ctx, tools=tools, graph=graph, overrides=overrides)
    if isinstance(client, httpx.AsyncClient):
        request = post_event_stream(client, endpoint.chat_url, endpoint, body)
        return HTTPTurn(client, ChatCompletionsPlan(request, options), options)
    build = client
    url, content = parsed_url(endpoint.chat_url), json_bytes(body)
    plan = ChatCompletionsPlan(
        lambda: _post_json(build(), url, endpoint, content, query=True), options
    )
    return HTTPTurn(client, plan, options)

"""``OpenAILLM``: the facade. Configuration, ``chat()``, ``prewarm()``, barge-in, close.

No protocol work here: a turn is made by ``_http_turn`` (Chat Completions over HTTP: its
request, its parser) or ``_ws_turn`` (the Responses API over the pooled WebSocket), and
driven by the per-turn stream in ``_stream``; assembly is ``_assembly``'s, the network
``_transports``', the WebSocket lifecycle ``_ws_pool``'s and what the first entry in a
process loads ``_first_entry``'s.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import weakref
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import anyio
import anyio.abc
import httpx

from ._assembly import Assembler
from ._chat import ChatContext, ChatItem, ChatMessage, ChatRole, FunctionCall, FunctionCallOutput
from ._deadlines import burst_clock, native_scope_and_clock
from ._endpoint import Endpoint, redact_url, with_query
from ._errors import APIConnectionError, APIStatusError, InvalidContextError, UsageError
from ._first_entry import (
    load_once,
    load_responses_modules,
    load_transport_once,
    load_websocket_engine,
)
from ._graph import ConversationalGraph
from ._http_turn import HTTPOptions, HTTPTurn, chat_completions_turn
from ._limits import StreamLimits
from ._loops import current_loop, running_asyncio_loop
from ._metrics import TurnMetrics, TurnRecorder
from ._settings import GenerationSettings, ReasoningEffort, ToolChoice, Verbosity
from ._stepwise_import import import_indivisible
from ._stream import CLEANUP_TIMEOUT, ChatStream, TurnSource
from ._tls import shared_tls_context, shared_tls_context_loaded
from ._tools import FunctionTool
from ._transports.http import (
    http2_available,
    install_log_redaction,
    warm_connection,
    with_scoped_reads,
)
from ._transports.websocket import (
    ENGINES,
    WebSocketConnector,
    WebSocketEngine,
    default_connector,
    raise_unwrapped,
)
from ._turn_owner import TurnOwner
from ._watchdog import Watchdog
from ._ws_fallback import FallbackSwitch, WebSocketOrHTTPTurn, is_unsupported_upgrade

if TYPE_CHECKING:
    from ._chain import ChainHome
    from ._http_responses import ResponsesHTTPPlan
    from ._responses_input import InputItemCache
    from ._ws_pool import WebSocketPool
    from ._ws_turn import ResponsesTurnSource

logger = logging.getLogger("scoped_openai")

DEFAULT_TIMEOUT = httpx.Timeout(connect=15.0, read=None, write=5.0, pool=5.0)
#: One ``OpenAILLM`` runs up to 1,000 HTTP turns at once (each streaming turn holds its
#: connection to the end); past that a turn waits ``pool`` seconds for one, then fails with
#: ``PoolExhaustedError``. 50 made turn 51 of a busy instance fail against a healthy server.
DEFAULT_POOL = httpx.Limits(
    max_connections=1000, max_keepalive_connections=100, keepalive_expiry=120.0
)
#: Defaults of the stall guards (seconds; None disables one).
DEFAULT_IDLE_TIMEOUT = 10.0
DEFAULT_FIRST_TOKEN_TIMEOUT = 60.0
DEFAULT_HEADERS_TIMEOUT = 20.0
DEFAULT_CONNECT_TIMEOUT = 15.0
#: How long a second, concurrent ``aclose()`` waits for the first to finish.
CLOSE_WAIT = 5.0

ErrorCallback = Callable[[Exception], object]
MetricsCallback = Callable[[TurnMetrics], object]
#: The events ``on`` accepts.
EVENTS = ("error", "metrics", "fallback")


@functools.cache
def _websocket_turn_class() -> type[ResponsesTurnSource]:
    """``ResponsesTurnSource``, imported at its first use (see
    ``_first_entry.RESPONSES_MODULES``) and kept: an import statement in every WebSocket
    turn's path ran the import system's Python code before the request (its relative name
    resolved again each time)."""
    from ._ws_turn import ResponsesTurnSource

    return ResponsesTurnSource


@functools.cache
def _http_responses_plan_class() -> type[ResponsesHTTPPlan]:
    """``ResponsesHTTPPlan``, imported at its first use and kept, as
    ``_websocket_turn_class`` (an import statement: about 0.9 us every HTTP Responses turn)."""
    from ._http_responses import ResponsesHTTPPlan

    return ResponsesHTTPPlan


if "httpcore" not in sys.modules:
    # What of the transport no step can split is imported now, before any loop runs; the
    # rest a module per step when an instance is entered (``_first_entry``).
    import_indivisible()


#: The APIs an instance can speak over HTTP (``api=``).
API = Literal["chat", "responses"]
APIS: tuple[API, ...] = ("chat", "responses")

_Choice = TypeVar("_Choice", bound=str)


def _checked(value: _Choice, name: str, choices: tuple[_Choice, ...]) -> _Choice:
    """``value`` if it is one of ``choices``; a clear ``ValueError`` otherwise."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {choices}")
    return value


def _uses_default_websocket_engine(llm: OpenAILLM) -> bool:
    return llm.streaming and llm._ws_connector is None and llm.ws_engine in ("auto", "websockets")


class OpenAILLM:
    """A streaming OpenAI LLM for voice agents, on trio or asyncio.

    Takes every argument of the VideoSDK plugin with the same name and default, plus the
    stall guards: ``idle_timeout`` (longest wait for the next event; comments and partial
    bytes do not count), ``first_token_timeout`` (longest wait for the first output of a
    turn), ``headers_timeout`` (HTTP: longest wait for the response's status and headers)
    and ``turn_timeout`` (optional bound on a whole turn); ``limits`` (``StreamLimits``:
    what one turn may receive, so memory stays bounded whatever the server sends);
    ``warm_spare`` (WebSocket mode: keep a second socket open so the turn after a barge-in
    never waits for a handshake; False halves the sockets of a server running many sessions,
    and a barge-in then costs the next turn one handshake); ``ws_engine``, the WebSocket
    client: ``"auto"`` (the default: the ``websockets`` package's protocol over anyio streams,
    on both backends; proxies from the environment as httpx reads them), ``"trio-websocket"``
    (trio only) or ``"httpx-ws"`` (asyncio only; goes through ``client``, its TLS and proxy
    settings); and ``ws_connector``, the seam that opens WebSockets (tests pass an in-memory
    one, e.g. ``FakeOpenAI.ws_connector()``; it overrides ``ws_engine``).

    Use it as ``async with OpenAILLM(...) as llm:`` (required for ``streaming=True``, which
    keeps sockets in the block's task group); HTTP mode also works without the block, then
    call ``await llm.aclose()`` when done.
    """

    #: How many stream references ``_track`` keeps before ``_sweep_streams`` runs (an
    #: instance's own value once it has swept).
    _sweep_streams_at = 16

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        temperature: float = 0.7,
        tool_choice: ToolChoice = "auto",
        max_completion_tokens: int | None = None,
        top_p: float | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        seed: int | None = None,
        organization: str | None = None,
        project: str | None = None,
        parallel_tool_calls: bool | None = None,
        timeout: httpx.Timeout | None = None,
        extra_headers: dict[str, str] | None = None,
        extra_query: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
        max_retries: int = 0,
        reasoning_effort: ReasoningEffort | None = None,
        verbosity: Verbosity | None = None,
        streaming: bool = False,
        store: bool = False,
        wss_url: str | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT,
        warm_spare: bool = True,
        ws_connector: WebSocketConnector | None = None,
        ws_engine: WebSocketEngine = "auto",
        headers_timeout: float | None = DEFAULT_HEADERS_TIMEOUT,
        turn_timeout: float | None = None,
        limits: StreamLimits | None = None,
        api: API = "chat",
        _endpoint: Endpoint | None = None,
    ) -> None:
        """Configure the client; nothing is opened until the first turn or ``prewarm``.

        Args:
            api_key: The OpenAI key; default ``$OPENAI_API_KEY``. Not needed with
                ``base_url`` (a local server) or a ``client`` that authenticates itself.
            model: The model of every turn.
            base_url: An OpenAI-compatible API root such as ``http://localhost:8000/v1``;
                default ``$OPENAI_BASE_URL``, else OpenAI. Must start with ``http://`` or
                ``https://``.
            temperature: Sampling temperature (not sent to reasoning models).
            tool_choice: ``"auto"``, ``"none"``, ``"required"`` or a tool to force.
            max_completion_tokens: Upper bound on the reply's tokens.
            top_p: Nucleus sampling (not sent to reasoning models).
            frequency_penalty: Not sent to reasoning models nor on the WebSocket path.
            presence_penalty: Not sent to reasoning models nor on the WebSocket path.
            seed: Best-effort determinism (not sent on the WebSocket path).
            organization: ``OpenAI-Organization`` header; default ``$OPENAI_ORG_ID``.
            project: ``OpenAI-Project`` header; default ``$OPENAI_PROJECT_ID``.
            parallel_tool_calls: Whether the model may call several tools in one turn.
            timeout: The default client's ``httpx.Timeout`` (connect 15 s, no read
                timeout: ``idle_timeout`` and ``first_token_timeout`` bound the stream).
            extra_headers: Sent with every request and WebSocket handshake.
            extra_query: Added to every request URL and the WebSocket URL.
            extra_body: Merged into every request body (and ``response.create`` frame),
                then ``chat(**kwargs)``, by one rule on every path: objects merge deeply,
                anything else is replaced, and None removes a key.
            client: An ``httpx.AsyncClient`` to use instead of the default one (it is not
                closed by ``aclose``).
            max_retries: Resends after 408/409/429/5xx or a connection failure, with
                backoff, jitter and ``Retry-After``, only while nothing reached the caller.
            reasoning_effort: For reasoning models (o1/o3/o4/gpt-5*), ``"none"`` included.
            verbosity: For reasoning models: ``"low"``, ``"medium"`` or ``"high"``.
            streaming: True: the Responses API over a WebSocket kept open across turns
                (needs ``async with``; falls back to HTTP when the server cannot upgrade);
                False: HTTP, the API ``api`` names.
            store: Let the server store responses, so Responses turns can chain on
                ``previous_response_id`` across sockets, and over HTTP at all.
            wss_url: The WebSocket URL; default derived from ``base_url``
                (``http`` -> ``ws``, ``https`` -> ``wss``, path + ``/responses``).
            idle_timeout: Longest silence between chunks or frames, in seconds, before
                the turn fails with ``APITimeoutError`` (``phase="idle"``); None: no limit.
            first_token_timeout: Longest wait for a turn's first output, in seconds
                (``phase="first_token"``); None: no limit.
            warm_spare: WebSocket mode: keep a second socket open so the turn after a
                barge-in never waits for a handshake.
            ws_connector: Opens WebSockets instead of ``ws_engine`` (tests pass
                ``FakeOpenAI.ws_connector()``).
            ws_engine: ``"auto"``, ``"trio-websocket"`` (trio only) or ``"httpx-ws"``
                (asyncio only).
            api: Without ``streaming``: ``"chat"``, Chat Completions over HTTP (the
                default), or ``"responses"``, the Responses API over HTTP (``POST
                /responses`` streamed as SSE; chained on ``previous_response_id`` with
                ``store=True``). ``streaming=True`` is the Responses API over a WebSocket.

        Raises:
            ValueError: No key and no ``base_url``, or a ``base_url`` without a scheme.
        """
        if _endpoint is None:
            _endpoint = Endpoint.openai(
                api_key=api_key,
                base_url=base_url,
                wss_url=wss_url,
                organization=organization,
                project=project,
                extra_headers=extra_headers,
                extra_query=extra_query,
                has_client=client is not None,
            )
        self.settings = GenerationSettings(
            model=model,
            temperature=temperature,
            tool_choice=tool_choice,
            max_completion_tokens=max_completion_tokens,
            top_p=top_p,
            frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty,
            seed=seed,
            parallel_tool_calls=parallel_tool_calls,
            reasoning_effort=reasoning_effort,
            verbosity=verbosity,
            extra_body=extra_body,
            store=store,
        )
        self.streaming = streaming
        self.api: API = _checked(api, "api", APIS)
        # What the server holds that a turn may continue from (``_chain_home``).
        self._chains: ChainHome | None = None
        # Without store, HTTP Responses turns send the whole context: converted once per item
        # (made by the first such turn).
        self._http_inputs: InputItemCache | None = None
        self._fallback = FallbackSwitch(self._moved_to_http)
        self.max_retries = max_retries
        self.idle_timeout = idle_timeout
        self.first_token_timeout = first_token_timeout
        self.headers_timeout = headers_timeout
        self.turn_timeout = turn_timeout
        self.limits = limits or StreamLimits()
        self.warm_spare = warm_spare
        self._endpoint = _endpoint
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._client = client
        self._owns_client = client is None
        # Weak, by id (see ``_sweep_streams``): a stream dropped unfinished must be
        # collectable; what its turn started stays in ``_turns`` until released.
        self._streams: dict[int, weakref.ref[ChatStream]] = {}
        self._turns: dict[_StartedTurn, None] = {}  # started and not closed, in order
        self._listeners: dict[str, list[Callable[[Any], object]]] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._watchdog: Watchdog | None = None
        self._ws_connector = ws_connector
        self.ws_engine: WebSocketEngine = _checked(ws_engine, "ws_engine", ENGINES)
        self._pool: WebSocketPool | None = None
        self._closed = False
        self._closing: anyio.Event | None = None
        self._loop: object = None  # the event loop of first use (see _check_loop)
        self._native: tuple[Callable[..., Any], Callable[[], float]] | None = None  # _check_loop
        self._burst_clock: Callable[[], float] | None = None  # _check_loop, as _native

    # -- configuration shortcuts ------------------------------------------------------

    @property
    def model(self) -> str:
        """The configured model name."""
        return self.settings.model

    def __repr__(self) -> str:
        if self.streaming and not self._fallback.moved:
            mode, url = "websocket", self._endpoint.wss_url
        elif self.api == "responses" or self.streaming:
            mode, url = "responses-http", self._endpoint.responses_url
        else:
            mode, url = "http", self._endpoint.chat_url
        return f"OpenAILLM(model={self.model!r}, mode={mode}, url={redact_url(url)!r})"

    @staticmethod
    def azure(
        *,
        model: str = "gpt-4o-mini",
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        azure_ad_token: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        base_url: str | None = None,
        temperature: float = 0.7,
        tool_choice: ToolChoice = "auto",
        max_completion_tokens: int | None = None,
        top_p: float | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        seed: int | None = None,
        parallel_tool_calls: bool | None = None,
        timeout: httpx.Timeout | None = None,
        extra_headers: dict[str, str] | None = None,
        extra_query: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
        max_retries: int = 0,
        reasoning_effort: ReasoningEffort | None = "none",
        verbosity: Verbosity | None = "low",
        streaming: bool = False,
        store: bool = False,
        wss_url: str | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT,
        warm_spare: bool = True,
        headers_timeout: float | None = DEFAULT_HEADERS_TIMEOUT,
        turn_timeout: float | None = None,
        limits: StreamLimits | None = None,
        api: API = "chat",
    ) -> OpenAILLM:
        """An ``OpenAILLM`` for Azure OpenAI, with the reference's env fallbacks.

        ``api_key`` <- ``AZURE_OPENAI_API_KEY``, ``azure_ad_token`` <-
        ``AZURE_OPENAI_AD_TOKEN``, ``api_version`` <- ``OPENAI_API_VERSION``,
        ``azure_endpoint`` <- ``AZURE_OPENAI_ENDPOINT``, ``azure_deployment`` <-
        ``AZURE_OPENAI_DEPLOYMENT`` (falls back to ``model``), ``organization`` <-
        ``OPENAI_ORG_ID``, ``project`` <- ``OPENAI_PROJECT_ID``. Requests go to
        ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``
        with an ``api-key`` header (or ``Authorization: Bearer`` with an AD token).
        ``streaming=True`` uses ``{endpoint}/openai/v1/responses`` over a WebSocket unless
        ``wss_url`` says otherwise; ``api="responses"`` posts to it over HTTP.
        """
        azure_endpoint = azure_endpoint or os.getenv("AZURE_OPENAI_ENDPOINT")
        azure_deployment = azure_deployment or os.getenv("AZURE_OPENAI_DEPLOYMENT") or model
        api_version = api_version or os.getenv("OPENAI_API_VERSION")
        api_key = api_key or os.getenv("AZURE_OPENAI_API_KEY")
        azure_ad_token = azure_ad_token or os.getenv("AZURE_OPENAI_AD_TOKEN")
        if not azure_endpoint:
            raise ValueError(
                "Azure endpoint must be provided either through the azure_endpoint parameter "
                "or the AZURE_OPENAI_ENDPOINT environment variable"
            )
        if not api_key and not azure_ad_token and client is None:
            raise ValueError("Either an API key or an Azure AD token must be provided")
        endpoint = Endpoint.azure(
            azure_endpoint=azure_endpoint,
            azure_deployment=azure_deployment,
            api_version=api_version,
            api_key=api_key,
            azure_ad_token=azure_ad_token,
            base_url=base_url,
            organization=organization or os.getenv("OPENAI_ORG_ID"),
            project=project or os.getenv("OPENAI_PROJECT_ID"),
            extra_headers=extra_headers,
            extra_query=extra_query,
        )
        if wss_url is not None:
            endpoint.wss_url = with_query(wss_url, extra_query)
        return OpenAILLM(
            model=model,
            temperature=temperature,
            tool_choice=tool_choice,
            max_completion_tokens=max_completion_tokens,
            top_p=top_p,
            frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty,
            seed=seed,
            parallel_tool_calls=parallel_tool_calls,
            timeout=timeout,
            extra_body=extra_body,
            client=client,
            max_retries=max_retries,
            reasoning_effort=reasoning_effort,
            verbosity=verbosity,
            streaming=streaming,
            store=store,
            idle_timeout=idle_timeout,
            first_token_timeout=first_token_timeout,
            warm_spare=warm_spare,
            headers_timeout=headers_timeout,
            turn_timeout=turn_timeout,
            limits=limits,
            api=api,
            _endpoint=endpoint,
        )

    # -- events -----------------------------------------------------------------------

    @overload
    def on(self, event: Literal["error"], callback: ErrorCallback) -> None: ...

    @overload
    def on(self, event: Literal["metrics"], callback: MetricsCallback) -> None: ...

    @overload
    def on(self, event: Literal["fallback"], callback: ErrorCallback) -> None: ...

    def on(self, event: str, callback: Callable[[Any], object]) -> None:
        """Listen to ``"error"`` or ``"metrics"``.

        ``"error"``: ``callback(error)`` for every error, raised or not (as the reference).
        ``"metrics"``: ``callback(metrics)`` with a ``TurnMetrics`` once per turn when it
        ends, completed, cancelled or failed (not for a prewarm's warm-up).
        ``"fallback"``: ``callback(refusal)`` once, when ``streaming=True`` met a server
        that refused the WebSocket upgrade as unsupported (404, 405, 426, a plain page) and
        the instance moved to the Responses API over HTTP for the rest of its life.

        Callbacks run synchronously; an exception in one is logged and swallowed.

        Raises:
            ValueError: ``event`` is not one of them (a typo would otherwise never fire).
        """
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}: OpenAILLM emits {', '.join(EVENTS)}")
        self._listeners.setdefault(event, []).append(callback)

    def off(self, event: str, callback: Callable[[Any], object]) -> None:
        """Remove a callback added with ``on``."""
        callbacks = self._listeners.get(event, [])
        if callback in callbacks:
            callbacks.remove(callback)

    def emit(self, event: str, payload: object) -> None:
        """Call the listeners of ``event`` with ``payload``."""
        for callback in tuple(self._listeners.get(event, ())):
            try:
                callback(payload)
            except Exception:
                logger.exception("an %r listener raised", event)

    def _emit_error(self, error: Exception) -> None:
        self.emit("error", error)

    def _emit_metrics(self, metrics: TurnMetrics) -> None:
        self.emit("metrics", metrics)

    # -- lifecycle --------------------------------------------------------------------

    def _http_client(self) -> httpx.AsyncClient:
        if self._closed:
            raise RuntimeError("this OpenAILLM is closed")
        install_log_redaction()  # also for a caller's client: the query is ours
        if self._client is None:
            self._client = self._default_client()
            # Our client only: a network read, not every chunk, opens the turn's scope.
            with_scoped_reads(self._client)
        return self._client

    def _turn_client(self) -> httpx.AsyncClient | Callable[[], httpx.AsyncClient]:
        """The client of a Chat Completions turn or, while the default one is not built,
        what builds it: the first turn builds it at its start, in a step of its own, not in
        ``chat()``'s step with the request (``HTTPTurn.start``). Only once the shared TLS
        context is loaded (entering does it): before, building the client reads the CA
        bundle, and a bundle that cannot be read (``SSL_CERT_FILE``) stays ``chat()``'s
        error, not a connection failure that the turn would retry with backoff."""
        if self._client is None and not self._closed and shared_tls_context_loaded():
            return self._http_client
        return self._http_client()

    def _default_client(self) -> httpx.AsyncClient:
        try:
            return httpx.AsyncClient(
                timeout=self._timeout,
                limits=DEFAULT_POOL,
                # Never: a 307/308 to another origin would carry the API key (httpx strips
                # only Authorization, not api-key or extra headers) and the conversation
                # there, and its answer would be spoken. A redirect is an APIStatusError
                # that names its target (README, "Redirects are not followed").
                follow_redirects=False,
                verify=shared_tls_context(),
                # With HTTP/2 a barge-in resets one stream and the connection stays up for
                # the next turn; on HTTP/1.1 it costs a new TCP + TLS handshake (measured in
                # benchmarks/: no new connection in 8 of 8 barge-ins over HTTP/2).
                http2=http2_available(),
            )
        except (httpx.InvalidURL, ValueError, ImportError) as exc:
            from ._proxy_settings import proxy_setting_error  # only once something is wrong

            error = proxy_setting_error(socks=True)
            if error is None:
                raise
            raise error from exc

    async def __aenter__(self) -> OpenAILLM:
        """Open the task group connections and prewarm live in. The first entry in a
        process also loads the TLS context (a slice of the CA bundle per step, so the event
        loop is not held for it) and, if not loaded yet, the HTTP transport and the first
        HTTP client's first-time code paths, so the first turn does not pay them before
        its request.

        Cancellation: nothing is opened yet when it is cancelled; the part of the TLS
        context already loaded stays loaded.
        """
        if self._closed:
            raise RuntimeError("this OpenAILLM is closed")
        self._check_loop()
        await load_once(
            self._loop, "transport", functools.partial(load_transport_once, DEFAULT_POOL)
        )
        if _uses_default_websocket_engine(self):
            # The engine's imports, a module per step, so the first socket does not pay them
            # in one (``_stepwise_import``).
            await load_once(
                self._loop,
                "websocket",
                functools.partial(load_websocket_engine, self._endpoint.wss_url),
            )
        if self.streaming or self.api == "responses":
            await load_once(self._loop, "responses", load_responses_modules)
        if self._closed:
            raise RuntimeError("this OpenAILLM is closed")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close everything the block opened (see ``aclose``), then wait for the sockets'
        polite closes and drains, each bounded.

        Cancellation: closing is shielded and bounded; a cancellation of the block's scope
        propagates unchanged (never wrapped in an ``ExceptionGroup``).
        """
        try:
            await self.aclose()
        finally:
            task_group, self._task_group = self._task_group, None
            if task_group is not None:
                # aclose() retired every socket and stopped the pool's maintenance; what is
                # left are polite closes and drains, each bounded, so we wait for them
                # rather than cancel them. Not the body's exception: anyio would wrap it in
                # an ExceptionGroup; our tasks never raise, so the body's exception (if any)
                # propagates on its own once the group has finished.
                try:
                    await task_group.__aexit__(None, None, None)
                except BaseExceptionGroup as group:
                    # Only what no task may swallow gets here: a KeyboardInterrupt or
                    # SystemExit that landed in one of our socket tasks (trio delivers
                    # Ctrl-C to whichever task is running). The caller gets it bare.
                    raise_unwrapped(group, _unchanged)

    async def aclose(self) -> None:
        """Stop every stream, close sockets and the HTTP client if we made it. Idempotent.

        Cancellation: the closing is shielded and bounded, so it completes (or gives up
        after a short bound) even inside a cancelled scope.
        """
        if self._closed:
            # Closing already, maybe in another task: return only once it is done.
            if self._closing is not None:
                with anyio.move_on_after(CLOSE_WAIT, shield=True):
                    await self._closing.wait()
            return
        self._closed = True
        self._closing = anyio.Event()
        try:
            await self._close_everything()
        finally:
            self._closing.set()

    async def _close_everything(self) -> None:
        for stream in self._live_streams():
            stream.cancel()
            await stream.aclose()
        await self._release_left_turns(everything=True)
        if self._watchdog is not None:
            self._watchdog.close()
        if self._pool is not None:
            self._pool.close()
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            with anyio.move_on_after(1.0, shield=True):
                await client.aclose()

    # -- turns ------------------------------------------------------------------------

    def chat(
        self,
        messages: ChatContext,
        tools: Sequence[FunctionTool] | None = None,
        conversational_graph: ConversationalGraph | None = None,
        **kwargs: Any,
    ) -> ChatStream:
        """Stream the reply to ``messages``.

        Returns a stream: ``async with llm.chat(ctx) as stream: async for r in stream``
        (preferred) or ``async for r in llm.chat(ctx)``. Nothing is sent until the first
        item is awaited. ``kwargs`` are merged into the request body last, as
        ``extra_body`` is (objects deeply; None removes a key).

        ``messages`` is a ``ChatContext`` or a list of its items (``ChatMessage``,
        ``FunctionCall``, ``FunctionCallOutput``), on both paths.

        Raises:
            InvalidContextError: The context cannot be sent as the API requires (an empty
                context or an image outside a user message on Chat Completions; the
                WebSocket path raises it from the first iteration). Nothing is sent.
            UsageError: ``messages`` or ``tools`` is not what is described above, the
                instance is used from a second event loop, or a request value is a NaN or an
                infinity, which JSON cannot hold (the message names where; the Responses
                paths raise this one from the first iteration). Also a proxy variable httpx
                cannot use, or CA certificates that cannot be loaded, when the default
                client is built: here, or from the first iteration of an entered instance's
                first Chat Completions turn, which builds it. Nothing is sent.
        """
        try:
            self._check_loop()
            if not isinstance(messages, ChatContext):  # a turn's common case: no call
                messages = _as_context(messages)
            if tools is not None:
                _check_tools(tools)
        except UsageError as error:
            self._emit_error(error)  # like every error of a turn (nothing was sent)
            raise
        if self.streaming or self.api == "responses":
            try:
                source, path = self._responses_turn(
                    messages.items, tools, conversational_graph, kwargs
                )
            except UsageError as error:  # a proxy variable the default client cannot use
                self._emit_error(error)  # like every error of a turn (nothing was sent)
                raise
            return self._track(source, conversational_graph, path=path)
        try:
            source = chat_completions_turn(
                self._turn_client(),
                self._endpoint,
                self.settings,
                messages,
                tools=tools,
                graph=conversational_graph,
                overrides=kwargs,
                options=self._http_options(),
            )
        except (InvalidContextError, UsageError) as error:  # the request cannot be built
            self._emit_error(error)  # like every error of a turn (nothing was sent)
            raise
        return self._track(source, conversational_graph, path="chat_completions")

    def _responses_turn(
        self,
        items: Sequence[ChatItem],
        tools: Sequence[FunctionTool] | None,
        graph: ConversationalGraph | None,
        overrides: dict[str, Any],
        *,
        generate: bool | None = None,
    ) -> tuple[TurnSource, str]:
        """A Responses API turn and its metrics path: over HTTP with ``api="responses"`` or
        once the WebSocket fell back; otherwise over the WebSocket, ready to fall back."""
        if not self.streaming or self._fallback.moved:
            return self._http_responses_turn(items, tools, graph, overrides), "responses_http"
        websocket = _websocket_turn_class()(
            self._websocket_pool(),
            self.settings,
            items,
            tools=tools,
            graph=graph,
            overrides=overrides,
            generate=generate,
            limits=self.limits,
        )
        if generate is False:  # a warm-up: only the WebSocket has one (nothing is generated)
            return websocket, "responses_websocket"
        # A partial, not a closure made every turn (a function, a tuple and a cell each).
        over_http = functools.partial(self._http_responses_turn, items, tools, graph, overrides)
        return WebSocketOrHTTPTurn(websocket, over_http, self._fallback), "responses_websocket"

    def _http_responses_turn(
        self,
        items: Sequence[ChatItem],
        tools: Sequence[FunctionTool] | None,
        graph: ConversationalGraph | None,
        overrides: dict[str, Any],
    ) -> TurnSource:
        """The same turn over HTTP (``POST /responses``)."""
        if self._http_inputs is None:
            # Imported on the first such turn only: an import statement runs the import
            # system's Python code every time it runs.
            from ._responses_input import InputItemCache

            self._http_inputs = InputItemCache()
        client, options = self._http_client(), self._http_options()
        plan = _http_responses_plan_class()(
            client,
            self._endpoint,
            self.settings,
            items,
            chain=self._chain_home().shared,
            inputs=self._http_inputs,
            tools=tools,
            graph=graph,
            overrides=overrides,
            options=options,
        )
        return HTTPTurn(client, plan, options)

    def _moved_to_http(self, refusal: Exception) -> None:
        """The WebSocket was refused as unsupported: stop the pool (nothing opens sockets
        any more) and tell the ``"fallback"`` listeners."""
        if self._pool is not None:
            self._pool.close()
        self.emit("fallback", refusal)

    def _http_options(self) -> HTTPOptions:
        """How HTTP turns run, from the configuration as it is now."""
        return HTTPOptions(
            max_retries=self.max_retries,
            headers_timeout=self.headers_timeout,
            limits=self.limits,
            pool_size=DEFAULT_POOL.max_connections if self._owns_client else None,
            background=self._task_group.start_soon if self._task_group is not None else None,
        )

    def _chain_home(self) -> ChainHome:
        """What the server holds that a turn may continue from: one chain per socket, or the
        instance's one when responses are stored (shared by the WebSocket and HTTP paths).
        Made by the first Responses turn: a Chat Completions instance never imports it."""
        if self._chains is None:
            from ._chain import ChainHome  # see _first_entry.RESPONSES_MODULES

            # The store flag the requests send (the constructor's ``store``).
            self._chains = ChainHome(store=self.settings.store)
        return self._chains

    def _websocket_pool(self) -> WebSocketPool:
        if self._closed:
            raise RuntimeError("this OpenAILLM is closed")
        if self._pool is None:
            from ._ws_pool import WebSocketPool  # see _first_entry.RESPONSES_MODULES

            if self._task_group is None:
                raise RuntimeError(
                    "streaming=True keeps a WebSocket open across turns, so it needs an owner: "
                    "use `async with OpenAILLM(streaming=True, ...) as llm:` and call "
                    "llm.chat() inside the block"
                )
            connector = self._ws_connector or default_connector(
                self._http_client(),
                self._timeout.connect or DEFAULT_CONNECT_TIMEOUT,
                self.ws_engine,
            )
            self._pool = WebSocketPool(
                self._task_group,
                connector,
                self._endpoint.wss_url,
                self._endpoint.headers,
                chains=self._chain_home(),
                keep_spare=self.warm_spare,
                clock=self._native[1] if self._native is not None else anyio.current_time,
            )
        return self._pool

    def _track(
        self, source: TurnSource, graph: ConversationalGraph | None, *, path: str | None
    ) -> ChatStream:
        """A stream for ``source``, tracked for barge-in and close; ``path`` None: no
        metrics (a prewarm's warm-up is not a turn)."""
        # What releasing the turn needs if its stream is dropped; it holds no stream.
        turn = _StartedTurn(
            source,
            Assembler(model=self.settings.model, graph=graph, limits=self.limits),
            TurnRecorder(path) if path is not None else None,
        )
        stream = ChatStream(
            source,
            turn.assembler,
            idle_timeout=self.idle_timeout,
            first_token_timeout=self.first_token_timeout,
            turn_timeout=self.turn_timeout,
            on_error=self._emit_error,
            on_close=functools.partial(self._turn_closed, turn),
            prepare=functools.partial(self._turn_starting, turn),
            burst_clock=self._burst_clock,
            watchdog=self._watchdog if self._watchdog is not None else self._deadline_watchdog(),
            recorder=turn.recorder,
            on_metrics=self._emit_metrics,
            native=self._native,
        )
        streams = self._streams
        if len(streams) >= self._sweep_streams_at:
            self._sweep_streams()
        streams[id(stream)] = weakref.ref(stream)  # an id is reused only once its owner died
        return stream

    def _turn_starting(self, turn: _StartedTurn, owner: TurnOwner) -> Awaitable[None] | None:
        """A turn is about to send (again): track it until its stream closes. When turns
        left before it are still tracked (rare: one turn at a time, each closed by its
        stream), returns what the stream awaits instead: their release, then the tracking.
        No coroutine is made in the usual case, on every turn's way to its request."""
        if self._turns:
            return self._turn_starting_after_release(turn, owner)
        turn.owner = owner
        turn.attempts += 1
        self._turns[turn] = None
        return None

    async def _turn_starting_after_release(self, turn: _StartedTurn, owner: TurnOwner) -> None:
        await self._release_left_turns()
        turn.owner = owner
        turn.attempts += 1
        self._turns[turn] = None

    def _live_streams(self) -> list[ChatStream]:
        """The tracked streams that still exist (mostly in the order they were made: a
        stream whose id an unswept dead one had takes that one's place)."""
        return [stream for ref in tuple(self._streams.values()) if (stream := ref()) is not None]

    def _sweep_streams(self) -> None:
        """Forget the streams dropped without being closed, so the references stay bounded
        (at most twice the live streams, or 16). A dict of weak
        references, not a WeakSet: empty, it is no object the collector tracks (a WeakSet is
        six per instance), and adding to it is a C call, not a Python one, every turn."""
        streams = self._streams
        for key, ref in tuple(streams.items()):
            if ref() is None:
                del streams[key]
        self._sweep_streams_at = max(OpenAILLM._sweep_streams_at, 2 * len(streams))

    def _turn_closed(self, turn: _StartedTurn, stream: ChatStream) -> None:
        self._streams.pop(id(stream), None)
        self._turns.pop(turn, None)

    async def _release_left_turns(self, *, everything: bool = False) -> None:
        """Release the turns whose owner vanished (``_turn_owner``: left by ``break``, the
        stream dropped, its task ended), or every turn (closing). Each release is shielded
        and bounded."""
        for turn in tuple(self._turns):
            owner = turn.owner
            if owner is not None and (everything or owner.vanished()):
                await self._release_turn(turn, owner)

    async def _release_turn(self, turn: _StartedTurn, owner: TurnOwner) -> None:
        self._turns.pop(turn, None)
        stream = owner.stream()
        if stream is not None:
            await stream.aclose()  # still referenced: it ends like a barge-in, and reports
            return
        source = turn.source
        with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
            await source.aclose(completed=False)
        source.turn_ended(turn.assembler, cancelled=True)
        if turn.recorder is not None:  # left early: reported as cancelled
            metrics = turn.recorder.finish(
                anyio.current_time(),
                turn.assembler,
                cancelled=True,
                retries=turn.attempts - 1,
                request_id=getattr(source, "request_id", None),
                error=None,
            )
            self._emit_metrics(metrics)

    def _check_loop(self) -> None:
        """One instance, one event loop: its connections, pool and tasks belong to the loop
        that first used it, and another loop would get raw ``RuntimeError``s from deep in
        httpx or anyio. Make one ``OpenAILLM`` per event loop instead."""
        if self._loop is not None and running_asyncio_loop() is self._loop:
            return  # the common case, in one C call
        loop = current_loop()
        if loop is None:
            return
        if self._loop is None:
            self._loop = loop
            self._native = native_scope_and_clock()  # once per instance, not every turn
            self._burst_clock = burst_clock()
        elif loop is not self._loop:
            raise UsageError(
                "this OpenAILLM was first used in another event loop; its connections and "
                "tasks belong to that loop: create one OpenAILLM per event loop"
            )

    def _deadline_watchdog(self) -> Watchdog | None:
        """The task that enforces read deadlines, inside ``async with`` (made on first use)."""
        if self._watchdog is None and self._task_group is not None:
            self._watchdog = Watchdog(self._task_group)
        return self._watchdog

    async def cancel_current_generation(self) -> None:
        """Barge-in: end every reply in progress now.

        Each consumer's iteration ends at once (its ``async for`` finishes normally); the
        connection of the cancelled reply is released without waiting for the server. A
        call when nothing is streaming changes nothing.

        Cancellation: the flags are set and scopes cancelled before the first await, so a
        cancelled call still stops every reply; releasing connections is shielded and
        bounded.
        """
        for stream in self._live_streams():
            stream.cancel()
        # A stream whose consumer is not waiting in it (between items, or a bare loop left
        # by break) is released here; a waiting consumer releases its own.
        for stream in self._live_streams():
            if not stream.waiting:
                await stream.aclose()
        await self._release_left_turns()
        await anyio.lowlevel.checkpoint()

    async def prewarm(
        self, instructions: str | None = None, tools: Sequence[FunctionTool] | None = None
    ) -> None:
        """Open connections now so the first turn pays no handshake.

        HTTP mode sends a ``HEAD`` to the chat URL (``api="responses"``: the responses URL):
        the answer (whatever its status) leaves a TLS + keep-alive connection in the pool.
        WebSocket mode opens the socket and the spare and, with ``instructions`` or
        ``tools``, sends ``response.create`` with ``"generate": false`` so the server
        prepares the request state; the first turn whose context starts with those
        instructions chains on the warm-up's response id. Over HTTP ``instructions`` and
        ``tools`` prepare nothing: ``generate: false`` exists only in the WebSocket mode
        (``POST /responses`` refuses it), and any other request would generate, and bill,
        a reply. A WebSocket refused as unsupported moves the instance to HTTP here too
        (see ``on("fallback")``), and the HTTP connection is warmed instead.

        Cancellation: a cancelled prewarm leaves no half-open connection (a handshake in
        progress finishes in its own task and serves the first turn).
        """
        try:
            self._check_loop()
            _check_tools(tools)
        except UsageError as mistake:
            self._emit_error(mistake)
            raise
        if self.streaming and not self._fallback.moved:
            await self._prewarm_websocket(instructions, tools)
            if not self._fallback.moved:
                return
        endpoint = self._endpoint
        if self.api == "responses" or self.streaming:  # the query is in the URL already
            url, query = endpoint.responses_url, {}
        else:
            url, query = endpoint.chat_url, endpoint.query
        try:
            await warm_connection(self._http_client(), url, endpoint.headers, query)
        except APIConnectionError as error:
            self._emit_error(error)
            raise

    async def _prewarm_websocket(
        self, instructions: str | None, tools: Sequence[FunctionTool] | None
    ) -> None:
        pool = self._websocket_pool()
        try:
            await pool.wait_open()
        except APIStatusError as refusal:
            if not is_unsupported_upgrade(refusal):
                self._emit_error(refusal)
                raise
            self._fallback.move(refusal)  # prewarm() warms the HTTP path instead
            return
        except Exception as error:
            self._emit_error(error)
            raise
        if instructions is None and not tools:
            return
        warmup = ChatContext.empty()
        if instructions:
            warmup.add_message(ChatRole.SYSTEM, instructions)
        source, _ = self._responses_turn(warmup.items, tools, None, {}, generate=False)
        async with self._track(source, None, path=None) as stream:
            async for _ in stream:
                pass


class _StartedTurn:
    """What the llm keeps of a turn so it can release it when the stream was dropped: the
    source, the assembler and the recorder (never the stream), and who owns it."""

    __slots__ = ("assembler", "attempts", "owner", "recorder", "source")

    def __init__(
        self, source: TurnSource, assembler: Assembler, recorder: TurnRecorder | None
    ) -> None:
        self.source = source
        self.assembler = assembler
        self.recorder = recorder
        self.owner: TurnOwner | None = None  # set when it starts
        self.attempts = 0


_ITEM_TYPES = (ChatMessage, FunctionCall, FunctionCallOutput)


def _as_context(messages: object) -> ChatContext:
    """``messages`` as a ``ChatContext``; a list of items is accepted on both paths."""
    if isinstance(messages, ChatContext):
        return messages
    if isinstance(messages, list | tuple):
        for index, item in enumerate(messages):
            if not isinstance(item, _ITEM_TYPES):
                raise UsageError(
                    f"chat() got a list whose item {index} is a {type(item).__name__}; "
                    "items are ChatMessage, FunctionCall or FunctionCallOutput"
                )
        items: list[ChatItem] = list(messages)
        return ChatContext(items)
    raise UsageError(
        f"chat() takes a ChatContext (or a list of its items), not a "
        f"{type(messages).__name__}: ctx = ChatContext.empty(); "
        "ctx.add_message(ChatRole.USER, text); llm.chat(ctx)"
    )


def _check_tools(tools: object) -> None:
    """Bad tools fail at ``chat()`` on both paths, before anything is sent."""
    if tools is None:
        return
    if not isinstance(tools, list | tuple):
        raise UsageError(f"tools must be a list of FunctionTool, not a {type(tools).__name__}")
    for index, tool in enumerate(tools):
        if not isinstance(tool, FunctionTool):
            raise UsageError(
                f"tools[{index}] is a {type(tool).__name__}, not a FunctionTool (decorate the "
                "function with @function_tool)"
            )


def _unchanged(error: BaseException) -> BaseException:
    return error

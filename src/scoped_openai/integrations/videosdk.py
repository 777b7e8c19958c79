"""VideoSDK Agents plugin: a drop-in for ``videosdk.plugins.openai.OpenAILLM``.

Change one import line::

    # from videosdk.plugins.openai import OpenAILLM
    from scoped_openai.integrations.videosdk import OpenAILLM

The constructor takes the reference plugin's keywords with the same defaults (plus
``idle_timeout``, ``first_token_timeout`` and ``warm_spare``), ``OpenAILLM.azure(...)`` its
signature and env fallbacks, and ``chat()`` yields the framework's ``LLMResponse`` items with
the reference's metadata keys. The framework never enters the LLM, so the plugin owns the
library's lifetime through an :class:`~scoped_openai.integrations.LLMOwner`: the library is
entered on first use, in a task of its own, and left in ``aclose()`` (from any task).

Behaviour that differs from the reference, and why, is listed in the README section
"Using it in VideoSDK Agents". Needs the ``videosdk`` extra (``scoped-openai[videosdk]``).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Literal

import httpx
from videosdk.agents import LLM, ToolChoice
from videosdk.agents import LLMResponse as VideoSDKResponse
from videosdk.agents.llm.chat_context import ChatContext as VideoSDKContext

from .. import ChatStream, LLMResponse
from .. import OpenAILLM as CoreLLM
from .._llm import DEFAULT_FIRST_TOKEN_TIMEOUT, DEFAULT_IDLE_TIMEOUT
from ._openai_client import is_openai_sdk_client, openai_client_settings
from ._openai_format import ConversionError
from ._owner import LLMOwner
from ._videosdk_convert import GraphCache, ToolCache, context_from_videosdk, response_to_videosdk

__all__ = ["OpenAILLM"]

logger = logging.getLogger("scoped_openai")

ReasoningEffort = Literal["none", "low", "medium", "high"]
Verbosity = Literal["low", "medium", "high"]


class OpenAILLM(LLM):  # type: ignore[misc]  # LLM is Any to mypy (videosdk is untyped)
    """The VideoSDK ``LLM`` backed by scoped-openai (HTTP Chat Completions or, with
    ``streaming=True``, the Responses API over a WebSocket).

    Args:
        api_key: OpenAI API key; falls back to ``OPENAI_API_KEY``.
        model: Chat model name.
        base_url: Another OpenAI-compatible base URL (the WebSocket URL derives from it).
        temperature: Sampling temperature (not sent to reasoning models).
        tool_choice: ``"auto"``, ``"required"``, ``"none"`` or a function choice dict.
        max_completion_tokens: Maximum tokens in the completion.
        top_p: Nucleus sampling (not sent to reasoning models).
        frequency_penalty: Frequency penalty (Chat Completions, non-reasoning models).
        presence_penalty: Presence penalty (Chat Completions, non-reasoning models).
        seed: Sampling seed (Chat Completions, non-reasoning models).
        organization: OpenAI organization; falls back to ``OPENAI_ORG_ID``.
        project: OpenAI project; falls back to ``OPENAI_PROJECT_ID``.
        parallel_tool_calls: Allow several tool calls in one turn.
        timeout: ``httpx.Timeout`` for connecting, writing and the pool.
        extra_headers: Headers sent with every request and WebSocket handshake.
        extra_query: Query parameters sent with every request and handshake.
        extra_body: Fields merged into every request body.
        client: An ``openai.AsyncOpenAI`` / ``AsyncAzureOpenAI`` (its base URL, key,
            organization, project, headers, query, timeout and retries are read; the openai
            package is not imported by this library), or an ``httpx.AsyncClient`` to send
            with (the other settings then still apply).
        max_retries: Retries of a turn that failed before anything reached the caller.
        reasoning_effort: ``reasoning_effort`` for reasoning models.
        verbosity: ``verbosity`` for reasoning models.
        streaming: The Responses API over a WebSocket kept open across turns.
        store: Whether responses are stored server-side (WebSocket mode).
        wss_url: The Responses WebSocket URL.
        idle_timeout: Longest silence between two chunks before the turn fails with
            ``APITimeoutError`` (None: no limit). The reference had none.
        first_token_timeout: Longest wait for the first chunk (None: no limit).
        warm_spare: Keep a second WebSocket open so the turn after a barge-in does not pay
            a handshake.

    Raises:
        ValueError: No API key and no client or base URL, or an ``AsyncAzureOpenAI`` whose
            AD token comes from a provider callable.
    """

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
        client: Any = None,
        max_retries: int = 0,
        reasoning_effort: ReasoningEffort | None = None,
        verbosity: Verbosity | None = None,
        streaming: bool = False,
        store: bool = False,
        wss_url: str | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT,
        warm_spare: bool = True,
        _core: CoreLLM | None = None,
    ) -> None:
        super().__init__()
        if _core is None:
            common: dict[str, Any] = {
                "model": model,
                "temperature": temperature,
                "tool_choice": tool_choice,
                "max_completion_tokens": max_completion_tokens,
                "top_p": top_p,
                "frequency_penalty": frequency_penalty,
                "presence_penalty": presence_penalty,
                "seed": seed,
                "parallel_tool_calls": parallel_tool_calls,
                "extra_body": extra_body,
                "reasoning_effort": reasoning_effort,
                "verbosity": verbosity,
                "streaming": streaming,
                "store": store,
                "wss_url": wss_url,
                "idle_timeout": idle_timeout,
                "first_token_timeout": first_token_timeout,
                "warm_spare": warm_spare,
            }
            if client is not None and is_openai_sdk_client(client):
                _core = _core_from_sdk_client(client, extra_headers, extra_query, common)
            else:
                _core = CoreLLM(
                    api_key=api_key,
                    base_url=base_url,
                    organization=organization,
                    project=project,
                    timeout=timeout,
                    extra_headers=extra_headers,
                    extra_query=extra_query,
                    client=client,
                    max_retries=max_retries,
                    **common,
                )
        self._core = _core
        self._owner = LLMOwner(_core)
        self._tools = ToolCache()
        self._graphs = GraphCache()
        self._cancels = 0  # barge-ins so far: a reply made before one never starts
        _core.on("error", self._forward_error)

    @property
    def model(self) -> str:
        """The configured model name."""
        return self._core.model

    @property
    def streaming(self) -> bool:
        """True in WebSocket mode (the Responses API)."""
        return self._core.streaming

    @property
    def core(self) -> CoreLLM:
        """The library's ``OpenAILLM`` this plugin drives (entered by the plugin's owner)."""
        return self._core

    def __repr__(self) -> str:
        return f"videosdk.{self._core!r}"

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
        client: Any = None,
        max_retries: int = 0,
        reasoning_effort: ReasoningEffort | None = "none",
        verbosity: Verbosity | None = "low",
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        first_token_timeout: float | None = DEFAULT_FIRST_TOKEN_TIMEOUT,
    ) -> OpenAILLM:
        """Azure OpenAI, with the reference's signature and env fallbacks.

        ``api_key`` <- ``AZURE_OPENAI_API_KEY``, ``azure_ad_token`` <-
        ``AZURE_OPENAI_AD_TOKEN``, ``api_version`` <- ``OPENAI_API_VERSION``,
        ``azure_endpoint`` <- ``AZURE_OPENAI_ENDPOINT``, ``azure_deployment`` <-
        ``AZURE_OPENAI_DEPLOYMENT`` (else ``model``), ``organization`` <- ``OPENAI_ORG_ID``,
        ``project`` <- ``OPENAI_PROJECT_ID``. A ``client`` (``openai.AsyncAzureOpenAI``) is
        read instead of the connection and credential arguments, as the reference uses it.

        Raises:
            ValueError: No endpoint, or neither a key nor an AD token.
        """
        settings: dict[str, Any] = {
            "model": model,
            "temperature": temperature,
            "tool_choice": tool_choice,
            "max_completion_tokens": max_completion_tokens,
            "top_p": top_p,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
            "seed": seed,
            "parallel_tool_calls": parallel_tool_calls,
            "extra_headers": extra_headers,
            "extra_query": extra_query,
            "extra_body": extra_body,
            "reasoning_effort": reasoning_effort,
            "verbosity": verbosity,
            "idle_timeout": idle_timeout,
            "first_token_timeout": first_token_timeout,
        }
        if client is not None:
            return OpenAILLM(client=client, **settings)
        core = CoreLLM.azure(
            azure_endpoint=azure_endpoint,
            azure_deployment=azure_deployment,
            api_version=api_version,
            api_key=api_key,
            azure_ad_token=azure_ad_token,
            organization=organization,
            project=project,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            **settings,
        )
        return OpenAILLM(_core=core)

    # -- the framework's LLM interface --------------------------------------------------

    def chat(
        self,
        messages: VideoSDKContext,
        tools: list[Any] | None = None,
        conversational_graph: Any | None = None,
        **kwargs: Any,
    ) -> VideoSDKReply:
        """Stream the reply to ``messages`` as the framework's ``LLMResponse`` items.

        Returns an async iterator (``async for response in llm.chat(ctx)``), as the
        reference's async generator was. Nothing is converted or sent until the first
        item is awaited. ``tools`` are the framework's function tools, ``conversational_graph``
        its ``GraphPipelineAdapter``; ``kwargs`` are merged into the request body last.
        Tool calls carry ``"id"`` and ``"call_id"`` (the same value) and their parsed
        ``"arguments"``; arguments that are not a JSON object are never dispatched: the
        iteration raises ``ToolArgumentsError`` after the valid calls of the batch.

        Errors (``ConversionError``, API and stream errors) are raised and also emitted as
        the framework's ``"error"`` event.
        """
        return VideoSDKReply(self, messages, tools, conversational_graph, kwargs)

    async def cancel_current_generation(self) -> None:
        """Barge-in: every reply in progress ends at once, stalled or not.

        A reply's ``async for`` ends normally at its current wait; its connection is
        released without waiting for the server (a WebSocket is retired and the next turn
        uses the warm spare), so no event of this reply reaches the next turn. A reply
        asked for but not started yet never starts.

        Cancellation: the replies are stopped before the first await; releasing their
        connections is shielded and bounded.
        """
        self._cancels += 1
        await self._core.cancel_current_generation()

    async def prewarm(
        self, *, instructions: str | None = None, tools: list[Any] | None = None
    ) -> None:
        """Open connections now so the first turn pays no handshake.

        WebSocket mode opens the socket (and the spare) and, with ``instructions`` or
        ``tools``, sends ``response.create`` with ``"generate": false``; the first turn
        whose context starts with those instructions chains on it. HTTP mode warms the
        connection pool (the reference did nothing there).

        Cancellation: a cancelled prewarm leaves no half-open connection.
        """
        try:
            converted = self._tools.convert(tools)
        except ConversionError as exc:
            self.emit("error", exc)
            raise
        core = await self._owner.get()
        await core.prewarm(instructions=instructions, tools=converted)

    async def aclose(self) -> None:
        """Stop every reply, close every socket and end the owner task. Idempotent; any task.

        Cancellation: shielded and bounded; a cancelled call still closes everything.
        """
        await self._owner.aclose()
        await super().aclose()

    # -- internals ------------------------------------------------------------------------

    def _forward_error(self, error: Exception) -> None:
        self.emit("error", error)


class VideoSDKReply:
    """One ``chat()`` call: an async iterator of the framework's ``LLMResponse`` items.

    Starting it enters the library (first use), converts the context, the tools and the
    graph, and opens the library's stream; each step then reads that stream in the
    caller's own task (no task or queue in between).

    A tool call is handed over only once its turn has ended (the rest of the turn is read
    first and handed over after it): the framework runs the tool and calls ``chat()`` again
    from inside its loop over this reply, and that next turn can only go out on a finished
    one (one response in flight per WebSocket) and chain on it (``previous_response_id``
    needs the completed response). On HTTP it returns the connection to the pool.
    """

    __slots__ = ("_after", "_args", "_cancels", "_error", "_plugin", "_stream")

    def __init__(
        self,
        plugin: OpenAILLM,
        messages: VideoSDKContext,
        tools: list[Any] | None,
        graph: Any | None,
        kwargs: dict[str, Any],
    ) -> None:
        self._plugin = plugin
        self._args: tuple[VideoSDKContext, list[Any] | None, Any | None, dict[str, Any]] | None
        self._args = (messages, tools, graph, kwargs)
        self._cancels = plugin._cancels
        self._stream: ChatStream | None = None
        self._after: deque[VideoSDKResponse] | None = None  # read ahead after a tool call
        self._error: Exception | None = None  # ...and what ended that read

    @property
    def stream(self) -> ChatStream | None:
        """The library's stream, once the first item was asked for."""
        return self._stream

    def __aiter__(self) -> VideoSDKReply:
        return self

    async def __anext__(self) -> VideoSDKResponse:
        """The next item.

        Cancellation: a barge-in ends the iteration with ``StopAsyncIteration`` (items read
        ahead are dropped with the rest of the reply); cancelling the caller's task
        releases the connection and re-raises the cancellation.
        """
        if self._after is not None:
            return self._next_read_ahead()
        stream = self._stream
        if stream is None:
            stream = await self._open()
        item: LLMResponse = await stream.__anext__()
        metadata = item.metadata
        if metadata is not None and "function_call" in metadata:
            await self._read_to_the_end(stream)
        return response_to_videosdk(item)

    async def aclose(self) -> None:
        """Stop this reply and release its connection (idempotent).

        Cancellation: shielded and bounded, as ``ChatStream.aclose``.
        """
        self._args = None
        if self._stream is not None:
            await self._stream.aclose()

    async def _read_to_the_end(self, stream: ChatStream) -> None:
        after: deque[VideoSDKResponse] = deque()
        try:
            async for item in stream:
                after.append(response_to_videosdk(item))
        except Exception as exc:
            self._error = exc  # raised after the items before it, as the stream would
        if stream.cancelled:  # a barge-in while reading ahead: the call is not handed over
            self._error = None
            raise StopAsyncIteration
        self._after = after

    def _next_read_ahead(self) -> VideoSDKResponse:
        assert self._after is not None
        if self._after:
            return self._after.popleft()
        error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    async def _open(self) -> ChatStream:
        args, self._args = self._args, None
        if args is None:
            raise StopAsyncIteration  # closed before it started
        plugin = self._plugin
        core = await plugin._owner.get()
        if plugin._cancels != self._cancels:
            raise StopAsyncIteration  # barged in on before it started
        messages, tools, graph, kwargs = args
        try:
            ctx = context_from_videosdk(
                messages, developer_as_system=not core.streaming and not core.settings.reasoning
            )
            converted_tools = plugin._tools.convert(tools)
            converted_graph = plugin._graphs.convert(graph)
        except ConversionError as exc:
            plugin.emit("error", exc)
            raise
        self._stream = core.chat(
            ctx, tools=converted_tools, conversational_graph=converted_graph, **kwargs
        )
        return self._stream


def _core_from_sdk_client(
    client: Any,
    extra_headers: dict[str, str] | None,
    extra_query: dict[str, str] | None,
    common: dict[str, Any],
) -> CoreLLM:
    """The library's LLM configured from an openai SDK client (read, never imported)."""
    kind, settings = openai_client_settings(client, model=common["model"])
    # The reference passes extra headers/query per request on top of the client's own.
    settings["extra_headers"] = {**(settings["extra_headers"] or {}), **(extra_headers or {})}
    settings["extra_query"] = {**(settings["extra_query"] or {}), **(extra_query or {})}
    sdk_timeout = getattr(client, "timeout", None)
    timeout = sdk_timeout if isinstance(sdk_timeout, httpx.Timeout) else None
    retries = getattr(client, "max_retries", 0)
    max_retries = retries if isinstance(retries, int) else 0
    if kind == "azure":
        return CoreLLM.azure(timeout=timeout, max_retries=max_retries, **settings, **common)
    return CoreLLM(timeout=timeout, max_retries=max_retries, **settings, **common)

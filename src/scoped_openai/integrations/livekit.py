"""scoped-openai as a LiveKit Agents LLM: ``from scoped_openai.integrations.livekit import LLM``.

Install with ``pip install 'scoped-openai[livekit]'`` (LiveKit Agents 1.8). Use it where you
would use ``livekit.plugins.openai.LLM``::

    from livekit.agents import AgentSession
    from scoped_openai.integrations.livekit import LLM

    session = AgentSession(llm=LLM(model="gpt-4.1-mini", streaming=True), stt=..., tts=...)

How LiveKit drives it, and what this plugin does at each step:

- ``AgentSession`` calls ``prewarm()`` at start: HTTP mode leaves a warm connection in the
  pool, WebSocket mode (``streaming=True``) opens the socket and its warm spare.
- Every reply is ``chat(chat_ctx=..., tools=...)``: LiveKit's own OpenAI formatting
  (``chat_ctx.to_provider_format("openai")``, ``parse_function_tools("openai")``) is mapped
  to the library's context and tools, and the reply streams as ``ChatChunk``s.
- An interruption cancels the task that reads the stream, or closes the stream; either one
  cancels the library's read in that task, which releases the HTTP response or retires the
  socket at once (the next WebSocket turn takes the warm spare). Nothing of the cancelled
  reply reaches a later one.
- ``aclose()`` stops every reply and closes every connection (``LLMOwner``).

Cancellation in LiveKit is asyncio's; the library's own scopes run inside it unchanged.
"""

from __future__ import annotations

import itertools
from typing import Any

from livekit.agents import llm as lk_llm
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from .._errors import ScopedOpenAIError
from .._llm import OpenAILLM
from ._livekit_mapping import to_chat_chunk, to_livekit_error
from ._openai_format import ConversionError, context_from_openai_messages, tools_from_openai_schemas
from ._owner import LLMOwner

__all__ = ["LLM", "LLMStream"]

_chunk_ids = itertools.count(1)


class LLM(lk_llm.LLM):  # type: ignore[misc]
    """A LiveKit Agents LLM streaming through ``scoped_openai.OpenAILLM``.

    Args:
        model: The model name.
        strict_tool_schema: Send LiveKit's strict tool schemas (as LiveKit's OpenAI plugin
            does by default); False sends its legacy, non-strict ones.
        **options: Any other keyword of ``scoped_openai.OpenAILLM`` (``api_key``,
            ``base_url``, ``streaming``, ``store``, ``wss_url``, ``temperature``,
            ``idle_timeout``, ``first_token_timeout``, ``reasoning_effort``...).

    LiveKit's ``conn_options`` keep their meaning for retries (``max_retry``,
    ``retry_interval``); stalls are bounded by the library's ``idle_timeout`` and
    ``first_token_timeout`` instead of ``conn_options.timeout``.
    """

    def __init__(
        self, *, model: str = "gpt-4o-mini", strict_tool_schema: bool = True, **options: Any
    ) -> None:
        super().__init__()
        self._client = OpenAILLM(model=model, **options)
        self._owner = LLMOwner(self._client)
        self._strict_tool_schema = strict_tool_schema

    @property
    def model(self) -> str:
        """The configured model name."""
        return self._client.model

    @property
    def provider(self) -> str:
        """``"openai"``."""
        return "openai"

    @property
    def client(self) -> OpenAILLM:
        """The library's LLM this plugin streams through (entered on first use)."""
        return self._client

    def chat(
        self,
        *,
        chat_ctx: lk_llm.ChatContext,
        tools: list[lk_llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[lk_llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> LLMStream:
        """Stream the reply to ``chat_ctx`` as LiveKit ``ChatChunk``s.

        ``tool_choice`` and ``parallel_tool_calls`` override the constructor's for this
        turn (sent only with tools); ``extra_kwargs`` are merged into the request last.
        """
        overrides: dict[str, Any] = dict(extra_kwargs) if extra_kwargs else {}
        if tools:
            if isinstance(tool_choice, str | dict):
                overrides["tool_choice"] = tool_choice
            if isinstance(parallel_tool_calls, bool):
                overrides["parallel_tool_calls"] = parallel_tool_calls
        return LLMStream(
            self,
            owner=self._owner,
            strict_tool_schema=self._strict_tool_schema,
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn_options=conn_options,
            overrides=overrides,
        )

    async def _prewarm_impl(self) -> None:
        """Open the connection (HTTP) or the socket and its spare (WebSocket) now.

        Cancellation: LiveKit cancels it in ``aclose()``; a handshake in progress finishes
        in the library's task and serves the first turn, or is closed with the LLM.
        """
        client = await self._owner.get()
        await client.prewarm()

    async def aclose(self) -> None:
        """Stop every reply, close every connection and the owner task. Idempotent.

        Cancellation: shielded and bounded (``LLMOwner.aclose``).
        """
        await super().aclose()
        await self._owner.aclose()


class LLMStream(lk_llm.LLMStream):  # type: ignore[misc]
    """One reply, as LiveKit consumes it (``async with llm.chat(...) as stream``).

    Runs in LiveKit's own task for the request (``_run``); the library reads the network
    in that task, so cancelling it (LiveKit's ``aclose()``, or the interrupted reader's
    ``async with`` exit) ends the read at once and releases the connection.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        owner: LLMOwner,
        strict_tool_schema: bool,
        chat_ctx: lk_llm.ChatContext,
        tools: list[lk_llm.Tool],
        conn_options: APIConnectOptions,
        overrides: dict[str, Any],
    ) -> None:
        super().__init__(llm, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._owner = owner
        self._strict_tool_schema = strict_tool_schema
        self._overrides = overrides
        # A retry after output would repeat speech: never retry once a chunk was sent.
        self._retry_on_chunk_sent = False

    async def _run(self) -> None:
        delivered = False
        try:
            messages, _ = self._chat_ctx.to_provider_format("openai")
            context = context_from_openai_messages(messages)
            tool_ctx = lk_llm.ToolContext(self._tools)
            if tool_ctx.provider_tools:
                names = ", ".join(type(tool).__name__ for tool in tool_ctx.provider_tools)
                raise ConversionError(f"provider-native tools cannot be carried: {names}")
            schemas = tool_ctx.parse_function_tools("openai", strict=self._strict_tool_schema)
            tools = tools_from_openai_schemas(schemas)
            client = await self._owner.get()
            fallback_id = f"scoped-openai-{next(_chunk_ids)}"
            async with client.chat(context, tools or None, **self._overrides) as stream:
                raw_arguments: dict[str, str] = {}
                async for item in stream:
                    if item.function_call is not None:
                        raw_arguments.update((c[0], c[2]) for c in stream.assembler.calls)
                    chunk_id = (
                        stream.assembler.response_id
                        or stream.assembler.usage["request_id"]
                        or fallback_id
                    )
                    chunk = to_chat_chunk(item, chunk_id, raw_arguments)
                    if chunk is not None:
                        self._event_ch.send_nowait(chunk)
                        delivered = delivered or chunk.has_response()
        except ScopedOpenAIError as error:
            raise to_livekit_error(error, delivered=delivered) from error

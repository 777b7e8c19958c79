"""Pipecat plugin: ``OpenAILLMService``, a Pipecat LLM service streaming through scoped-openai.

Install ``scoped-openai[pipecat]`` (``pipecat-ai~=1.14``). It takes the place of
``pipecat.services.openai.llm.OpenAILLMService`` in a pipeline::

    from scoped_openai.integrations.pipecat import OpenAILLMService

    llm = OpenAILLMService(model="gpt-4.1-mini", system_instruction="Be brief.")
    pipeline = Pipeline([transport.input(), stt, user_aggregator, llm, tts, ...])

It consumes ``LLMContextFrame``s and emits Pipecat's usual frames: ``LLMFullResponseStartFrame``,
``LLMTextFrame``s, function calls (run through Pipecat's own ``run_function_calls``), usage
and TTFB metrics, ``LLMFullResponseEndFrame``. Errors go upstream as ``ErrorFrame``s carrying
the library's typed exception.

How it fits Pipecat's lifecycle:

- ``start`` enters the library's ``OpenAILLM`` through an ``LLMOwner`` (the one task the
  library starts outside a caller's task group) and prewarms it: the HTTP pool, or the
  WebSocket and its warm spare. ``stop``/``cancel``/``cleanup`` close it: no socket or task
  survives the pipeline.
- An ``InterruptionFrame`` makes Pipecat cancel the task running the reply; the library's
  stream ends in that step and releases its connection without waiting for the server
  (HTTP: the response is closed; WebSocket: the socket is retired and the next turn takes
  the warm spare, with no drain). No frame of the cut reply is pushed after it.
- The conversation reaches the library through Pipecat's own OpenAI adapter (the messages
  and tool schemas it would send to the Chat Completions API), converted by
  ``scoped_openai.integrations._openai_format``; a part the library cannot carry is an
  ``ErrorFrame`` naming it, never a silent drop.
- ``run_inference`` (one-shot completions Pipecat uses for context summaries) goes through
  the library too.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import msgspec
from pipecat.adapters.llm.base_llm_adapter import LLMContextConversionError
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FunctionCallFromLLM,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    StartFrame,
)
from pipecat.metrics.metrics import LLMTokenUsage
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings
from pipecat.utils.errors import ErrorCategory

from .. import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ChatContext,
    FunctionTool,
    OpenAILLM,
    ScopedOpenAIError,
    ToolArgumentsError,
)
from ._openai_format import context_from_openai_messages, tools_from_openai_schemas
from ._owner import LLMOwner

__all__ = ["OpenAILLMService"]

#: ``OpenAILLM``'s keyword arguments; every other keyword goes to Pipecat's ``LLMService``.
_LLM_KEYWORDS = frozenset(inspect.signature(OpenAILLM.__init__).parameters) - {"self"}

#: Pipecat setting -> the library's generation setting of the same meaning.
_SETTING_NAMES = {
    "model": "model",
    "temperature": "temperature",
    "max_tokens": "max_completion_tokens",
    "top_p": "top_p",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "seed": "seed",
}


class OpenAILLMService(LLMService):  # type: ignore[misc]
    """A Pipecat LLM service whose replies stream through scoped-openai.

    Args:
        llm: An ``OpenAILLM`` to use (not entered elsewhere). Without it, one is built from
            the keywords that ``OpenAILLM`` takes (``model``, ``api_key``, ``base_url``,
            ``streaming``, ``store``, ``wss_url``, ``idle_timeout``,
            ``first_token_timeout``, ...).
        system_instruction: The system prompt, put first in every request (Pipecat's
            ``Settings.system_instruction``).
        prewarm: Open the connection (HTTP pool, or WebSocket and warm spare) in
            ``start``, so the first turn pays no handshake.
        **kwargs: ``OpenAILLM`` keywords, and ``LLMService`` keywords (``run_in_parallel``,
            ``function_call_timeout_secs``, ...).

    Runtime ``LLMUpdateSettingsFrame``s change ``model``, ``temperature``, ``max_tokens``,
    ``top_p``, the penalties and ``seed`` for the turns that follow.
    """

    def __init__(
        self,
        *,
        llm: OpenAILLM | None = None,
        system_instruction: str | None = None,
        prewarm: bool = True,
        **kwargs: Any,
    ) -> None:
        llm_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in _LLM_KEYWORDS}
        if llm is not None and llm_kwargs:
            raise TypeError(
                f"pass either llm= or OpenAILLM keywords, not both: {sorted(llm_kwargs)}"
            )
        self._llm = llm if llm is not None else OpenAILLM(**llm_kwargs)
        settings = self._llm.settings
        super().__init__(
            settings=LLMSettings(
                model=settings.model,
                system_instruction=system_instruction,
                temperature=settings.temperature,
                max_tokens=settings.max_completion_tokens,
                top_p=settings.top_p,
                top_k=None,
                frequency_penalty=settings.frequency_penalty,
                presence_penalty=settings.presence_penalty,
                seed=settings.seed,
                filter_incomplete_user_turns=False,
                user_turn_completion_config=None,
            ),
            **kwargs,
        )
        self._owner = LLMOwner(self._llm)
        self._prewarm = prewarm

    @property
    def llm(self) -> OpenAILLM:
        """The library's LLM this service streams through."""
        return self._llm

    def can_generate_metrics(self) -> bool:
        """True: TTFB, processing and token usage metrics are reported."""
        return True

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, frame: StartFrame) -> None:
        """Enter the LLM (in its owner task) and prewarm it.

        A prewarm that fails is reported as an ``ErrorFrame``; the first turn retries the
        connection.

        Cancellation: entering is the owner task's; a cancelled start leaves it running
        until ``stop``/``cancel`` closes it.
        """
        await super().start(frame)
        llm = await self._owner.get()
        if self._prewarm:
            try:
                await llm.prewarm()
            except ScopedOpenAIError as error:
                await self.push_error(error_msg=f"LLM prewarm failed: {error}", exception=error)

    async def stop(self, frame: EndFrame) -> None:
        """Close the LLM: sockets, the warm spare and the owner task end here.

        Cancellation: the close is shielded and bounded (``LLMOwner.aclose``).
        """
        await super().stop(frame)
        await self._owner.aclose()

    async def cancel(self, frame: CancelFrame) -> None:
        """Stop any reply and close the LLM at once.

        Cancellation: the close is shielded and bounded (``LLMOwner.aclose``).
        """
        await super().cancel(frame)
        await self._owner.aclose()

    async def cleanup(self) -> None:
        """Close the LLM if neither ``stop`` nor ``cancel`` did (idempotent).

        Cancellation: the close is shielded and bounded (``LLMOwner.aclose``).
        """
        await super().cleanup()
        await self._owner.aclose()

    # -- frames -------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Answer ``LLMContextFrame``s; pass every other frame on.

        Cancellation: Pipecat cancels this task on an ``InterruptionFrame``; the reply
        stops in that step, its connection is released, and ``LLMFullResponseEndFrame``
        closes the response as Pipecat's own services do.
        """
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self._respond(frame.context)
        else:
            await self.push_frame(frame, direction)

    async def _respond(self, context: LLMContext) -> None:
        await self.push_frame(LLMFullResponseStartFrame())
        await self.start_processing_metrics()
        try:
            await self._stream_reply(context)
        except APITimeoutError as error:
            await self._call_event_handler("on_completion_timeout")
            await self.push_error(error_msg=f"LLM completion timeout: {error}", exception=error)
        except (ScopedOpenAIError, LLMContextConversionError) as error:
            await self.push_error(error_msg=f"Error during completion: {error}", exception=error)
        finally:
            await self.stop_processing_metrics()
            await self.push_frame(LLMFullResponseEndFrame())

    async def _stream_reply(self, context: LLMContext) -> None:
        llm = await self._owner.get()
        messages, tools, overrides = await self._request(context, self._system_instruction())
        calls: list[FunctionCallFromLLM] = []
        bad_arguments: ToolArgumentsError | None = None
        await self.start_ttfb_metrics()
        stream = llm.chat(messages, tools=tools, **overrides)
        try:
            async with stream:
                first = True
                async for item in stream:
                    if first:
                        first = False
                        await self.stop_ttfb_metrics()
                    call = item.function_call
                    if call is not None:
                        await self.stop_ttfat_metrics()
                        calls.append(
                            FunctionCallFromLLM(
                                function_name=call["name"],
                                tool_call_id=call["id"],
                                arguments=call["arguments"],
                                context=context,
                            )
                        )
                    elif item.content:
                        await self._push_llm_text(item.content)
        except ToolArgumentsError as error:
            # The valid calls of the batch came first; they still run.
            bad_arguments = error
        finally:
            # Reported even when the reply is interrupted or fails (what was billed).
            usage = stream.assembler.usage
            if usage.get("total_tokens"):
                await self.start_llm_usage_metrics(_token_usage(usage))
        if calls:
            await self.run_function_calls(calls)
        if bad_arguments is not None:
            raise bad_arguments

    async def _request(
        self, context: LLMContext, system_instruction: str | None
    ) -> tuple[ChatContext, list[FunctionTool] | None, dict[str, Any]]:
        """The context, tools and per-turn body fields, through Pipecat's OpenAI adapter."""
        params = await self.get_llm_adapter().get_llm_invocation_params(
            context, system_instruction=system_instruction, convert_developer_to_user=False
        )
        messages = context_from_openai_messages(params["messages"])
        schemas = params["tools"]
        tools = tools_from_openai_schemas(schemas) if isinstance(schemas, list) else None
        overrides: dict[str, Any] = {}
        choice = params["tool_choice"]
        if tools and isinstance(choice, str | Mapping):
            overrides["tool_choice"] = choice
        return messages, tools or None, overrides

    def _system_instruction(self) -> str | None:
        instruction = self._settings.system_instruction
        return instruction if isinstance(instruction, str) else None

    # -- settings -----------------------------------------------------------------------

    async def _update_settings(self, delta: LLMSettings) -> dict[str, Any]:
        """Apply a settings delta; the library's settings follow for the next turns."""
        changed: dict[str, Any] = await super()._update_settings(delta)
        updates = {
            ours: getattr(self._settings, theirs)
            for theirs, ours in _SETTING_NAMES.items()
            if theirs in changed and getattr(self._settings, theirs) is not None
        }
        if updates:
            self._llm.settings = msgspec.structs.replace(self._llm.settings, **updates)
        return changed

    # -- one-shot inference ---------------------------------------------------------------

    async def run_inference(
        self,
        context: LLMContext,
        max_tokens: int | None = None,
        system_instruction: str | None = None,
        response_schema: dict[str, Any] | None = None,
    ) -> str | None:
        """One reply to ``context``, outside the pipeline (Pipecat's context summaries).

        Args:
            context: The conversation.
            max_tokens: The most tokens to generate (this call only).
            system_instruction: Replaces the service's system instruction for this call.
            response_schema: A JSON schema the reply must follow (strict).

        Returns:
            The reply's text, or None when the model said nothing.

        Raises:
            ScopedOpenAIError: The library's typed errors (status, timeout, stream).

        Cancellation: the request is abandoned and its connection released; nothing is
        returned.
        """
        llm = await self._owner.get()
        messages, tools, overrides = await self._request(
            context, system_instruction or self._system_instruction()
        )
        overrides.update(_one_shot_fields(llm.streaming, max_tokens, response_schema))
        async with llm.chat(messages, tools=tools, **overrides) as stream:
            text = "".join([item.content async for item in stream])
        return text or None

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        """Pipecat's error category for the library's exceptions that carry no status."""
        if isinstance(exception, APIStatusError):
            return None  # Pipecat reads ``status_code`` itself
        if isinstance(exception, APIConnectionError):
            return ErrorCategory.CONNECTIVITY
        if isinstance(exception, ScopedOpenAIError):
            # The server's stream, or the model's output, was unusable this time.
            return ErrorCategory.SERVER
        return None


def _token_usage(usage: Mapping[str, Any]) -> LLMTokenUsage:
    """Pipecat's token usage from the library's usage dict (cached and reasoning tokens)."""
    return LLMTokenUsage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        total_tokens=usage.get("total_tokens") or 0,
        cache_read_input_tokens=usage.get("prompt_cached_tokens"),
        reasoning_tokens=usage.get("reasoning_tokens"),
    )


def _one_shot_fields(
    responses_api: bool, max_tokens: int | None, schema: dict[str, Any] | None
) -> dict[str, Any]:
    """``run_inference``'s per-call body fields, named as the path's API names them."""
    fields: dict[str, Any] = {}
    if max_tokens is not None:
        fields["max_output_tokens" if responses_api else "max_completion_tokens"] = max_tokens
    if schema is not None:
        spec = {"name": "response", "schema": schema, "strict": True}
        if responses_api:
            fields["text"] = {"format": {"type": "json_schema", **spec}}
        else:
            fields["response_format"] = {"type": "json_schema", "json_schema": spec}
    return fields

"""What crosses the LiveKit boundary: the library's items and errors in LiveKit's types.

Items become ``ChatChunk``s (text deltas, one ``FunctionToolCall`` per dispatched call with
the model's exact argument text, and the usage); errors become LiveKit's ``APIError`` family,
retryable only while nothing reached the caller: LiveKit retries a retryable error by
running the whole request again, and a retry after text was spoken would repeat it.
"""

from __future__ import annotations

from livekit.agents import _exceptions as lk_errors
from livekit.agents import llm as lk_llm

from .._errors import (
    APIConnectionError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    ScopedOpenAIError,
    ToolArgumentsError,
)
from .._response import LLMResponse, TokenUsage
from ._openai_format import ConversionError

__all__ = ["to_chat_chunk", "to_livekit_error"]


def to_chat_chunk(
    item: LLMResponse, chunk_id: str, raw_arguments: dict[str, str]
) -> lk_llm.ChatChunk | None:
    """The ``ChatChunk`` for one item, or None for an item LiveKit has no use for.

    ``raw_arguments`` maps call ids to the argument text the model sent (LiveKit parses the
    text itself; re-encoding the parsed dict could reorder or reformat it).
    """
    call = item.function_call
    if call is not None:
        tool_call = lk_llm.FunctionToolCall(
            name=call["name"], arguments=raw_arguments[call["id"]], call_id=call["id"]
        )
        return lk_llm.ChatChunk(
            id=chunk_id, delta=lk_llm.ChoiceDelta(role="assistant", tool_calls=[tool_call])
        )
    if item.content:
        return lk_llm.ChatChunk(
            id=chunk_id, delta=lk_llm.ChoiceDelta(role="assistant", content=item.content)
        )
    if item.usage is not None:  # set on the usage item only
        return lk_llm.ChatChunk(id=chunk_id, usage=_usage(item.usage))
    return None


def _usage(usage: TokenUsage) -> lk_llm.CompletionUsage:
    return lk_llm.CompletionUsage(
        completion_tokens=usage["completion_tokens"],
        prompt_tokens=usage["prompt_tokens"],
        prompt_cached_tokens=usage["prompt_cached_tokens"],
        reasoning_tokens=usage["reasoning_tokens"],
        total_tokens=usage["total_tokens"],
    )


def to_livekit_error(error: ScopedOpenAIError, *, delivered: bool) -> lk_errors.APIError:
    """LiveKit's error for ``error``; ``delivered``: output already reached LiveKit.

    Status errors keep status, request id and body (LiveKit itself makes 4xx other than
    408/429 non-retryable); errors inside a started stream are retryable only when the
    server says they are transient. Invalid tool arguments and unconvertible input are never
    retryable: the same request would fail the same way.
    """
    retryable = not delivered
    if isinstance(error, APIStatusError):
        return lk_errors.APIStatusError(
            error.message,
            status_code=error.status_code,
            request_id=error.request_id,
            body=error.body,
            retryable=retryable,
        )
    if isinstance(error, APITimeoutError):
        return lk_errors.APITimeoutError(str(error), retryable=retryable)
    if isinstance(error, APIConnectionError):
        return lk_errors.APIConnectionError(str(error), retryable=retryable)
    if isinstance(error, ToolArgumentsError):
        call = {"name": error.name, "call_id": error.call_id, "arguments": error.raw_arguments}
        return lk_errors.APIError(str(error), body=call, retryable=False)
    if isinstance(error, ConversionError):
        return lk_errors.APIError(str(error), retryable=False)
    if isinstance(error, APIStreamError):
        transient = error.code in _TRANSIENT_CODES or error.status in _TRANSIENT_STATUSES
        return lk_errors.APIError(str(error), body=error.body, retryable=retryable and transient)
    # A stream we could not read (ProtocolError): a broken proxy or connection, maybe not
    # the next one.
    return lk_errors.APIError(str(error), retryable=retryable)


#: Errors inside a started stream that another attempt may not meet (``response.failed``
#: codes, the status of a WebSocket ``error`` frame); ``invalid_prompt``,
#: ``response.incomplete`` and the like would fail the same way again.
_TRANSIENT_CODES = frozenset({"server_error", "rate_limit_exceeded"})
_TRANSIENT_STATUSES = frozenset({"408", "429", "500", "502", "503", "504"})

"""Per-turn metrics (``TurnMetrics``) and the bookkeeping the stream does to fill them in.

Field names follow LiveKit Agents' ``LLMMetrics`` where the concepts match (``ttft``,
``duration``, ``tokens_per_second``, the token counts, ``cancelled``, ``request_id``), so a
plugin can pass them on unchanged; Pipecat reports the same time to first byte as ``ttfb``.
Times come from the event loop's clock (virtual under trio's test clock) and are seconds.

The turn's DEBUG log lines are written here too, one per phase, with the turn number and,
once known, the request id; never the API key or any message text.
"""

from __future__ import annotations

import itertools
import logging

from ._assembly import Assembler
from ._record import record

logger = logging.getLogger("scoped_openai")
_turn_numbers = itertools.count(1)


@record(frozen=True)  # a dataclass whose __init__ is written here: see _record
class TurnMetrics:
    """What one turn measured, delivered once per turn (completed, cancelled or failed) to
    ``llm.on("metrics", callback)`` and kept on ``stream.metrics``.

    Attributes:
        ttft: Seconds from sending the request to the first output (text or a tool call),
            or None if nothing was output. Retries count: it is what the caller waited.
        duration: Seconds from sending the request to the end of the turn.
        tokens_per_second: ``completion_tokens / duration`` (LiveKit's definition); 0 when
            the server reported no usage (a cancelled turn) or the duration is 0.
        prompt_tokens: From the usage the server reported (0 if none arrived).
        completion_tokens: As above.
        total_tokens: As above.
        prompt_cached_tokens: As above.
        cancelled: A barge-in (or leaving the stream early) ended the turn.
        request_id: The server's ``x-request-id``, else the response or completion id.
        retries: How many times the request was resent before it was answered.
        path: ``"chat_completions"`` (HTTP) or ``"responses_websocket"``.
        model: The model the server reported, else the one configured.
        error: The error's class name when the turn failed, else None.
    """

    ttft: float | None
    duration: float
    tokens_per_second: float
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_cached_tokens: int
    cancelled: bool
    request_id: str | None
    retries: int
    path: str
    model: str | None
    error: str | None = None

    def __init__(
        self,
        ttft: float | None,
        duration: float,
        tokens_per_second: float,
        prompt_tokens: int,
        completion_tokens: int,
        total_tokens: int,
        prompt_cached_tokens: int,
        cancelled: bool,
        request_id: str | None,
        retries: int,
        path: str,
        model: str | None,
        error: str | None = None,
    ) -> None:
        object.__setattr__(self, "ttft", ttft)
        object.__setattr__(self, "duration", duration)
        object.__setattr__(self, "tokens_per_second", tokens_per_second)
        object.__setattr__(self, "prompt_tokens", prompt_tokens)
        object.__setattr__(self, "completion_tokens", completion_tokens)
        object.__setattr__(self, "total_tokens", total_tokens)
        object.__setattr__(self, "prompt_cached_tokens", prompt_cached_tokens)
        object.__setattr__(self, "cancelled", cancelled)
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "retries", retries)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "error", error)


class TurnRecorder:
    """The stream's bookkeeping for one turn: when it was sent, when output began."""

    __slots__ = ("first_output_at", "number", "path", "sent_at")

    def __init__(self, path: str) -> None:
        self.path = path
        self.number = next(_turn_numbers)
        self.sent_at: float | None = None
        self.first_output_at: float | None = None

    def sending(self, now: float, attempt: int) -> None:
        """The request is going out (the first time, or again after a retry)."""
        if self.sent_at is None:
            self.sent_at = now
        if logger.isEnabledFor(logging.DEBUG):  # one call, not two, when DEBUG is off
            logger.debug(
                "turn %d: sending the request (%s, attempt %d)", self.number, self.path, attempt + 1
            )

    def retrying(self, delay: float, error: Exception) -> None:
        """Nothing was delivered and the error is retryable: the request goes out again."""
        logger.info("turn %d: retrying in %.2fs after: %s", self.number, delay, error)

    def first_output(self, now: float, request_id: str | None) -> None:
        """The first text or tool call reached the caller."""
        self.first_output_at = now
        if self.sent_at is not None:
            logger.debug(
                "turn %d: first token after %.1f ms (request %s)",
                self.number,
                (now - self.sent_at) * 1000,
                request_id,
            )

    def finish(
        self,
        now: float,
        assembler: Assembler,
        *,
        cancelled: bool,
        retries: int,
        request_id: str | None,
        error: str | None,
    ) -> TurnMetrics:
        """The turn's metrics; logs its end (or its cancel or failure)."""
        usage = assembler.usage
        request_id = request_id or usage["request_id"] or assembler.response_id
        sent = self.sent_at if self.sent_at is not None else now
        duration = now - sent
        ttft = None if self.first_output_at is None else self.first_output_at - sent
        completion = usage["completion_tokens"]
        metrics = TurnMetrics(
            ttft=ttft,
            duration=duration,
            tokens_per_second=completion / duration if duration > 0 else 0.0,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=completion,
            total_tokens=usage["total_tokens"],
            prompt_cached_tokens=usage["prompt_cached_tokens"],
            cancelled=cancelled,
            request_id=request_id,
            retries=retries,
            path=self.path,
            model=usage["model"],
            error=error,
        )
        how = "cancelled" if cancelled else f"failed ({error})" if error else "ended"
        logger.debug(
            "turn %d: %s after %.1f ms (request %s, %d completion tokens, %d retries)",
            self.number,
            how,
            duration * 1000,
            request_id,
            completion,
            retries,
        )
        return metrics

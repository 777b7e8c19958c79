"""The exceptions scoped-openai raises, each one also emitted to ``on("error")`` listeners.

Names follow openai-python where the meaning is the same, so ``except RateLimitError`` reads
the same in both. The tree says whose fault it is::

    ScopedOpenAIError
    ├── APIError                       the API or the network said no
    │   ├── APIStatusError             a refusing answer (status_code, code, message, param):
    │   │   │                          a non-2xx status, or a WebSocket upgrade answered
    │   │   │                          without switching protocols
    │   │   ├── BadRequestError            400
    │   │   ├── AuthenticationError        401
    │   │   ├── PermissionDeniedError      403
    │   │   ├── NotFoundError              404
    │   │   ├── ConflictError              409
    │   │   ├── UnprocessableEntityError   422
    │   │   ├── RateLimitError             429
    │   │   └── InternalServerError        5xx
    │   ├── APIStreamError             the server reported an error inside a started stream:
    │   │                              a ``data: {"error": ...}`` after a 200, a WebSocket
    │   │                              ``error`` frame, ``response.failed`` or
    │   │                              ``response.incomplete``
    │   └── APIConnectionError         no answer: connect failed, the peer went away (a stream
    │       │                          that ends before its end marker)
    │       ├── APITimeoutError        nothing arrived in time (phase: connect, headers,
    │       │                          first_token, idle, turn)
    │       ├── PoolExhaustedError     every connection of the HTTP pool stayed busy
    │       └── WebSocketClosed        the WebSocket closed or dropped (close_code, reason)
    ├── ProtocolError                  the server sent something we cannot read: malformed SSE,
    │   │                              JSON or UTF-8, a value of the wrong type, an unexpected
    │   │                              frame
    │   └── LimitExceededError         the server sent more than a configured limit allows
    ├── InvalidContextError            the context cannot be sent as the API requires (also a
    │                                  ValueError): nothing to send, an image where only
    │                                  text is accepted; raised before anything is sent
    ├── ToolArgumentsError             the model's tool-call arguments are not a JSON object
    ├── GraphParseError                the conversational-graph reply is not a complete JSON
    │                                  object (also a ValueError)
    ├── ToolSchemaError                a function's signature cannot be a tool schema, raised
    │                                  by @function_tool (also a TypeError)
    └── UsageError                     the caller passed something the library cannot use

The API key never appears in any message: messages are built from the API's error body, the
status, the URL's host and path, never from request headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ScopedOpenAIError(Exception):
    """Base of every exception this library raises on purpose."""


class APIError(ScopedOpenAIError):
    """An error the API or the network reported.

    Attributes:
        message: What went wrong, in the API's words where it gave any.
        code: The API's error code (``"rate_limit_exceeded"``...), or None.
        param: The request parameter the error is about, or None.
        type: The API's error type (``"invalid_request_error"``...), or None.
        request_id: The ``x-request-id`` of the request, or None.
        body: The parsed error body, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        request_id: str | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.param:
            parts.append(f"param={self.param}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " | ".join(parts) if len(parts) > 1 else self.message


class APIStatusError(APIError):
    """The API answered with a non-2xx status.

    Attributes:
        status_code: The HTTP status.
        retry_after: Seconds the server asked us to wait (``Retry-After``), or None.
    """

    def __init__(
        self, message: str, *, status_code: int, retry_after: float | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.status_code = status_code
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: the request is malformed or names something the model rejects."""


class AuthenticationError(APIStatusError):
    """401: the API key or token is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model, project or region."""


class NotFoundError(APIStatusError):
    """404: unknown model, deployment or URL."""


class ConflictError(APIStatusError):
    """409: the resource is being modified concurrently (retried)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was understood but cannot be processed."""


class RateLimitError(APIStatusError):
    """429: rate or quota limit; ``retry_after`` says when to come back."""


class InternalServerError(APIStatusError):
    """5xx: the API failed (retried)."""


class APIStreamError(APIError):
    """The server reported an error after the stream had started.

    Attributes:
        status: The response status for ``response.failed``/``response.incomplete``
            (``"failed"``, ``"incomplete"``), or the numeric status of a WebSocket
            ``error`` frame as a string, or None.
    """

    def __init__(self, message: str, *, status: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.status = status


class APIConnectionError(APIError):
    """The API could not be reached, or the connection broke mid-turn."""


class APITimeoutError(APIConnectionError):
    """Nothing arrived in time.

    Attributes:
        phase: ``"connect"`` (no connection), ``"headers"`` (connected, but no status and
            headers before the headers deadline), ``"first_token"`` (no output before the
            first-token deadline), ``"idle"`` (no event for the idle timeout; comments and
            partial bytes do not count) or ``"turn"`` (the whole-turn deadline passed).
        seconds: The limit that was exceeded.
    """

    def __init__(self, message: str, *, phase: str, seconds: float | None = None) -> None:
        super().__init__(message)
        self.phase = phase
        self.seconds = seconds


class PoolExhaustedError(APIConnectionError):
    """Every connection of the HTTP pool stayed busy for the pool timeout: too many turns at
    once for ``max_connections`` (not a network failure; the server may be healthy).

    Attributes:
        max_connections: The pool's size.
        seconds: How long the turn waited for a connection.
    """

    def __init__(self, message: str, *, max_connections: int | None, seconds: float | None) -> None:
        super().__init__(message)
        self.max_connections = max_connections
        self.seconds = seconds


class WebSocketClosed(APIConnectionError):
    """The WebSocket is closed: the peer closed it, it dropped, or we closed it.

    Attributes:
        close_code: The WebSocket close code (RFC 6455: 1000 normal, 1006 dropped without
            a close frame, 1011 server error...), or None when no code is known.
            ``code`` stays the API's error-code string (None for a close).
        reason: The close reason the peer sent, or ``""``.
    """

    def __init__(self, code: int | None, reason: str = "") -> None:
        if code is None:
            detail = "no close code"
        elif reason:
            detail = f"code {code}: {reason}"
        else:
            detail = f"code {code}"
        super().__init__(f"the WebSocket closed ({detail})")
        self.close_code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.message  # the close code is in the message already

    def __reduce__(self) -> tuple[type[WebSocketClosed], tuple[int | None, str]]:
        return (type(self), (self.close_code, self.reason))


class ProtocolError(ScopedOpenAIError):
    """The server sent bytes or frames we cannot read (the remote side's fault)."""


class InvalidContextError(ScopedOpenAIError, ValueError):
    """The chat context cannot be sent in the shape the API requires (our caller's fault).

    Raised before anything is sent: an empty context (the API requires at least one
    message), an image in a message whose role accepts only text. Also a ``ValueError``,
    which is what these checks raised before.

    Attributes:
        index: The position in the context of the offending item, or None (empty context).
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class LimitExceededError(ProtocolError):
    """The server sent more than a configured limit allows; the turn ends, memory stays
    bounded.

    Attributes:
        limit: The limit's name, as ``StreamLimits`` spells it (``"max_event_bytes"``...).
        value: The limit's configured value.
    """

    def __init__(self, message: str, *, limit: str, value: int) -> None:
        super().__init__(f"{message} (limit {limit}={value:,})")
        self.limit = limit
        self.value = value


class UsageError(ScopedOpenAIError):
    """The caller passed something the library cannot use (a string where a ``ChatContext``
    goes, a tool that is not a ``FunctionTool``, an instance shared between event loops, a
    proxy variable httpx cannot use, CA certificates that cannot be loaded: it names the
    variable). Nothing was sent."""


class ToolArgumentsError(ScopedOpenAIError):
    """The model called a tool with arguments that are not a JSON object.

    The call is never dispatched with ``{}``; the raw text is kept for logging or repair.

    Attributes:
        name: The tool's name.
        call_id: The call's id.
        raw_arguments: The text the model sent.
    """

    def __init__(self, name: str, call_id: str, raw_arguments: str, reason: str) -> None:
        shown = raw_arguments if len(raw_arguments) <= 200 else raw_arguments[:200] + "..."
        super().__init__(
            f"the model called tool {name!r} (call {call_id}) with arguments that are not "
            f"a JSON object ({reason}): {shown!r}"
        )
        self.name = name
        self.call_id = call_id
        self.raw_arguments = raw_arguments


class ToolSchemaError(ScopedOpenAIError, TypeError):
    """A function signature cannot be expressed as an OpenAI function-tool schema.

    Raised when the tool is created (at decoration time). The message names the
    function and the offending parameter and says what to change.
    """


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_fields(body: object) -> dict[str, str | None]:
    """Pull code, message, param and type out of an API error body (any shape)."""
    err: object = body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        err = body["error"]
    if not isinstance(err, Mapping):
        return {"message": None, "code": None, "param": None, "type": None}

    def text(key: str) -> str | None:
        value = err.get(key)
        return None if value is None else str(value)

    return {
        "message": text("message"),
        "code": text("code"),
        "param": text("param"),
        "type": text("type"),
    }


def status_error(
    status_code: int,
    body: object,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    raw_text: str = "",
) -> APIStatusError:
    """Build the typed error for a non-2xx answer from its status and error body."""
    fields = error_fields(body)
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    detail = fields["message"] or raw_text.strip()[:300] or "no error body"
    return cls(
        f"HTTP {status_code}: {detail}",
        status_code=status_code,
        retry_after=retry_after,
        code=fields["code"],
        param=fields["param"],
        type=fields["type"],
        request_id=request_id,
        body=body,
    )

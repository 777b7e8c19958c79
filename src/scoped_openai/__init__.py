"""scoped-openai: stream OpenAI LLM replies for realtime voice agents, on trio or asyncio."""

from ._chat import (
    ChatContext,
    ChatMessage,
    ChatRole,
    FunctionCall,
    FunctionCallOutput,
    ImageContent,
)
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidContextError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    PoolExhaustedError,
    ProtocolError,
    RateLimitError,
    ScopedOpenAIError,
    ToolArgumentsError,
    UnprocessableEntityError,
    UsageError,
    WebSocketClosed,
)
from ._graph import ConversationalGraph, GraphParseError
from ._limits import StreamLimits
from ._llm import OpenAILLM
from ._logs import configure_from_env as _configure_logging_from_env
from ._metrics import TurnMetrics
from ._response import FunctionCallRequest, LLMResponse, TokenUsage
from ._stream import ChatStream
from ._tools import FunctionTool, ToolSchemaError, function_tool

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChatContext",
    "ChatMessage",
    "ChatRole",
    "ChatStream",
    "ConflictError",
    "ConversationalGraph",
    "FunctionCall",
    "FunctionCallOutput",
    "FunctionCallRequest",
    "FunctionTool",
    "GraphParseError",
    "ImageContent",
    "InternalServerError",
    "InvalidContextError",
    "LLMResponse",
    "LimitExceededError",
    "NotFoundError",
    "OpenAILLM",
    "PermissionDeniedError",
    "PoolExhaustedError",
    "ProtocolError",
    "RateLimitError",
    "ScopedOpenAIError",
    "StreamLimits",
    "TokenUsage",
    "ToolArgumentsError",
    "ToolSchemaError",
    "TurnMetrics",
    "UnprocessableEntityError",
    "UsageError",
    "WebSocketClosed",
    "function_tool",
]
__version__ = "0.1.0"

_configure_logging_from_env()  # OPENAI_LOG=debug|info, as openai-python reads it

# Users meet the errors in tracebacks, reprs and ``except`` clauses: name them where they are
# imported from (``scoped_openai.APIError``), not by the private module defining them.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = __name__
del _name, _value

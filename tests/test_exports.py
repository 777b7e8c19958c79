"""The public API is pinned: names, the error tree, and the constructor signatures."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from typing import Any

import pytest

import scoped_openai
import scoped_openai.integrations
import scoped_openai.testing
from scoped_openai import OpenAILLM

PUBLIC = [
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

TESTING = [
    "AUTO_RESPONSE_ID",
    "DONE",
    "FAKE_API_KEY",
    "CloseSocket",
    "Counters",
    "Disconnect",
    "FakeOpenAI",
    "FakeWSConnector",
    "FakeWebSocket",
    "Pause",
    "RecordedRequest",
    "Reply",
    "ScriptedResponsesSocket",
    "Stall",
    "WSHandshake",
    "WSReply",
    "chunk",
    "usage_chunk",
]

# The reference plugin's OpenAILLM.__init__, in order, with its defaults ...
REFERENCE_INIT: list[tuple[str, Any]] = [
    ("api_key", None),
    ("model", "gpt-4o-mini"),
    ("base_url", None),
    ("temperature", 0.7),
    ("tool_choice", "auto"),
    ("max_completion_tokens", None),
    ("top_p", None),
    ("frequency_penalty", None),
    ("presence_penalty", None),
    ("seed", None),
    ("organization", None),
    ("project", None),
    ("parallel_tool_calls", None),
    ("timeout", None),
    ("extra_headers", None),
    ("extra_query", None),
    ("extra_body", None),
    ("client", None),
    ("max_retries", 0),
    ("reasoning_effort", None),
    ("verbosity", None),
    ("streaming", False),
    ("store", False),
    ("wss_url", None),
]
# ... and its OpenAILLM.azure.
REFERENCE_AZURE: list[tuple[str, Any]] = [
    ("model", "gpt-4o-mini"),
    ("azure_endpoint", None),
    ("azure_deployment", None),
    ("api_version", None),
    ("api_key", None),
    ("azure_ad_token", None),
    ("organization", None),
    ("project", None),
    ("base_url", None),
    ("temperature", 0.7),
    ("tool_choice", "auto"),
    ("max_completion_tokens", None),
    ("top_p", None),
    ("frequency_penalty", None),
    ("presence_penalty", None),
    ("seed", None),
    ("parallel_tool_calls", None),
    ("timeout", None),
    ("extra_headers", None),
    ("extra_query", None),
    ("extra_body", None),
    ("client", None),
    ("max_retries", 0),
    ("reasoning_effort", "none"),
    ("verbosity", "low"),
]
# Ours on top: the stall guards and the warm-spare switch everywhere; Azure also gets the
# WebSocket options; the constructor also takes the WebSocket seam (tests pass an in-memory
# connector).
STALL_GUARDS: list[tuple[str, Any]] = [
    ("idle_timeout", 10.0),
    ("first_token_timeout", 60.0),
    ("warm_spare", True),
]
WS_SEAM: list[tuple[str, Any]] = [("ws_connector", None), ("ws_engine", "auto")]
AZURE_STREAMING: list[tuple[str, Any]] = [("streaming", False), ("store", False), ("wss_url", None)]
# Deadlines and limits against hostile servers (issue 18), on both constructors.
HOSTILE: list[tuple[str, Any]] = [
    ("headers_timeout", 20.0),
    ("turn_timeout", None),
    ("limits", None),
]

# The Responses API over HTTP (issue 15), on both constructors.
THIRD_PATH: list[tuple[str, Any]] = [("api", "chat")]


def public_parameters(function: Any) -> list[tuple[str, Any]]:
    parameters = [
        p for p in inspect.signature(function).parameters.values() if p.name not in ("self", "cls")
    ]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    return [(p.name, p.default) for p in parameters if not p.name.startswith("_")]


def test_package_all_is_pinned_and_sorted() -> None:
    assert sorted(PUBLIC) == PUBLIC
    assert scoped_openai.__all__ == PUBLIC


def test_testing_all_is_pinned() -> None:
    assert scoped_openai.testing.__all__ == TESTING


#: ``scoped_openai.integrations`` itself imports no framework; each plugin is a submodule.
INTEGRATIONS = ["ConversionError", "LLMOwner"]


def test_integrations_all_is_pinned_and_imports_no_framework() -> None:
    assert scoped_openai.integrations.__all__ == INTEGRATIONS
    # In a fresh interpreter: this one may have imported a framework for other tests.
    code = (
        "import sys, scoped_openai.integrations; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'videosdk', 'livekit', 'pipecat', 'openai'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (scoped_openai, PUBLIC),
        (scoped_openai.testing, TESTING),
        (scoped_openai.integrations, INTEGRATIONS),
    ],
)
def test_every_public_name_is_importable(module: Any, names: list[str]) -> None:
    namespace: dict[str, Any] = {}
    exec(f"from {module.__name__} import *", namespace)
    for name in names:
        assert getattr(module, name) is namespace[name]


def test_design_names_are_importable() -> None:
    from scoped_openai import (  # noqa: F401
        ChatContext,
        ChatMessage,
        ChatRole,
        ConversationalGraph,
        FunctionCall,
        FunctionCallOutput,
        FunctionTool,
        LLMResponse,
        OpenAILLM,
        function_tool,
    )
    from scoped_openai.testing import FakeOpenAI  # noqa: F401


def test_error_tree() -> None:
    m = scoped_openai
    parents = {
        m.APIError: m.ScopedOpenAIError,
        m.APIStatusError: m.APIError,
        m.BadRequestError: m.APIStatusError,
        m.AuthenticationError: m.APIStatusError,
        m.PermissionDeniedError: m.APIStatusError,
        m.NotFoundError: m.APIStatusError,
        m.ConflictError: m.APIStatusError,
        m.UnprocessableEntityError: m.APIStatusError,
        m.RateLimitError: m.APIStatusError,
        m.InternalServerError: m.APIStatusError,
        m.APIStreamError: m.APIError,
        m.APIConnectionError: m.APIError,
        m.APITimeoutError: m.APIConnectionError,
        m.PoolExhaustedError: m.APIConnectionError,
        m.WebSocketClosed: m.APIConnectionError,
        m.ProtocolError: m.ScopedOpenAIError,
        m.LimitExceededError: m.ProtocolError,
        m.ToolArgumentsError: m.ScopedOpenAIError,
        m.UsageError: m.ScopedOpenAIError,
        m.ScopedOpenAIError: Exception,
    }
    for cls, parent in parents.items():
        assert cls.__bases__ == (parent,), cls
    # A ValueError too: these context checks raised ValueError before they were typed.
    assert m.InvalidContextError.__bases__ == (m.ScopedOpenAIError, ValueError)
    assert m.GraphParseError.__bases__ == (m.ScopedOpenAIError, ValueError)
    assert m.ToolSchemaError.__bases__ == (m.ScopedOpenAIError, TypeError)


def test_the_drawn_error_tree_is_every_exported_exception() -> None:
    """The drawing in ``_errors``'s docstring names every exception a user can receive,
    each under its parent, and nothing else."""
    from scoped_openai import _errors

    drawn: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (_errors.__doc__ or "").splitlines():
        # A class is the root (alone at the drawing's indent) or follows a branch.
        match = re.match(r"^(    |[ │]*[├└]── )([A-Z]\w+)(?: |$)", line)
        if match is None:
            continue
        depth = len(match.group(1))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        drawn[match.group(2)] = stack[-1][1] if stack else "Exception"
        stack.append((depth, match.group(2)))
    exported = {
        name: getattr(scoped_openai, name)
        for name in scoped_openai.__all__
        if isinstance(getattr(scoped_openai, name), type)
        and issubclass(getattr(scoped_openai, name), BaseException)
    }
    assert set(drawn) == set(exported)
    for name, parent in drawn.items():
        assert exported[name].__bases__[0].__name__ == parent, name


def test_constructor_parameters_match_the_reference() -> None:
    assert (
        public_parameters(OpenAILLM.__init__)
        == REFERENCE_INIT + STALL_GUARDS + WS_SEAM + HOSTILE + THIRD_PATH
    )


def test_azure_parameters_match_the_reference() -> None:
    assert public_parameters(OpenAILLM.azure) == (
        REFERENCE_AZURE + AZURE_STREAMING + STALL_GUARDS + HOSTILE + THIRD_PATH
    )


def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAILLM()


def test_azure_without_endpoint_or_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="AZURE_OPENAI_ENDPOINT"):
        OpenAILLM.azure(api_key="k")
    with pytest.raises(ValueError, match="API key or an Azure AD token"):
        OpenAILLM.azure(azure_endpoint="https://x.openai.azure.com")

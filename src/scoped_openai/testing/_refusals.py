"""What the real API refuses, and how it says so: the fake's errors for invalid requests.

Each error has the real API's status, ``type``, ``code`` and message shape, and the shape of
its transport: over HTTP an ``ErrorResponse`` body (``{"error": {"message", "type",
"param", "code"}}``), over the Responses WebSocket the nested ``ResponseWsError`` frame
(``{"type": "error", "status", "error": {...}}``, see ``_ws_script.error_frame``). Evidence
for each is named beside it.
"""

from __future__ import annotations

from typing import Any

from ._script import Reply
from ._ws_script import error_frame

__all__ = [
    "OPENAI_MODEL_FAMILIES",
    "empty_messages_reply",
    "in_flight_frame",
    "is_openai_model",
    "previous_response_not_found_frame",
    "unknown_model_frame",
    "unknown_model_reply",
]

#: Prefixes of OpenAI's model ids (``ft:`` fine-tunes name their base model after it).
OPENAI_MODEL_FAMILIES = (
    "gpt-",
    "chatgpt-",
    "o1",
    "o3",
    "o4",
    "codex-",
    "computer-use-",
    "ft:",
)


def is_openai_model(model: str) -> bool:
    """Whether ``model`` names one of OpenAI's model families."""
    return model.startswith(OPENAI_MODEL_FAMILIES)


def unknown_model_reply(model: str) -> Reply:
    """Chat Completions with a model that does not exist: HTTP 404, ``invalid_request_error``,
    code ``model_not_found``, ``param`` null; the message as api.openai.com words it (quoted
    in many client issues, e.g. Shopify/roast#13, continuedev/continue#10832)."""
    return Reply.error(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def empty_messages_reply() -> Reply:
    """Chat Completions with ``messages: []`` (the spec's ``minItems: 1``): HTTP 400,
    ``invalid_request_error``, code ``empty_array``, param ``messages``, in api.openai.com's
    words (quoted in CopilotKit/CopilotKit#529)."""
    return Reply.error(
        400,
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
        "an empty array instead.",
        code="empty_array",
        param="messages",
    )


def unknown_model_frame(model: str) -> dict[str, Any]:
    """The Responses API with a model that does not exist: status 400,
    ``invalid_request_error``, code ``model_not_found``, ``param`` ``"model"`` (the
    Responses API's wording, e.g. skorokithakis/sysaidmin#9), as a WebSocket error frame."""
    return error_frame(
        "model_not_found",
        f"The requested model '{model}' does not exist.",
        param="model",
    )


def previous_response_not_found_frame(response_id: str) -> dict[str, Any]:
    """A ``previous_response_id`` the server does not hold (WebSocket mode guide: the
    connection-local cache holds only the most recent response; with ``store: false`` the
    id dies with its socket): status 400, code ``previous_response_not_found``."""
    return error_frame(
        "previous_response_not_found",
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
    )


def in_flight_frame(response_id: str) -> dict[str, Any]:
    """A second ``response.create`` while a response is in flight on the socket.

    The WebSocket mode guide: one response in flight per connection, processed
    sequentially, no multiplexing (lanes with ``stream_id``, added to the spec later, are
    not modelled). OpenAI documents no code for this refusal on the Responses WebSocket;
    the fake uses the code and wording of OpenAI's Realtime API for the same refusal
    (``conversation_already_has_active_response``, status 400, ``invalid_request_error``),
    so a client that handles one handles the other. The response in flight goes on.
    """
    return error_frame(
        "conversation_already_has_active_response",
        f"Conversation already has an active response in progress: {response_id}. Wait "
        "until the response is finished before creating a new one.",
    )

"""The Responses API's server events as msgspec structs (one per WebSocket frame or SSE
event), decoded the way ``_wire`` decodes Chat Completions chunks (see there: why msgspec,
which fields, and why annotations are not strings here).

A module of their own, beside ``_responses``: an instance that only speaks Chat Completions
never imports them (their structs and decoder cost about 0.4 ms of the import).
"""

from typing import Any

import msgspec

from ._wire import ErrorText, Wire

# One server event per frame (or SSE event) --------------------------------------------------


class ErrorFields(Wire):
    code: ErrorText = None
    message: ErrorText = None
    param: ErrorText = None
    type: ErrorText = None


class IncompleteDetails(Wire):
    reason: ErrorText = None


class InputTokensDetails(Wire):
    cached_tokens: int | None = None


class OutputTokensDetails(Wire):
    reasoning_tokens: int | None = None


class ResponsesUsage(Wire):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None


class ResponseBody(Wire):
    id: str | None = None
    model: str | None = None
    # Kept as plain objects: the chain compares them with our input items.
    output: list[dict[str, Any]] | None = None
    usage: ResponsesUsage | None = None
    error: ErrorFields | None = None
    incomplete_details: IncompleteDetails | None = None


class OutputItem(Wire):
    type: str | None = None
    id: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None


class ServerEvent(Wire):
    """Any server event: the fields of every kind we map, all optional but ``type``."""

    type: str
    delta: str | None = None
    item_id: str | None = None
    arguments: str | None = None
    item: OutputItem | None = None
    response: ResponseBody | None = None
    error: ErrorFields | None = None  # the nested WebSocket error frame
    status: int | str | None = None
    # The flat SSE error event carries its fields beside "type".
    code: ErrorText = None
    message: ErrorText = None
    param: ErrorText = None


decode_server_event = msgspec.json.Decoder(ServerEvent).decode

"""The shapes of what the server streams, as msgspec structs: JSON text in, typed objects out.

Why msgspec: decoding a typical chunk or delta straight into these structs costs a third of
``json.loads`` into dicts, end to end through our mapping included
(``benchmarks/bench_decode.py``). A wrong type is caught by the decoder and says where
(``Expected `str | null`, got `int` - at `$.choices[0].delta.content```); the callers turn
that into a ``ProtocolError``.

Only the fields we read are declared: unknown fields are skipped (msgspec's default), and
every field the API may leave out or send as ``null`` defaults to None, so new fields and
the recorded streams decode unchanged. ``gc=False``: decoded JSON holds no reference cycles.
Sources: OpenAI's OpenAPI spec (``CreateChatCompletionStreamResponse``,
``ResponseStreamEvent``) and the recordings in the shared conformance folder.

No ``from __future__ import annotations`` here: msgspec resolves string annotations with
``typing.get_type_hints`` when the decoders are built, which cost the import about as much
as defining the structs (0.6 of 1.7 ms); evaluated as the classes are defined, they are
objects already.
"""

from typing import Any

import msgspec

#: ``code``, ``message``, ``param`` and ``type`` of an error: strings, though some servers
#: send a numeric code (rendered as text by the mapping).
ErrorText = str | int | float | None


class _Wire(msgspec.Struct, gc=False):
    """Base of every struct here: decoded only, never built by hand."""


# --- Chat Completions: one chunk per SSE event ---------------------------------------------


class FunctionDelta(_Wire):
    name: str | None = None
    arguments: str | None = None


class ToolCallFragment(_Wire):
    index: int
    id: str | None = None
    function: FunctionDelta | None = None


class ChoiceDelta(_Wire):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallFragment] | None = None


class Choice(_Wire):
    index: int = 0
    delta: ChoiceDelta | None = None
    finish_reason: str | None = None


class PromptTokensDetails(_Wire):
    cached_tokens: int | None = None


class CompletionTokensDetails(_Wire):
    reasoning_tokens: int | None = None


class ChatUsage(_Wire):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ChatChunk(_Wire):
    id: str | None = None
    model: str | None = None
    choices: list[Choice] | None = None
    usage: ChatUsage | None = None
    error: Any = None  # an {"error": ...} payload after a 200; its shape varies by server


# --- Responses API: one server event per frame (or SSE event) ------------------------------


class ErrorFields(_Wire):
    code: ErrorText = None
    message: ErrorText = None
    param: ErrorText = None
    type: ErrorText = None


class IncompleteDetails(_Wire):
    reason: ErrorText = None


class InputTokensDetails(_Wire):
    cached_tokens: int | None = None


class OutputTokensDetails(_Wire):
    reasoning_tokens: int | None = None


class ResponsesUsage(_Wire):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None


class ResponseBody(_Wire):
    id: str | None = None
    model: str | None = None
    # Kept as plain objects: the chain compares them with our input items.
    output: list[dict[str, Any]] | None = None
    usage: ResponsesUsage | None = None
    error: ErrorFields | None = None
    incomplete_details: IncompleteDetails | None = None


class OutputItem(_Wire):
    type: str | None = None
    id: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None


class ServerEvent(_Wire):
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


decode_chunk = msgspec.json.Decoder(ChatChunk).decode
decode_server_event = msgspec.json.Decoder(ServerEvent).decode

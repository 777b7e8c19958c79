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
``ResponseStreamEvent``) and the recordings in the shared conformance folder. The Responses
API's events are in ``_responses_wire``, imported only by an instance that speaks that API.

No ``from __future__ import annotations`` here: msgspec resolved the string annotations
with ``typing.get_type_hints`` when the decoders were built, about half of what defining
the structs and decoders cost the import (1.6 -> 0.8 ms measured in one process); evaluated
as the classes are defined, they are objects already.
"""

from typing import Any

import msgspec

#: ``code``, ``message``, ``param`` and ``type`` of an error: strings, though some servers
#: send a numeric code (rendered as text by the mapping).
ErrorText = str | int | float | None


class Wire(msgspec.Struct, gc=False):
    """Base of every struct here and in ``_responses_wire``: decoded only, never built by
    hand."""


# --- Chat Completions: one chunk per SSE event ---------------------------------------------


class FunctionDelta(Wire):
    name: str | None = None
    arguments: str | None = None


class ToolCallFragment(Wire):
    index: int
    id: str | None = None
    function: FunctionDelta | None = None


class ChoiceDelta(Wire):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallFragment] | None = None


class Choice(Wire):
    index: int = 0
    delta: ChoiceDelta | None = None
    finish_reason: str | None = None


class PromptTokensDetails(Wire):
    cached_tokens: int | None = None


class CompletionTokensDetails(Wire):
    reasoning_tokens: int | None = None


class ChatUsage(Wire):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ChatChunk(Wire):
    id: str | None = None
    model: str | None = None
    choices: list[Choice] | None = None
    usage: ChatUsage | None = None
    error: Any = None  # an {"error": ...} payload after a 200; its shape varies by server


decode_chunk = msgspec.json.Decoder(ChatChunk).decode

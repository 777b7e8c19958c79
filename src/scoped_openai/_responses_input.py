"""The Responses API's ``input`` items: a ``ChatContext`` as items, and a response's output
as the items the server holds for it (what the chain compares). No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from ._chat import ChatItem, ChatMessage, ChatRole, FunctionCall, FunctionCallOutput, ImageContent
from ._errors import InvalidContextError, ProtocolError

InputItem: TypeAlias = dict[str, Any]
"""One Responses ``input`` item, as sent on the wire."""


# ---------------------------------------------------------------------------------------------
# Context -> input items
# ---------------------------------------------------------------------------------------------


def _assistant_item(index: int, message: ChatMessage) -> InputItem | None:
    """An assistant turn as the client-authored ``EasyInputMessage``.

    ``{"role": "assistant", "content": "text"}`` is valid input everywhere: the spec's
    ``OutputMessage`` (``type: message`` with ``output_text`` parts) requires the server's
    ``id``, ``status`` and per-part ``annotations``/``logprobs``, which a client does not
    have, and OpenAI-compatible servers (vLLM, gateways) validate against the spec. Text
    parts are joined with newlines, as on the Chat Completions path.
    """
    content = message.content
    if not isinstance(content, str):
        for part in content:
            if isinstance(part, ImageContent):
                raise InvalidContextError(
                    f"message {index} (assistant) holds an image: the Responses API accepts "
                    "images only in user, system and developer messages",
                    index=index,
                )
            if not isinstance(part, str):
                raise TypeError(f"unsupported message content part: {type(part).__name__}")
        content = "\n".join(part for part in content if isinstance(part, str) and part)
    if not content:
        return None  # an empty message says nothing (and the server never echoes one)
    return {"role": "assistant", "content": content}


def _message_item(index: int, message: ChatMessage) -> InputItem | None:
    if message.role is ChatRole.ASSISTANT:
        return _assistant_item(index, message)
    content = [message.content] if isinstance(message.content, str) else message.content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            # Empty text parts carry nothing and the server never echoes them back, so
            # dropping them keeps local items comparable with the server's (ChainState).
            if part:
                parts.append({"type": "input_text", "text": part})
        elif isinstance(part, ImageContent):
            parts.append(
                {
                    "type": "input_image",
                    "image_url": part.to_data_url(),
                    "detail": part.inference_detail,
                }
            )
        else:
            raise TypeError(f"unsupported message content part: {type(part).__name__}")
    if not parts:
        return None  # an empty message says nothing; an empty content list is rejected
    return {"type": "message", "role": message.role.value, "content": parts}


def to_input_items(items: Sequence[ChatItem]) -> list[InputItem]:
    """Convert chat items to Responses ``input`` items.

    - A user, system or developer message becomes ``{"type": "message", "role", "content":
      [parts]}``: text parts ``input_text``, images ``{"type": "input_image", "image_url",
      "detail"}``. An assistant message becomes ``{"role": "assistant", "content": "text"}``
      (see :func:`_assistant_item`). Empty text parts are left out, and a message left with
      no content is left out entirely.
    - A :class:`FunctionCall` becomes ``{"type": "function_call", "call_id", "name",
      "arguments"}``; a :class:`FunctionCallOutput` ``{"type": "function_call_output",
      "call_id", "output"}``.

    Raises:
        InvalidContextError: An assistant message holds an image (the API has no such part).
    """
    out: list[InputItem] = []
    for index, item in enumerate(items):
        converted = _input_item(index, item)
        if converted is not None:
            out.append(converted)
    return out


def _input_item(index: int, item: ChatItem) -> InputItem | None:
    """One chat item as an input item (None: a message that says nothing)."""
    if isinstance(item, ChatMessage):
        return _message_item(index, item)
    if isinstance(item, FunctionCall):
        return {
            "type": "function_call",
            "call_id": item.call_id,
            "name": item.name,
            "arguments": item.arguments,
        }
    return {"type": "function_call_output", "call_id": item.call_id, "output": item.output}


_MISSING: Any = object()


class InputItemCache:
    """:func:`to_input_items` that reuses the last call's items for chat items with the same
    content: a context grows by appending, so a turn converts only its new items.

    An item's input item depends only on its kind and the values of a few immutable fields
    (a message's role and text parts; a call's id, name and arguments; an output's call id
    and text), so items are looked up by those values; a message with an image is converted
    every time. Only the last call's items are kept. The reused dicts are
    the ones already sent (and held by ``ChainState.server_items``), so comparing the two
    is mostly an identity check.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[tuple[object, ...], InputItem | None] = {}

    def convert(self, items: Sequence[ChatItem]) -> list[InputItem]:
        """``to_input_items(items)``: the same items, the same errors."""
        last = self._last
        kept: dict[tuple[object, ...], InputItem | None] = {}
        out: list[InputItem] = []
        for index, item in enumerate(items):
            kind = type(item)
            key: tuple[object, ...] | None
            if kind is ChatMessage:
                content = item.content  # type: ignore[union-attr]
                role = item.role  # type: ignore[union-attr]
                if type(role) is not ChatRole:
                    key = None
                elif type(content) is str:
                    # id(): members live as long as their enum; hashing one runs Python code.
                    key = (id(role), content)
                else:
                    key = (id(role), *content)
            elif kind is FunctionCall:
                key = ("function_call", item.call_id, item.name, item.arguments)  # type: ignore[union-attr]
            elif kind is FunctionCallOutput:
                key = ("function_call_output", item.call_id, item.output)  # type: ignore[union-attr]
            else:
                key = None
            try:
                converted = _MISSING if key is None else last.get(key, _MISSING)
            except TypeError:  # an image part (not hashable): converted every time
                key = None
                converted = _MISSING
            if converted is _MISSING:
                converted = _input_item(index, item)
            if key is not None:
                kept[key] = converted
            if converted is not None:
                out.append(converted)
        self._last = kept
        return out


def _is_text(part: object) -> bool:
    return (
        isinstance(part, dict)
        and part.get("type") == "output_text"
        and isinstance(part.get("text"), str)
    )


def _empty_text(part: object) -> bool:
    return isinstance(part, dict) and _is_text(part) and not part["text"]


def output_to_input_items(output: Sequence[object]) -> list[InputItem]:
    """Convert a response's ``output`` items to the input-item shape of :func:`to_input_items`.

    This is what the server holds for a response, in the form our own context converts to,
    so the two can be compared: an assistant message with one ``output_text`` part becomes
    ``{"role": "assistant", "content": text}``; ids, statuses, annotations, logprobs and
    ``phase`` are left out (our items do not have them). ``reasoning`` items are dropped:
    they are the model's hidden work, never part of the local context; continuing from the
    response keeps them on the server side, which is what OpenAI recommends, and the
    visible conversation is the same either way. Item kinds we do not produce ourselves
    are kept whole, so a context never matches them and such a response is never chained
    from.

    Raises:
        ProtocolError: An output item is not a JSON object.
    """
    items: list[InputItem] = []
    for raw in output:
        if not isinstance(raw, dict):
            raise ProtocolError(f"a response output item is not an object: {repr(raw)[:200]}")
        kind = raw.get("type")
        if kind == "reasoning":
            continue
        if kind == "function_call":
            items.append(
                {
                    "type": "function_call",
                    "call_id": raw.get("call_id"),
                    "name": raw.get("name"),
                    "arguments": raw.get("arguments"),
                }
            )
        elif kind == "message" and isinstance(raw.get("content"), list):
            # Empty text parts are left out, as from local messages (an empty one says nothing).
            parts = [part for part in raw["content"] if not _empty_text(part)]
            if not parts:
                continue
            if len(parts) == 1 and _is_text(parts[0]) and raw.get("role") == "assistant":
                items.append({"role": "assistant", "content": parts[0]["text"]})
            else:
                # Several parts, a refusal, an unknown part: kept whole, so no local
                # message equals it and the response is never chained from.
                items.append({"unknown_message": raw})
        else:
            items.append({"unknown_item": raw})
    return items

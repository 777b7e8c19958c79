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


def _item_key(item: ChatItem) -> tuple[object, ...] | None:
    """What an item's input item depends on, as a hashable tuple (None: convert it every
    time).

    A message: its role and its text parts (a string is one part: both convert alike); a
    message with an image or a part of another type, or a role that is not a ``ChatRole``:
    None (an ``ImageContent`` is mutable and its data URL is rebuilt every time). A call:
    its id, name and arguments; an output: its call id and text. Any other type: None.
    """
    kind = type(item)
    if kind is ChatMessage:
        role = item.role  # type: ignore[union-attr]
        content = item.content  # type: ignore[union-attr]
        if type(role) is not ChatRole:
            return None
        # id(): members live as long as their enum; hashing one runs Python code.
        if type(content) is str:
            return (id(role), content)
        if type(content) is not list:
            return None
        for part in content:
            if type(part) is not str:
                return None
        return (id(role), *content)
    if kind is FunctionCall:
        return ("function_call", item.call_id, item.name, item.arguments)  # type: ignore[union-attr]
    if kind is FunctionCallOutput:
        return ("function_call_output", item.call_id, item.output)  # type: ignore[union-attr]
    return None


class InputItemCache:
    """:func:`to_input_items` that reuses the last call's items for chat items that did not
    change: a context grows by appending, so a turn converts only its new items.

    An item's input item depends only on its kind and the values of a few fields, its key
    (:func:`_item_key`). Two ways to find an unchanged item:

    - By position: the items the last call saw, in order, with their keys. A context that
      only grew starts with the same objects, whose keys are checked by identity (an
      item's fields can be reassigned and a message's parts edited in place): for the
      usual message, one text part, that is a few reference comparisons and no hashing.
    - By key, for the items after the first one that differs: a framework that builds a
      new context every turn (new objects, the same texts) still converts only what is new.

    Messages with images are converted every time. Only the last call's items are kept
    (memory follows the context), up to the first message with an image. The reused dicts
    are the ones already sent (and held by ``ChainState.server_items``), so comparing the
    two is mostly an identity check.
    """

    __slots__ = ("_by_key", "_converted", "_items", "_keys")

    def __init__(self) -> None:
        self._items: list[ChatItem] = []  # the last call's items
        self._keys: list[tuple[object, ...] | None] = []  # their keys
        self._converted: list[InputItem | None] = []  # and their input items
        self._by_key: dict[tuple[object, ...], InputItem | None] = {}

    def convert(self, items: Sequence[ChatItem]) -> list[InputItem]:
        """``to_input_items(items)``: the same items, the same errors."""
        same = self._unchanged_prefix(items)
        by_key = self._by_key
        kept: dict[tuple[object, ...], InputItem | None] = {}
        keys: list[tuple[object, ...] | None] = []
        new: list[InputItem | None] = []
        for index in range(same, len(items)):
            item = items[index]
            key: tuple[object, ...] | None
            if type(item) is ChatMessage and type(item.role) is ChatRole:
                # _item_key inlined for the usual message (a string or one text part): a
                # framework that builds a new context every turn runs this for every item.
                content: object = item.content
                if type(content) is list and len(content) == 1:
                    content = content[0]
                key = (id(item.role), content) if type(content) is str else _item_key(item)
            else:
                key = _item_key(item)
            converted = _MISSING if key is None else by_key.get(key, _MISSING)
            if converted is _MISSING:
                converted = _input_item(index, item)
            if key is not None:
                kept[key] = converted
            keys.append(key)
            new.append(converted)
        # Only now, when nothing raised: what this call saw is what the next one compares.
        del self._items[same:], self._keys[same:], self._converted[same:]
        self._items.extend(items[same:])
        self._keys.extend(keys)
        self._converted.extend(new)
        self._by_key = kept  # what this call looked up (the prefix is found by position)
        converted_items = list(filter(None, self._converted))  # None: says nothing
        if None in keys:
            # The walk by position stops at the first item converted every time: nothing
            # from it on is reused by position, and an image's bytes and data URL kept
            # until the next call would only be held alive.
            cut = same + keys.index(None)
            del self._items[cut:], self._keys[cut:], self._converted[cut:]
        return converted_items

    def _unchanged_prefix(self, items: Sequence[ChatItem]) -> int:
        """How many of ``items`` are, in order, the last call's objects with their keys."""
        same = 0
        for item, before, key in zip(items, self._items, self._keys, strict=False):
            if item is not before or key is None:
                break
            if type(item) is ChatMessage:
                # Inline for the usual message (a string or one text part): this runs for
                # every item of the history on every turn. A message key of two is
                # (role, text), so the same text object and role are the same key.
                text: object = item.content
                if type(text) is list and len(text) == 1:
                    text = text[0]
                if (len(key) != 2 or text is not key[1] or id(item.role) != key[0]) and _item_key(
                    item
                ) != key:
                    break
            elif _item_key(item) != key:
                break
            same += 1
        return same


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

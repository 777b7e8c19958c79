"""The conversation model: what the agent has said and heard, independent of any API.

Mirrors the reference plugin's ``ChatContext`` construction style (``ChatContext.empty()``,
``ctx.add_message(ChatRole.USER, "hi")``, function calls and their outputs) with plain
dataclasses instead of pydantic models, so constructing a context costs microseconds.
Converting a context to a wire format lives in ``_chat_completions`` and ``_responses``.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import field
from enum import StrEnum
from typing import Literal, TypeAlias

from ._record import FACTORY, record


class ChatRole(StrEnum):
    """Who said a message."""

    SYSTEM = "system"
    DEVELOPER = "developer"
    USER = "user"
    ASSISTANT = "assistant"


def _new_id(prefix: str) -> str:
    # The reference used int(time.time()): two items in one second collided. 64 random
    # bits in one call: uuid4().hex[:16] (60 of its bits) ran five Python calls, a third of
    # the cost of adding a message, on every turn.
    return f"{prefix}_{os.urandom(8).hex()}"


@record()  # a dataclass whose __init__ is written here: see _record
class ImageContent:
    """An image in a message: a URL, a data URL, or raw encoded bytes.

    Args:
        image: An ``https://`` or ``data:`` URL, or the encoded image bytes.
        inference_detail: The detail level the model should use.
        mime_type: The type of ``image`` when it is bytes.
    """

    image: str | bytes
    inference_detail: Literal["auto", "high", "low"] = "auto"
    mime_type: str = "image/jpeg"
    id: str = field(default_factory=lambda: _new_id("img"))
    type: Literal["image"] = "image"

    def __init__(
        self,
        image: str | bytes,
        inference_detail: Literal["auto", "high", "low"] = "auto",
        mime_type: str = "image/jpeg",
        id: str = FACTORY,
        type: Literal["image"] = "image",
    ) -> None:
        self.image = image
        self.inference_detail = inference_detail
        self.mime_type = mime_type
        self.id = _new_id("img") if id is FACTORY else id
        self.type = type

    def to_data_url(self) -> str:
        """The image as a URL the API accepts."""
        if isinstance(self.image, str):
            return self.image
        encoded = base64.b64encode(self.image).decode("ascii")
        return f"data:{self.mime_type};base64,{encoded}"


ChatContent: TypeAlias = str | ImageContent


@record()
class ChatMessage:
    """One message. ``content`` is a string or a list of strings and images."""

    role: ChatRole
    content: str | list[ChatContent]
    id: str = field(default_factory=lambda: _new_id("msg"))
    type: Literal["message"] = "message"
    created_at: float = field(default_factory=time.time)
    interrupted: bool = False

    def __init__(
        self,
        role: ChatRole,
        content: str | list[ChatContent],
        id: str = FACTORY,
        type: Literal["message"] = "message",
        created_at: float = FACTORY,
        interrupted: bool = False,
    ) -> None:
        self.role = role
        self.content = content
        self.id = _new_id("msg") if id is FACTORY else id
        self.type = type
        self.created_at = time.time() if created_at is FACTORY else created_at
        self.interrupted = interrupted

    @property
    def text_content(self) -> str:
        """The message's text parts joined by newlines; images are left out."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part for part in self.content if isinstance(part, str))


@record()
class FunctionCall:
    """A tool call the model made. ``arguments`` is the JSON text the model sent."""

    name: str
    arguments: str
    call_id: str
    id: str = field(default_factory=lambda: _new_id("fc"))
    type: Literal["function_call"] = "function_call"
    metadata: dict[str, object] | None = None

    def __init__(
        self,
        name: str,
        arguments: str,
        call_id: str,
        id: str = FACTORY,
        type: Literal["function_call"] = "function_call",
        metadata: dict[str, object] | None = None,
    ) -> None:
        self.name = name
        self.arguments = arguments
        self.call_id = call_id
        self.id = _new_id("fc") if id is FACTORY else id
        self.type = type
        self.metadata = metadata


@record()
class FunctionCallOutput:
    """The result of running a tool, answering the call with the same ``call_id``."""

    name: str
    call_id: str
    output: str
    is_error: bool = False
    id: str = field(default_factory=lambda: _new_id("fco"))
    type: Literal["function_call_output"] = "function_call_output"

    def __init__(
        self,
        name: str,
        call_id: str,
        output: str,
        is_error: bool = False,
        id: str = FACTORY,
        type: Literal["function_call_output"] = "function_call_output",
    ) -> None:
        self.name = name
        self.call_id = call_id
        self.output = output
        self.is_error = is_error
        self.id = _new_id("fco") if id is FACTORY else id
        self.type = type


ChatItem: TypeAlias = ChatMessage | FunctionCall | FunctionCallOutput


class ChatContext:
    """An ordered list of chat items: the whole conversation sent to the model."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[ChatItem] | None = None) -> None:
        self._items: list[ChatItem] = list(items) if items is not None else []

    @classmethod
    def empty(cls) -> ChatContext:
        """A context with no items."""
        return cls()

    @property
    def items(self) -> list[ChatItem]:
        """The items, oldest first. The list is live: editing it edits the context."""
        return self._items

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ChatContext({len(self._items)} items)"

    def add_message(
        self,
        role: ChatRole,
        content: str | Sequence[ChatContent],
        message_id: str | None = None,
        created_at: float | None = None,
        replace: bool = False,
    ) -> ChatMessage:
        """Append a message.

        Args:
            role: Who says it.
            content: Text, or a list of text and images.
            message_id: An id of your own; one is made otherwise.
            created_at: A timestamp of your own; now otherwise.
            replace: With ``ChatRole.SYSTEM``, drop the existing system messages first.

        Returns:
            The message added.
        """
        if replace and role is ChatRole.SYSTEM:
            self._items = [
                item
                for item in self._items
                if not (isinstance(item, ChatMessage) and item.role is ChatRole.SYSTEM)
            ]
        body: list[ChatContent] = [content] if isinstance(content, str) else list(content)
        message = ChatMessage(role=role, content=body)
        if message_id is not None:
            message.id = message_id
        if created_at is not None:
            message.created_at = created_at
        self._items.append(message)
        return message

    def add_function_call(
        self, name: str, arguments: str, call_id: str | None = None
    ) -> FunctionCall:
        """Append a tool call the model made (``arguments`` as JSON text)."""
        call = FunctionCall(name=name, arguments=arguments, call_id=call_id or _new_id("call"))
        self._items.append(call)
        return call

    def add_function_output(
        self, name: str, output: str, call_id: str, is_error: bool = False
    ) -> FunctionCallOutput:
        """Append the result of a tool call."""
        result = FunctionCallOutput(name=name, output=output, call_id=call_id, is_error=is_error)
        self._items.append(result)
        return result

    def get_by_id(self, item_id: str) -> ChatItem | None:
        """The item with this id, or None."""
        return next((item for item in self._items if item.id == item_id), None)

    def copy(self) -> ChatContext:
        """A new context holding the same items (the items themselves are shared)."""
        return ChatContext(self._items)

    def truncate(self, max_items: int) -> ChatContext:
        """Keep the last ``max_items`` items and the first system message, in place.

        Leading tool calls or outputs that lost their partner are dropped too (an output
        whose call was cut off, a call whose output was); a call kept with its output stays.
        """
        system = next(
            (i for i in self._items if isinstance(i, ChatMessage) and i.role is ChatRole.SYSTEM),
            None,
        )
        kept = self._items[-max_items:] if max_items > 0 else []
        answered = {i.call_id for i in kept if isinstance(i, FunctionCallOutput)}
        while kept and (
            isinstance(kept[0], FunctionCallOutput)  # first: its call was cut off
            or (isinstance(kept[0], FunctionCall) and kept[0].call_id not in answered)
        ):
            kept.pop(0)
        if system is not None and system not in kept:
            kept.insert(0, system)
        self._items = kept
        return self

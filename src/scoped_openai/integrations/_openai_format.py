"""OpenAI Chat Completions messages and tool schemas -> the library's context and tools.

LiveKit Agents (``chat_ctx.to_provider_format("openai")``) and Pipecat (its OpenAI adapter)
both hand their conversation over as Chat Completions message dicts and their tools as
Chat Completions tool schemas. This module turns those into a ``ChatContext`` and
``FunctionTool``s, so every plugin sends what the library builds (one request builder per
API, model-family rules included) and no plugin writes its own.

Carried: ``system``, ``developer``, ``user``, ``assistant`` and ``tool`` messages; text and
``image_url`` parts (with ``detail``); assistant ``refusal`` parts and strings (as text);
assistant ``tool_calls`` of type ``function`` (their ids become ``call_id``s) and the tool
messages that answer them. Not carried, and dropped without error because the API result
does not depend on them for these plugins: a message's ``name`` and per-part
``cache_control`` (Anthropic-style cache breakpoints some frameworks attach). Anything else
that would change what the model sees (audio or file parts, legacy ``function`` messages,
non-function tool calls, provider-native tools) is a ``ConversionError`` that names it,
never a silent drop.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast

from .._chat import (
    ChatContent,
    ChatContext,
    ChatItem,
    ChatMessage,
    ChatRole,
    FunctionCall,
    FunctionCallOutput,
    ImageContent,
)
from .._errors import ScopedOpenAIError
from .._tools import FunctionTool

__all__ = ["ConversionError", "context_from_openai_messages", "tools_from_openai_schemas"]

_ROLES = {
    "system": ChatRole.SYSTEM,
    "developer": ChatRole.DEVELOPER,
    "user": ChatRole.USER,
    "assistant": ChatRole.ASSISTANT,
}
_DETAILS = ("auto", "high", "low")


class ConversionError(ScopedOpenAIError, ValueError):
    """A framework's message or tool cannot be carried to the API without changing it.

    The message names the item (its position and kind); nothing has been sent.
    """


def context_from_openai_messages(messages: Iterable[Mapping[str, Any]]) -> ChatContext:
    """A ``ChatContext`` holding ``messages`` (Chat Completions message dicts), in order.

    Raises:
        ConversionError: A message or part this library cannot send as it is (named).
    """
    items: list[ChatItem] = []
    names: dict[str, str] = {}  # call_id -> tool name, for the tool messages that answer
    for index, message in enumerate(messages):
        where = f"message {index}"
        if not isinstance(message, Mapping):
            raise ConversionError(f"{where} is a {type(message).__name__}, not a message dict")
        role = message.get("role")
        if role == "tool":
            items.append(_tool_output(message, names, where))
        elif role in _ROLES:
            items.extend(_message_items(_ROLES[role], message, names, where))
        else:
            raise ConversionError(f"{where} has role {role!r}, which this library cannot send")
    return ChatContext(items)


def tools_from_openai_schemas(tools: Iterable[Mapping[str, Any]]) -> list[FunctionTool]:
    """Description-only ``FunctionTool``s (``fn=None``: the framework runs its tools) from
    Chat Completions tool schemas (``{"type": "function", "function": {...}}``) or the
    flat Responses shape (``{"type": "function", "name": ...}``).

    ``strict`` is kept when the schema says it, else False: a framework's schema is not
    necessarily valid under strict mode's rules.

    Raises:
        ConversionError: A tool that is not a function tool (e.g. a provider-native web
            search), or a schema without a name (named by position).
    """
    converted: list[FunctionTool] = []
    for index, tool in enumerate(tools):
        kind = tool.get("type", "function")
        if kind != "function":
            raise ConversionError(f"tool {index} is a {kind!r} tool; only functions are carried")
        spec = tool.get("function", tool)
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ConversionError(f"tool {index} has no name")
        parameters = spec.get("parameters") or {"type": "object", "properties": {}}
        converted.append(
            FunctionTool(
                name=name,
                description=spec.get("description") or "",
                parameters=dict(parameters),
                strict=bool(spec.get("strict") or False),
            )
        )
    return converted


# -- messages -------------------------------------------------------------------------


def _message_items(
    role: ChatRole, message: Mapping[str, Any], names: dict[str, str], where: str
) -> list[ChatItem]:
    items: list[ChatItem] = []
    content = _content(message.get("content"), role, where)
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append(refusal)
    if content:
        items.append(ChatMessage(role=role, content=content))
    calls = message.get("tool_calls") or ()
    if calls and role is not ChatRole.ASSISTANT:
        raise ConversionError(f"{where} ({role.value}) has tool_calls; only the assistant's do")
    for position, call in enumerate(calls):
        items.append(_function_call(call, names, f"{where}, tool call {position}"))
    if "function_call" in message and message["function_call"] is not None:
        raise ConversionError(f"{where} uses the legacy function_call field; use tool_calls")
    return items


def _content(content: Any, role: ChatRole, where: str) -> list[ChatContent]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise ConversionError(f"{where} has content of type {type(content).__name__}")
    parts: list[ChatContent] = []
    for position, part in enumerate(content):
        parts.append(_part(part, role, f"{where}, part {position}"))
    return parts


def _part(part: Any, role: ChatRole, where: str) -> ChatContent:
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        raise ConversionError(f"{where} is a {type(part).__name__}, not a content part")
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        return cast(str, part["text"])
    if kind == "refusal" and role is ChatRole.ASSISTANT and isinstance(part.get("refusal"), str):
        return cast(str, part["refusal"])
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str) or not url:
            raise ConversionError(f"{where} is an image_url part without a url")
        detail = image.get("detail", "auto") if isinstance(image, Mapping) else "auto"
        if detail not in _DETAILS:
            raise ConversionError(f"{where} has image detail {detail!r}")
        return ImageContent(image=url, inference_detail=cast(Literal["auto"], detail))
    raise ConversionError(f"{where} is a {kind!r} part, which this library cannot send")


def _function_call(call: Any, names: dict[str, str], where: str) -> FunctionCall:
    if not isinstance(call, Mapping) or call.get("type", "function") != "function":
        kind = call.get("type") if isinstance(call, Mapping) else type(call).__name__
        raise ConversionError(f"{where} is a {kind!r} call; only function calls are carried")
    function = call.get("function")
    call_id = call.get("id")
    if not isinstance(function, Mapping) or not isinstance(call_id, str) or not call_id:
        raise ConversionError(f"{where} lacks its id or function")
    name = function.get("name")
    arguments = function.get("arguments", "")
    if not isinstance(name, str) or not name:
        raise ConversionError(f"{where} has no function name")
    if not isinstance(arguments, str):
        # Some frameworks keep parsed arguments; the API takes the JSON text.
        arguments = json.dumps(arguments)
    names[call_id] = name
    return FunctionCall(name=name, arguments=arguments, call_id=call_id)


def _tool_output(
    message: Mapping[str, Any], names: dict[str, str], where: str
) -> FunctionCallOutput:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise ConversionError(f"{where} (tool) has no tool_call_id")
    content = message.get("content")
    if isinstance(content, list):
        texts = _content(content, ChatRole.USER, where)
        if any(not isinstance(text, str) for text in texts):
            raise ConversionError(f"{where} (tool) has an image; tool outputs are text")
        output = "".join(cast(list[str], texts))
    elif isinstance(content, str):
        output = content
    elif content is None:
        output = ""
    else:
        output = json.dumps(content)
    return FunctionCallOutput(name=names.get(call_id, ""), call_id=call_id, output=output)

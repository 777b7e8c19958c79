"""VideoSDK Agents' own types -> this library's: chat context, function tools, graph, items.

The framework hands the plugin its ``ChatContext`` (pydantic items), its ``@function_tool``
callables and its ``GraphPipelineAdapter``; the library wants its own ``ChatContext``,
``FunctionTool`` and ``ConversationalGraph``. The item rules follow the framework's
``to_openai_messages`` (what the reference plugin sends over HTTP):

- ``AgentHandoff`` and ``AgentConfigUpdate`` are structural and are not sent;
- only the first system/developer message is sent, and when the context holds config
  updates it carries the instructions they resolve to (``ChatContext.active_config_at``);
- on Chat Completions a ``developer`` message goes out as ``system`` for models that are
  not reasoning models (the library sends ``developer`` for reasoning models itself);
- images keep their detail; function calls and outputs keep their ``call_id``.

Any other item kind, or a content part that is neither text nor an image, is a
``ConversionError`` naming it: never a silent drop.

This module imports VideoSDK; it is only imported by ``scoped_openai.integrations.videosdk``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from videosdk.agents import build_openai_schema, get_tool_info, is_function_tool
from videosdk.agents import llm as vs

from .. import (
    ChatContext,
    ChatMessage,
    ChatRole,
    ConversationalGraph,
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    ImageContent,
    LLMResponse,
)
from ._openai_format import ConversionError

__all__ = ["GraphCache", "ToolCache", "context_from_videosdk", "response_to_videosdk"]

_ROLES = {role: ChatRole(role.value) for role in vs.ChatRole}
_INSTRUCTION_ROLES = (vs.ChatRole.SYSTEM, vs.ChatRole.DEVELOPER)
_ASSISTANT = vs.ChatRole.ASSISTANT


def context_from_videosdk(ctx: vs.ChatContext, *, developer_as_system: bool) -> ChatContext:
    """The library's context for a VideoSDK context, by the rules in the module docstring.

    Args:
        ctx: The framework's context (read only; nothing in it is changed).
        developer_as_system: Send ``developer`` messages as ``system`` (Chat Completions
            with a model that is not a reasoning model, as the framework does).

    Raises:
        ConversionError: An item or content part this adapter does not know (named).
    """
    items = ctx.items
    active: str | None = None
    if any(isinstance(item, vs.AgentConfigUpdate) for item in items):
        active, _ = ctx.active_config_at()
    out: list[ChatMessage | FunctionCall | FunctionCallOutput] = []
    instructions_sent = False
    for index, item in enumerate(items):
        if isinstance(item, vs.ChatMessage):
            role = item.role
            content: str | list[str | ImageContent]
            if role in _INSTRUCTION_ROLES:
                if instructions_sent:
                    continue  # the framework sends only the first instructions message
                instructions_sent = True
                content = active if active is not None else _content(item.content, index)
                if developer_as_system:
                    role = vs.ChatRole.SYSTEM
            else:
                content = _content(item.content, index)
            # The framework's id and time: no uuid4 per item per turn (it was most of the
            # cost of a turn's conversion: 16 -> 5 µs an item).
            out.append(ChatMessage(_ROLES[role], content, id=item.id, created_at=item.created_at))
        elif isinstance(item, vs.FunctionCall):
            out.append(FunctionCall(item.name, item.arguments, item.call_id, id=item.id))
        elif isinstance(item, vs.FunctionCallOutput):
            out.append(
                FunctionCallOutput(item.name, item.call_id, item.output, item.is_error, id=item.id)
            )
        elif isinstance(item, vs.AgentHandoff | vs.AgentConfigUpdate) or item is None:
            continue  # structural: the framework never sends these to a provider
        else:
            raise ConversionError(
                f"chat context item {index} is a {type(item).__name__} "
                f"(type {getattr(item, 'type', None)!r}), which the VideoSDK adapter cannot send"
            )
    return ChatContext(out)


def _content(content: object, index: int) -> str | list[str | ImageContent]:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if not isinstance(content, Iterable):
        raise ConversionError(
            f"message {index} has content of type {type(content).__name__}, "
            "not text or a list of text and images"
        )
    parts: list[str | ImageContent] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, vs.ImageContent):
            # A video frame is encoded here (JPEG, the framework's resize), as the reference.
            detail = part.inference_detail
            parts.append(ImageContent(image=part.to_data_url(), inference_detail=detail))
        elif part is not None:
            raise ConversionError(
                f"message {index} holds a content part of type {type(part).__name__}, "
                "not text or an ImageContent"
            )
    return parts


class ToolCache:
    """The framework's function tools as library ``FunctionTool``s, built once per tool.

    The framework builds a tool's schema with pydantic (``build_openai_schema``), which
    costs far more than a turn's own work, and hands the plugin the same tools every turn.
    Entries are keyed by the tool's ``FunctionToolInfo`` (the same object for every bound
    method of one function); the cache is bounded.
    """

    _LIMIT = 256

    def __init__(self) -> None:
        self._tools: dict[int, tuple[object, FunctionTool]] = {}

    def convert(self, tools: Sequence[Any] | None) -> list[FunctionTool] | None:
        """The library tools for ``tools`` (None or empty: None).

        Raises:
            ConversionError: An entry is not a function tool, or its schema cannot be built
                (named; the reference skipped such tools silently or with an error event).
        """
        if not tools:
            return None
        out: list[FunctionTool] = []
        for index, tool in enumerate(tools):
            if not is_function_tool(tool):
                raise ConversionError(f"tool {index} ({tool!r}) is not a VideoSDK function tool")
            info = get_tool_info(tool)
            cached = self._tools.get(id(info))
            if cached is None or cached[0] is not info:
                cached = (info, _function_tool(tool, index))
                if len(self._tools) >= self._LIMIT:
                    self._tools.clear()
                self._tools[id(info)] = cached
            out.append(cached[1])
        return out


def _function_tool(tool: Any, index: int) -> FunctionTool:
    try:
        schema = build_openai_schema(tool)
        # strict=False: the framework's pydantic schemas are not strict-mode schemas
        # (optional parameters, titles, no additionalProperties), as the reference sends them.
        return FunctionTool(
            name=schema["name"],
            description=schema.get("description") or "",
            parameters=schema.get("parameters") or {"type": "object", "properties": {}},
            strict=False,
        )
    except Exception as exc:
        raise ConversionError(f"tool {index} ({tool!r}): cannot build its schema: {exc}") from exc


class GraphCache:
    """A ``ConversationalGraph`` for the framework's graph adapter, built once per schema.

    The adapter (``GraphPipelineAdapter``) gives its strict response schema through
    ``_get_graph_schema()`` (cached by the adapter itself, so the same dict every turn).
    """

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._graph: ConversationalGraph | None = None

    def convert(self, adapter: Any) -> ConversationalGraph | None:
        """The library graph for ``adapter`` (None: None).

        Raises:
            ConversionError: The adapter has no usable schema (named).
        """
        if adapter is None:
            return None
        try:
            schema = adapter._get_graph_schema()
        except Exception as exc:
            raise ConversionError(
                f"the conversational graph {type(adapter).__name__} gives no response schema "
                f"(_get_graph_schema() failed: {exc})"
            ) from exc
        key = (id(adapter), id(schema))
        if self._key != key or self._graph is None:
            try:
                self._graph = ConversationalGraph(schema, name="conversational_graph_response")
            except ValueError as exc:
                raise ConversionError(f"the conversational graph's schema: {exc}") from exc
            self._key = key
        return self._graph


def response_to_videosdk(item: LLMResponse) -> vs.LLMResponse:
    """The framework's ``LLMResponse`` for one library item.

    ``function_call`` gains ``call_id`` (the framework reads it for the tool output's id;
    the reference set only ``id``). Other metadata, including the turn's shared ``usage``
    dict, is passed as is.
    """
    metadata = item.metadata
    if metadata is not None and "function_call" in metadata:
        call = metadata["function_call"]
        metadata = {**metadata, "function_call": {**call, "call_id": call["id"]}}
    # The validating constructor: measured about twice as fast as model_construct (pydantic
    # 2.14). It copies the metadata dict, not the usage dict in it.
    return vs.LLMResponse(content=item.content, role=_ASSISTANT, metadata=metadata)

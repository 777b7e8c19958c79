"""Function tools: Python callables the model can call, with their JSON schemas.

:func:`function_tool` turns a (sync or async) function into a :class:`FunctionTool`,
deriving the tool's name, description and parameter schema from the function's
signature, type hints and Google-style docstring. The tool renders itself in both
request shapes (:meth:`FunctionTool.to_chat_completions` and
:meth:`FunctionTool.to_responses`) and runs the function with the model's decoded
JSON arguments (:meth:`FunctionTool.invoke`).

Schema rules (see :mod:`scoped_openai._tool_schema`): in strict mode (the default)
every parameter is listed in ``required``; a parameter with a default is made
*nullable* instead, and ``invoke`` treats a null argument for it as "use the default".
With ``strict=False`` such parameters are simply left out of ``required``.

Arguments are passed to the function as decoded JSON: nested dataclasses arrive as
dicts and enums as their values; the function converts them if it needs to.

Example::

    @function_tool
    def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
        '''Get the current weather.

        Args:
            city: City name, e.g. "Paris".
            unit: Temperature unit.
        '''

    tools = [get_weather.to_chat_completions()]

For methods, build the tool from the bound method, ``function_tool(obj.method)``;
decorating the method inside the class body would make a tool without the instance
(a leading ``self``/``cls`` parameter is skipped in the schema either way).
"""

from __future__ import annotations

import inspect
import string
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, overload

from ._errors import ToolSchemaError
from ._record import record

__all__ = ["FunctionTool", "ToolSchemaError", "function_tool", "is_function_tool"]

# The API's limit for function names, ^[a-zA-Z0-9_-]{1,64}$, checked without a regex (a
# compile at import: about 0.1 ms).
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_-")


@record(frozen=True)  # a dataclass whose __init__ is written here: see _record
class FunctionTool:
    """A function the model may call, described by a JSON schema.

    Usually created by :func:`function_tool`; constructing one directly (for example
    with ``fn=None`` to describe a tool executed elsewhere) is also supported.

    Attributes:
        name: Tool name, matching ``^[a-zA-Z0-9_-]{1,64}$``.
        description: What the tool does, shown to the model ("" to omit).
        parameters: JSON schema object of the arguments.
        strict: Whether the API should enforce the schema exactly (strict mode).
        fn: The Python callable to run, or None for a description-only tool.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool = True
    fn: Callable[..., Any] | None = None
    # Parameters whose null argument means "use the default" (set by function_tool).
    _null_means_default: frozenset[str] = field(
        default=frozenset(), init=False, repr=False, compare=False
    )
    # Rendered once: a tool is sent with every request and is immutable in practice.
    _chat_completions: dict[str, Any] = field(init=False, repr=False, compare=False)
    _responses: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any],
        strict: bool = True,
        fn: Callable[..., Any] | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "strict", strict)
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "_null_means_default", frozenset())
        self.__post_init__()

    def __post_init__(self) -> None:
        _check_name(self.name)
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        function["strict"] = self.strict
        object.__setattr__(self, "_chat_completions", {"type": "function", "function": function})
        object.__setattr__(self, "_responses", {"type": "function", **function})

    def to_chat_completions(self) -> dict[str, Any]:
        """Return the tool in the Chat Completions ``tools`` shape.

        Returns:
            ``{"type": "function", "function": {"name", "description", "parameters",
            "strict"}}``; the description is omitted when empty. The dict is cached:
            do not mutate it.
        """
        return self._chat_completions

    def to_responses(self) -> dict[str, Any]:
        """Return the tool in the flat Responses API ``tools`` shape.

        Returns:
            ``{"type": "function", "name", "description", "parameters", "strict"}``;
            the description is omitted when empty. The dict is cached: do not mutate it.
        """
        return self._responses

    async def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Call the function with the model's decoded JSON arguments.

        Args:
            arguments: Keyword arguments, as decoded from the tool call's JSON.

        Returns:
            The function's result, awaited first if the function returned an awaitable.

        Raises:
            RuntimeError: The tool has no function attached.

        Cancellation: an async function is cancelled where it awaits; a sync one runs to
        completion (it has no checkpoint).
        """
        if self.fn is None:
            raise RuntimeError(
                f"tool {self.name!r} has no Python function to invoke; "
                "create it with function_tool() or pass fn="
            )
        # Strict mode sends null for parameters the model left at their default.
        kwargs = {
            key: value
            for key, value in arguments.items()
            if value is not None or key not in self._null_means_default
        }
        result = self.fn(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


@overload
def function_tool(
    fn: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = True,
) -> FunctionTool: ...


@overload
def function_tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = True,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def function_tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = True,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a :class:`FunctionTool` from a function.

    Usable as ``@function_tool``, ``@function_tool(...)`` or as a plain call
    ``function_tool(fn, ...)``. For methods pass the bound method,
    ``function_tool(obj.method)``.

    Args:
        fn: The sync or async function (or bound method) the tool calls.
        name: Tool name; defaults to ``fn.__name__``.
        description: Tool description; defaults to the docstring's first paragraph.
        strict: Follow OpenAI strict-mode schema rules (all parameters required,
            defaulted ones nullable, no free-form dicts).

    Returns:
        The tool, or a decorator making one when ``fn`` is omitted.

    Raises:
        ToolSchemaError: The signature cannot be expressed as a schema, or the name
            is invalid.
    """

    def build(fn: Callable[..., Any]) -> FunctionTool:
        # Imported at the first tool made, not with the package: most agents make their
        # tools once, at start-up, and some never (about 0.3 ms of the import).
        from ._tool_schema import build_parameters_schema, describe

        tool_name = name if name is not None else getattr(fn, "__name__", None)
        if tool_name is None:
            raise ToolSchemaError(f"cannot name tool for {fn!r}; pass name=")
        _check_name(tool_name)
        label = getattr(fn, "__qualname__", tool_name)
        parameters, nulled = build_parameters_schema(fn, strict=strict, fn_name=label)
        tool = FunctionTool(
            name=tool_name,
            description=describe(fn.__doc__) if description is None else description,
            parameters=parameters,
            strict=strict,
            fn=fn,
        )
        object.__setattr__(tool, "_null_means_default", nulled)
        return tool

    return build if fn is None else build(fn)


def is_function_tool(obj: object) -> bool:
    """Return whether ``obj`` is a :class:`FunctionTool`."""
    return isinstance(obj, FunctionTool)


def _check_name(name: str) -> None:
    if not (isinstance(name, str) and 0 < len(name) <= 64 and _NAME_CHARS.issuperset(name)):
        raise ToolSchemaError(
            f"invalid tool name {name!r}: use 1-64 letters, digits, '_' or '-' "
            "(pass name= to function_tool to choose another)"
        )

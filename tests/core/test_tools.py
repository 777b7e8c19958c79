"""Tests for function tools: schema building, output shapes, invoke and decorator forms."""

from __future__ import annotations

import enum
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, TypedDict

import pytest

from scoped_openai._tools import FunctionTool, ToolSchemaError, function_tool, is_function_tool

# Types are module level: annotations are strings (PEP 563) and resolve in module globals.


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mixed(enum.Enum):
    A = "a"
    ONE = 1


@dataclass
class Point:
    """A point.

    Attributes:
        x: Horizontal position.
        y: Ignored, Annotated wins.
    """

    x: float
    y: Annotated[float, "Vertical position."] = 0.0
    tags: list[str] = field(default_factory=list)
    cached: int = field(default=0, init=False)


@dataclass
class Route:
    start: Point
    stops: list[Point]


class Options(TypedDict):
    verbose: bool
    level: NotRequired[Level]


class PartialOptions(TypedDict, total=False):
    name: Required[str]
    count: int


@dataclass
class Node:
    value: int
    child: Node | None


@dataclass
class Holder:
    items: list[Anything]


class Anything:
    pass


_STRICT_OBJECT = {"additionalProperties": False, "type": "object"}

POINT_SCHEMA = {
    **_STRICT_OBJECT,
    "properties": {
        "x": {"type": "number", "description": "Horizontal position."},
        "y": {"type": ["number", "null"], "description": "Vertical position."},
        "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
    },
    "required": ["x", "y", "tags"],
}


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """Expected top-level/nested object schema; strict mode requires every property."""
    return {
        **_STRICT_OBJECT,
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never suspends and return its result."""
    with pytest.raises(StopIteration) as info:
        coro.send(None)
    return info.value.value


# --- schemas -------------------------------------------------------------------------


def test_primitives() -> None:
    def prims(s: str, i: int, f: float, b: bool, n: None) -> None:
        pass

    tool = function_tool(prims)
    assert tool.name == "prims"
    assert tool.description == ""
    assert tool.strict is True
    assert tool.parameters == obj(
        {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "f": {"type": "number"},
            "b": {"type": "boolean"},
            "n": {"type": "null"},
        }
    )


def test_no_parameters() -> None:
    def ping() -> str:
        return "pong"

    assert function_tool(ping).parameters == obj({})


def test_docstring_and_annotated_descriptions() -> None:
    def search(
        query: str,
        limit: int,
        lang: Annotated[str, "ISO language code."],
        region: Annotated[str, {"not": "a description"}],
    ) -> None:
        """Search the web
        for pages.

        Second paragraph is not part of the description.

        Args:
            query: What to look for.
            limit (int): Maximum number of
                results to return.
            lang: Overridden by Annotated.
            region: Region name.

        Returns:
            Nothing.
        """

    tool = function_tool(search)
    assert tool.description == "Search the web for pages."
    assert tool.parameters == obj(
        {
            "query": {"type": "string", "description": "What to look for."},
            "limit": {"type": "integer", "description": "Maximum number of results to return."},
            "lang": {"type": "string", "description": "ISO language code."},
            "region": {"type": "string", "description": "Region name."},
        }
    )


def test_description_stops_at_section_header() -> None:
    def f(x: int) -> None:
        """Do it.
        Args:
            x: The x.
        """

    tool = function_tool(f)
    assert tool.description == "Do it."
    assert tool.parameters["properties"]["x"] == {"type": "integer", "description": "The x."}


def test_literal_and_enum() -> None:
    def pick(
        mode: Literal["fast", "slow"],
        size: Literal[1, 2, 3],
        flag: Literal[True],
        mixed: Literal["a", 1],
        color: Color,
        level: Level,
        odd: Mixed,
        via_member: Literal[Color.RED],
    ) -> None:
        pass

    assert function_tool(pick).parameters == obj(
        {
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "size": {"type": "integer", "enum": [1, 2, 3]},
            "flag": {"type": "boolean", "enum": [True]},
            "mixed": {"enum": ["a", 1]},
            "color": {"type": "string", "enum": ["red", "green"]},
            "level": {"type": "integer", "enum": [1, 2]},
            "odd": {"enum": ["a", 1]},
            "via_member": {"type": "string", "enum": ["red"]},
        }
    )


def test_optional_and_unions() -> None:
    def f(
        a: Optional[str],  # noqa: UP045 - the typing spelling must work too
        b: int | None,
        c: list[int] | None,
        d: int | str,
        e: int | str | None,
        f: Annotated[float | None, "Maybe a number."],
        g: Color | None,
    ) -> None:
        pass

    assert function_tool(f).parameters == obj(
        {
            "a": {"type": ["string", "null"]},
            "b": {"type": ["integer", "null"]},
            "c": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]},
            "d": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "e": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
            "f": {"type": ["number", "null"], "description": "Maybe a number."},
            "g": {
                "anyOf": [{"type": "string", "enum": ["red", "green"]}, {"type": "null"}],
            },
        }
    )


def with_defaults(
    city: str,
    days: Annotated[int, "Forecast length."] = 3,
    unit: Literal["c", "f"] = "c",
    note: str | None = None,
    *,
    detailed: bool = False,
) -> None:
    """Forecast."""


def test_defaults_strict_are_required_and_nullable() -> None:
    assert function_tool(with_defaults).parameters == obj(
        {
            "city": {"type": "string"},
            "days": {"type": ["integer", "null"], "description": "Forecast length."},
            "unit": {"anyOf": [{"type": "string", "enum": ["c", "f"]}, {"type": "null"}]},
            "note": {"type": ["string", "null"]},
            "detailed": {"type": ["boolean", "null"]},
        }
    )


def test_defaults_non_strict_are_optional_and_unchanged() -> None:
    tool = function_tool(with_defaults, strict=False)
    assert tool.strict is False
    assert tool.parameters == obj(
        {
            "city": {"type": "string"},
            "days": {"type": "integer", "description": "Forecast length."},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "note": {"type": ["string", "null"]},
            "detailed": {"type": "boolean"},
        },
        required=["city"],
    )


def test_nested_dataclass_and_list_of_dataclass() -> None:
    def plan(route: Route, extra: list[Point]) -> None:
        pass

    assert function_tool(plan).parameters == obj(
        {
            "route": obj(
                {"start": POINT_SCHEMA, "stops": {"type": "array", "items": POINT_SCHEMA}}
            ),
            "extra": {"type": "array", "items": POINT_SCHEMA},
        }
    )


def test_nested_dataclass_non_strict() -> None:
    def f(p: Point) -> None:
        pass

    assert function_tool(f, strict=False).parameters == obj(
        {
            "p": obj(
                {
                    "x": {"type": "number", "description": "Horizontal position."},
                    "y": {"type": "number", "description": "Vertical position."},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                required=["x"],
            )
        }
    )


def test_typed_dict() -> None:
    def configure(options: Options) -> None:
        pass

    assert function_tool(configure).parameters == obj(
        {
            "options": obj(
                {
                    "verbose": {"type": "boolean"},
                    "level": {"anyOf": [{"type": "integer", "enum": [1, 2]}, {"type": "null"}]},
                }
            )
        }
    )
    assert function_tool(configure, strict=False).parameters["properties"]["options"] == obj(
        {"verbose": {"type": "boolean"}, "level": {"type": "integer", "enum": [1, 2]}},
        required=["verbose"],
    )


def test_typed_dict_total_false() -> None:
    def f(p: PartialOptions) -> None:
        pass

    assert function_tool(f, strict=False).parameters["properties"]["p"] == obj(
        {"name": {"type": "string"}, "count": {"type": "integer"}}, required=["name"]
    )
    assert function_tool(f).parameters["properties"]["p"] == obj(
        {"name": {"type": "string"}, "count": {"type": ["integer", "null"]}}
    )


def test_same_dataclass_twice_is_not_recursion() -> None:
    def f(a: Point, b: Point) -> None:
        pass

    assert function_tool(f).parameters == obj({"a": POINT_SCHEMA, "b": POINT_SCHEMA})


def test_dict_allowed_when_not_strict() -> None:
    def tag(labels: dict[str, int], meta: dict[str, list[str]] | None = None) -> None:
        pass

    assert function_tool(tag, strict=False).parameters == obj(
        {
            "labels": {"type": "object", "additionalProperties": {"type": "integer"}},
            "meta": {
                "anyOf": [
                    {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                    {"type": "null"},
                ]
            },
        },
        required=["labels"],
    )


# --- errors --------------------------------------------------------------------------


def no_annotation(x) -> None:  # type: ignore[no-untyped-def]
    pass


def star_args(*values: int) -> None:
    pass


def star_kwargs(**options: str) -> None:
    pass


def positional_only(x: int, /) -> None:
    pass


def any_param(x: Any) -> None:
    pass


def object_param(x: object) -> None:
    pass


def class_param(x: Anything) -> None:
    pass


def nested_class_param(h: Holder) -> None:
    pass


def tuple_param(x: tuple[int, int]) -> None:
    pass


def bare_list(x: list) -> None:  # type: ignore[type-arg]
    pass


def dict_param(x: dict[str, int]) -> None:
    pass


def recursive(tree: Node) -> None:
    pass


def unresolvable(x: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
    pass


PREFIX = "cannot build tool schema for "


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (no_annotation, "no_annotation(): parameter 'x' has no type annotation; annotate it"),
        (star_args, "star_args(): parameter 'values' is variadic, which tools do not support"),
        (star_kwargs, "star_kwargs(): parameter 'options' is variadic"),
        (positional_only, "positional_only(): parameter 'x' is positional-only"),
        (any_param, "any_param(): parameter 'x' has type Any, which has no JSON schema"),
        (object_param, "object_param(): parameter 'x' has type object, which has no JSON schema"),
        (class_param, "class_param(): parameter 'x' has unsupported type Anything; use str,"),
        (
            nested_class_param,
            "nested_class_param(): parameter 'h' -> Holder.items has unsupported type Anything",
        ),
        (tuple_param, "tuple_param(): parameter 'x' is a tuple, which tools do not support; use"),
        (bare_list, "bare_list(): parameter 'x' is a bare list; parameterize it, e.g. list[str]"),
        (dict_param, "dict_param(): parameter 'x' is a dict, which strict mode cannot express"),
        (recursive, "recursive(): parameter 'tree' -> Node.child has recursive type Node"),
        (unresolvable, "unresolvable(): its signature has annotations that cannot be resolved"),
    ],
)
def test_schema_errors(fn: Any, message: str) -> None:
    with pytest.raises(ToolSchemaError, match="^" + re.escape(PREFIX + message)):
        function_tool(fn)


def test_schema_error_full_messages() -> None:
    with pytest.raises(ToolSchemaError) as info:
        function_tool(dict_param)
    assert str(info.value) == (
        "cannot build tool schema for dict_param(): parameter 'x' is a dict, which strict "
        "mode cannot express (it requires fixed keys); use a dataclass or TypedDict with "
        "fixed fields, or pass strict=False"
    )
    assert isinstance(info.value, TypeError)
    with pytest.raises(ToolSchemaError) as info:
        function_tool(any_param)
    assert str(info.value) == (
        "cannot build tool schema for any_param(): parameter 'x' has type Any, which has no "
        "JSON schema; annotate it with a concrete type such as str, int, a dataclass or a "
        "TypedDict"
    )


def test_dict_key_must_be_str_when_not_strict() -> None:
    def f(x: dict[int, str]) -> None:
        pass

    with pytest.raises(ToolSchemaError, match=re.escape("parameter 'x' is dict[int, str]")):
        function_tool(f, strict=False)


def test_recursive_type_rejected_when_not_strict_too() -> None:
    with pytest.raises(ToolSchemaError, match="recursive type Node"):
        function_tool(recursive, strict=False)


# --- output shapes -------------------------------------------------------------------


def greet(name: str) -> str:
    """Say hello."""
    return f"hello {name}"


def test_chat_completions_shape() -> None:
    tool = function_tool(greet)
    params = obj({"name": {"type": "string"}})
    assert tool.to_chat_completions() == {
        "type": "function",
        "function": {
            "name": "greet",
            "description": "Say hello.",
            "parameters": params,
            "strict": True,
        },
    }
    assert tool.to_chat_completions() is tool.to_chat_completions()  # cached


def test_responses_shape() -> None:
    tool = function_tool(greet, strict=False)
    assert tool.to_responses() == {
        "type": "function",
        "name": "greet",
        "description": "Say hello.",
        "parameters": obj({"name": {"type": "string"}}),
        "strict": False,
    }
    assert tool.to_responses() is tool.to_responses()  # cached


def test_shapes_omit_empty_description() -> None:
    tool = function_tool(greet, description="")
    assert tool.to_chat_completions()["function"] == {
        "name": "greet",
        "parameters": tool.parameters,
        "strict": True,
    }
    assert tool.to_responses() == {
        "type": "function",
        "name": "greet",
        "parameters": tool.parameters,
        "strict": True,
    }


def test_direct_construction() -> None:
    params = obj({"q": {"type": "string"}})
    tool = FunctionTool(name="lookup", description="Look up.", parameters=params)
    assert tool.fn is None
    assert tool.strict is True
    assert tool.to_responses() == {
        "type": "function",
        "name": "lookup",
        "description": "Look up.",
        "parameters": params,
        "strict": True,
    }
    assert tool == FunctionTool(name="lookup", description="Look up.", parameters=params)


# --- invoke --------------------------------------------------------------------------


def test_invoke_sync_function() -> None:
    tool = function_tool(greet)
    assert run(tool.invoke({"name": "ada"})) == "hello ada"


def test_invoke_async_function() -> None:
    @function_tool
    async def add(a: int, b: int) -> int:
        return a + b

    assert run(add.invoke({"a": 2, "b": 3})) == 5


def test_invoke_null_means_default() -> None:
    calls: list[tuple[int, int | None]] = []

    @function_tool
    def f(n: int = 3, m: int | None = 7) -> None:
        calls.append((n, m))

    run(f.invoke({"n": None, "m": None}))
    run(f.invoke({"n": 5, "m": 6}))
    run(f.invoke({}))
    # n was made nullable by the schema (null -> default); m admits None by itself.
    assert calls == [(3, None), (5, 6), (3, 7)]


def test_invoke_without_fn() -> None:
    tool = FunctionTool(name="remote", description="", parameters=obj({}))
    with pytest.raises(RuntimeError, match="tool 'remote' has no Python function to invoke"):
        tool.invoke({}).send(None)


def test_invoke_propagates_errors() -> None:
    @function_tool
    def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        boom.invoke({}).send(None)


# --- decorator forms, methods, names -------------------------------------------------


def test_decorator_forms() -> None:
    @function_tool
    def a(x: int) -> int:
        """A."""
        return x

    @function_tool()
    def b(x: int) -> int:
        """B."""
        return x

    @function_tool(name="renamed", description="Custom.", strict=False)
    def c(x: int = 1) -> int:
        """Ignored."""
        return x

    def d(x: int) -> int:
        return x

    plain = function_tool(d, name="dee", description="Dee.")

    assert (a.name, a.description, a.strict) == ("a", "A.", True)
    assert (b.name, b.description, b.strict) == ("b", "B.", True)
    assert (c.name, c.description, c.strict) == ("renamed", "Custom.", False)
    assert c.parameters == obj({"x": {"type": "integer"}}, required=[])
    assert (plain.name, plain.description, plain.fn) == ("dee", "Dee.", d)
    assert all(is_function_tool(t) for t in (a, b, c, plain))
    assert not is_function_tool(d)
    assert not is_function_tool(a.to_responses())


class Counter:
    def __init__(self) -> None:
        self.total = 0

    def add(self, amount: int) -> int:
        """Add to the counter.

        Args:
            amount: How much to add.
        """
        self.total += amount
        return self.total

    @classmethod
    def make(cls, start: int) -> str:
        return f"{cls.__name__}({start})"


def test_bound_method() -> None:
    counter = Counter()
    tool = function_tool(counter.add)
    assert tool.name == "add"
    assert tool.description == "Add to the counter."
    assert tool.parameters == obj(
        {"amount": {"type": "integer", "description": "How much to add."}}
    )
    assert run(tool.invoke({"amount": 4})) == 4
    assert counter.total == 4


def test_classmethod_and_unbound_self_are_skipped() -> None:
    assert function_tool(Counter.make).parameters == obj({"start": {"type": "integer"}})
    assert function_tool(Counter.add).parameters == obj(
        {"amount": {"type": "integer", "description": "How much to add."}}
    )


@pytest.mark.parametrize("name", ["a", "get_weather", "x-1_Y", "n" * 64])
def test_valid_names(name: str) -> None:
    assert function_tool(greet, name=name).name == name


@pytest.mark.parametrize("name", ["", "has space", "dotted.name", "n" * 65, "abc\n", "été"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ToolSchemaError, match=re.escape(f"invalid tool name {name!r}")):
        function_tool(greet, name=name)
    with pytest.raises(ToolSchemaError, match="invalid tool name"):
        FunctionTool(name=name, description="", parameters=obj({}))


def test_lambda_name_is_invalid() -> None:
    with pytest.raises(ToolSchemaError, match=re.escape("invalid tool name '<lambda>'")):
        function_tool(lambda: None)
    assert function_tool(lambda: None, name="noop").name == "noop"

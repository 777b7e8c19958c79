"""Build OpenAI function-calling JSON schemas from Python signatures and docstrings.

This is the schema half of :mod:`scoped_openai._tools`: it turns a function's type
hints and its Google-style docstring into a JSON schema object that the OpenAI Chat
Completions and Responses APIs accept, following the rules of *strict* function
calling (https://platform.openai.com/docs/guides/function-calling) when asked to.

Everything that cannot be expressed raises :class:`ToolSchemaError` at decoration time,
so a broken tool fails when the module is imported, not when the model first calls it.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin

from ._errors import ToolSchemaError

__all__ = ["ToolSchemaError", "build_parameters_schema", "describe"]

_PRIMITIVES: Mapping[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARGS_SECTIONS = frozenset({"Args", "Arguments", "Parameters"})
_SECTIONS = _ARGS_SECTIONS | {
    "Attributes", "Example", "Examples", "Note", "Notes", "Raises", "Return", "Returns",
    "See Also", "Todo", "Warning", "Warnings", "Yield", "Yields",
}  # fmt: skip
# `name: text` or `name (type): text`; leading stars tolerate documented *args/**kwargs.
# A pattern, compiled (and cached by re) when a docstring is first read, not at import.
_ARG_ENTRY = r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$"
_UNIONS = (Union, types.UnionType)


def describe(doc: str | None) -> str:
    """Return the first paragraph of a docstring, joined into one line.

    Args:
        doc: A raw (not yet dedented) docstring, or None.

    Returns:
        The summary paragraph, or "" when there is no docstring.
    """
    lines: list[str] = []
    for line in inspect.cleandoc(doc or "").splitlines():
        stripped = line.strip()
        if not stripped or _is_header(stripped, _SECTIONS):
            break
        lines.append(stripped)
    return " ".join(lines)


def _doc_entries(doc: str | None, sections: Iterable[str]) -> dict[str, str]:
    """Parse the `name: text` entries of a Google-style docstring section."""
    wanted = frozenset(sections)
    lines = inspect.cleandoc(doc or "").splitlines()
    start = next((i for i, line in enumerate(lines) if _is_header(line, wanted)), None)
    if start is None:
        return {}
    header_indent = _indent(lines[start])
    entry_indent: int | None = None
    current: str | None = None
    entries: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= header_indent:  # dedent back to the header's level ends the section
            break
        if entry_indent is None:
            entry_indent = indent
        if indent <= entry_indent:
            match = re.match(_ARG_ENTRY, line.strip())
            current = None
            if match:
                current = match[1]
                entries[current] = match[2].strip()
        elif current is not None:  # indented continuation line
            entries[current] = f"{entries[current]} {line.strip()}".strip()
    return entries


def _is_header(line: str, sections: frozenset[str]) -> bool:
    stripped = line.strip()
    return stripped.endswith(":") and stripped.removesuffix(":") in sections


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class _Builder:
    """Converts annotations to schemas, carrying what error messages need."""

    def __init__(self, fn_name: str, strict: bool) -> None:
        self.fn_name = fn_name
        self.strict = strict
        self._expanding: list[type] = []  # object types being expanded, to detect recursion

    def error(self, where: str, problem: str, fix: str) -> ToolSchemaError:
        return ToolSchemaError(
            f"cannot build tool schema for {self.fn_name}(): {where} {problem}; {fix}"
        )

    def hints(self, obj: object, where: str) -> dict[str, Any]:
        try:
            return typing.get_type_hints(obj, include_extras=True)
        except Exception as exc:  # NameError for unresolvable forward refs, TypeError, ...
            raise self.error(
                where, f"has annotations that cannot be resolved ({exc!r})",
                "make every annotation importable at module level",
            ) from exc  # fmt: skip

    def object_schema(
        self, fields: list[tuple[str, Any, bool, str | None]], where: Callable[[str], str]
    ) -> tuple[dict[str, Any], frozenset[str]]:
        """Build an object schema from (name, type, has_default, doc) tuples.

        Returns the schema and the names whose type was made nullable because they
        have a default (strict mode only).
        """
        properties: dict[str, Any] = {}
        required: list[str] = []
        nulled: set[str] = set()
        for name, tp, has_default, doc in fields:
            prop = self.schema(tp, where(name))
            if doc and "description" not in prop:
                prop = {**prop, "description": doc}
            if has_default and self.strict and not _admits_null(prop):
                # Strict mode requires every property; null stands for "use the default".
                prop = _nullable(prop)
                nulled.add(name)
            if self.strict or not has_default:
                required.append(name)
            properties[name] = prop
        schema = {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
        return schema, frozenset(nulled)

    def schema(self, tp: Any, where: str) -> dict[str, Any]:
        origin = get_origin(tp)
        if origin is Annotated:
            base, *metadata = get_args(tp)
            schema = self.schema(base, where)
            text = next((m for m in metadata if isinstance(m, str)), None)
            return {**schema, "description": text} if text else schema
        if tp is None or tp is type(None):
            return {"type": "null"}
        if isinstance(tp, type) and tp in _PRIMITIVES:
            return {"type": _PRIMITIVES[tp]}
        if origin in _UNIONS:
            args = get_args(tp)
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                return _nullable(self.schema(rest[0], where))
            return {"anyOf": [self.schema(a, where) for a in args]}
        if origin is Literal:
            values = [v.value if isinstance(v, enum.Enum) else v for v in get_args(tp)]
            return self.enum_schema(values, where)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self.enum_schema([member.value for member in tp], where)
        if tp is list or origin is list:
            if not get_args(tp):
                raise self.error(where, "is a bare list", "parameterize it, e.g. list[str]")
            return {"type": "array", "items": self.schema(get_args(tp)[0], where)}
        if tp is tuple or origin is tuple:
            raise self.error(where, "is a tuple, which tools do not support", "use list[T]")
        if tp is dict or origin is dict:
            return self.dict_schema(tp, where)
        if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or typing.is_typeddict(tp)):
            return self.nested_schema(tp, where)
        if tp is Any or tp is object:
            raise self.error(
                where, f"has type {_name(tp)}, which has no JSON schema",
                "annotate it with a concrete type such as str, int, a dataclass or a TypedDict",
            )  # fmt: skip
        raise self.error(
            where, f"has unsupported type {_name(tp)}",
            "use str, int, float, bool, None, list[T], Literal, an Enum, a dataclass, "
            "a TypedDict or a union of these",
        )  # fmt: skip

    def enum_schema(self, values: list[Any], where: str) -> dict[str, Any]:
        kinds = set()
        for value in values:
            kind = _json_kind(value)
            if kind is None:
                raise self.error(
                    where, f"has enum value {value!r}, which is not a JSON scalar",
                    "use str, int, float, bool or None values",
                )  # fmt: skip
            kinds.add(kind)
        if not values:
            raise self.error(where, "is an enum without members", "add at least one member")
        if len(kinds) == 1 and kinds != {"null"}:
            return {"type": kinds.pop(), "enum": values}
        return {"enum": values}  # mixed value types: let the enum alone constrain them

    def dict_schema(self, tp: Any, where: str) -> dict[str, Any]:
        if self.strict:
            raise self.error(
                where, "is a dict, which strict mode cannot express (it requires fixed keys)",
                "use a dataclass or TypedDict with fixed fields, or pass strict=False",
            )  # fmt: skip
        args = get_args(tp)
        if len(args) != 2 or args[0] is not str:
            raise self.error(where, f"is {_name(tp)}", "annotate it as dict[str, T]")
        return {"type": "object", "additionalProperties": self.schema(args[1], where)}

    def nested_schema(self, cls: type, where: str) -> dict[str, Any]:
        if cls in self._expanding:
            raise self.error(
                where, f"has recursive type {cls.__qualname__}, which tools do not support",
                "flatten the structure or bound its depth with separate types",
            )  # fmt: skip
        self._expanding.append(cls)
        try:
            hints = self.hints(cls, where)
            docs = _doc_entries(cls.__dict__.get("__doc__"), ["Attributes"])
            fields: list[tuple[str, Any, bool, str | None]] = []
            if dataclasses.is_dataclass(cls):
                for f in dataclasses.fields(cls):
                    if f.init:  # init=False fields cannot be supplied by the model
                        has_default = (
                            f.default is not dataclasses.MISSING
                            or f.default_factory is not dataclasses.MISSING
                        )
                        fields.append((f.name, hints[f.name], has_default, docs.get(f.name)))
            else:
                optional: frozenset[str] = getattr(cls, "__optional_keys__", frozenset())
                for key, hint in hints.items():
                    # Read the qualifiers too: on 3.11 __optional_keys__ misses NotRequired
                    # written in string annotations (PEP 563).
                    is_optional = key in optional
                    while get_origin(hint) in (Required, NotRequired):
                        is_optional = get_origin(hint) is NotRequired
                        hint = get_args(hint)[0]
                    fields.append((key, hint, is_optional, docs.get(key)))
            owner = cls.__qualname__
            return self.object_schema(fields, lambda n: f"{where} -> {owner}.{n}")[0]
        finally:
            self._expanding.pop()


def build_parameters_schema(
    fn: Callable[..., Any], *, strict: bool, fn_name: str
) -> tuple[dict[str, Any], frozenset[str]]:
    """Build the `parameters` JSON schema of a tool from a function's signature.

    Args:
        fn: The function (or bound method) the tool calls.
        strict: Whether to follow OpenAI strict-mode rules: every object lists all of
            its properties in `required`, so parameters with defaults become nullable
            instead of optional.
        fn_name: The name used in error messages.

    Returns:
        The schema, and the parameters made nullable because they have a default
        (a null argument for them means "use the default").

    Raises:
        ToolSchemaError: The signature cannot be expressed.
    """
    builder = _Builder(fn_name, strict)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ToolSchemaError(f"cannot build tool schema for {fn_name}(): {exc}") from exc
    hints = builder.hints(fn, "its signature")
    docs = _doc_entries(getattr(fn, "__doc__", None), _ARGS_SECTIONS)
    fields: list[tuple[str, Any, bool, str | None]] = []
    for index, param in enumerate(signature.parameters.values()):
        where = f"parameter {param.name!r}"
        if index == 0 and param.name in ("self", "cls"):
            continue  # unbound method: the instance/class is not a tool argument
        if param.kind is param.VAR_POSITIONAL or param.kind is param.VAR_KEYWORD:
            raise builder.error(
                where, "is variadic, which tools do not support",
                "replace it with explicit keyword parameters",
            )  # fmt: skip
        if param.kind is param.POSITIONAL_ONLY:
            raise builder.error(
                where, "is positional-only, but tools are called with keyword arguments",
                "remove the '/' from the signature",
            )  # fmt: skip
        if param.name not in hints:
            raise builder.error(where, "has no type annotation", "annotate it, e.g. 'x: str'")
        has_default = param.default is not param.empty
        fields.append((param.name, hints[param.name], has_default, docs.get(param.name)))
    return builder.object_schema(fields, lambda name: f"parameter {name!r}")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Make a schema also accept null, keeping primitives in the compact list form."""
    if _admits_null(schema):
        return schema
    inner = {k: v for k, v in schema.items() if k != "description"}
    kind = inner.get("type")
    if isinstance(kind, str) and inner.keys() == {"type"}:
        result: dict[str, Any] = {"type": [kind, "null"]}
    else:
        result = {"anyOf": [inner, {"type": "null"}]}
    if "description" in schema:  # describe the whole value, not one branch
        result["description"] = schema["description"]
    return result


def _admits_null(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if kind is None and None in schema.get("enum", ()):
        return True
    return any(_admits_null(branch) for branch in schema.get("anyOf", ()))


def _json_kind(value: object) -> str | None:
    if value is None:
        return "null"
    for py_type in (bool, int, float, str):  # bool first: it is a subclass of int
        if isinstance(value, py_type):
            return _PRIMITIVES[py_type]
    return None


def _name(tp: Any) -> str:
    if tp is Any:
        return "Any"
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)

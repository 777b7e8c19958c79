"""OpenAI's OpenAPI spec as JSON Schema validators, for the tests in this folder.

The spec is read where it lives (``SCOPED_OPENAI_OPENAPI``, default
``<repo root>/../shared/openapi``); it is never copied into the repository.

The file says OpenAPI 3.1 but still uses the 3.0 keyword ``nullable`` (README beside it):
``nullable: true`` is turned into ``anyOf: [schema, {"type": "null"}]``. Everything else is
JSON Schema 2020-12 as written, ``$ref`` resolved within the document, with one reading:
``oneOf`` is read as ``anyOf``, because the spec's unions overlap (see ``_convert``), which
is how OpenAPI tools and OpenAI's own SDKs treat them.

Two views of each schema:

- **loose**: the spec as written. Objects accept fields the spec does not name (as the spec
  says: no ``additionalProperties: false`` anywhere we use). Server output is checked this
  way: the live API sends fields the spec does not name (``obfuscation``, Azure's filter
  results), and a client must tolerate them.
- **strict**: every object schema that names its properties also gets
  ``unevaluatedProperties: false``, so a field the spec does not define anywhere on that
  object is an error. Request bodies the library builds are checked this way (issue 13,
  point 3: any field outside the spec must be listed and justified). ``allOf`` members are
  left open and the strictness is put on the ``allOf`` itself, which is how 2020-12 sees the
  fields every member defines; members of an ``anyOf``/``oneOf`` inside an ``allOf`` stay
  open too for the same reason.

Live-API departures from the spec (``LIVE_API_DEPARTURES``) are applied to both views, each
with its evidence; the recorded real streams must pass with exactly those.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(os.environ.get("SCOPED_OPENAI_OPENAPI") or REPO_ROOT.parent / "shared" / "openapi")
SPEC_FILE = SPEC_DIR / "openapi.json"
SKIP_REASON = f"OpenAI's OpenAPI spec not found at {SPEC_FILE} (set SCOPED_OPENAI_OPENAPI)"

SCHEMAS = "#/components/schemas/"
#: Where the document is registered. An http(s) URI on purpose: the spec's refs are relative
#: (``#/components/...``) and ``urljoin`` leaves them unresolved against a ``urn:`` base.
BASE_URI = "https://openapi.invalid/openapi.json"
OPEN_SUFFIX = "__open"  # the variant of a component used as an allOf member

# Keywords whose value is one schema, a list of schemas, or a map of name -> schema.
_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The sub-schema at ``path`` (``"allOf/2/properties/usage"``), inside nullable wrappers."""
    node: Any = schema
    for part in path.split("/") if path else ():
        if isinstance(node, dict) and part not in node and "anyOf" in node:
            node = next(s for s in node["anyOf"] if s.get("type") != "null")
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert isinstance(node, dict)
    return node


def nullable(path: str, field: str) -> Callable[[dict[str, Any]], None]:
    def relax(schema: dict[str, Any]) -> None:
        properties = _at(schema, path)["properties"]
        properties[field] = {"anyOf": [properties[field], {"type": "null"}]}

    return relax


def optional(path: str, field: str) -> Callable[[dict[str, Any]], None]:
    def relax(schema: dict[str, Any]) -> None:
        node = _at(schema, path)
        node["required"] = [name for name in node["required"] if name != field]

    return relax


def also_allowed(path: str, field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def relax(schema: dict[str, Any]) -> None:
        prop = _at(schema, path)["properties"][field]
        prop["enum"] = [*prop["enum"], value]

    return relax


Departure = tuple[str, Callable[[dict[str, Any]], None], str]

#: Where today's live API departs from the spec: (component, relaxation, evidence). Applied to
#: the converted schemas, so the same rules judge the recorded streams, the library and the
#: fake. Nothing else is relaxed; ``test_calibration`` proves each one is still needed.
LIVE_API_DEPARTURES: list[Departure] = [
    (
        "CreateChatCompletionStreamResponse",
        nullable("", "system_fingerprint"),
        "`system_fingerprint: null`: chat_gpt5_usage_then_extra_chunk.sse (gpt-5-2025-08-07)",
    ),
    (
        "CreateChatCompletionStreamResponse",
        also_allowed("", "object", ""),
        'Azure\'s first chunk (prompt_filter_results, choices: []) has `object: ""`, `id: ""`, '
        "`created: 0`: azure_chat_prompt_filter_results.sse",
    ),
    (
        "ModelResponseProperties",
        nullable("", "user"),
        "`response.user: null` on the response object of every event that carries one: all "
        "four responses_*.sse (gpt-4o, gpt-5, gpt-5.5). Requests never send null (the "
        "builders drop None).",
    ),
    (
        "Response",
        nullable("allOf/2", "usage"),
        "`response.usage: null` on response.created / response.in_progress: all four "
        "responses_*.sse",
    ),
    (
        "ResponseFunctionCallArgumentsDoneEvent",
        optional("", "name"),
        "no `name` on response.function_call_arguments.done: every responses_*.sse with a "
        "function call (gpt-4o, gpt-5, gpt-5.5); the name comes on the item events",
    ),
]

#: The Responses wire format before these fields existed, in recordings older than the spec:
#: applied only to the recordings named in ``OLDER_WIRE_FORMAT_RECORDINGS``, never to the
#: fake, which speaks today's format.
OLDER_WIRE_FORMAT: list[Departure] = [
    *(
        (name, optional("", "sequence_number"), "no sequence_number (gpt-4o, 2025-03-27)")
        for name in (
            "ResponseCreatedEvent",
            "ResponseInProgressEvent",
            "ResponseOutputItemAddedEvent",
            "ResponseOutputItemDoneEvent",
            "ResponseContentPartAddedEvent",
            "ResponseContentPartDoneEvent",
            "ResponseTextDeltaEvent",
            "ResponseTextDoneEvent",
            "ResponseFunctionCallArgumentsDeltaEvent",
            "ResponseFunctionCallArgumentsDoneEvent",
            "ResponseCompletedEvent",
        )
    ),
    ("ResponseTextDeltaEvent", optional("", "logprobs"), "no logprobs (gpt-4o, 2025-03-27)"),
    ("ResponseTextDoneEvent", optional("", "logprobs"), "no logprobs (gpt-4o, 2025-03-27)"),
    ("OutputTextContent", optional("", "logprobs"), "no part logprobs (gpt-4o, 2025-03-27)"),
    (
        "ResponseUsage",
        optional("properties/input_tokens_details", "cache_write_tokens"),
        "no cache_write_tokens (gpt-4o 2025-03-27, gpt-5 2025-09-16; gpt-5.5 sends it)",
    ),
]
OLDER_WIRE_FORMAT_RECORDINGS = {
    "responses_function_call_gpt4o.sse": "recorded 2025-03-27",
    "responses_text_gpt4o.sse": "recorded 2025-03-27",
    "responses_reasoning_then_function_call_gpt5.sse": "recorded 2025-09-16",
}


def _convert(node: Any, *, open_root: bool, refs: set[str]) -> Any:
    """One schema node converted (``nullable`` rewritten, strictness added unless open)."""
    if not isinstance(node, dict):
        return node
    if "oneOf" in node and "anyOf" in node:  # the spec has none; reading oneOf as anyOf
        raise ValueError("a schema with both oneOf and anyOf")  # would need an allOf
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "nullable":
            continue
        if key in _ONE:
            out[key] = _convert(value, open_root=False, refs=refs)
        elif key in _MAP and isinstance(value, dict):
            out[key] = {k: _convert(v, open_root=False, refs=refs) for k, v in value.items()}
        elif key in _LIST and isinstance(value, list):
            if key == "oneOf":
                # The spec's oneOf unions overlap: a user message with a content list is
                # both an EasyInputMessage and an InputMessage (neither needs `type`), so
                # "exactly one" rejects OpenAI's own documented input. OpenAPI tools pick a
                # member by discriminator or take the first that fits (openai-python types
                # them as plain unions): read as anyOf.
                key = "anyOf"
            # allOf members describe the same object as their parent: open, so the strict
            # check sits on the parent; anyOf/oneOf inside an open node stay open too.
            member_open = key == "allOf" or (open_root and key in ("anyOf", "oneOf"))
            out[key] = [_member(v, member_open, refs) for v in value]
        else:
            out[key] = value
    names_fields = "properties" in out or "allOf" in out
    if names_fields and not open_root and "additionalProperties" not in out:
        out["unevaluatedProperties"] = False
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _member(node: Any, member_open: bool, refs: set[str]) -> Any:
    if not member_open:
        return _convert(node, open_root=False, refs=refs)
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith(SCHEMAS) and len(node) == 1:
        refs.add(ref[len(SCHEMAS) :])
        return {"$ref": ref + OPEN_SUFFIX}
    return _convert(node, open_root=True, refs=refs)


@cache
def spec() -> dict[str, Any]:
    """The spec file, parsed."""
    with SPEC_FILE.open(encoding="utf-8") as file:
        document: dict[str, Any] = json.load(file)
    return document


@cache
def _registry(strict: bool, older: bool = False, without: int | None = None) -> Registry:
    """The converted components. ``older``: with ``OLDER_WIRE_FORMAT`` too; ``without``:
    leave out that index of ``LIVE_API_DEPARTURES`` (calibration)."""
    components: dict[str, Any] = spec()["components"]["schemas"]
    refs: set[str] = set()
    converted: dict[str, Any] = {}
    for name, schema in components.items():
        converted[name] = _convert(schema, open_root=False, refs=refs)
    done: set[str] = set()
    while refs - done:  # open variants, and the ones they reference in turn
        name = sorted(refs - done)[0]
        done.add(name)
        converted[name + OPEN_SUFFIX] = _convert(components[name], open_root=True, refs=refs)
    if not strict:
        converted = {name: _strip_strict(schema) for name, schema in converted.items()}
    departures = [d for i, d in enumerate(LIVE_API_DEPARTURES) if i != without]
    for name, relax, _evidence in departures + (OLDER_WIRE_FORMAT if older else []):
        for variant in (name, name + OPEN_SUFFIX):
            if variant in converted:
                relax(converted[variant])
    document = {"components": {"schemas": converted}}
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    return Registry().with_resource(BASE_URI, resource)


def _strip_strict(node: Any) -> Any:
    # Every unevaluatedProperties is ours: the spec itself has none.
    if isinstance(node, dict):
        return {k: _strip_strict(v) for k, v in node.items() if k != "unevaluatedProperties"}
    if isinstance(node, list):
        return [_strip_strict(v) for v in node]
    return node


@cache
def validator(
    name: str, *, strict: bool, older: bool = False, without: int | None = None
) -> Draft202012Validator:
    """A validator for the component schema ``name`` (strict: no field outside the spec;
    ``older``, ``without``: see ``_registry``)."""
    if name.split("/")[0] not in spec()["components"]["schemas"]:
        raise KeyError(f"the spec has no schema {name!r}")
    root = {"$ref": f"{BASE_URI}{SCHEMAS}{name}"}
    return Draft202012Validator(root, registry=_registry(strict, older, without))


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    if not error.context:
        yield error
        return
    for child in error.context:
        yield from _leaves(child)


def describe(error: ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "(top)"
    return f"at {where}: {error.message[:300]}"


def problems(
    instance: Any, name: str, *, strict: bool, older: bool = False, without: int | None = None
) -> list[str]:
    """Every way ``instance`` fails the schema ``name`` (empty when it is valid).

    A failed ``anyOf``/``oneOf`` is explained by the branch that got furthest (the deepest
    error), so a message says which field is wrong rather than "not valid under any".
    """
    out: list[str] = []
    check = validator(name, strict=strict, older=older, without=without)
    for error in check.iter_errors(instance):
        if error.context:
            deepest = max(_leaves(error), key=lambda e: len(e.absolute_path))
            out.append(f"{describe(error)[:120]} ... deepest: {describe(deepest)}")
        else:
            out.append(describe(error))
    return out


def fields_outside_the_spec(instance: Any, name: str) -> set[str]:
    """The fields of ``instance`` that the spec does not define on their object, as paths
    (``"input/0/phase"``): what the strict view rejects and the loose view accepts.

    Found by elimination, deepest fields first (so a field is found, not the object holding
    it): a field is outside the spec when taking it out leaves fewer strict errors and the
    loose view still accepts the rest. Only meaningful for an instance the loose view
    accepts.
    """
    if found := problems(instance, name, strict=False):
        raise ValueError(f"not valid even loosely: {found}")
    current, outside = instance, set()
    errors = len(problems(current, name, strict=True))
    for path in sorted(_field_paths(instance), key=len, reverse=True):
        if not errors:
            break
        trimmed = _without(current, path)
        left = len(problems(trimmed, name, strict=True))
        if left < errors and not problems(trimmed, name, strict=False):
            outside.add("/".join(str(part) for part in path))
            current, errors = trimmed, left
    return outside


def _field_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _field_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _field_paths(item, (*prefix, index))


def _without(value: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        if not rest:
            return {k: v for k, v in value.items() if k != head}
        return {k: (_without(v, rest) if k == head else v) for k, v in value.items()}
    copy = list(value)
    copy[head] = _without(copy[head], rest)
    return copy


@cache
def event_schemas(union: str = "ResponseStreamEvent") -> dict[str, str]:
    """``type`` -> the schema of that member of ``union``, for a union the spec discriminates
    by ``type`` (JSON Schema has no discriminator: picking the member by its ``type`` is what
    the spec's ``discriminator`` means, and gives errors about the right member).

    A member is a component name, or a pointer into the union (``"ResponsesServerEvent/
    anyOf/3"``) for the WebSocket union's inline members (an event plus its ``stream_id``).
    """
    components = spec()["components"]["schemas"]
    out: dict[str, str] = {}
    for index, member in enumerate(components[union]["anyOf"]):
        if "$ref" in member:
            name = target = member["$ref"][len(SCHEMAS) :]
        else:
            name = next(m["$ref"] for m in member["allOf"] if "$ref" in m)[len(SCHEMAS) :]
            target = f"{union}/anyOf/{index}"
        for kind in components[name]["properties"]["type"]["enum"]:
            out.setdefault(kind, target)
    return out


def event_problems(
    event: Any,
    union: str = "ResponseStreamEvent",
    *,
    strict: bool = False,
    older: bool = False,
    without: int | None = None,
) -> list[str]:
    """How a server event fails the member of ``union`` its ``type`` names."""
    kind = event.get("type") if isinstance(event, dict) else None
    name = event_schemas(union).get(kind) if isinstance(kind, str) else None
    if name is None:
        return [f"type {kind!r} is not a member of {union}"]
    found = problems(event, name, strict=strict, older=older, without=without)
    return [f"{name}: {p}" for p in found]


def sse_payloads(body: bytes) -> list[Any]:
    """The JSON ``data:`` payloads of an SSE body (``[DONE]`` left out)."""
    out: list[Any] = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if data and data != ["[DONE]"]:
            out.append(json.loads("\n".join(data)))
    return out

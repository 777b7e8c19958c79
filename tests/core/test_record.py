"""The public value classes built with ``_record.record`` behave as the dataclasses
``@dataclass(slots=True, frozen=...)`` would have made of the same fields: fields, the
``__init__`` signature, defaults and factories, repr, equality, hashing, frozenness,
``replace``, ``asdict``, pattern matching and pickling."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from scoped_openai import (
    ChatMessage,
    ChatRole,
    FunctionCall,
    FunctionCallOutput,
    FunctionTool,
    ImageContent,
    LLMResponse,
    StreamLimits,
    TurnMetrics,
)

#: Each class with the arguments of one instance (every field given, so both sides agree)
#: and a second set that differs in one compared field.
CASES: list[tuple[type, dict[str, Any], dict[str, Any]]] = [
    (ImageContent, {"image": b"\x89PNG", "mime_type": "image/png", "id": "img_1"}, {"id": "x"}),
    (
        ChatMessage,
        {"role": ChatRole.USER, "content": ["hi"], "id": "msg_1", "created_at": 1.5},
        {"interrupted": True},
    ),
    (FunctionCall, {"name": "f", "arguments": "{}", "call_id": "c", "id": "fc_1"}, {"name": "g"}),
    (
        FunctionCallOutput,
        {"name": "f", "call_id": "c", "output": "ok", "id": "fco_1"},
        {"is_error": True},
    ),
    (LLMResponse, {"content": "hi", "metadata": {"a": 1}, "usage": None}, {"content": "ho"}),
    (StreamLimits, {"max_event_bytes": 10, "max_reply_bytes": 20}, {"max_reply_bytes": 21}),
    (
        TurnMetrics,
        {
            "ttft": 0.1,
            "duration": 1.0,
            "tokens_per_second": 3.0,
            "prompt_tokens": 1,
            "completion_tokens": 3,
            "total_tokens": 4,
            "prompt_cached_tokens": 0,
            "cancelled": False,
            "request_id": "r",
            "retries": 0,
            "path": "chat_completions",
            "model": "m",
        },
        {"retries": 1},
    ),
    (FunctionTool, {"name": "f", "description": "d", "parameters": {}}, {"strict": False}),
]
IDS = [cls.__name__ for cls, _, _ in CASES]


def as_generated(cls: type) -> type:
    """The dataclass ``@dataclass`` would make of ``cls``'s fields and hooks."""
    fields = [
        (
            f.name,
            f.type,
            dataclasses.field(
                default=f.default,
                default_factory=f.default_factory,
                init=f.init,
                repr=f.repr,
                compare=f.compare,
                kw_only=f.kw_only,
            ),
        )
        for f in dataclasses.fields(cls)
    ]
    hooks = {"__post_init__": cls.__post_init__} if hasattr(cls, "__post_init__") else {}
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    made = dataclasses.make_dataclass(
        cls.__name__, fields, namespace=hooks, frozen=params.frozen, slots=True
    )
    made.__module__ = cls.__module__
    return made


@pytest.mark.parametrize(("cls", "args", "change"), CASES, ids=IDS)
def test_signature_and_fields_are_the_dataclasses(
    cls: type, args: dict[str, Any], change: dict[str, Any]
) -> None:
    generated = as_generated(cls)
    ours = inspect.signature(cls).parameters
    theirs = inspect.signature(generated).parameters
    assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind) for p in theirs.values()]
    for name, theirs_param in theirs.items():
        if theirs_param.default is not dataclasses._HAS_DEFAULT_FACTORY:  # type: ignore[attr-defined]
            assert ours[name].default == theirs_param.default, name
    assert dataclasses.is_dataclass(cls)
    assert cls.__match_args__ == generated.__match_args__  # type: ignore[attr-defined]
    assert cls.__slots__ == generated.__slots__  # type: ignore[attr-defined]
    assert cls.__dataclass_params__.frozen == generated.__dataclass_params__.frozen  # type: ignore[attr-defined]


def outcome(fn: Any, value: object) -> tuple[str, object]:
    try:
        return "value", fn(value)
    except TypeError as error:
        return "raises", str(error)


@pytest.mark.parametrize(("cls", "args", "change"), CASES, ids=IDS)
def test_instances_behave_as_the_dataclasses(
    cls: type, args: dict[str, Any], change: dict[str, Any]
) -> None:
    generated = as_generated(cls)
    ours, theirs = cls(**args), generated(**args)
    assert repr(ours) == repr(theirs)
    assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
    assert ours == cls(**args)
    assert ours != cls(**{**args, **change})
    assert (ours == theirs) is False  # another class: neither side claims equality
    assert ours.__eq__(theirs) is NotImplemented
    if generated.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        assert outcome(hash, ours) == outcome(hash, theirs)  # FunctionTool: a dict, unhashable
        name = dataclasses.fields(cls)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(ours, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(ours, name)
    else:
        with pytest.raises(TypeError, match="unhashable"):
            hash(ours)
    changed = dataclasses.replace(ours, **change)
    assert type(changed) is cls
    assert repr(changed) == repr(dataclasses.replace(theirs, **change))
    assert pickle.loads(pickle.dumps(ours)) == ours
    assert ours == cls(*[getattr(ours, name) for name in cls.__match_args__])  # type: ignore[attr-defined]


@pytest.mark.parametrize(("cls", "args", "change"), CASES, ids=IDS)
def test_factories_run_per_instance(
    cls: type, args: dict[str, Any], change: dict[str, Any]
) -> None:
    generated = as_generated(cls)
    factories = [
        f
        for f in dataclasses.fields(cls)
        if f.default_factory is not dataclasses.MISSING and f.init
    ]
    for f in factories:
        given = {k: v for k, v in args.items() if k != f.name}
        first, second, theirs = cls(**given), cls(**given), generated(**given)
        assert type(getattr(first, f.name)) is type(getattr(theirs, f.name))
        if f.name == "id":
            assert getattr(first, f.name) != getattr(second, f.name)
            assert getattr(first, f.name).split("_")[0] == getattr(theirs, f.name).split("_")[0]


def test_a_record_inside_itself_repr_ends() -> None:
    message = ChatMessage(ChatRole.USER, [])
    message.content.append(message)  # type: ignore[union-attr,arg-type]
    assert "content=[...]" in repr(message)


def test_post_init_checks_still_run() -> None:
    with pytest.raises(ValueError, match="max_reply_bytes"):
        StreamLimits(max_reply_bytes=0)
    with pytest.raises(ValueError, match="max_reply_bytes"):
        dataclasses.replace(StreamLimits(), max_reply_bytes=-1)
    tool = FunctionTool("f", "", {"type": "object"})
    assert tool.to_responses()["name"] == "f"
    assert tool._null_means_default == frozenset()

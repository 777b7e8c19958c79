"""Public value classes that stay dataclasses without compiling methods at import.

``@dataclass`` writes each class's ``__init__``, ``__repr__``, ``__eq__`` (and, frozen,
``__hash__``) as source text and compiles it when the module is imported: 0.3-0.9 ms per
class on this project's machine, about 3.6 ms of ``import scoped_openai`` for the eight
public ones. ``record`` keeps them dataclasses (``dataclasses.fields``, ``asdict``,
``replace``, ``__match_args__``, ``FrozenInstanceError``) but takes ``__init__`` from the
class body, which is compiled into its ``.pyc`` like any other method, and gives it
``__repr__``, ``__eq__`` and ``__hash__`` that read the fields' names from a tuple built
once, with what the generated ones return (``tests/core/test_record.py`` checks each class
against the dataclass the decorator would have made).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from reprlib import recursive_repr
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T", bound=type)

#: The default of an ``__init__`` parameter whose field has a ``default_factory``: the
#: ``__init__`` calls the factory when it sees it (as the generated one does).
FACTORY: Any = dataclasses.MISSING


# Type checkers see what the class is: a dataclass (its fields, frozenness, replace()).
@dataclass_transform(field_specifiers=(dataclasses.field,))
def record(*, frozen: bool = False) -> Callable[[_T], _T]:
    """``@dataclass(slots=True, frozen=frozen)`` for a class that writes its own
    ``__init__`` (with the dataclass's signature and defaults)."""

    def wrap(cls: _T) -> _T:
        made: Any = dataclasses.dataclass(
            init=False, repr=False, eq=False, frozen=frozen, slots=True
        )(cls)
        fields = dataclasses.fields(made)
        shown = tuple(f.name for f in fields if f.repr)
        compared = _tuple_getter(tuple(f.name for f in fields if f.compare))
        made.__repr__ = _repr_of(shown)
        made.__eq__ = _eq_of(compared)
        # As @dataclass(eq=True): a frozen class hashes its compared fields; a mutable one
        # is unhashable.
        made.__hash__ = _hash_of(compared) if frozen else None
        return made  # type: ignore[no-any-return]

    return wrap


def _tuple_getter(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    if len(names) == 1:  # attrgetter of one name returns the value, not a 1-tuple
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    if not names:
        return lambda obj: ()
    return attrgetter(*names)


def _repr_of(names: tuple[str, ...]) -> Callable[[object], str]:
    @recursive_repr()  # "..." for an object inside itself, as the generated one
    def __repr__(self: object) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({shown})"

    return __repr__


def _eq_of(values: Callable[[object], tuple[Any, ...]]) -> Callable[[object, object], Any]:
    def __eq__(self: object, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)

    return __eq__


def _hash_of(values: Callable[[object], tuple[Any, ...]]) -> Callable[[object], int]:
    def __hash__(self: object) -> int:
        return hash(values(self))

    return __hash__

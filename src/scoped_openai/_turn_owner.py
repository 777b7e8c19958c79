"""Who a turn belongs to, and whether its owner is gone, checked without the garbage collector.

A turn that was left unfinished (a bare ``async for ... break``, a stream dropped in an
exception handler, a task that ended mid-reply) still holds what it started: a socket's
lease, an HTTP response. Nobody tells us it was left; the next turn, a barge-in or
``aclose()`` asks :meth:`TurnOwner.vanished` and releases what it held. The rules, each
checked on demand (no finalizer, no weak-reference callback, so nothing depends on when the
cyclic collector runs):

a. the turn was released (its holder's business, not checked here);
b. the task asking is the turn's own task and it is not inside the turn's ``__anext__``:
   one task reads one reply at a time, so a new turn supersedes the one it left;
c. the task that started the turn has finished (its coroutine has no frame any more, on
   both backends) and no other task is inside the turn's ``__anext__``;
d. the stream is gone (a weak reference, read when asked).
"""

from __future__ import annotations

import sys
import weakref
from typing import Any, Protocol

import anyio


class Reader(Protocol):
    """The stream as its owner sees it."""

    @property
    def waiting(self) -> bool:
        """Whether a consumer is inside the stream's ``__anext__`` right now."""
        ...

    async def aclose(self) -> None:
        """End the stream like a barge-in and release what its turn holds."""
        ...


def _current_coroutine() -> Any:
    # asyncio's own call first: anyio's builds a TaskInfo (5x the cost) on every turn.
    # Looked up, not imported: a trio app never imports asyncio (tests/test_import_cost.py).
    asyncio = sys.modules.get("asyncio")
    try:
        task = asyncio.current_task() if asyncio is not None else None
    except RuntimeError:  # no asyncio loop runs here: trio
        task = None
    if task is not None:
        return task.get_coro()
    return anyio.get_current_task().coro


class TurnOwner:
    """The task that started a turn and a weak reference to the stream that reads it.

    Args:
        stream: The turn's stream; held weakly, so dropping it is seen (rule d).
    """

    __slots__ = ("_coroutine", "_stream")

    def __init__(self, stream: Reader) -> None:
        self._stream = weakref.ref(stream)
        self._coroutine = _current_coroutine()

    def __repr__(self) -> str:
        return f"<TurnOwner stream={'gone' if self._stream() is None else 'live'}>"

    def vanished(self) -> bool:
        """Whether nobody can read this turn any more (rules b, c, d above)."""
        stream = self._stream()
        if stream is None:
            return True  # d
        if stream.waiting:
            return False  # a consumer is inside its __anext__ right now
        if getattr(self._coroutine, "cr_frame", True) is None:
            return True  # c: the owner's task has finished
        return _current_coroutine() is self._coroutine  # b

    def stream(self) -> Reader | None:
        """The stream, while it exists."""
        return self._stream()

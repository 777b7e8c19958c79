"""One task per ``OpenAILLM`` that enforces the read deadlines of all its streams.

A stream waits for every chunk inside a fresh cancel scope (so a barge-in ends that one wait,
DESIGN.md section 3). Giving each of those scopes a deadline registers and removes a timer
per chunk: about 2.5 µs under asyncio and 1.1 µs under trio on this project's 2-core
machine, paid 50 times a second per voice session. Instead a waiting turn records its
deadline in a float, and this task sleeps until the earliest deadline of the turns that
are waiting, then cancels the scope of each one whose deadline has passed. A deadline that
moved later (data arrived) simply sends the task back to sleep; it is woken early only when
a turn waits with a deadline before the one it sleeps towards.

What it watches is a turn's ``TurnDeadlines`` (_deadlines.py), which also holds the other
way: streams of an ``OpenAILLM`` used without ``async with`` have no task group to host this
task, so their scopes carry the deadline themselves.
"""

from __future__ import annotations

import math
from typing import Protocol

import anyio
import anyio.abc


class Watched(Protocol):
    """What the watchdog needs of a waiting turn (a ``TurnDeadlines``)."""

    @property
    def read_deadline(self) -> float:
        """When the current wait must end (``math.inf`` when not waiting)."""
        ...

    def expire(self) -> None:
        """The deadline passed: end the current wait with a timeout."""


class Watchdog:
    """Enforces ``read_deadline`` for the turns that ``watch`` it.

    Args:
        task_group: Hosts the task (the ``OpenAILLM``'s); started on the first ``watch``.
    """

    __slots__ = ("_closed", "_started", "_streams", "_target", "_task_group", "_wake")

    def __init__(self, task_group: anyio.abc.TaskGroup) -> None:
        self._task_group = task_group
        self._streams: set[Watched] = set()
        self._target = math.inf  # the deadline the task sleeps towards
        self._wake = anyio.Event()
        self._closed = False
        self._started = False

    def watch(self, stream: Watched, deadline: float) -> None:
        """``stream`` waits, until ``deadline`` at most (``forget`` when it stops); called
        again when its deadline moves earlier. Cheap: called for every wait."""
        if not self._started:
            self._started = True
            self._task_group.start_soon(self._run)
        self._streams.add(stream)
        if deadline < self._target:
            self._target = deadline
            self._wake.set()

    def forget(self, stream: Watched) -> None:
        """``stream`` stopped waiting. Only waiting streams are held, so a stream dropped
        unfinished is still freed (and released) at once."""
        self._streams.discard(stream)

    def close(self) -> None:
        """Stop the task (the owner is closing): woken, it ends by itself. Not a cancel:
        anyio's ``CancelScope.cancel()`` on asyncio formats the calling task's repr, about
        0.1 ms per closing instance."""
        self._closed = True
        self._wake.set()

    def _sweep(self) -> float:
        """Expire every waiting turn past its deadline; the earliest deadline still ahead.

        A method of its own so no local of the sleeping task keeps a turn's deadlines (and
        the scope of its wait) alive after the wait."""
        now = anyio.current_time()
        target = math.inf
        for stream in tuple(self._streams):
            deadline = stream.read_deadline
            if deadline <= now:
                stream.expire()
            elif deadline < target:
                target = deadline
        return target

    async def _run(self) -> None:
        while not self._closed:
            # No await between computing the target and sleeping: a ``watch`` that needs
            # an earlier wake-up, or ``close``, sets the new event.
            self._target = self._sweep()
            self._wake = anyio.Event()
            with anyio.CancelScope(deadline=self._target):
                await self._wake.wait()

"""A turn's three deadlines, and the one way each wait of the stream enforces them.

A turn has a first-token deadline (until its first item is delivered), an idle timeout (no
*event* for that long once the request is sent) and a whole-turn deadline (DESIGN.md
section 5). Each wait of the stream is one cancel scope, the barge-in's; ``TurnDeadlines``
opens that scope so it also ends at whichever deadline is nearest, moves the idle deadline
when an event arrives, and afterwards says which deadline expired.

How the nearest deadline is enforced is its business, behind that one interface: inside
``async with OpenAILLM`` the llm's ``Watchdog`` task cancels the scope (a float per wait
instead of a timer per chunk, see _watchdog.py); an llm used without ``async with`` has no
task group for that task, so the scope carries the deadline itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import anyio
import sniffio

from ._compat import asyncio_cancel_scope_class, asyncio_clock
from ._errors import APITimeoutError
from ._transports.http_backend import ReadWait
from ._watchdog import Watchdog


def burst_clock() -> Callable[[], float]:
    """The clock a stream times its bursts with (read once per item): ``perf_counter``
    (0.06 µs; trio's 0.56), unless trio runs a clock of its own (a test's virtual clock,
    which then times the bursts too, so a test's checkpoints do not depend on load)."""
    if sniffio.current_async_library() == "trio":
        import trio

        if type(trio.lowlevel.current_clock()).__name__ != "SystemClock":
            return trio.current_time
    return time.perf_counter


def native_scope_and_clock() -> tuple[Callable[..., Any], Callable[[], float]]:
    """The running backend's own cancel scope and clock.

    A scope is opened for every network read, so its cost is paid per chunk: under trio
    the native ``trio.CancelScope`` costs about 4.7 µs where anyio's wrapper costs 6.9 µs;
    under asyncio anyio's backend class, built directly, costs 2.3 µs where
    ``anyio.CancelScope()`` (which looks the backend up on every call) costs 3.9 µs
    (measured on this project's 2-core machine). The clock is read once per wait too:
    the loop's own ``time`` (what ``anyio.current_time`` returns under asyncio) costs
    0.08 µs where ``anyio.current_time()`` costs 0.46 µs.
    """
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.CancelScope, trio.current_time
    # None when a future anyio moved it: the public way costs a little more.
    scope = asyncio_cancel_scope_class() or anyio.CancelScope
    return scope, asyncio_clock()


class TurnDeadlines:
    """The first-token, idle and whole-turn deadlines of one turn, enforced per wait.

    One wait at a time: ``open_wait`` returns the scope to wait in, ``event_arrived``
    moves the idle deadline, ``close_wait`` ends the wait, and when the scope was cancelled
    by a deadline (not a barge-in) ``timeout_error`` names it.

    Args:
        idle: Seconds without an event once the request is sent (None: no limit).
        first_token: Seconds from the first wait to the first delivered item.
        turn: Seconds from the first wait to the end of the turn.
        watchdog: The llm's deadline task; None: each scope carries its deadline.
        native: The running backend's ``native_scope_and_clock()``, when the caller has
            it already (the llm looks it up once per event loop instead of every turn);
            None: looked up at the first wait.

    Attributes:
        read_deadline: The current (or last) wait's deadline; the watchdog reads it (a
            wait on a ``ReadWait`` under the watchdog sets it at its first socket read).
        now: The running backend's clock (anyio's until the first wait).
        opened_at: When the last wait that read the clock was opened (every wait but
            those on a ``ReadWait`` under the watchdog; the first wait always).
    """

    __slots__ = (
        "_delivered",
        "_first_token",
        "_first_token_at",
        "_fixed",
        "_idle",
        "_native",
        "_new_scope",
        "_scope",
        "_turn",
        "_turn_at",
        "_unwatched",
        "_waiting_first",
        "_watchdog",
        "now",
        "opened_at",
        "read_deadline",
    )

    def __init__(
        self,
        *,
        idle: float | None,
        first_token: float | None,
        turn: float | None,
        watchdog: Watchdog | None,
        native: tuple[Callable[..., Any], Callable[[], float]] | None = None,
    ) -> None:
        self._idle = idle
        self._first_token = first_token
        self._turn = turn
        self._watchdog = watchdog
        self._first_token_at = math.inf  # both armed by the first wait, never re-armed
        self._turn_at = math.inf
        self._waiting_first = math.inf  # this wait's first-token deadline (inf once delivered)
        self._fixed = math.inf  # this wait's nearest deadline other than idle
        self._new_scope: Callable[..., Any] | None = None
        self._native = native
        self._scope: Any = None
        self._unwatched = False  # the watchdog is told at this wait's first socket read
        self._delivered = False  # an unwatched wait's, for its deadline at that read
        self.now: Callable[[], float] = anyio.current_time
        self.opened_at = 0.0
        self.read_deadline = math.inf

    def open_wait(self, *, started: bool, delivered: bool, reads: ReadWait | None = None) -> Any:
        """The backend's cancel scope for one wait, set to end at the nearest deadline.

        Args:
            started: The request was sent (the idle timeout applies from then on).
            delivered: An item reached the caller (the first-token deadline is over).
            reads: The body's ``ReadWait`` when its network reads open the scope
                themselves: returned in the scope's place, armed with the same deadline
                (under the watchdog: worked out at its first socket read, ``reading``).
        """
        if reads is not None and self._watchdog is not None:
            # Watched from the first read that reaches the socket (``reading``), where this
            # wait can first wait: most steps are served from h11's buffer and never do, so
            # the deadline is worked out there too, not here (the clock costs 0.56 µs per
            # read on trio). The idle deadline then counts from that read instead of from
            # here, a few microseconds of our own parsing later.
            assert self._new_scope is not None, "a body is read only after the first wait"
            self._delivered = delivered
            self._unwatched = True
            scope = self._scope = reads.arm(self._new_scope, math.inf, self)
            return scope
        now = self._arm() if self._new_scope is None else self.now()
        self.opened_at = now
        deadline = self._set_deadline(now, started=started, delivered=delivered)
        assert self._new_scope is not None
        if reads is not None:
            scope = self._scope = reads.arm(self._new_scope, deadline)
        elif self._watchdog is None:
            scope = self._scope = self._new_scope(deadline=deadline)
        else:  # a float the watchdog reads, not a timer per chunk
            scope = self._scope = self._new_scope()
            self._watchdog.watch(self, deadline)
        return scope

    def _set_deadline(self, now: float, *, started: bool, delivered: bool) -> float:
        """This wait's deadline from ``now``: the nearest of the first-token (until an item
        was delivered), whole-turn and (once the request was sent) idle deadlines."""
        first = self._waiting_first = math.inf if delivered else self._first_token_at
        deadline = self._fixed = first if first < self._turn_at else self._turn_at
        idle = self._idle
        if idle is not None and started and now + idle < deadline:
            deadline = now + idle
        self.read_deadline = deadline
        return deadline

    def event_arrived(self) -> None:
        """A server event arrived that made no item: the idle deadline starts again (the
        first-token and whole-turn deadlines stay). Bytes that complete no event must not
        call this, so a server cannot hold a turn by trickling."""
        if self._idle is None or self._unwatched:
            return  # unwatched: ``reading`` counts the idle deadline from its own read
        deadline = min(self._fixed, self.now() + self._idle)
        earlier = deadline < self.read_deadline
        self.read_deadline = deadline
        if self._watchdog is None:
            self._scope.deadline = deadline
        elif earlier:  # wakes the task only if it sleeps towards a later deadline
            self._watchdog.watch(self, deadline)
        # Later (the usual case): this wait is watched already, and the task, waking at
        # the earlier deadline, reads this one and sleeps on.

    def close_wait(self) -> None:
        """The wait is over (the watchdog holds waiting turns only)."""
        self._scope = None
        if self._unwatched:
            self._unwatched = False  # no read reached the socket: nothing to forget
        elif self._watchdog is not None:
            self._watchdog.forget(self)

    def reading(self) -> None:
        """The current wait's first socket read is about to wait (``ReadWait``, with a
        watchdog): the watchdog watches its deadline from now until ``close_wait``."""
        assert self._watchdog is not None
        self._unwatched = False
        deadline = self._set_deadline(self.now(), started=True, delivered=self._delivered)
        self._watchdog.watch(self, deadline)

    def expire(self) -> None:
        """The watchdog's call: the current wait passed its deadline."""
        if self._scope is not None:
            self._scope.cancel()

    def timeout_error(self) -> APITimeoutError:
        """The error for the deadline that ended the last wait."""
        deadline = self.read_deadline
        if deadline == self._turn_at:
            limit = self._turn
            message = f"the turn passed its whole-turn deadline ({limit:g}s)"
            return APITimeoutError(message, phase="turn", seconds=limit)
        if deadline == self._waiting_first:
            limit = self._first_token
            message = f"no output from the model before the first-token deadline ({limit:g}s)"
            return APITimeoutError(message, phase="first_token", seconds=limit)
        limit = self._idle
        message = f"the stream stalled: no event arrived for {limit:g}s"
        return APITimeoutError(message, phase="idle", seconds=limit)

    def _arm(self) -> float:
        """At the first wait: take the backend's scope and clock, start the first-token and
        whole-turn deadlines; the time it used."""
        self._new_scope, self.now = self._native or native_scope_and_clock()
        now = self.now()
        if self._first_token is not None:
            self._first_token_at = now + self._first_token
        if self._turn is not None:
            self._turn_at = now + self._turn
        return now

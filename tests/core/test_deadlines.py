"""A turn's deadlines on trio's virtual clock, through both ways of enforcing them (the
llm's watchdog task and the scope's own deadline): each wait ends at the nearest deadline
that applies, an event moves only the idle one, and the error names the one that expired."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from scoped_openai import APITimeoutError
from scoped_openai._deadlines import TurnDeadlines
from scoped_openai._watchdog import Watchdog

pytestmark = pytest.mark.trio

MODES = ["watchdog", "scope"]


@asynccontextmanager
async def deadlines(
    mode: str, *, idle: float | None, first_token: float | None, turn: float | None = None
) -> AsyncIterator[TurnDeadlines]:
    async with trio.open_nursery() as nursery:
        watchdog = Watchdog(nursery) if mode == "watchdog" else None
        yield TurnDeadlines(idle=idle, first_token=first_token, turn=turn, watchdog=watchdog)
        if watchdog is not None:
            watchdog.close()


async def wait(
    clock: TurnDeadlines, *, started: bool, delivered: bool, events_at: tuple[float, ...] = ()
) -> float:
    """One wait that never completes by itself (but for events arriving ``events_at``
    seconds after it opens): when it ended, from its start."""
    start = trio.current_time()
    scope = clock.open_wait(started=started, delivered=delivered)
    try:
        with scope:
            for at in events_at:
                await trio.sleep_until(start + at)
                clock.event_arrived()
            await trio.sleep_forever()
    finally:
        clock.close_wait()
    assert scope.cancelled_caught
    return trio.current_time() - start


@pytest.mark.parametrize("mode", MODES)
async def test_the_first_wait_ends_at_the_first_token_deadline(
    autojump_clock: trio.testing.MockClock, mode: str
) -> None:
    # Not started: the idle timeout does not apply yet (the request is still being sent).
    async with deadlines(mode, idle=2.0, first_token=10.0) as clock:
        assert await wait(clock, started=False, delivered=False) == 10.0
        error = clock.timeout_error()
    assert isinstance(error, APITimeoutError)
    assert (error.phase, error.seconds) == ("first_token", 10.0)


@pytest.mark.parametrize("mode", MODES)
async def test_an_event_starts_the_idle_deadline_and_keeps_the_first_token_one(
    autojump_clock: trio.testing.MockClock, mode: str
) -> None:
    async with deadlines(mode, idle=2.0, first_token=10.0) as clock:
        # Events at 1 s and 2.5 s: idle until 4.5 s, nearer than the first token (10 s).
        assert await wait(clock, started=False, delivered=False, events_at=(1.0, 2.5)) == 4.5
        assert clock.timeout_error().phase == "idle"
    async with deadlines(mode, idle=2.0, first_token=3.0) as clock:
        # Events every second: idle never expires, the first-token deadline (3 s) does.
        events = (1.0, 2.0, 2.9)
        assert await wait(clock, started=False, delivered=False, events_at=events) == 3.0
        assert clock.timeout_error().phase == "first_token"


@pytest.mark.parametrize("mode", MODES)
async def test_once_started_and_delivered_only_idle_and_turn_apply(
    autojump_clock: trio.testing.MockClock, mode: str
) -> None:
    async with deadlines(mode, idle=2.0, first_token=1.0, turn=7.0) as clock:
        # The first wait arms the first-token (1 s) and whole-turn (7 s) deadlines.
        assert await wait(clock, started=False, delivered=False) == 1.0
        assert clock.timeout_error().phase == "first_token"
        # Delivered: the first-token deadline is over; idle is nearer than the turn's.
        assert await wait(clock, started=True, delivered=True) == 2.0
        assert clock.timeout_error().phase == "idle"
        await trio.sleep(3.0)  # 6 s into the turn: its deadline (7 s) is nearer than idle
        assert await wait(clock, started=True, delivered=True) == 1.0
        error = clock.timeout_error()
    assert (error.phase, error.seconds) == ("turn", 7.0)


@pytest.mark.parametrize("mode", MODES)
async def test_no_limits_no_deadline(autojump_clock: trio.testing.MockClock, mode: str) -> None:
    async with deadlines(mode, idle=None, first_token=None) as clock:
        scope = clock.open_wait(started=True, delivered=False)
        with scope:
            clock.event_arrived()
            assert clock.read_deadline == math.inf
            with trio.move_on_after(3600.0):  # the caller's own bound, not ours
                await trio.sleep_forever()
        clock.close_wait()
    assert not scope.cancelled_caught

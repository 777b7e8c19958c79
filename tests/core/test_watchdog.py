"""The deadline watchdog on trio's virtual clock: each waiting stream expires exactly at its
own deadline, never at one it has moved past, and the task sleeps between deadlines."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from scoped_openai._watchdog import Watchdog


class Waiter:
    """A stand-in stream: records when the watchdog expired it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.read_deadline = math.inf
        self.expired_at: list[float] = []

    def expire(self) -> None:
        self.expired_at.append(trio.current_time())
        self.read_deadline = math.inf  # its wait ends, as a stream's does

    def wait_until(self, watchdog: Watchdog, deadline: float) -> None:
        self.read_deadline = deadline
        watchdog.watch(self, deadline)


@pytest.mark.trio
async def test_each_stream_expires_at_its_own_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        watchdog = Watchdog(nursery)
        late, early = Waiter("late"), Waiter("early")
        late.wait_until(watchdog, 10.0)
        await trio.sleep(1.0)
        early.wait_until(watchdog, 3.0)  # earlier than the one the task sleeps towards
        await trio.sleep(20.0)
        assert early.expired_at == [3.0]
        assert late.expired_at == [10.0]
        watchdog.close()


@pytest.mark.trio
async def test_a_deadline_moved_later_is_not_expired_early(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        watchdog = Watchdog(nursery)
        steady = Waiter("steady")
        steady.wait_until(watchdog, 5.0)
        for _ in range(4):  # data every 4 s against a 5 s idle timeout
            await trio.sleep(4.0)
            steady.read_deadline = trio.current_time() + 5.0  # as a stream does: no wake
        assert steady.expired_at == []
        await trio.sleep(10.0)
        assert steady.expired_at == [21.0]
        watchdog.close()


@pytest.mark.trio
async def test_a_forgotten_stream_is_never_expired_and_not_held(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        watchdog = Watchdog(nursery)
        done = Waiter("done")
        done.wait_until(watchdog, 2.0)
        await trio.sleep(1.0)
        watchdog.forget(done)
        await trio.sleep(5.0)
        assert done.expired_at == []
        assert done not in watchdog._streams
        watchdog.close()


@pytest.mark.trio
async def test_the_task_sleeps_between_deadlines(autojump_clock: trio.testing.MockClock) -> None:
    """No polling: with one deadline an hour away the task wakes about once."""
    steps = 0

    class CountSteps(trio.abc.Instrument):
        def after_task_step(self, task: trio.lowlevel.Task) -> None:
            nonlocal steps
            if task.name.endswith("Watchdog._run"):
                steps += 1

    trio.lowlevel.add_instrument(CountSteps())
    async with trio.open_nursery() as nursery:
        watchdog = Watchdog(nursery)
        waiter = Waiter("hour")
        waiter.wait_until(watchdog, 3600.0)
        await trio.sleep(7200.0)
        assert waiter.expired_at == [3600.0]
        watchdog.close()
    assert 1 <= steps <= 4  # at least the wake-up that expired it: the task was seen


@pytest.mark.trio
async def test_close_ends_the_task(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            watchdog = Watchdog(nursery)
            Waiter("w").wait_until(watchdog, 100.0)
            await trio.lowlevel.checkpoint()
            watchdog.close()
    assert trio.current_time() < 1.0


@pytest.mark.trio
async def test_close_before_the_task_first_runs_ends_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # close() wakes the task rather than cancelling it: a task started but not yet run
    # must see the close too, and the nursery end without any deadline passing.
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            watchdog = Watchdog(nursery)
            Waiter("w").wait_until(watchdog, 100.0)
            watchdog.close()  # no checkpoint between: the task has not run yet
    assert trio.current_time() == 0.0

"""Long work on the loop gives way between its steps: a task woken during one step runs
before the next, and a collection of generation 1 gets a step of its own."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import anyio
import pytest

from conftest import BACKENDS
from scoped_openai import _give_way
from scoped_openai._give_way import collect_young_if_due, give_way


def long_step(seconds: float) -> None:
    """Hold the loop as a long import step does (a spin, not a sleep: the timer below has
    surely expired when it ends, whatever the machine's load)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def step_then_give_way() -> list[str]:
    order: list[str] = []

    async def ticker() -> None:
        await anyio.sleep(0.001)
        order.append("tick")

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.wait_all_tasks_blocked()  # the ticker is in its sleep
        long_step(0.005)
        order.append("step")
        await give_way()
        order.append("next step")
    return order


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_task_whose_timer_expired_during_a_step_runs_before_the_next_step(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_give_way, "collect_young_if_due", lambda: False)  # no extra steps
    # In a loop of its own, as an application runs it. With fewer than three checkpoints
    # asyncio ran the next step first: the timer's callback runs one loop iteration and
    # the ticker the next, each after what was queued before it.
    assert anyio.run(step_then_give_way, backend=backend) == ["step", "tick", "next step"]


@pytest.fixture
def default_collector() -> Iterator[None]:
    """CPython's default thresholds, collection enabled; the process's own put back."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        (gc.enable if enabled else gc.disable)()


def collections_of_generation_0(count: int) -> None:
    gc.collect(1)  # generation 1's count back to 0
    for _ in range(count):
        gc.collect(0)  # each adds one to generation 1's count


@pytest.mark.usefixtures("default_collector")
def test_generation_1_is_collected_once_half_its_threshold_has_passed() -> None:
    collections_of_generation_0(4)
    assert not collect_young_if_due()
    assert gc.get_count()[1] == 4
    collections_of_generation_0(5)
    generation_2 = gc.get_count()[2]
    assert collect_young_if_due()
    assert gc.get_count()[1] == 0  # generation 1 was collected
    assert gc.get_count()[2] == generation_2 + 1  # one collection, as CPython's own counts


@pytest.mark.usefixtures("default_collector")
def test_nothing_is_collected_where_the_application_turned_collection_off() -> None:
    collections_of_generation_0(9)
    gc.disable()
    assert not collect_young_if_due()
    assert gc.get_count()[1] == 9
    gc.set_threshold(0)
    gc.enable()
    assert not collect_young_if_due()


@pytest.mark.usefixtures("default_collector")
def test_nothing_is_collected_where_the_application_set_generation_1s_threshold_to_0() -> None:
    # Half of a threshold of 0 is 0: without the check every step would collect.
    gc.set_threshold(700, 0, 10)
    collections_of_generation_0(3)
    assert not collect_young_if_due()
    assert gc.get_count()[1] == 3  # generation 1 was not collected

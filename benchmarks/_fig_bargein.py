"""Figure 3: barge-in. How fast the consumer's loop ends after a cancel, and how fast the next
turn speaks, with a server streaming 50 chunks per second and with one that stalls.

One trial: a consumer task streams a long reply; once it has heard ``HEARD`` chunks, a
canceller task waits a few ms (so the cancel lands while the consumer waits for the network,
at varying phases of the 20 ms chunk interval) and then, from just before the call
(``perf_counter``), cancels: ``await llm.cancel_current_generation()`` for ours, the
consumer's ``CancelScope.cancel()`` for the floor. Measured in the consumer: when its loop
exited (``to_exit``), and the first content item of the next turn it starts at once
(``to_next_token``). The server's connection count before and after the trial gives the
connections the interrupted turn and the next one opened. Every trial is bounded in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
from _common import BargeIn, summary
from _spec import Spec

HEARD = 3
DELAYS = (0.002, 0.007, 0.012, 0.017)
TRIAL_TIMEOUT = 3.0
NEXT = Spec(chunks=20)
SCENARIOS = {
    # 5 s if never cancelled, past TRIAL_TIMEOUT. It was 5,000 chunks (100 s), but the fake
    # server renders a reply whole at its request and drops what is left at the close
    # (5,000 chunks: 19 ms of its CPU at the request, 0.49 ms at the close), and that close
    # falls in the very window where it answers the next turn: 0.5-1.0 ms more server CPU
    # there than with 250 chunks (bench_bargein_pause.py), for ours and the floor alike. A
    # real server renders nothing ahead of the tokens it sends.
    "paced": Spec(chunks=250, pace=50),
    "stall": Spec(chunks=0, stall=HEARD),  # HEARD chunks, then nothing, ever
}


async def trial(session: Any, long: Spec, delay: float) -> BargeIn | str:
    """One barge-in; a string says why it did not complete."""
    heard = anyio.Event()
    marks: dict[str, float] = {}
    count = 0
    snapshot: Any = None

    def on_item(_: str) -> None:
        nonlocal count
        count += 1
        if count == HEARD:
            heard.set()

    async def consumer() -> None:
        marks["exit"] = await session.consume(long, on_item)
        marks["released"] = time.perf_counter()
        turn = await session.turn(NEXT, remember=True)
        marks["next"] = turn.started + turn.ttft

    async def canceller() -> None:
        nonlocal snapshot
        await heard.wait()
        await anyio.sleep(delay)
        take = getattr(session, "spare_snapshot", None)
        snapshot = take() if take else None
        marks["cancel"] = time.perf_counter()
        await session.cancel()

    with anyio.move_on_after(TRIAL_TIMEOUT) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer)
            tg.start_soon(canceller)
    if scope.cancelled_caught:
        where = "the loop did not end" if "exit" not in marks else "the next turn did not speak"
        return f"{where} within {TRIAL_TIMEOUT:g} s of the start"
    used = getattr(session, "used_spare", None)
    return BargeIn(
        to_exit=marks["exit"] - marks["cancel"],
        to_next_token=marks["next"] - marks["cancel"],
        heard=count,
        warm_spare=used(snapshot) if used else None,
        extra={"to_release": marks["released"] - marks["cancel"]},
    )


async def barge_in(
    make: Callable[[], Any], scenario: str, trials: int, connections: Callable[[], int]
) -> dict[str, Any]:
    """``trials`` barge-ins on one warm session; medians and the worst case."""
    long = SCENARIOS[scenario]
    results: list[BargeIn] = []
    failures: list[str] = []
    async with make() as session:
        await session.turn(NEXT, remember=False)
        for i in range(trials):
            await session.reset()
            before = connections()
            outcome = await trial(session, long, DELAYS[i % len(DELAYS)])
            if isinstance(outcome, str):
                failures.append(outcome)
                if len(failures) >= 2:  # a client that never ends a stalled loop: stop early
                    break
                continue
            outcome.new_connections = connections() - before
            results.append(outcome)
    spares = [r.warm_spare for r in results if r.warm_spare is not None]
    return {
        "to_exit_ms": summary([r.to_exit * 1e3 for r in results]),
        "to_release_ms": summary([r.extra["to_release"] * 1e3 for r in results]),
        "to_next_token_ms": summary([r.to_next_token * 1e3 for r in results]),
        "new_connections": [r.new_connections for r in results],
        "warm_spare_used": f"{sum(spares)}/{len(spares)}" if spares else None,
        "failures": failures,
        "trials": trials,
    }

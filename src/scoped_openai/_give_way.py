"""How long work on the event loop (the first entering's imports, the CA bundle, a client's
first turn) gives the loop back between its steps, so a realtime task on the same loop waits
for one step, not two, and a garbage collection does not land on top of a step."""

from __future__ import annotations

import gc

import anyio.lowlevel

#: Checkpoints between two long steps. A task that a timer or a socket woke during one
#: long step must run before the next, or it waits for both (what a 1 ms audio tick on the
#: same loop sees): asyncio runs a timer's callback one loop iteration and the woken task
#: the next, each after the handles already queued, so the long work yields three times,
#: twice with nothing to do (trio needs two: a deadline reschedules the task itself).
GIVE_WAY = 3


async def give_way() -> None:
    """Let every task woken during the last step run before the next step; and, when
    CPython's next automatic collection could be of generation 1, run it now in a step of
    its own instead of inside the next module's body (``collect_young_if_due``).

    Cancellation: raises at the first checkpoint if cancelled; nothing is left half done.
    """
    for _ in range(GIVE_WAY):
        await anyio.lowlevel.checkpoint()
    if collect_young_if_due():
        for _ in range(GIVE_WAY):
            await anyio.lowlevel.checkpoint()


def collect_young_if_due() -> bool:
    """Collect generations 0 and 1 when half of generation 1's threshold has passed, and
    say whether it did. Importing a module creates hundreds of objects that survive, so a
    collection of generation 1 (CPython runs one every ``threshold[1]`` collections of
    generation 0) walks many of them: 0.7-1.3 ms on this project's machine, inside
    whichever module's body allocated last, on top of that body. Run here, it has a step
    of its own, about as often as CPython would run it and cheaper each time (fewer
    objects to walk); a module that allocates more than half a period (3,500 objects with
    the default thresholds) holds a step too long anyway. Nothing runs when the
    application disabled collection or set either threshold to 0 (the process's collector
    is the application's; with ``threshold[1] == 0`` half a period is every step)."""
    if not gc.isenabled():
        return False
    threshold = gc.get_threshold()
    if threshold[0] <= 0 or threshold[1] <= 0 or gc.get_count()[1] < threshold[1] // 2:
        return False
    gc.collect(1)
    return True

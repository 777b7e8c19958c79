"""What ``import scoped_openai`` runs, checked in a fresh interpreter.

The import runs before an agent's event loop starts, but it is paid at every start: it
imports nothing the library only needs on one backend (asyncio, about 10 ms here, is
imported by an asyncio app anyway and never needed by a trio app). What no event-loop step
can split is imported here instead of on the loop: h11's and h2's event modules, about 3 ms
each (``_stepwise_import.INDIVISIBLE``), when httpcore itself is not imported yet.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import sys
import scoped_openai
print("asyncio" in sys.modules)
"""


# httpcore not imported before scoped_openai (the usual case, on either backend): httpcore
# is imported when an instance is entered, a module per step; the two indivisible bodies now.
INDIVISIBLE = """
import json, sys
import scoped_openai
from scoped_openai._deferred_import import is_deferred
deferred = sorted(name for name, module in sys.modules.items() if is_deferred(module))
print(json.dumps([
    "h11._events" in sys.modules, "h2.events" in sys.modules, "httpcore" in sys.modules,
    "trio" in sys.modules, deferred,
]))
"""


def test_the_transport_bodies_no_step_can_split_are_imported_with_the_package() -> None:
    done = subprocess.run(
        [sys.executable, "-c", INDIVISIBLE], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == [True, True, False, False, ["h11"]]


def test_importing_runs_no_event_loop_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False"]

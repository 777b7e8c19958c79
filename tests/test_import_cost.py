"""What ``import scoped_openai`` runs, checked in a fresh interpreter.

The import runs before an agent's event loop starts, but it is paid at every start: it
imports nothing the library only needs on one backend (asyncio, about 10 ms here, is
imported by an asyncio app anyway and never needed by a trio app).
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import scoped_openai
print("asyncio" in sys.modules)
"""


def test_importing_runs_no_event_loop_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False"]

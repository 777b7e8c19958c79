"""The WebSocket engine's imports, a module per step: the list is complete and each import
gets its own checkpoint. Run in fresh interpreters (this one imported everything already)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COMPLETE = """
import importlib, json, sys
import scoped_openai
from scoped_openai._stepwise_import import WEBSOCKET_ENGINE
*leading, engine = WEBSOCKET_ENGINE
for name in leading:
    importlib.import_module(name)
before = set(sys.modules)
importlib.import_module(engine)
print(json.dumps(sorted(set(sys.modules) - before)))
"""

STEPS = """
import json, sys
import anyio
import scoped_openai
from scoped_openai import _stepwise_import as stepwise
names = [*stepwise.WEBSOCKET_ENGINE, "scoped_openai._no_such_module"]
events = []
checkpoint = anyio.lowlevel.checkpoint
import_module = stepwise.importlib.import_module
async def counting():
    events.append("checkpoint")
    await checkpoint()
def importing(name):
    events.append(name)
    return import_module(name)
stepwise.anyio.lowlevel.checkpoint = counting
stepwise.importlib.import_module = importing
anyio.run(stepwise.import_stepwise, names, backend=sys.argv[1])
print(json.dumps([events, [n for n in names[:-1] if n not in sys.modules]]))
"""


def run(script: str, *args: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_the_list_holds_everything_the_engine_imports() -> None:
    # Only the engine's own module is left for its import: nothing lands in one step.
    assert run(COMPLETE) == ["scoped_openai._transports.ws_sansio"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_each_import_not_done_yet_gets_a_checkpoint_and_unknown_names_are_skipped(
    backend: str,
) -> None:
    events, left = run(STEPS, backend)  # type: ignore[misc]
    imports = events[1::2]
    assert len(imports) > 10  # a fresh interpreter has most of the engine to import
    assert events[::2] == ["checkpoint"] * len(imports)  # a checkpoint before each import
    assert len(events) == 2 * len(imports)
    assert imports[-1] == "scoped_openai._no_such_module"  # tried, skipped without error
    assert left == []

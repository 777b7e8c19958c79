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

import pytest

from scoped_openai._compat import HTTP_TRANSPORT
from scoped_openai._first_entry import RESPONSES_MODULES

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


# What only the Responses API's turns use: not imported with the package; entering an
# instance that speaks it imports them a module per step, and its first turns import none.
RESPONSES = """
import json, sys
import anyio
import scoped_openai
from scoped_openai import ChatContext, ChatRole, _first_entry
from scoped_openai import _stepwise_import as stepwise
from scoped_openai.testing import FakeOpenAI, WSReply
listed = list(_first_entry.RESPONSES_MODULES)
with_package = [name for name in listed if name in sys.modules]
steps = []
import_module = stepwise.importlib.import_module
def counting(name):
    before = len(sys.modules)
    try:
        return import_module(name)
    finally:
        steps.append([name, len(sys.modules) - before])
stepwise.importlib.import_module = counting
async def main():
    fake = FakeOpenAI()
    fake.add_ws(WSReply.text("one"), WSReply.text("two"))  # both Responses paths
    async with fake.llm(api=sys.argv[1], streaming=sys.argv[2] == "ws") as llm:
        entered = [name for name in listed if name not in sys.modules]
        before = set(sys.modules)
        for _ in range(2):
            ctx = ChatContext.empty()
            ctx.add_message(ChatRole.USER, "hi")
            async with llm.chat(ctx) as stream:
                [item async for item in stream]
        turns = sorted(name for name in set(sys.modules) - before if name.startswith("scoped"))
    return entered, turns
entered, turns = anyio.run(main)
print(json.dumps([with_package, steps, entered, turns]))
"""


@pytest.mark.parametrize(("api", "mode"), [("responses", "http"), ("chat", "ws")])
def test_the_responses_modules_come_with_entering_a_module_per_step(api: str, mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", RESPONSES, api, mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    with_package, steps, entered, turns = json.loads(done.stdout)
    assert with_package == []
    # Ours, less the HTTP transport's (every instance's entering imports those).
    ours = [
        (name, added)
        for name, added in steps
        if name.startswith("scoped_openai._") and name not in HTTP_TRANSPORT
    ]
    assert [name for name, _ in ours] == list(RESPONSES_MODULES)
    assert {name: added for name, added in ours if added != 1} == {}  # one body per step
    assert entered == []
    assert turns == []  # the turns imported none of our modules

"""The transports' imports, a module per step: each list is complete, each import gets its
own checkpoint, and what cannot be split is named. Run in fresh interpreters (this one
imported everything already)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import anyio
import pytest

from scoped_openai._stepwise_import import import_stepwise

# Each step of ``import_stepwise``, with how many modules it added to ``sys.modules``; then
# what building the first HTTP/2 client and importing the WebSocket engine still add, and
# the packages left deferred.
GROWTH = """
import json, sys
import anyio, httpx
import scoped_openai
from scoped_openai import _compat, _stepwise_import as stepwise
from scoped_openai._deferred_import import defer_until_used, is_deferred
steps = []
def counting(step):
    def run(name):
        before = len(sys.modules)
        try:
            return step(name)
        finally:
            steps.append([getattr(name, "__name__", name), len(sys.modules) - before])
    return run
stepwise.importlib.import_module = counting(stepwise.importlib.import_module)
stepwise.complete = counting(stepwise.complete)
async def main():
    if "httpcore" not in sys.modules:
        defer_until_used("trio")
    await stepwise.import_stepwise(_compat.HTTP_TRANSPORT)
    http_steps = list(steps)
    await stepwise.import_stepwise(_compat.WEBSOCKET_ENGINE)
    return http_steps, steps[len(http_steps):]
http_steps, ws_steps = anyio.run(main, backend=sys.argv[1])
before = set(sys.modules)
httpx.AsyncClient(http2=True)
import scoped_openai._transports.ws_sansio
left = sorted(set(sys.modules) - before)
deferred = sorted(name for name, module in sys.modules.items() if is_deferred(module))
print(json.dumps([http_steps, ws_steps, left, deferred]))
"""

STEPS = """
import json, sys
import anyio
import scoped_openai
from scoped_openai import _compat, _stepwise_import as stepwise
names = [*_compat.WEBSOCKET_ENGINE, "scoped_openai._no_such_module"]
events = []
give_way = stepwise.give_way
import_module, complete = stepwise.importlib.import_module, stepwise.complete
async def counting():
    events.append("give way")
    await give_way()
def importing(name):
    events.append(name)
    return import_module(name)
def completing(module):  # a package deferred while its submodules were imported
    events.append(module.__name__)
    return complete(module)
stepwise.give_way = counting
stepwise.importlib.import_module = importing
stepwise.complete = completing
anyio.run(stepwise.import_stepwise, names, backend=sys.argv[1])
first = list(events)
anyio.run(stepwise.import_stepwise, names, backend=sys.argv[1])
print(json.dumps([first, events[len(first):], [n for n in names[:-1] if n not in sys.modules]]))
"""

# An asyncio app with trio installed: the first turn runs without trio's import; a trio
# app later in the same process gets the one real trio, and httpcore uses it.
TRIO_DEFERRED = """
import json, sys
import anyio
import scoped_openai
from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FAKE_API_KEY, FakeOpenAI, Reply
from scoped_openai._deferred_import import is_deferred
trio_before = "trio" in sys.modules
async def turn(fake):
    async with fake.serve() as server:
        async with OpenAILLM(api_key=FAKE_API_KEY, base_url=server.base_url) as llm:
            ctx = ChatContext.empty()
            ctx.add_message(ChatRole.USER, "hi")
            async with llm.chat(ctx) as stream:
                return "".join([item.content async for item in stream])
fake = FakeOpenAI()
fake.add(Reply.text(["one ", "two"]), Reply.text("three"))
on_asyncio = anyio.run(turn, fake, backend="asyncio")
ran_after_asyncio = "trio._core" in sys.modules or not is_deferred(sys.modules["trio"])
import trio
import httpcore._synchronization
on_trio = anyio.run(turn, fake, backend="trio")
print(json.dumps([trio_before, on_asyncio, ran_after_asyncio, on_trio,
    httpcore._synchronization.trio is trio and hasattr(trio, "run")]))
"""

# Entering cancelled half-way: httpcore's submodules partly imported, its packages deferred;
# the first client built afterwards completes them in place.
CANCELLED = """
import json, sys
import anyio, httpx
import scoped_openai
from scoped_openai import _compat, _stepwise_import as stepwise
from scoped_openai._deferred_import import is_deferred
def deferred():
    return sorted(name for name, module in sys.modules.items() if is_deferred(module))
give_way, seen = stepwise.give_way, []
async def counting():
    seen.append(1)
    if len(seen) == 30:  # as a cancelled scope's checkpoint raises
        raise anyio.get_cancelled_exc_class()()
    await give_way()
stepwise.give_way = counting
async def main():
    try:
        await stepwise.import_stepwise(_compat.HTTP_TRANSPORT)
    except anyio.get_cancelled_exc_class():
        return deferred()
    return None
half = anyio.run(main, backend="asyncio")
client = httpx.AsyncClient(http2=True)
print(json.dumps([half, deferred(), type(client._transport._pool).__name__]))
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


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_each_step_imports_one_module_but_a_cycle_and_nothing_is_left(backend: str) -> None:
    http_steps, ws_steps, left, deferred = run(GROWTH, backend)  # type: ignore[misc]
    if backend == "asyncio":  # httpcore was not imported with scoped_openai (trio is installed)
        assert len(http_steps) > 50
    assert {name for name, added in http_steps if added > 1} == set()
    # What cannot be split: websockets' package with its two helpers. The cycle of
    # websockets modules that import each other is split (``CYCLES``): one body per step.
    # (zipfile, whose ``_path`` subpackage imports it back since Python 3.12, came with
    # importlib.metadata, which is now left unrun: see ``unused`` below.)
    assert {name: added for name, added in ws_steps if added > 1} == {"websockets": 3}
    assert left == []  # the lists hold everything the first client and the engine import
    # Left unrun, as nothing here uses them: trio in an asyncio app (httpcore imports it),
    # importlib.metadata (websockets' version module imports it, for development checkouts).
    unused = ["importlib.metadata"]
    assert deferred == ([*unused, "trio"] if backend == "asyncio" else unused)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_each_import_not_done_yet_gets_a_checkpoint_and_unknown_names_are_skipped_for_good(
    backend: str,
) -> None:
    events, again, left = run(STEPS, backend)  # type: ignore[misc]
    imports = events[1::2]
    assert len(imports) > 10  # a fresh interpreter has most of the engine to import
    assert events[::2] == ["give way"] * len(imports)  # the loop given back before each
    assert len(events) == 2 * len(imports)
    assert imports[-1] == "scoped_openai._no_such_module"  # tried, skipped without error
    assert left == []
    assert again == []  # the next instance entered: nothing to import, nothing tried again


@pytest.mark.loopback
def test_an_asyncio_turn_never_runs_trio_and_a_later_trio_app_gets_the_real_one() -> None:
    trio_before, on_asyncio, ran_after_asyncio, on_trio, shared = run(TRIO_DEFERRED)  # type: ignore[misc]
    assert trio_before is False  # installed, not imported by scoped_openai
    assert on_asyncio == "one two"
    assert ran_after_asyncio is False  # httpcore took the deferred trio and never used it
    assert on_trio == "three"
    assert shared is True  # one trio module: httpcore's is the app's, complete


def test_entering_cancelled_half_way_leaves_deferred_packages_the_first_client_completes() -> None:
    half, after, pool = run(CANCELLED)  # type: ignore[misc]
    assert "httpcore" in half  # cancelled while httpcore's submodules were being imported
    assert [name for name in after if name != "trio"] == []
    assert pool == "AsyncConnectionPool"


class Walks(tuple[str, ...]):
    """A list of names that counts how often it is walked."""

    walks = 0

    def __iter__(self) -> Iterator[str]:
        type(self).walks += 1
        return super().__iter__()


@pytest.mark.anyio
async def test_a_list_walked_to_its_end_is_not_walked_again_but_a_cancelled_walk_is() -> None:
    Walks.walks = 0
    names = Walks(("json", f"scoped_openai._no_such_module_{uuid.uuid4().hex}"))
    with anyio.CancelScope() as scope:
        scope.cancel()
        await import_stepwise(names)  # cancelled at the checkpoint before the missing name
    assert scope.cancelled_caught
    await import_stepwise(names)
    assert Walks.walks == 2  # the cancelled walk was not taken for a whole one
    await import_stepwise(names)
    await import_stepwise(names)
    assert Walks.walks == 2  # every instance entered after: no name checked again

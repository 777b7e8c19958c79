"""The examples in README.md run as written (so the README cannot drift): the test
examples, and the quickstarts both offline (FakeOpenAI) and with a key (against the fake on
loopback, reached through OPENAI_BASE_URL as a user's own server would be)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from scoped_openai.testing import FakeOpenAI, Reply, WSReply

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)
TEST_BLOCKS = [block for block in BLOCKS if "async def test_" in block]
#: The first Python block under each "## Quickstart: ..." heading, by heading.
QUICKSTARTS = {
    name: re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    for name, section in re.findall(r"^## Quickstart: (\w+)\n(.*?)(?=^## )", TEXT, re.S | re.M)
}
OFFLINE_REPLIES = {
    "trio": "How about Miso?\n",
    "asyncio": "Why did the developer go broke? Too many cache misses.\n",
}


def quickstart_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_"))}
    env.update(extra)
    return env


async def run_quickstart(name: str, **env: str) -> str:
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [sys.executable, "-c", QUICKSTARTS[name]], env=quickstart_env(**env), check=False
        )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return result.stdout.decode()


def test_the_readme_has_both_quickstarts() -> None:
    assert sorted(QUICKSTARTS) == ["asyncio", "trio"]


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["trio", "asyncio"])
async def test_quickstart_runs_offline_as_written(name: str) -> None:
    assert await run_quickstart(name) == OFFLINE_REPLIES[name]


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["trio", "asyncio"])
async def test_quickstart_runs_with_a_key(name: str) -> None:
    fake = FakeOpenAI()
    fake.add(Reply.text("Whiskers, from the server."))
    fake.add_ws(WSReply.text("A joke, from the server."))
    async with fake.serve() as server:
        out = await run_quickstart(name, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.base_url)
    expected = {"trio": "Whiskers, from the server.", "asyncio": "A joke, from the server."}
    assert out == expected[name] + "\n"
    assert fake.requests[0].headers["authorization"] == "Bearer sk-test"


def load(block: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(block, "<README example>", "exec"), namespace)
    (name,) = [n for n in namespace if n.startswith("test_")]
    return namespace[name]


def test_the_readme_has_both_test_examples() -> None:
    assert len(TEST_BLOCKS) == 2


def test_trio_example_runs_on_the_virtual_clock() -> None:
    (block,) = [b for b in TEST_BLOCKS if "pytest.mark.trio" in b]
    clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(load(block), clock, clock=clock)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_websocket_example_runs(backend: str) -> None:
    (block,) = [b for b in TEST_BLOCKS if "pytest.mark.anyio" in b]
    anyio.run(load(block), backend, backend=backend)

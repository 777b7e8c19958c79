"""The test examples in README.md run as written (so the README cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
TEST_BLOCKS = [block for block in BLOCKS if "async def test_" in block]


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

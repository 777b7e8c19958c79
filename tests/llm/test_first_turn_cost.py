"""Entering an ``OpenAILLM`` loads the HTTP transport, so the first turn does not.

httpx imports httpcore (and trio, when installed) only when its first client is built:
about 100 ms that would otherwise land between a voice agent's first request and its first
token. Checked in a fresh interpreter, where nothing is imported yet.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, asyncio
from scoped_openai import OpenAILLM
before = "httpcore" in sys.modules
async def main():
    async with OpenAILLM(api_key="sk-test"):
        return "httpcore" in sys.modules
print(before, asyncio.run(main()))
"""


def test_entering_loads_the_transport_before_the_first_turn() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False", "True"]

"""Pipecat runs on asyncio only, so these tests do too (the library's own suite covers trio).

Every test runs the real Pipecat from PyPI against ``FakeOpenAI`` served on a loopback
socket; ``path`` parametrizes HTTP (Chat Completions) and WebSocket (Responses) mode.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Pipecat's audio helpers import the stdlib's audioop, which warns on 3.11/3.12 (Pipecat
    # depends on audioop-lts from 3.13). Imported once here, outside the warnings-are-errors
    # filter; nothing of ours is involved.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    pytest.importorskip("pipecat.audio.utils", reason="the pipecat extra is not installed")

from scoped_openai.integrations.pipecat import OpenAILLMService
from scoped_openai.testing import FakeOpenAI, Reply, Stall, WSReply
from scoped_openai.testing._loopback import LoopbackServer

REPO = Path(__file__).resolve().parents[3]
CONFORMANCE = Path(
    os.environ.get("SCOPED_OPENAI_CONFORMANCE") or REPO.parent / "shared" / "conformance"
)
PATHS = ["http", "ws"]
MakeService = Callable[..., OpenAILLMService]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
async def server(fake: FakeOpenAI) -> AsyncIterator[LoopbackServer]:
    async with fake.serve() as served:
        yield served


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_service(server: LoopbackServer, path: str) -> MakeService:
    """Our service on the loopback fake, in ``path``'s mode (kwargs: ``OpenAILLM``'s and
    ``LLMService``'s)."""

    def make(**kwargs: Any) -> OpenAILLMService:
        kwargs.setdefault("api_key", "sk-test")
        return OpenAILLMService(base_url=server.base_url, streaming=path == "ws", **kwargs)

    return make


def script_text(
    fake: FakeOpenAI, path: str, text: str | list[str], *, delay: float = 0.0, stall: bool = False
) -> None:
    """Queue one text reply on ``path`` (paced by ``delay``; ``stall``: never finishes)."""
    if path == "http":
        fake.add(Reply.text(text, delay=delay, then=[Stall()] if stall else ()))
    else:
        fake.add_ws(WSReply.text(text, delay=delay, then=[Stall()] if stall else None))


def script_calls(fake: FakeOpenAI, path: str, *calls: tuple[str, str, str]) -> None:
    """Queue one reply calling tools: ``(call_id, name, arguments_json)`` each."""
    if path == "http":
        fake.add(Reply.tool_calls(*calls))
    else:
        fake.add_ws(WSReply.function_calls(*calls))


def sent_requests(fake: FakeOpenAI, path: str) -> list[dict[str, Any]]:
    """Every request sent, oldest first: Chat Completions bodies (HTTP) or the
    ``response.create`` frames (WebSocket)."""
    if path == "http":
        return [json.loads(r.body) for r in fake.requests if r.method == "POST"]
    return [f for f in fake.ws_frames if f.get("type") == "response.create"]

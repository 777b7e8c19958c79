"""Mutated recorded streams: whatever the server sends, only our errors come out.

Recorded real streams (``../shared/conformance``, or ``SCOPED_OPENAI_CONFORMANCE``; the
tests skip where they are absent) are mutated by hypothesis: a value swapped for one of
another type, a key deleted, an event deleted or duplicated, an event cut short, an event
replaced by JSON nested 100,000 deep. Each mutated stream is played through a whole turn
(Chat Completions as SSE on the HTTP path, Responses events as frames on the WebSocket),
on asyncio and trio, and the turn must either complete or raise a ``ScopedOpenAIError``
that was also emitted to ``on("error")`` once, with nothing left open.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoped_openai import ChatContext, ChatRole, ScopedOpenAIError
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(
    os.environ.get("SCOPED_OPENAI_CONFORMANCE") or REPO_ROOT.parent / "shared" / "conformance"
)
SKIP_REASON = f"conformance recordings not found at {CONFORMANCE} (set SCOPED_OPENAI_CONFORMANCE)"
DEEP = "[" * 100_000 + "]" * 100_000


def sse_payloads(text: str) -> list[Any]:
    """The JSON payloads of an SSE body (``[DONE]`` dropped: the player adds it)."""
    payloads = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if data and data != ["[DONE]"]:
            payloads.append(json.loads("\n".join(data)))
    return payloads


def load(pattern: str) -> list[list[Any]]:
    streams = []
    for path in sorted(CONFORMANCE.glob(pattern)):
        text = path.read_text()
        if path.suffix == ".jsonl":
            streams.append([json.loads(line) for line in text.splitlines() if line.strip()])
        else:
            streams.append(sse_payloads(text))
    return streams


CHAT = load("chat_*.sse") + load("azure_chat_*.sse") if CONFORMANCE.is_dir() else []
RESPONSES = load("responses_*.sse") + load("responses_*.jsonl") if CONFORMANCE.is_dir() else []
needs_recordings = pytest.mark.skipif(not CONFORMANCE.is_dir(), reason=SKIP_REASON)

OTHER_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside ``value``, depth first."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.append((value, key))
            found += slots(inner)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.append((value, index))
            found += slots(inner)
    return found


def mutate(data: st.DataObject, stream: list[Any]) -> list[str]:
    """Apply a few random mutations; the events as JSON texts."""
    events: list[Any] = json.loads(json.dumps(stream))  # a deep copy
    texts: dict[int, str] = {}  # events replaced by raw text
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        index = data.draw(st.integers(0, len(events) - 1), label="event")
        kind = data.draw(
            st.sampled_from(["swap", "delete-key", "delete", "duplicate", "cut", "deep"]),
            label="kind",
        )
        places = slots(events[index])
        if kind in ("swap", "delete-key") and places:
            container, key = places[data.draw(st.integers(0, len(places) - 1), label="place")]
            if kind == "swap" or isinstance(container, list):
                container[key] = data.draw(OTHER_VALUES, label="value")
            else:
                del container[key]
        elif kind == "delete" and len(events) > 1:
            del events[index]
            texts = {}
        elif kind == "duplicate":
            events.insert(index, json.loads(json.dumps(events[index])))
            texts = {}
        elif kind == "cut":
            text = json.dumps(events[index])
            texts[index] = text[: data.draw(st.integers(0, len(text) - 1), label="cut at")]
        elif kind == "deep":
            texts[index] = DEEP
    return [texts.get(i, json.dumps(event)) for i, event in enumerate(events)]


async def play(fake: FakeOpenAI, websocket: bool) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hello")
    errors: list[Exception] = []
    raised: Exception | None = None
    # A mutation that drops the end marker leaves a turn waiting: the guards end it (on the
    # virtual clock under trio; in 20 ms of real time under asyncio).
    async with fake.llm(streaming=websocket, idle_timeout=0.02, first_token_timeout=0.05) as llm:
        llm.on("error", errors.append)
        try:
            async with llm.chat(ctx) as stream:
                async for _ in stream:
                    pass
        except Exception as exc:
            raised = exc
        assert fake.counters.open_bodies == 0
    if raised is not None:
        assert isinstance(raised, ScopedOpenAIError), repr(raised)
    # Only our errors, each emitted (a graph-less turn reports nothing it does not raise).
    assert errors == ([] if raised is None else [raised])
    assert fake.ws_open == 0


def run(play: Any, fake: FakeOpenAI, websocket: bool, backend: str) -> None:
    options = {"clock": trio.testing.MockClock(autojump_threshold=0)} if backend == "trio" else {}
    anyio.run(play, fake, websocket, backend=backend, backend_options=options)


SETTINGS = settings(
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@needs_recordings
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@SETTINGS
@given(data=st.data())
def test_mutated_chat_completions_streams(backend: str, data: st.DataObject) -> None:
    stream = data.draw(st.sampled_from(CHAT), label="recording")
    texts = mutate(data, stream)
    fake = FakeOpenAI()
    body = b"".join(b"data: " + text.encode() + b"\n\n" for text in texts)
    fake.add(
        Reply.raw(body + b"data: [DONE]\n\n", split=data.draw(st.sampled_from([None, 7, 300])))
    )
    run(play, fake, False, backend)


@needs_recordings
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@SETTINGS
@given(data=st.data())
def test_mutated_responses_streams(backend: str, data: st.DataObject) -> None:
    stream = data.draw(st.sampled_from(RESPONSES), label="recording")
    fake = FakeOpenAI()
    fake.add_ws(WSReply.frames(mutate(data, stream)))
    run(play, fake, True, backend)

"""Recorded structured-output streams through the conversational-graph path.

``chat_json_schema.sse`` and ``chat_json_schema_n3.sse`` are real Chat Completions streams of
a ``json_schema`` reply in the openai-python tests' ``Location`` model (``city``,
``temperature``, ``units``). A ``ConversationalGraph`` in that schema, with ``city`` as the
spoken field, must speak exactly the city of choice 0 while it streams and end with choice
0's parsed content as ``graph_response``: over the real HTTP path (the fake serving the bytes
whole and in small pieces, on both backends), over the WebSocket path (choice 0's deltas
replayed as Responses text deltas), and through the sans-IO core alone.

The recordings are read where they live (``SCOPED_OPENAI_CONFORMANCE``, default
``<repo root>/../shared/conformance``); the tests skip where the folder is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from scoped_openai import ChatContext, ChatRole, ConversationalGraph, LLMResponse
from scoped_openai._assembly import Assembler
from scoped_openai._chat_completions import chunk_events
from scoped_openai._events import Event, StreamDone
from scoped_openai._sse import SSEDecoder
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

try:  # the chat conformance module's loader, when its folder is importable (rootdir imports)
    from test_chat_conformance import CONFORMANCE, SKIP_REASON, load
except ImportError:  # pragma: no cover - a tiny equivalent
    CONFORMANCE = Path(
        os.environ.get("SCOPED_OPENAI_CONFORMANCE")
        or Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
    )
    SKIP_REASON = (
        f"conformance recordings not found at {CONFORMANCE} (set SCOPED_OPENAI_CONFORMANCE)"
    )

    def load(name: str) -> tuple[bytes, dict[str, Any]]:
        body = (CONFORMANCE / f"{name}.sse").read_bytes()
        expected = json.loads((CONFORMANCE / f"{name}.expected.json").read_text("utf-8"))
        return body, expected


pytestmark = pytest.mark.skipif(not CONFORMANCE.is_dir(), reason=SKIP_REASON)

RECORDINGS = ["chat_json_schema", "chat_json_schema_n3"]

#: The recorded ``Location`` model as a strict JSON schema (pydantic: ``units: Literal["c", "f"]``).
LOCATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature": {"type": "number"},
        "units": {"type": "string", "enum": ["c", "f"]},
    },
    "required": ["city", "temperature", "units"],
    "additionalProperties": False,
}


def location_graph() -> ConversationalGraph:
    return ConversationalGraph(LOCATION_SCHEMA, spoken_field="city")


def choice0(expected: dict[str, Any]) -> dict[str, Any]:
    choice: dict[str, Any] = expected["choices"][0]
    assert choice["index"] == 0
    parsed: dict[str, Any] = json.loads(choice["content"])
    return parsed


def choice0_deltas(body: bytes) -> list[str]:
    """Choice 0's content deltas, as recorded (for replay as Responses text deltas)."""
    deltas: list[str] = []
    decoder = SSEDecoder()
    for sse in decoder.feed(body) + decoder.close():
        if sse.data == "[DONE]":
            continue
        for choice in json.loads(sse.data)["choices"]:
            content = (choice.get("delta") or {}).get("content")
            if choice["index"] == 0 and content:
                deltas.append(content)
    return deltas


def check(items: list[LLMResponse], expected: dict[str, Any]) -> None:
    want = choice0(expected)
    assert "".join(item.content for item in items) == want["city"] == "San Francisco"
    assert len([item for item in items if item.content]) > 1  # spoken as it streamed
    graph = [item for item in items if item.graph_response is not None]
    assert len(graph) == 1
    assert graph[0] is items[-1]
    assert graph[0].content == ""
    assert graph[0].graph_response == want


@pytest.mark.anyio
@pytest.mark.parametrize("split", [None, 1, 7], ids=["whole", "split1", "split7"])
@pytest.mark.parametrize("name", RECORDINGS)
async def test_recording_through_the_graph_over_http(name: str, split: int | None) -> None:
    body, expected = load(name)
    fake = FakeOpenAI()
    fake.add(Reply.raw(body, split=split))
    errors: list[Exception] = []
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "What's the weather like in SF?")
    graph = location_graph()
    async with fake.llm(model=expected["model"]) as llm:
        llm.on("error", errors.append)
        async with llm.chat(ctx, conversational_graph=graph) as stream:
            items = [item async for item in stream]
    check(items, expected)
    assert stream.assembler.done is True
    assert errors == []
    assert fake.counters.open_bodies == 0
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.json()["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "conversational_graph_response",
            "strict": True,
            "schema": LOCATION_SCHEMA,
        },
    }
    usage = (items[-1].metadata or {})["usage"]  # the shared dict: every item has it
    assert usage is not None
    assert usage["total_tokens"] == expected["usage"]["total_tokens"]


@pytest.mark.anyio
@pytest.mark.parametrize("name", RECORDINGS)
async def test_recording_through_the_graph_over_the_websocket(name: str) -> None:
    body, expected = load(name)
    deltas = choice0_deltas(body)
    assert "".join(deltas) == expected["choices"][0]["content"]
    fake = FakeOpenAI()
    fake.add_ws(WSReply.text(deltas, model=expected["model"]))
    errors: list[Exception] = []
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "What's the weather like in SF?")
    graph = location_graph()
    async with fake.llm(streaming=True, model=expected["model"]) as llm:
        llm.on("error", errors.append)
        async with llm.chat(ctx, conversational_graph=graph) as stream:
            items = [item async for item in stream]
    check(items, expected)
    assert errors == []
    (create,) = fake.ws_frames
    assert create["text"] == {
        "format": {
            "type": "json_schema",
            "name": "conversational_graph_response",
            "strict": True,
            "schema": LOCATION_SCHEMA,
        }
    }


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("name", RECORDINGS)
def test_recording_through_the_graph_in_the_sans_io_core(name: str, bytewise: bool) -> None:
    body, expected = load(name)
    pieces = [body[i : i + 1] for i in range(len(body))] if bytewise else [body]
    decoder = SSEDecoder()
    assembler = Assembler(model=expected["model"], graph=location_graph())
    out: list[LLMResponse | Exception] = []

    def dispatch(data: str) -> None:
        events: list[Event] = []
        if data == "[DONE]":
            events.append(StreamDone())
        else:
            chunk_events(json.loads(data), events)
        for event in events:
            assembler.feed(event, out)

    for piece in pieces:
        for sse in decoder.feed(piece):
            dispatch(sse.data)
    for sse in decoder.close():
        dispatch(sse.data)
    assert assembler.done is True
    assert assembler.warnings == []
    assert not any(isinstance(item, Exception) for item in out)
    check(out, expected)  # type: ignore[arg-type]
    assert assembler.text == expected["choices"][0]["content"]
    assert assembler.spoken == "San Francisco"

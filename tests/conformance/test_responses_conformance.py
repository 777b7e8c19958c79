"""Recorded real Responses API streams, replayed as WebSocket frames, against their results.

The recordings are read where they live (``SCOPED_OPENAI_CONFORMANCE``, default
``<repo root>/../shared/conformance``); they are never copied into the repository. Each
``responses_*.sse`` is parsed into its JSON events (one ``data:`` payload per event) and each
``responses_*.jsonl`` holds one frame per line; the frames are played by the fake's
Responses WebSocket (``WSReply.frames``) through ``OpenAILLM(streaming=True)`` on both
backends, and must assemble to the ``.expected.json`` text, function calls (call_id, name,
parsed arguments) and usage. A recorded response is then chained from, as a real one would be.
The ``.sse`` recordings' bytes also go through ``ResponsesParser`` (the SSE decoder in front,
as ``POST /responses`` streams them) under every delivery the Chat Completions tests use,
and are served as they are by the fake's ``POST /responses`` to ``OpenAILLM(api="responses")``
under the same deliveries and random splits.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from scoped_openai import ChatContext, ChatRole, LLMResponse
from scoped_openai._assembly import Assembler
from scoped_openai._responses import ResponsesEventMapper, ResponsesParser
from scoped_openai.testing import FakeOpenAI, Reply, WSReply
from support.sse_deliveries import VARIANTS

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(
    os.environ.get("SCOPED_OPENAI_CONFORMANCE") or REPO_ROOT.parent / "shared" / "conformance"
)
SKIP_REASON = f"conformance recordings not found at {CONFORMANCE} (set SCOPED_OPENAI_CONFORMANCE)"


def recordings() -> list[Any]:
    if not CONFORMANCE.is_dir():
        return [pytest.param("missing", marks=pytest.mark.skip(reason=SKIP_REASON), id="missing")]
    names = sorted(
        path.name
        for pattern in ("responses_*.sse", "responses_*.jsonl")
        for path in CONFORMANCE.glob(pattern)
    )
    assert names, f"no responses_*.sse or responses_*.jsonl recordings in {CONFORMANCE}"
    return names


RECORDINGS = recordings()


def sse_frames(body: str) -> list[dict[str, Any]]:
    """The JSON payloads of an SSE body's events (``event:`` lines carry the same type)."""
    frames: list[dict[str, Any]] = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if not data:
            continue
        frame = json.loads("\n".join(data))
        names = [line[6:].strip() for line in block.split("\n") if line.startswith("event:")]
        if names:
            assert names == [frame["type"]]
        frames.append(frame)
    return frames


def load(name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    path = CONFORMANCE / name
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".sse":
        frames = sse_frames(text)
    else:
        frames = [json.loads(line) for line in text.splitlines() if line.strip()]
    expected_path = path.with_name(path.name.rsplit(".", 1)[0] + ".expected.json")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert [frame["type"] for frame in frames] == expected["event_types"]
    return frames, expected


def completed_response(frames: list[dict[str, Any]]) -> dict[str, Any]:
    (last,) = [frame for frame in frames if frame["type"] == "response.completed"]
    response: dict[str, Any] = last["response"]
    return response


def check(items: list[LLMResponse], frames: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert expected["terminal"] == "response.completed"
    text = "".join(item.content for item in items)
    assert text == expected["text"]
    calls = [item.function_call for item in items if item.function_call is not None]
    assert calls == [
        {"name": call["name"], "arguments": call["parsed_arguments"], "id": call["call_id"]}
        for call in expected["function_calls"]
    ]
    want = expected["usage"]
    usage_items = [
        item for item in items if item.content == "" and set(item.metadata or ()) == {"usage"}
    ]
    assert len(usage_items) == 1
    assert items[-1] is usage_items[0]  # the usage comes last
    assert usage_items[0].usage == {
        "prompt_tokens": want["input_tokens"],
        "completion_tokens": want["output_tokens"],
        "total_tokens": want["total_tokens"],
        "prompt_cached_tokens": want["input_tokens_details"]["cached_tokens"],
        "reasoning_tokens": want["output_tokens_details"]["reasoning_tokens"],
        "request_id": expected["response_id"],
        "model": completed_response(frames)["model"],
    }
    shared = (usage_items[0].metadata or {})["usage"]
    assert all((item.metadata or {}).get("usage") is shared for item in items)
    assert [item for item in items if item.usage is not None] == usage_items  # typed: one


@pytest.mark.anyio
@pytest.mark.parametrize("name", RECORDINGS)
async def test_recording_over_the_websocket_path(name: str) -> None:
    frames, expected = load(name)
    fake = FakeOpenAI()
    fake.add_ws(WSReply.frames(frames))
    errors: list[Exception] = []
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    model = completed_response(frames)["model"]
    async with fake.llm(streaming=True, model=model) as llm:
        llm.on("error", errors.append)
        async with llm.chat(ctx) as stream:
            items = [item async for item in stream]
    check(items, frames, expected)
    assert stream.assembler.done is True
    assert stream.assembler.response_id == expected["response_id"]
    assert stream.cancelled is False
    assert errors == []
    assert fake.ws_open == 0


@pytest.mark.anyio
@pytest.mark.parametrize("name", RECORDINGS)
async def test_a_recorded_response_is_chained_from(name: str) -> None:
    # The context records what the recorded response said and called (and the calls'
    # outputs): the next turn continues from the recorded id with only the new items.
    frames, expected = load(name)
    fake = FakeOpenAI()
    fake.add_ws(WSReply.frames(frames), WSReply.text("next"))
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    async with fake.llm(streaming=True, model=completed_response(frames)["model"]) as llm:
        async with llm.chat(ctx) as stream:
            items = [item async for item in stream]
        check(items, frames, expected)
        new: list[dict[str, Any]] = []
        if expected["text"]:
            ctx.add_message(ChatRole.ASSISTANT, expected["text"])
        for call in expected["function_calls"]:
            ctx.add_function_call(call["name"], call["arguments"], call_id=call["call_id"])
        for call in expected["function_calls"]:
            ctx.add_function_output(call["name"], "ok", call_id=call["call_id"])
            new.append({"type": "function_call_output", "call_id": call["call_id"], "output": "ok"})
        ctx.add_message(ChatRole.USER, "thanks")
        new.append(
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "thanks"}],
            }
        )
        async with llm.chat(ctx) as stream:
            assert "".join([item.content async for item in stream]) == "next"
    _first, second = fake.ws_frames
    assert second["previous_response_id"] == expected["response_id"]
    assert second["input"] == new


@pytest.mark.parametrize("name", RECORDINGS)
def test_recording_through_the_sans_io_core(name: str) -> None:
    # The same frames through the mapper and the assembler alone, with unknown events
    # interleaved (they must change nothing).
    frames, expected = load(name)
    model = completed_response(frames)["model"]
    for noisy in (False, True):
        mapper = ResponsesEventMapper()
        assembler = Assembler(model=model)
        out: list[Any] = []
        for frame in frames:
            if noisy:
                events: list[Any] = []
                mapper.feed({"type": "response.something_new", "x": [1]}, events)
                assert events == []
            events = []
            mapper.feed(frame, events)
            for event in events:
                assembler.feed(event, out)
        assert assembler.done is True
        assert not any(isinstance(item, Exception) for item in out)
        check(out, frames, expected)
        assert assembler.response_id == expected["response_id"]


SSE_RECORDINGS = [name for name in RECORDINGS if not str(name).endswith(".jsonl")]


@pytest.mark.parametrize("name", SSE_RECORDINGS)
def test_recorded_sse_body_through_the_parser(name: str) -> None:
    # What ``POST /responses`` streams: the recording's bytes through ResponsesParser (SSE
    # decoder in front), under every delivery of the Chat Completions recordings, assemble to
    # the expected result.
    if name == "missing":
        pytest.skip(SKIP_REASON)
    frames, expected = load(name)
    body = (CONFORMANCE / name).read_bytes()
    assert b"\r" not in body  # the variants rely on LF-only recordings
    model = completed_response(frames)["model"]
    for delivery, variant in VARIANTS.items():
        pieces = variant(body)
        parser = ResponsesParser()
        assembler = Assembler(model=model)
        out: list[Any] = []
        events: list[Any] = []
        for piece in pieces:
            parser.feed(piece, events)
        parser.end(events)
        for event in events:
            assembler.feed(event, out)
        assert assembler.done, delivery
        assert parser.terminal, delivery
        assert not any(isinstance(item, Exception) for item in out), delivery
        check(out, frames, expected)
        assert assembler.response_id == expected["response_id"]


def test_every_recording_has_an_expected_result() -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip(SKIP_REASON)
    for name in RECORDINGS:
        stem = name.rsplit(".", 1)[0]
        assert (CONFORMANCE / f"{stem}.expected.json").is_file(), name
    assert len(RECORDINGS) >= 5


# -- the Responses API over HTTP (api="responses") ------------------------------------------


def _random_pieces(body: bytes) -> list[bytes]:
    rng = random.Random(len(body))  # seeded: the same cuts every run
    pieces, start = [], 0
    while start < len(body):
        end = start + rng.randint(1, 97)
        pieces.append(body[start:end])
        start = end
    return pieces


#: The Chat Completions deliveries, plus random splits, on the network.
HTTP_DELIVERIES = {**VARIANTS, "random-splits": _random_pieces}
SSE_RECORDINGS = [name for name in RECORDINGS if str(name).endswith(".sse")]


@pytest.mark.anyio
@pytest.mark.parametrize("delivery", list(HTTP_DELIVERIES))
@pytest.mark.parametrize("name", SSE_RECORDINGS)
async def test_recording_over_the_http_responses_path(name: str, delivery: str) -> None:
    frames, expected = load(name)
    body = (CONFORMANCE / name).read_bytes()
    assert b"\r" not in body  # the deliveries rely on LF-only recordings
    fake = FakeOpenAI().add_responses_sse(Reply(list(HTTP_DELIVERIES[delivery](body))))
    errors: list[Exception] = []
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    async with fake.llm(api="responses", model=completed_response(frames)["model"]) as llm:
        llm.on("error", errors.append)
        async with llm.chat(ctx) as stream:
            items = [item async for item in stream]
    check(items, frames, expected)
    assert stream.assembler.done is True
    assert stream.assembler.response_id == expected["response_id"]
    assert stream.cancelled is False
    assert errors == []
    (request,) = fake.requests
    assert request.path.endswith("/responses")
    assert request.json()["stream"] is True
    assert fake.counters.open_bodies == 0

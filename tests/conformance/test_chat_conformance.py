"""Recorded real Chat Completions streams (OpenAI and Azure) against their expected results.

The recordings are read where they live (``SCOPED_OPENAI_CONFORMANCE``, default
``<repo root>/../shared/conformance``); they are never copied into the repository. Each one
goes through the real HTTP path (the fake serves its bytes whole, in 1-byte and in 7-byte
pieces, on both backends) and through the sans-IO core alone (fed whole, byte by byte, with
CRLF and CR-only line ends, and with comment lines inserted). Only choice 0 is compared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from scoped_openai import ChatContext, ChatRole, LLMResponse
from scoped_openai._assembly import Assembler
from scoped_openai._chat_completions import chunk_events
from scoped_openai._events import Event, StreamDone
from scoped_openai._sse import SSEDecoder
from scoped_openai.testing import FakeOpenAI, Reply
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
        path.stem for pattern in ("chat_*.sse", "azure_*.sse") for path in CONFORMANCE.glob(pattern)
    )
    assert names, f"no chat_*.sse or azure_*.sse recordings in {CONFORMANCE}"
    return names


RECORDINGS = recordings()


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    body = (CONFORMANCE / f"{name}.sse").read_bytes()
    expected = json.loads((CONFORMANCE / f"{name}.expected.json").read_text(encoding="utf-8"))
    return body, expected


def check(items: list[LLMResponse], finish_reason: str | None, expected: dict[str, Any]) -> None:
    """Compare the assembled items of one stream with the expected result of choice 0."""
    choice = expected["choices"][0]
    assert choice["index"] == 0
    text = "".join(i.content for i in items if not (i.metadata or {}).get("refusal"))
    refusal = "".join(i.content for i in items if (i.metadata or {}).get("refusal"))
    assert text == (choice["content"] or "")
    assert refusal == (choice["refusal"] or "")
    calls = [i.function_call for i in items if i.function_call is not None]
    assert [(c["id"], c["name"], c["arguments"]) for c in calls] == [
        (call["id"], call["name"], call["parsed_arguments"]) for call in choice["tool_calls"]
    ]
    assert finish_reason == choice["finish_reason"]
    assert items, "a recording always yields something"
    usage = items[-1].metadata["usage"]  # type: ignore[index]
    assert all(i.metadata is not None and i.metadata["usage"] is usage for i in items)
    usage_items = [i for i in items if i.content == "" and set(i.metadata or ()) == {"usage"}]
    want = expected["usage"]
    if want is None:
        assert usage_items == []
        assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
            0,
            0,
            0,
        )
        assert usage["reasoning_tokens"] == 0
        assert usage["request_id"] == (expected["id"] or None)
        return
    assert len(usage_items) == 1
    assert usage["prompt_tokens"] == want["prompt_tokens"]
    assert usage["completion_tokens"] == want["completion_tokens"]
    assert usage["total_tokens"] == want["total_tokens"]
    details = want.get("completion_tokens_details") or {}
    assert usage["reasoning_tokens"] == details.get("reasoning_tokens", 0)
    cached = (want.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    assert usage["prompt_cached_tokens"] == cached
    assert usage["request_id"] == expected["id"]
    assert usage["model"] == expected["model"]


# -- the real HTTP path ---------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("split", [None, 1, 7], ids=["whole", "split1", "split7"])
@pytest.mark.parametrize("name", RECORDINGS)
async def test_recording_over_http(name: str, split: int | None) -> None:
    body, expected = load(name)
    fake = FakeOpenAI()
    fake.add(Reply.raw(body, split=split))
    errors: list[Exception] = []
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "hi")
    async with fake.llm(model=expected["model"] or "gpt-4o-mini") as llm:
        llm.on("error", errors.append)
        async with llm.chat(ctx) as stream:
            items = [item async for item in stream]
    check(items, stream.assembler.finish_reason, expected)
    assert stream.assembler.done is True
    assert stream.cancelled is False
    assert errors == []
    assert fake.counters.open_bodies == 0


# -- the sans-IO core alone -----------------------------------------------------------------


def assemble(pieces: list[bytes], model: str) -> tuple[list[LLMResponse], str | None, int]:
    decoder = SSEDecoder()
    assembler = Assembler(model=model)
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
    assert not any(isinstance(item, Exception) for item in out)
    return out, assembler.finish_reason, decoder.comments  # type: ignore[return-value]


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", RECORDINGS)
def test_recording_through_the_sans_io_core(name: str, variant: str) -> None:
    body, expected = load(name)
    assert b"\r" not in body  # the variants below rely on LF-only recordings
    model = expected["model"] or "gpt-4o-mini"
    items, finish_reason, comments = assemble(VARIANTS[variant](body), model)
    check(items, finish_reason, expected)
    if variant.startswith("comments"):
        assert comments == body.count(b"data:") + 2
    # Every variant gives exactly the items of the plain body.
    reference, _, _ = assemble([body], model)
    assert [(i.content, i.metadata) for i in items] == [(i.content, i.metadata) for i in reference]


def test_every_recording_has_an_expected_result() -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip(SKIP_REASON)
    for name in RECORDINGS:
        assert (CONFORMANCE / f"{name}.expected.json").is_file(), name
    assert len(RECORDINGS) >= 11

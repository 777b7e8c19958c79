"""The rules the spec tests apply, calibrated on recorded real streams.

The recordings (``SCOPED_OPENAI_CONFORMANCE``, default ``<repo root>/../shared/conformance``)
must pass the very rules the library and the fake are judged by: the spec, read as
``openapi_schema`` reads it, with exactly the live-API departures it lists. Each departure
must still be needed (some recording fails without it), so the list cannot grow stale; the
older wire format is allowed only for the recordings that show it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from openapi_schema import (
    LIVE_API_DEPARTURES,
    OLDER_WIRE_FORMAT_RECORDINGS,
    REPO_ROOT,
    SKIP_REASON,
    SPEC_FILE,
    event_problems,
    problems,
    sse_payloads,
)

CONFORMANCE = Path(
    os.environ.get("SCOPED_OPENAI_CONFORMANCE") or REPO_ROOT.parent / "shared" / "conformance"
)

pytestmark = [
    pytest.mark.skipif(not SPEC_FILE.is_file(), reason=SKIP_REASON),
    pytest.mark.skipif(
        not CONFORMANCE.is_dir(),
        reason=f"conformance recordings not found at {CONFORMANCE} (set SCOPED_OPENAI_CONFORMANCE)",
    ),
]


def recording_names() -> list[str]:
    if not CONFORMANCE.is_dir():
        return []
    return sorted(p.name for p in CONFORMANCE.iterdir() if p.suffix in (".sse", ".jsonl"))


def payloads(name: str) -> list[Any]:
    body = (CONFORMANCE / name).read_bytes()
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    return sse_payloads(body)


def recording_problems(name: str, *, older: bool, without: int | None = None) -> list[str]:
    found: list[str] = []
    for index, payload in enumerate(payloads(name)):
        if name.startswith(("chat_", "azure_chat_")):
            issues = problems(
                payload, "CreateChatCompletionStreamResponse", strict=False, without=without
            )
        else:
            # The .jsonl holds the frames a WebSocket client receives: the WebSocket union.
            union = "ResponsesServerEvent" if name.endswith(".jsonl") else "ResponseStreamEvent"
            issues = event_problems(payload, union, older=older, without=without)
        found += [f"{name} #{index}: {issue}" for issue in issues]
    return found


@pytest.mark.parametrize("name", recording_names())
def test_every_recorded_stream_passes_the_rules(name: str) -> None:
    older = name in OLDER_WIRE_FORMAT_RECORDINGS
    assert payloads(name), f"{name} holds no payloads"
    assert recording_problems(name, older=older) == []


@pytest.mark.parametrize("name", sorted(OLDER_WIRE_FORMAT_RECORDINGS))
def test_the_older_wire_format_is_allowed_only_where_it_is_needed(name: str) -> None:
    assert recording_problems(name, older=False) != []


@pytest.mark.parametrize(
    "index", range(len(LIVE_API_DEPARTURES)), ids=[d[0] for d in LIVE_API_DEPARTURES]
)
def test_every_departure_is_still_needed(index: int) -> None:
    names = recording_names()
    failing = [
        name
        for name in names
        if recording_problems(name, older=name in OLDER_WIRE_FORMAT_RECORDINGS, without=index)
    ]
    evidence = LIVE_API_DEPARTURES[index][2]
    assert failing, f"no recording needs this departure any more: {evidence}"

"""The Chat Completions turn the first entering rehearses in memory (``_rehearsal``): it runs
our whole HTTP turn against the canned reply and delivers its text, opens no socket, logs no
request line and no turn, runs once per process for Chat Completions instances only, and never
makes entering fail. Both backends, no timing.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
import httpcore
import httpx
import pytest

from scoped_openai import ChatContext, OpenAILLM, _first_entry, _rehearsal
from scoped_openai._llm import DEFAULT_POOL
from scoped_openai.testing import FakeOpenAI, Reply
from support.turns import turn_text

pytestmark = pytest.mark.anyio


async def test_the_rehearsal_runs_a_whole_turn_in_memory(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_socket(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the rehearsal opened a socket")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    with caplog.at_level(logging.DEBUG):
        text = await _rehearsal.rehearse_chat_turn(OpenAILLM, DEFAULT_POOL)
    assert text == _rehearsal.REHEARSED_TEXT  # parsed and assembled by our turn's code
    lines = [record.getMessage() for record in caplog.records]
    assert not [line for line in lines if "HTTP Request" in line], lines  # httpx's INFO line
    assert not [line for line in lines if line.startswith("turn ")], lines  # no turn recorded


async def test_a_request_line_of_another_host_is_still_logged(
    caplog: pytest.LogCaptureFixture, ctx: ChatContext
) -> None:
    fake = FakeOpenAI()
    fake.add(Reply.text("hi"))
    async with fake.serve() as server:
        with caplog.at_level(logging.INFO, logger="httpx"):
            async with OpenAILLM(api_key="k", base_url=server.base_url) as llm:
                assert await turn_text(llm, ctx) == "hi"
    assert any("HTTP Request: POST" in record.getMessage() for record in caplog.records)


class Rehearsals:
    """Counts the rehearsals run, as if this process had not rehearsed yet."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        self.runs = 0

        async def rehearse(*args: Any) -> str:
            self.runs += 1
            if fail:
                raise RuntimeError("a rehearsal that fails")
            return await real(*args)

        real = _rehearsal.rehearse_chat_turn
        monkeypatch.setattr(_rehearsal, "rehearse_chat_turn", rehearse)
        monkeypatch.setattr(_first_entry, "_chat_turn_rehearsed", False)


async def test_the_first_chat_entering_rehearses_once_per_process(
    monkeypatch: pytest.MonkeyPatch, ctx: ChatContext
) -> None:
    rehearsals = Rehearsals(monkeypatch)
    fake = FakeOpenAI()
    fake.add(Reply.text("one"), Reply.text("two"))
    async with fake.serve() as server:
        for expected in ("one", "two"):
            async with OpenAILLM(api_key="k", base_url=server.base_url) as llm:
                assert await turn_text(llm, ctx) == expected
    assert rehearsals.runs == 1
    assert len(fake.requests) == 2  # the rehearsal sent nothing to the server


async def test_responses_instances_do_not_rehearse_a_chat_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rehearsals = Rehearsals(monkeypatch)
    async with OpenAILLM(api_key="k", base_url="http://127.0.0.1:9/v1", api="responses"):
        pass
    assert rehearsals.runs == 0


async def test_a_failing_rehearsal_never_fails_entering_and_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rehearsals = Rehearsals(monkeypatch, fail=True)
    for _ in range(2):
        async with OpenAILLM(api_key="k", base_url="http://127.0.0.1:9/v1"):
            pass
    assert rehearsals.runs == 1


async def test_a_cancelled_rehearsal_runs_again_at_the_next_entering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rehearsals = Rehearsals(monkeypatch)
    with anyio.CancelScope() as scope:
        scope.cancel()  # cancelled at its first checkpoint
        await _first_entry.rehearse_chat_turn_once(object(), OpenAILLM, DEFAULT_POOL)
    assert not _first_entry._chat_turn_rehearsed
    await _first_entry.rehearse_chat_turn_once(object(), OpenAILLM, DEFAULT_POOL)
    assert _first_entry._chat_turn_rehearsed
    assert rehearsals.runs == 1  # the cancelled one stopped before it began


ENTRY_POINTS = [
    (httpx.AsyncClient, "send"),  # Sentry's httpx integration
    (httpx.AsyncHTTPTransport, "handle_async_request"),  # pytest-httpx, OpenTelemetry
    (httpcore.AsyncConnectionPool, "handle_async_request"),  # respx
]


@pytest.mark.parametrize(
    ("owner", "name"),
    ENTRY_POINTS,
    ids=[f"{owner.__name__}.{name}" for owner, name in ENTRY_POINTS],
)
async def test_no_rehearsal_reaches_a_test_double_or_tracer_on_httpx(
    monkeypatch: pytest.MonkeyPatch, ctx: ChatContext, owner: type, name: str
) -> None:
    """A user's test double or instrumentation on httpx sees every request its process
    makes: pytest-httpx fails the user's test at teardown on a request it did not expect,
    respx counts it as a call, a tracer records a span. So where one replaced httpx's or
    httpcore's entry point, the first entering rehearses nothing, and the double sees only
    the user's own turn."""
    monkeypatch.setattr(_first_entry, "_chat_turn_rehearsed", False)
    hosts: list[str] = []
    real = getattr(owner, name)

    async def double(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        host = request.url.host
        hosts.append(host.decode() if isinstance(host, bytes) else host)
        return await real(self, request, *args, **kwargs)

    monkeypatch.setattr(owner, name, double)
    fake = FakeOpenAI()
    fake.add(Reply.text("hi"))
    async with fake.serve() as server, OpenAILLM(api_key="k", base_url=server.base_url) as llm:
        assert await turn_text(llm, ctx) == "hi"
    assert hosts == ["127.0.0.1"]
    assert _first_entry._chat_turn_rehearsed  # not tried again at the next entering

"""The stall guards on every path, on trio's virtual clock: an idle timeout between events
and a first-token deadline, both typed ``APITimeoutError`` at the exact instant, reported
once, the context untouched and the next turn fine; slow but steady streams are not stalls,
and both guards can be turned off.

HTTP without ``async with`` (each wait carries its own deadline), concurrent streams and
retries are in ``tests/llm/test_http_errors.py``; a handshake that never finishes and frames
that map to nothing are in ``tests/llm/test_ws_errors.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from scoped_openai import APITimeoutError, ChatContext
from scoped_openai.testing import Pause, Reply, Stall, WSReply, chunk
from support.paths import OnPath, Scripted
from support.turns import contents, turn


def events_without_output(path: OnPath) -> Scripted:
    """A reply whose stream has begun (HTTP: the role chunk; Responses: ``response.created``
    and an ``in_progress`` event every 2 s for 10 s) but holds no output yet."""
    if path.path.api == "chat":
        return Reply([chunk({"role": "assistant", "content": ""}), Stall()])
    reply = WSReply.text("late")
    reply.steps[1:1] = [Pause(2.0), {"type": "response.in_progress"}] * 5
    return reply


@pytest.mark.trio
async def test_a_stall_mid_reply_is_an_idle_timeout(
    autojump_clock: trio.testing.MockClock,
    path: OnPath,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    errors: list[Exception],
) -> None:
    # Pauses shorter than the idle timeout (4.5 s against 5 s) are fine; the stall is not.
    path.add_text(["a", "b", "c"], delay=4.5, then=[Stall()])
    async with path.llm(idle_timeout=5.0, first_token_timeout=100.0) as llm:
        start = trio.current_time()
        items, error = await turn(llm, ctx)
        assert trio.current_time() - start == pytest.approx(18.5, abs=1e-9)
        assert contents(items) == ["a", "b", "c"]
        assert type(error) is APITimeoutError
        assert (error.phase, error.seconds) == ("idle", 5.0)
        assert str(error) == "the stream stalled: no event arrived for 5s"
        assert errors == [error]
        assert ctx.items == ctx_snapshot
        await path.next_turn_after_failure(llm, ctx)
    path.assert_all_closed()


@pytest.mark.trio
@pytest.mark.parametrize("reply", ["silent", "events-without-output"])
async def test_no_output_before_the_first_token_deadline(
    autojump_clock: trio.testing.MockClock,
    path: OnPath,
    ctx: ChatContext,
    ctx_snapshot: list[Any],
    errors: list[Exception],
    reply: str,
) -> None:
    path.add(path.silent() if reply == "silent" else events_without_output(path))
    async with path.llm(first_token_timeout=3.0, idle_timeout=None, max_retries=2) as llm:
        start = trio.current_time()
        items, error = await turn(llm, ctx)
        assert trio.current_time() - start == pytest.approx(3.0, abs=1e-9)
        assert items == []
        assert type(error) is APITimeoutError
        assert (error.phase, error.seconds) == ("first_token", 3.0)
        assert str(error) == "no output from the model before the first-token deadline (3s)"
        assert errors == [error]
        assert len(path.requests()) == 1  # a timeout is not retried
        assert ctx.items == ctx_snapshot
        await path.next_turn_after_failure(llm, ctx)
    path.assert_all_closed()


@pytest.mark.trio
async def test_first_token_deadline_default_is_sixty_seconds(
    autojump_clock: trio.testing.MockClock, path: OnPath, ctx: ChatContext
) -> None:
    path.add(path.silent())
    async with path.llm() as llm:
        start = trio.current_time()
        _, error = await turn(llm, ctx)
    assert trio.current_time() - start == pytest.approx(60.0, abs=1e-9)
    assert isinstance(error, APITimeoutError)
    assert (error.phase, error.seconds) == ("first_token", 60.0)


@pytest.mark.trio
async def test_idle_timeout_default_is_ten_seconds(
    autojump_clock: trio.testing.MockClock, path: OnPath, ctx: ChatContext
) -> None:
    path.add_text(["a"], then=[Stall()])
    async with path.llm() as llm:
        start = trio.current_time()
        items, error = await turn(llm, ctx)
    assert contents(items) == ["a"]
    assert trio.current_time() - start == pytest.approx(10.0, abs=1e-9)
    assert isinstance(error, APITimeoutError)
    assert (error.phase, error.seconds) == ("idle", 10.0)


@pytest.mark.trio
async def test_slow_but_steady_stream_is_not_a_stall(
    autojump_clock: trio.testing.MockClock,
    path: OnPath,
    ctx: ChatContext,
    errors: list[Exception],
) -> None:
    path.add_text(list("abcdefgh"), delay=4.0)
    async with path.llm(idle_timeout=5.0, first_token_timeout=6.0) as llm:
        start = trio.current_time()
        items = [i.content async for i in llm.chat(ctx)]
    assert items == [*"abcdefgh", ""]
    assert trio.current_time() - start == pytest.approx(32.0, abs=1e-9)
    assert errors == []


@pytest.mark.trio
async def test_stall_guards_can_be_disabled(
    autojump_clock: trio.testing.MockClock, path: OnPath, ctx: ChatContext
) -> None:
    path.add_text(["a", "b"], delay=1800.0)
    async with path.llm(idle_timeout=None, first_token_timeout=None) as llm:
        start = trio.current_time()
        items = [i.content async for i in llm.chat(ctx)]
    assert items == ["a", "b", ""]
    assert trio.current_time() - start == pytest.approx(3600.0, abs=1e-9)

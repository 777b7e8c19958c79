"""The DEBUG lines of a turn and of a socket: one per phase, with the turn number and the
request id, and never the API key or message text."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

MakeLLM = Callable[..., OpenAILLM]
SECRET_KEY = "sk-secret-do-not-log-123"
SECRET_PROMPT = "my card number is 4111"
SECRET_REPLY = ["the weather ", "is private"]


@pytest.fixture
def private_ctx() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, SECRET_PROMPT)
    return ctx


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("scoped_openai")]
    for line in lines:
        assert SECRET_KEY not in line
        assert SECRET_PROMPT not in line
        assert all(piece.strip() not in line for piece in SECRET_REPLY)
    return lines


@pytest.mark.anyio
async def test_http_turns_log_each_phase(
    caplog: pytest.LogCaptureFixture, fake: FakeOpenAI, private_ctx: ChatContext
) -> None:
    caplog.set_level(logging.DEBUG, logger="scoped_openai")
    fake.add(Reply.text(SECRET_REPLY), Reply.text(SECRET_REPLY))
    async with fake.llm(api_key=SECRET_KEY) as llm:
        async for _ in llm.chat(private_ctx):
            pass
        async for _ in llm.chat(private_ctx):
            await llm.cancel_current_generation()
    lines = logged(caplog)
    sending = [
        line for line in lines if "sending the request (chat_completions, attempt 1)" in line
    ]
    assert len(sending) == 2
    first, second = (line.split(":")[0] for line in sending)  # "turn N"
    assert first != second
    assert any(line.startswith(f"{first}: first token after ") for line in lines)
    assert any(
        line.startswith(f"{first}: ended after ") and "request chatcmpl-fake" in line
        for line in lines
    )
    assert any(line.startswith(f"{second}: cancelled after ") for line in lines)


@pytest.mark.anyio
async def test_websocket_sockets_log_open_and_retire(
    caplog: pytest.LogCaptureFixture,
    make_ws_llm: MakeLLM,
    fake: FakeOpenAI,
    private_ctx: ChatContext,
) -> None:
    caplog.set_level(logging.DEBUG, logger="scoped_openai")
    fake.add_ws(WSReply.text(SECRET_REPLY * 3))
    async with make_ws_llm(api_key=SECRET_KEY) as llm:
        async for _ in llm.chat(private_ctx):
            await llm.cancel_current_generation()  # a barge-in retires the socket
    lines = logged(caplog)
    assert "socket #1: opened" in lines
    assert "socket #1: retired" in lines
    assert any("sending the request (responses_websocket, attempt 1)" in line for line in lines)
    assert any(": cancelled after " in line for line in lines)


def test_no_handler_of_its_own_without_openai_log() -> None:
    # The application decides where records go; OPENAI_LOG=debug is tested in test_cli.
    assert logging.getLogger("scoped_openai").handlers == []

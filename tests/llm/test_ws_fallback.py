"""``streaming=True`` against a server that refuses the WebSocket upgrade as unsupported
(404, 405, 426, a plain page): the instance moves to the Responses API over HTTP for the
rest of its life, the turn that met the refusal is served over HTTP, one warning and one
``"fallback"`` event say so; authentication, permission and rate-limit refusals stay errors.
"""

from __future__ import annotations

import logging

import pytest

from scoped_openai import (
    APIStatusError,
    AuthenticationError,
    ChatContext,
    ChatRole,
    OpenAILLM,
    PermissionDeniedError,
    RateLimitError,
)
from scoped_openai.testing import CloseSocket, FakeOpenAI, WSReply
from support.turns import turn_text

pytestmark = pytest.mark.anyio


def conversation() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are terse.")
    ctx.add_message(ChatRole.USER, "Hi.")
    return ctx


def posts(fake: FakeOpenAI) -> list[str]:
    return [r.path for r in fake.requests if r.method == "POST"]


@pytest.mark.parametrize("status", [404, 405, 426, 200])
async def test_an_unsupported_upgrade_moves_the_instance_to_http(
    fake: FakeOpenAI, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake.ws_handshake_status = status
    fake.add_ws(WSReply.text("First."), WSReply.text("Second."))
    moved: list[Exception] = []
    errors: list[Exception] = []
    caplog.set_level(logging.WARNING, logger="scoped_openai")
    async with fake.llm(streaming=True) as llm:
        llm.on("fallback", moved.append)
        llm.on("error", errors.append)
        assert await turn_text(llm, conversation()) == "First."  # the turn that met the refusal
        handshakes = len(fake.ws_handshakes)
        assert await turn_text(llm, conversation()) == "Second."
        assert "mode=responses-http" in repr(llm)
    assert posts(fake) == ["/v1/responses", "/v1/responses"]
    assert len(fake.ws_handshakes) == handshakes  # no upgrade was tried again
    assert [type(e) for e in moved] == [type(moved[0])]
    assert isinstance(moved[0], APIStatusError)
    assert moved[0].status_code == status
    assert errors == []  # the refusal is not the caller's error
    warnings = [r for r in caplog.records if "Responses API over HTTP" in r.getMessage()]
    assert len(warnings) == 1
    assert fake.ws_open == 0
    assert fake.counters.open_bodies == 0


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (429, RateLimitError)],
)
async def test_auth_permission_and_rate_limits_are_errors_not_fallbacks(
    fake: FakeOpenAI, status: int, error_type: type[Exception]
) -> None:
    fake.ws_handshake_status = status
    moved: list[Exception] = []
    async with fake.llm(streaming=True) as llm:
        llm.on("fallback", moved.append)
        with pytest.raises(error_type):
            await turn_text(llm, conversation())
    assert moved == []
    assert posts(fake) == []


async def test_with_store_the_chain_goes_on_over_http(fake: FakeOpenAI) -> None:
    # The socket works for the first turn, then the server closes it and stops upgrading
    # (a proxy came in between): the next turn needs a new socket, goes over HTTP, and
    # still continues from the response the WebSocket completed.
    fake.add_ws(WSReply.text("Hello.").extended(CloseSocket(1001, "going away")))
    fake.add_ws(WSReply.text("Bye."))
    ctx = conversation()
    async with fake.llm(streaming=True, store=True, warm_spare=False) as llm:
        assert await turn_text(llm, ctx) == "Hello."
        fake.ws_handshake_status = 404
        await fake.wait_until(lambda: fake.ws_open == 0)
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "Bye?")
        assert await turn_text(llm, ctx) == "Bye."
    (http_body,) = [r.json() for r in fake.requests if r.method == "POST"]
    assert http_body["previous_response_id"] == "resp_fake_1"
    # The server holds the context and the reply: only the new question goes out.
    assert [item["role"] for item in http_body["input"]] == ["user"]


async def test_prewarm_meets_the_refusal_and_warms_the_http_path(fake: FakeOpenAI) -> None:
    fake.ws_handshake_status = 405
    moved: list[Exception] = []
    fake.add_ws(WSReply.text("Hi."))
    async with fake.llm(streaming=True) as llm:
        llm.on("fallback", moved.append)
        await llm.prewarm(instructions="You are terse.")
        assert len(moved) == 1
        assert [(r.method, r.path) for r in fake.requests] == [("HEAD", "/v1/responses")]
        assert await turn_text(llm, conversation()) == "Hi."
    assert posts(fake) == ["/v1/responses"]


async def test_on_loopback_a_server_without_websockets_is_served_over_http(
    fake: FakeOpenAI,
) -> None:
    fake.ws_handshake_status = 404
    fake.add_ws(WSReply.text("Over HTTP."))
    async with fake.serve() as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="k", streaming=True)
        async with llm:
            assert await turn_text(llm, conversation()) == "Over HTTP."
    assert posts(fake) == ["/v1/responses"]

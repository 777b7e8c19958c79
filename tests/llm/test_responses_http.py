"""What only the Responses API over HTTP (``api="responses"``) does: its request, chaining
on ``previous_response_id`` when responses are stored, the resend after a lost chain, its
URLs (OpenAI and Azure) and its prewarm. The behaviour every path shares is in tests/paths
and tests/cancellation (the ``path`` fixture runs it here too)."""

from __future__ import annotations

from typing import Any

import pytest

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, WSReply
from support.turns import turn_text

pytestmark = pytest.mark.anyio


def posts(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [r.json() for r in fake.requests if r.method == "POST"]


def conversation() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are terse.")
    ctx.add_message(ChatRole.USER, "Hi.")
    return ctx


async def test_the_request_is_the_create_body_streamed_over_http(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.text("Hello"))
    async with fake.llm(api="responses", temperature=0.2, extra_body={"stream": False}) as llm:
        assert await turn_text(llm, conversation()) == "Hello"
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.path == "/v1/responses"
    body = request.json()
    assert body["stream"] is True  # this path only streams, whatever extra_body says
    assert "type" not in body
    assert "generate" not in body
    assert (body["model"], body["temperature"], body["store"]) == ("gpt-4o-mini", 0.2, False)
    assert body["input"][0] == {
        "type": "message",
        "role": "system",
        "content": [{"type": "input_text", "text": "You are terse."}],
    }
    assert fake.ws_open == 0
    assert fake.counters.connections == 0  # no WebSocket was opened


async def test_with_store_a_turn_continues_from_the_last_completed_response(
    fake: FakeOpenAI,
) -> None:
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Bye."))
    ctx = conversation()
    async with fake.llm(api="responses", store=True) as llm:
        assert await turn_text(llm, ctx) == "Hello."
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "Bye?")
        assert await turn_text(llm, ctx) == "Bye."
    first, second = posts(fake)
    assert "previous_response_id" not in first
    assert second["previous_response_id"] == "resp_fake_1"
    assert second["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Bye?"}]}
    ]


async def test_without_store_every_turn_sends_the_whole_context(fake: FakeOpenAI) -> None:
    # Over HTTP the server keeps nothing unstored between requests: no chain to continue.
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Bye."))
    ctx = conversation()
    async with fake.llm(api="responses") as llm:
        await turn_text(llm, ctx)
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "Bye?")
        await turn_text(llm, ctx)
    _first, second = posts(fake)
    assert "previous_response_id" not in second
    assert len(second["input"]) == 4


async def test_a_lost_chain_is_resent_once_with_the_whole_context(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.text("Hello."), WSReply.text("Bye."))
    errors: list[Exception] = []
    ctx = conversation()
    async with fake.llm(api="responses", store=True) as llm:
        llm.on("error", errors.append)
        await turn_text(llm, ctx)
        fake.ws_stored_responses.clear()  # the server no longer holds it
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "Bye?")
        assert await turn_text(llm, ctx) == "Bye."
    _first, chained, resent = posts(fake)
    assert chained["previous_response_id"] == "resp_fake_1"
    assert "previous_response_id" not in resent
    assert len(resent["input"]) == 4
    assert errors == []  # recovered before anything reached the caller


async def test_a_barge_in_is_never_chained_from(fake: FakeOpenAI) -> None:
    fake.add_ws(WSReply.text("Hello."), WSReply.text(["One", " two"]), WSReply.text("Again."))
    ctx = conversation()
    async with fake.llm(api="responses", store=True) as llm:
        await turn_text(llm, ctx)
        ctx.add_message(ChatRole.ASSISTANT, "Hello.")
        ctx.add_message(ChatRole.USER, "Count.")
        async with llm.chat(ctx) as stream:
            async for _ in stream:
                await llm.cancel_current_generation()
        ctx.add_message(ChatRole.ASSISTANT, "One")
        ctx.add_message(ChatRole.USER, "Again?")
        assert await turn_text(llm, ctx) == "Again."
    _first, _second, third = posts(fake)
    # The chain stays on the last completed response, with everything after it sent.
    assert third["previous_response_id"] == "resp_fake_1"
    assert [item["content"][0]["text"] for item in third["input"][:1]] == ["Count."]
    assert len(third["input"]) == 3


async def test_azure_posts_to_the_v1_responses_url_without_api_version() -> None:
    fake = FakeOpenAI().add_ws(WSReply.text("Hi"))
    llm = OpenAILLM.azure(
        azure_endpoint="https://example.openai.azure.com",
        azure_deployment="voice",
        api_version="2024-10-21",
        api_key="azure-key",
        api="responses",
        client=fake.client(),
    )
    async with llm:
        assert await turn_text(llm, conversation()) == "Hi"
    (request,) = fake.requests
    assert request.path == "/openai/v1/responses"
    assert "api-version" not in request.query
    assert request.headers["api-key"] == "azure-key"
    assert "OpenAILLM(model='gpt-4o-mini', mode=responses-http" in repr(llm)


async def test_prewarm_warms_the_responses_url(fake: FakeOpenAI) -> None:
    async with fake.llm(api="responses") as llm:
        await llm.prewarm(instructions="You are terse.")
    (request,) = fake.requests
    assert (request.method, request.path) == ("HEAD", "/v1/responses")


def test_an_unknown_api_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown api 'realtime'"):
        OpenAILLM(api_key="k", api="realtime")  # type: ignore[arg-type]

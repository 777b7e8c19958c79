"""``OPENAI_BASE_URL`` is read as openai-python reads it; a base URL without a scheme is
refused when the instance is made, with the value and an example in the message."""

from __future__ import annotations

import pytest

from scoped_openai import ChatContext, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply


@pytest.mark.anyio
async def test_openai_base_url_alone_is_enough(
    monkeypatch: pytest.MonkeyPatch, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake.add(Reply.text("from the env's server"))
    async with fake.serve() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        async with OpenAILLM() as llm:
            text = "".join([r.content async for r in llm.chat(ctx)])
    assert text == "from the env's server"
    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    assert "authorization" not in request.headers  # no key was asked for


def test_openai_base_url_alone_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    assert "http://localhost:8000/v1/chat/completions" in repr(OpenAILLM())


def test_the_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://from-env.invalid/v1")
    llm = OpenAILLM(base_url="http://from-arg.invalid/v1", api_key="sk-x")
    assert "from-arg.invalid" in repr(llm)


@pytest.mark.parametrize("url", ["localhost:8000", "127.0.0.1:8000/v1", "ws://host/v1"])
def test_a_base_url_without_http_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="base_url must start with http:// or https://") as info:
        OpenAILLM(base_url=url, api_key="sk-x")
    assert repr(url) in str(info.value)

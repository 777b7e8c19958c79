"""``client=`` and ``OpenAILLM.azure``: what the reference accepts, read without the SDK.

The openai package is here only because the reference plugin depends on it; the library
reads an SDK client's public attributes (duck typing) and never imports openai. Asyncio only.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
import openai
import pytest

from scoped_openai.integrations.videosdk import OpenAILLM
from scoped_openai.testing import FAKE_API_KEY, FakeOpenAI, Reply, WSReply

from .conftest import collect, conversation, text_of

pytestmark = pytest.mark.anyio


async def one_turn(llm: OpenAILLM) -> None:
    assert text_of(await collect(llm.chat(conversation()))) == "ok"
    await llm.aclose()


async def test_an_openai_client_is_read_not_imported(fake: FakeOpenAI, server: Any) -> None:
    fake.add(Reply.text("ok"))
    client = openai.AsyncOpenAI(
        api_key="sk-from-client",
        base_url=server.base_url,
        organization="org-1",
        project="proj-1",
        default_headers={"X-Trace": "t-1"},
        default_query={"tenant": "a"},
        max_retries=0,
    )
    llm = OpenAILLM(client=client, extra_headers={"X-Extra": "e"})
    await one_turn(llm)
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.path == "/v1/chat/completions"
    assert request.query == {"tenant": "a"}
    headers = request.headers
    assert headers["authorization"] == "Bearer sk-from-client"
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-1", "proj-1")
    assert (headers["x-trace"], headers["x-extra"]) == ("t-1", "e")
    assert not any(name.startswith("x-stainless") for name in headers)  # the SDK's own
    await client.close()
    assert "openai" not in sys.modules["scoped_openai.integrations.videosdk"].__dict__


async def test_an_openai_client_in_websocket_mode(fake: FakeOpenAI, server: Any) -> None:
    fake.add_ws(WSReply.text("ok"))
    client = openai.AsyncOpenAI(api_key="sk-from-client", base_url=server.base_url)
    await one_turn(OpenAILLM(client=client, streaming=True))
    (handshake,) = fake.ws_handshakes[:1]
    assert handshake.url == server.base_url.replace("http://", "ws://") + "/responses"
    assert handshake.headers["authorization"] == "Bearer sk-from-client"
    await client.close()


@pytest.mark.parametrize("deployment", ["voice", None], ids=["deployment", "per-model"])
async def test_an_azure_client(fake: FakeOpenAI, server: Any, deployment: str | None) -> None:
    fake.add(Reply.text("ok"))
    root = server.base_url.removesuffix("/v1")
    client = openai.AsyncAzureOpenAI(
        api_key="az-key", azure_endpoint=root, azure_deployment=deployment, api_version="2024-10-21"
    )
    await one_turn(OpenAILLM.azure(model="gpt-4o", client=client))
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.path == f"/openai/deployments/{deployment or 'gpt-4o'}/chat/completions"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "az-key"
    assert "authorization" not in request.headers
    await client.close()


async def test_an_azure_client_with_a_token_provider_is_refused_clearly(server: Any) -> None:
    async def token() -> str:
        return "t"

    client = openai.AsyncAzureOpenAI(
        azure_ad_token_provider=token, azure_endpoint=server.base_url, api_version="2024-10-21"
    )
    with pytest.raises(ValueError, match="azure_ad_token"):
        OpenAILLM.azure(client=client)
    await client.close()


async def test_azure_env_fallbacks(
    fake: FakeOpenAI, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add(Reply.text("ok"))
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.base_url.removesuffix("/v1"))
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "voice")
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "ad-token")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    await one_turn(OpenAILLM.azure(model="gpt-5-mini"))
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.path == "/openai/deployments/voice/chat/completions"
    assert request.headers["authorization"] == "Bearer ad-token"
    body = json.loads(request.body)
    # The reference's Azure defaults for a reasoning model: effort "none", verbosity "low",
    # verbosity top-level (the reference sent text=..., which Chat Completions rejects).
    assert (body["reasoning_effort"], body["verbosity"]) == ("none", "low")
    assert "text" not in body
    assert "temperature" not in body


async def test_an_httpx_client_sends_with_the_other_settings(fake: FakeOpenAI, server: Any) -> None:
    fake.add(Reply.text("ok"))
    async with httpx.AsyncClient() as client:
        await one_turn(OpenAILLM(client=client, api_key=FAKE_API_KEY, base_url=server.base_url))
        assert not client.is_closed  # the caller's client stays the caller's
    (request,) = [r for r in fake.requests if r.method == "POST"]
    assert request.headers["authorization"] == f"Bearer {FAKE_API_KEY}"


def test_the_constructor_has_the_reference_keywords_and_defaults() -> None:
    import inspect

    from videosdk.plugins.openai import OpenAILLM as Reference

    def keywords(fn: Any) -> dict[str, Any]:
        return {
            name: p.default
            for name, p in inspect.signature(fn).parameters.items()
            if not name.startswith("_") and name != "self"
        }

    ours, theirs = keywords(OpenAILLM.__init__), keywords(Reference.__init__)
    assert {k: v for k, v in ours.items() if k in theirs} == theirs
    assert set(ours) - set(theirs) == {"idle_timeout", "first_token_timeout", "warm_spare"}
    ours_azure, theirs_azure = keywords(OpenAILLM.azure), keywords(Reference.azure)
    assert {k: v for k, v in ours_azure.items() if k in theirs_azure} == theirs_azure
    assert set(ours_azure) - set(theirs_azure) == {"idle_timeout", "first_token_timeout"}


def test_no_key_is_the_reference_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="API key"):
        OpenAILLM()


def test_the_plugin_module_exports_one_name() -> None:
    from videosdk.agents import LLM

    import scoped_openai.integrations.videosdk as plugin

    assert plugin.__all__ == ["OpenAILLM"]
    assert issubclass(plugin.OpenAILLM, LLM)

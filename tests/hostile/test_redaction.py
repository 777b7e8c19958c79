"""Issue 18, item 11: a key in ``extra_query`` (Azure users do this) stays out of reprs and
logs, including httpx's INFO request line, on a real loopback request."""

from __future__ import annotations

import logging

import anyio
import pytest

from scoped_openai import ChatContext, OpenAILLM
from scoped_openai._endpoint import Endpoint, redact_url
from scoped_openai.testing import FakeOpenAI, Reply
from support.turns import contents, turn

SECRET = "SECRET-query-key-1234"


def test_endpoint_repr_hides_query_values_but_the_api_version() -> None:
    endpoint = Endpoint.azure(
        azure_endpoint="https://x.openai.azure.com",
        azure_deployment="d",
        api_version="2024-10-21",
        api_key=None,
        azure_ad_token="ad-token",
        base_url=None,
        organization=None,
        project=None,
        extra_headers=None,
        extra_query={"api-key": SECRET},
    )
    shown = repr(endpoint)
    assert SECRET not in shown
    assert "ad-token" not in shown
    assert "api-version': '2024-10-21'" in shown
    assert "api-key=***" in shown  # in the WebSocket URL
    assert "'api-key': '***'" in shown


def test_redact_url_keeps_the_rest() -> None:
    url = f"wss://h/openai/v1/responses?a=1&api-key={SECRET}&api-version=v"
    assert redact_url(url) == "wss://h/openai/v1/responses?a=***&api-key=***&api-version=v"
    assert redact_url(url, {"api-key"}) == (
        "wss://h/openai/v1/responses?a=1&api-key=***&api-version=v"
    )
    assert redact_url("https://h/v1") == "https://h/v1"


@pytest.mark.anyio
async def test_httpx_request_log_hides_the_key(
    fake: FakeOpenAI, ctx: ChatContext, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(Reply.text("Hi"))
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        async with (
            fake.serve() as server,
            OpenAILLM(base_url=server.base_url, extra_query={"api-key": SECRET}) as llm,
        ):
            items, error = await turn(llm, ctx)
            shown = repr(llm)
    assert (error, "".join(contents(items))) == (None, "Hi")
    assert fake.requests[0].query == {"api-key": SECRET}  # it was sent, as asked
    request_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("POST" in line and "api-key=***" in line for line in request_lines)
    assert SECRET not in caplog.text
    assert SECRET not in shown

"""A proxy variable httpx cannot use is a ``UsageError`` that names it, at the first turn, on
every path: HTTP chat completions, HTTP responses and the WebSocket (whose handshake reads
the same variables, also when the application's own client does not), on both backends,
over real loopback sockets. Before, the turn raised httpx's ``InvalidURL``, a ``ValueError``
or an ``ImportError`` that named no variable."""

from __future__ import annotations

import importlib.util
from typing import Any

import anyio
import httpx
import pytest

from scoped_openai import ChatContext, OpenAILLM, UsageError
from scoped_openai.testing import FakeOpenAI, Reply, WSReply
from support.turns import turn

pytestmark = [pytest.mark.anyio, pytest.mark.loopback]

LIMIT = 10
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")

#: (variable, value, what the message must say is wrong)
UNUSABLE = [
    ("NO_PROXY", "[::1", "Invalid port"),
    ("ALL_PROXY", "ftp://proxy.invalid:21", "Unknown scheme"),
    ("HTTPS_PROXY", "http://[::1", "Invalid port"),
    ("https_proxy", "http://[::1", "Invalid port"),  # the lower-case spelling is named as is
]
SOCKS = ("ALL_PROXY", "socks5://127.0.0.1:1080", "socksio")
PATHS = {
    "chat-completions": {},
    "responses": {"api": "responses"},
    "websocket": {"streaming": True},
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def first_turn(
    fake: FakeOpenAI, ctx: ChatContext, **options: Any
) -> tuple[Exception | None, list[Exception]]:
    """Enter a default ``OpenAILLM`` on the fake (loopback) and run one turn: the turn's
    exception and what the ``"error"`` listeners got."""
    fake.add(Reply.text("hello"))
    fake.add_ws(WSReply.text("hello"))
    errors: list[Exception] = []
    with anyio.fail_after(LIMIT):
        async with fake.serve() as server:
            llm = OpenAILLM(api_key="sk-proxy-test", base_url=server.base_url, **options)
            llm.on("error", errors.append)
            async with llm:  # entering does not fail: the turn says it
                _, error = await turn(llm, ctx)
    return error, errors


def assert_names(error: Exception | None, variable: str, value: str, reason: str) -> None:
    assert isinstance(error, UsageError), repr(error)
    assert f"{variable}={value!r}" in str(error)
    assert reason in str(error)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("variable", "value", "reason"), UNUSABLE)
async def test_an_unusable_proxy_variable_is_a_usage_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeOpenAI,
    ctx: ChatContext,
    path: str,
    variable: str,
    value: str,
    reason: str,
) -> None:
    monkeypatch.setenv(variable, value)
    error, errors = await first_turn(fake, ctx, **PATHS[path])
    assert_names(error, variable, value, reason)
    assert errors == [error]
    assert fake.requests == []
    assert fake.ws_handshakes == []


@pytest.mark.skipif(
    importlib.util.find_spec("socksio") is not None,
    reason="socksio is installed here: a SOCKS proxy is usable, so nothing to report",
)
@pytest.mark.parametrize("path", PATHS)
async def test_a_socks_proxy_without_socksio_is_a_usage_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, fake: FakeOpenAI, ctx: ChatContext, path: str
) -> None:
    variable, value, reason = SOCKS
    monkeypatch.setenv(variable, value)
    error, _ = await first_turn(fake, ctx, **PATHS[path])
    assert_names(error, variable, value, reason)


@pytest.mark.parametrize(("variable", "value", "reason"), UNUSABLE)
async def test_the_websocket_handshake_names_the_variable_with_the_applications_client(
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeOpenAI,
    ctx: ChatContext,
    variable: str,
    value: str,
    reason: str,
) -> None:
    # The application's client ignores the environment; the handshake still reads it.
    monkeypatch.setenv(variable, value)
    async with httpx.AsyncClient(trust_env=False) as client:
        error, _ = await first_turn(fake, ctx, streaming=True, client=client)
    assert_names(error, variable, value, reason)
    assert fake.ws_handshakes == []


async def test_a_proxy_password_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, fake: FakeOpenAI, ctx: ChatContext
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:hunter2@[::1")
    error, _ = await first_turn(fake, ctx)
    assert isinstance(error, UsageError)
    assert "hunter2" not in str(error)
    assert "user" not in str(error)
    assert "HTTPS_PROXY='http://***@[::1'" in str(error)


@pytest.mark.parametrize("path", PATHS)
async def test_a_usable_proxy_variable_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, fake: FakeOpenAI, ctx: ChatContext, path: str
) -> None:
    # NO_PROXY covers the fake's address, so every path goes direct and answers.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    error, errors = await first_turn(fake, ctx, **PATHS[path])
    assert error is None
    assert errors == []

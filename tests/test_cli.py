"""The command line, run as a user would: a subprocess, real loopback sockets."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import pytest
import sniffio

from scoped_openai.testing import FakeOpenAI, Reply, WSReply


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_"))}
    env.update(extra)
    return env


async def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run the command line on the backend the test runs on."""
    backend = sniffio.current_async_library()
    with anyio.fail_after(60):
        return await anyio.run_process(
            [sys.executable, "-m", "scoped_openai", "--backend", backend, *args],
            env=cli_env(**env),
            check=False,
        )


@pytest.mark.anyio
async def test_ask_without_a_key_uses_the_embedded_fake_and_says_so() -> None:
    result = await run_cli("ask", "ping from the tests")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "embedded fake OpenAI server at http://127.0.0.1:" in out
    assert "You said: ping from the tests" in out
    assert "time to first token" in out


@pytest.mark.anyio
async def test_ask_over_the_websocket_path() -> None:
    result = await run_cli("--websocket", "ask", "over the socket")
    assert result.returncode == 0, result.stderr
    assert "You said: over the socket" in result.stdout.decode()


@pytest.mark.anyio
async def test_no_network_is_one_line_and_exit_1() -> None:
    result = await run_cli(
        "--base-url", "http://127.0.0.1:9/v1", "ask", "hi", OPENAI_API_KEY="sk-x"
    )
    assert result.returncode == 1
    err = result.stderr.decode().strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: connection to http://127.0.0.1:9/v1/chat/completions failed")
    assert "sk-x" not in result.stderr.decode()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply.error(401, "Incorrect API key provided", code="invalid_api_key"), "HTTP 401"),
        (Reply.error(404, "The model `gpt-9` does not exist", code="model_not_found"), "gpt-9"),
    ],
    ids=["bad-key", "unknown-model"],
)
async def test_api_errors_are_one_line_and_exit_1(reply: Reply, words: str) -> None:
    fake = FakeOpenAI()
    fake.add(reply)
    async with fake.serve() as server:
        result = await run_cli(
            "--base-url", server.base_url, "ask", "hi", OPENAI_API_KEY="sk-secret-123"
        )
    assert result.returncode == 1
    err = result.stderr.decode().strip().splitlines()
    assert len(err) == 1, err
    assert words in err[0]
    assert "Traceback" not in result.stderr.decode()
    assert "sk-secret-123" not in result.stderr.decode() + result.stdout.decode()


@pytest.mark.anyio
async def test_websocket_error_frame_is_one_line() -> None:
    fake = FakeOpenAI()
    fake.add_ws(WSReply.error("model_not_found", "The model `gpt-9` does not exist"))
    async with fake.serve() as server:
        result = await run_cli(
            "--base-url", server.base_url, "--websocket", "ask", "hi", OPENAI_API_KEY="sk-x"
        )
    assert result.returncode == 1
    err = result.stderr.decode().strip().splitlines()
    assert len(err) == 1, err
    assert "gpt-9" in err[0]


@pytest.mark.anyio
async def test_demo_prints_the_table_for_both_paths() -> None:
    result = await run_cli("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "| path | turn | time to first token (ms) | barge-in (ms) | tokens/s |" in out
    for path in ("http", "websocket"):
        assert f"| {path} | barge-in |" in out
        assert f"| {path} | after barge-in |" in out
    assert "[user interrupts]" in out

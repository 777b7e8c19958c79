"""The command line, run as a user would: a subprocess, real loopback sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import anyio
import anyio.abc
import pytest
import sniffio

import scoped_openai
from scoped_openai.__main__ import _exit_status
from scoped_openai.testing import FakeOpenAI, Reply, WSReply

#: Upper bound on any one wait for the child (it answers in well under a second).
WAIT = 30
#: Runs the command line with some modules made unimportable, as if an extra were missing.
WITHOUT_MODULES = (
    "import sys; [sys.modules.__setitem__(m, None) for m in sys.argv.pop(1).split(',')]; "
    "from scoped_openai.__main__ import main; sys.exit(main())"
)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_"))}
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    """The command line on the backend the test runs on (the option after the command)."""
    return [sys.executable, "-m", "scoped_openai", *args, "--backend", backend()]


def backend() -> str:
    return sniffio.current_async_library()


async def run_cli(
    *args: str, stdin: bytes | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    """Run the command line on the backend the test runs on."""
    with anyio.fail_after(60):
        return await anyio.run_process(
            [sys.executable, "-m", "scoped_openai", "--backend", backend(), *args],
            input=stdin,
            env=cli_env(**env),
            check=False,
        )


def one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The single line a failing run prints on stderr (and it exited 1, no traceback)."""
    err = result.stderr.decode()
    assert result.returncode == 1, (result.returncode, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    return lines[0]


class Child:
    """A running command line whose output the test reads as it comes (every wait bounded)."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.seen = b""

    async def wait_for(self, marker: bytes) -> None:
        """Read stdout until ``marker`` appeared (the child's own readiness line)."""
        assert self.process.stdout is not None
        with anyio.fail_after(WAIT):
            while marker not in self.seen:
                self.seen += await self.process.stdout.receive()

    async def finish(self) -> tuple[int, str]:
        """Wait for the exit; its status and everything it wrote on stderr."""
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        with anyio.fail_after(WAIT):
            async for chunk in self.process.stdout:
                self.seen += chunk
            err = b"".join([chunk async for chunk in self.process.stderr])
            return await self.process.wait(), err.decode()


async def interrupted(child: Child) -> None:
    """Send Ctrl-C; the child exits 130 with at most one line on stderr and no traceback."""
    child.process.send_signal(signal.SIGINT)
    status, err = await child.finish()
    assert status == 130, (status, err, child.seen)
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 1, err


@pytest.mark.anyio
async def test_ask_without_a_key_uses_the_embedded_fake_and_says_so() -> None:
    result = await run_cli("ask", "ping from the tests")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "embedded fake OpenAI server at http://127.0.0.1:" in out
    assert "You said: ping from the tests" in out
    # The turn's figures, from its TurnMetrics.
    assert "(time to first token " in out
    assert " ms in all, " in out
    assert "tokens, " in out
    assert "request chatcmpl-" in out


@pytest.mark.anyio
async def test_ask_over_the_websocket_path() -> None:
    result = await run_cli("ask", "over the socket", "--websocket")
    assert result.returncode == 0, result.stderr
    assert "You said: over the socket" in result.stdout.decode()


@pytest.mark.anyio
async def test_ask_over_the_responses_api_on_http_with_the_embedded_fake() -> None:
    result = await run_cli("ask", "over responses", "--api", "responses")
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "embedded fake OpenAI server at http://127.0.0.1:" in out
    assert "You said: over responses" in out
    assert "request resp_" in out  # a Responses id, where Chat Completions says chatcmpl-


@pytest.mark.anyio
async def test_api_responses_posts_to_responses_and_opens_no_websocket() -> None:
    fake = FakeOpenAI()
    fake.add_ws(WSReply.text("streamed over POST /responses"))
    async with fake.serve() as server:
        result = await run_cli(
            "ask", "hi", "--api", "responses", "--base-url", server.base_url, OPENAI_API_KEY="sk-x"
        )
    assert result.returncode == 0, result.stderr
    assert "streamed over POST /responses" in result.stdout.decode()
    posts = [(r.method, r.path) for r in fake.requests if r.path.endswith("/responses")]
    assert posts == [("POST", "/v1/responses")]
    assert fake.ws_handshakes == []


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


@pytest.mark.anyio
async def test_options_go_before_or_after_the_command() -> None:
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [*cli("ask", "hi", "--websocket", "--model", "gpt-4o"), "--system", "be brief"],
            env=cli_env(),
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert "You said: hi" in result.stdout.decode()


@pytest.mark.anyio
async def test_ask_help_lists_the_common_options() -> None:
    result = await run_cli("ask", "--help")
    assert result.returncode == 0
    for option in ("--backend", "--websocket", "--api", "--base-url", "--model", "--system"):
        assert option in result.stdout.decode()


@pytest.mark.anyio
async def test_version() -> None:
    result = await run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"scoped-openai {scoped_openai.__version__}"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ask"], "the following arguments are required: prompt"),
        (["ask", "hi", "--bogus"], "unrecognized arguments: --bogus"),
        (["shout", "hi"], "invalid choice: 'shout'"),
        (["ask", "hi", "--backend", "curio"], "invalid choice: 'curio'"),
        (["ask", "hi", "--api", "completions"], "invalid choice: 'completions'"),
    ],
    ids=["missing-prompt", "unknown-option", "unknown-command", "unknown-backend", "unknown-api"],
)
async def test_usage_errors_are_one_line_and_exit_1(args: list[str], words: str) -> None:
    line = one_error_line(await run_cli(*args))
    assert words in line
    assert "--help" in line


@pytest.mark.anyio
async def test_base_url_without_a_scheme_is_named() -> None:
    line = one_error_line(await run_cli("ask", "hi", "--base-url", "localhost:8000"))
    assert "base_url must start with http:// or https://" in line
    assert "'localhost:8000'" in line


@pytest.mark.anyio
async def test_openai_base_url_is_read_from_the_environment() -> None:
    fake = FakeOpenAI()
    fake.add(Reply.text("from the server in OPENAI_BASE_URL"))
    async with fake.serve() as server:
        result = await run_cli("ask", "hi", OPENAI_BASE_URL=server.base_url)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "from the server in OPENAI_BASE_URL" in out
    assert "embedded fake" not in out
    assert len(fake.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("hidden", "args", "words"),
    [
        ("trio", ["--backend", "trio"], "pip install 'scoped-openai[trio]'"),
        ("hypercorn", [], "pip install 'scoped-openai[fake]'"),
    ],
    ids=["trio", "fake"],
)
async def test_a_missing_extra_is_one_line_naming_it(
    hidden: str, args: list[str], words: str
) -> None:
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [sys.executable, "-c", WITHOUT_MODULES, hidden, "ask", "hi", *args],
            env=cli_env(),
            check=False,
        )
    line = one_error_line(result)
    assert words in line
    if hidden == "hypercorn":
        assert "OPENAI_API_KEY" in line
        assert "--base-url" in line


@pytest.mark.anyio
async def test_chat_answers_every_piped_line_before_more_input_arrives() -> None:
    async with await anyio.open_process(cli("chat"), env=cli_env()) as process:
        child = Child(process)
        assert process.stdin is not None
        await process.stdin.send(b"first line\nsecond line\n")  # one write, stdin stays open
        await child.wait_for(b"You said: second line")
        await process.stdin.aclose()  # end of input: chat ends
        status, err = await child.finish()
    assert status == 0, err
    assert child.seen.count(b"assistant> ") == 2


@pytest.mark.anyio
async def test_ctrl_c_during_ask_with_the_embedded_fake_exits_130_quietly() -> None:
    long_prompt = " ".join(["word"] * 2000)  # echoed back at 50 words a second: 40 s
    async with await anyio.open_process(cli("ask", long_prompt), env=cli_env()) as process:
        child = Child(process)
        await child.wait_for(b"You said: word")  # the reply is streaming
        await interrupted(child)


@pytest.mark.anyio
async def test_ctrl_c_at_the_idle_chat_prompt_exits_130_quietly() -> None:
    async with await anyio.open_process(cli("chat"), env=cli_env()) as process:
        child = Child(process)
        await child.wait_for(b"you> ")
        await interrupted(child)


@pytest.mark.anyio
async def test_ctrl_c_during_a_chat_reply_is_a_barge_in_not_an_exit() -> None:
    async with await anyio.open_process(cli("chat"), env=cli_env()) as process:
        child = Child(process)
        assert process.stdin is not None
        await process.stdin.send(" ".join(["word"] * 2000).encode() + b"\n")
        await child.wait_for(b"You said: word")
        process.send_signal(signal.SIGINT)
        await child.wait_for(b"[interrupted]")
        await child.wait_for(b"you> ")  # the next prompt: still running
        await process.stdin.aclose()
        status, err = await child.finish()
    assert status == 0, err


@pytest.mark.anyio
async def test_an_unreachable_websocket_host_is_worded_the_same_on_both_backends() -> None:
    line = one_error_line(
        await run_cli(
            "ask", "hi", "--websocket", "--base-url", "http://127.0.0.1:9/v1", OPENAI_API_KEY="sk-x"
        )
    )
    assert line == (
        "error: the WebSocket connection to ws://127.0.0.1:9/v1/responses failed: "
        "Connection refused"
    )


@pytest.mark.anyio
async def test_openai_log_debug_shows_each_phase_without_the_key() -> None:
    fake = FakeOpenAI()
    fake.add(Reply.text("a private answer"))
    async with fake.serve() as server:
        result = await run_cli(
            "ask",
            "a private question",
            "--base-url",
            server.base_url,
            OPENAI_API_KEY="sk-secret-123",
            OPENAI_LOG="debug",
        )
    assert result.returncode == 0, result.stderr
    err = result.stderr.decode()
    lines = [line for line in err.splitlines() if " - scoped_openai - " in line]
    phases = ["sending the request", "first token after", "ended after"]
    for phase in phases:
        assert any(f"DEBUG] turn 1: {phase}" in line for line in lines), (phase, err)
    assert "HTTP Request: POST" in err  # httpx's line, as with openai-python
    assert "sk-secret-123" not in err
    assert "private" not in err


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            ExceptionGroup("", [ExceptionGroup("", [ModuleNotFoundError(name="hypercorn")])]),
            "error: hypercorn is not installed: pip install 'scoped-openai[fake]'",
        ),
        (
            BaseExceptionGroup("", [scoped_openai.APIConnectionError("the server went away")]),
            "error: the server went away",
        ),
    ],
    ids=["missing-extra-in-a-group", "api-error-in-a-group"],
)
def test_errors_inside_task_groups_are_one_line(
    error: BaseException, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the embedded fake's task group raises reaches main() as an exception group.
    assert _exit_status(error) == 1
    assert capsys.readouterr().err.splitlines() == [line]


def test_ctrl_c_inside_a_task_group_is_130(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_status(BaseExceptionGroup("", [KeyboardInterrupt()])) == 130
    assert capsys.readouterr().err == ""

"""The command line: ``python -m scoped_openai`` / ``scoped-openai``.

``ask "prompt"`` streams one reply; ``chat`` is an interactive loop where Ctrl-C during a
reply is a barge-in, not an exit. With no ``OPENAI_API_KEY`` and no ``--base-url`` both
talk to the embedded fake server on loopback and say so. Options go before or after the
command. Errors print one line and exit 1; Ctrl-C outside a reply exits 130, quietly.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import anyio

from . import ChatContext, ChatRole, OpenAILLM, ScopedOpenAIError, TurnMetrics, __version__
from ._cli_input import Interrupts, StdinLines
from ._transports.websocket import leaf_exceptions

if TYPE_CHECKING:
    from .testing import FakeOpenAI

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # as a shell reports a process ended by SIGINT

#: The options every command takes, before or after its name: ``(flags, keyword args)``.
_COMMON_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--model",), {"default": "gpt-4o-mini", "help": "the model (default: gpt-4o-mini)"}),
    (
        ("--base-url",),
        {
            "default": None,
            "help": "an OpenAI-compatible API base URL, e.g. http://localhost:8000/v1 "
            "(default: $OPENAI_BASE_URL)",
        },
    ),
    (
        ("--backend",),
        {"choices": ("asyncio", "trio"), "default": "asyncio", "help": "the event loop"},
    ),
    (
        ("--system",),
        {
            "default": "You are a concise, friendly voice assistant.",
            "help": "the system message",
        },
    ),
    (
        ("--websocket",),
        {"action": "store_true", "help": "use the Responses API over a WebSocket"},
    ),
    (
        ("--api",),
        {
            "choices": ("chat", "responses"),
            "default": "chat",
            "help": "over HTTP: chat (Chat Completions, the default) or responses (the "
            "Responses API, POST /responses); --websocket takes the Responses API over a "
            "WebSocket instead",
        },
    ),
]


class UsageError(Exception):
    """The command line was given something it does not take."""


class _Parser(argparse.ArgumentParser):
    """argparse with the README's promise: a usage error is one line and exit 1."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _add_common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    # On a subcommand the defaults are suppressed, so an option given before the command
    # is not overwritten by the subcommand's default.
    for flags, options in _COMMON_OPTIONS:
        if not defaults:
            options = {**options, "default": argparse.SUPPRESS}
        parser.add_argument(*flags, **options)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scoped-openai",
        description="Stream OpenAI replies (trio or asyncio). Without OPENAI_API_KEY and "
        "without --base-url (or OPENAI_BASE_URL) it talks to an embedded fake server.",
    )
    parser.add_argument("--version", action="version", version=f"scoped-openai {__version__}")
    _add_common_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ask = commands.add_parser("ask", help="stream one reply")
    ask.add_argument("prompt")
    chat = commands.add_parser("chat", help="interactive chat; Ctrl-C during a reply interrupts it")
    demo = commands.add_parser(
        "demo", help="a scripted voice-agent session on both paths, with a table of figures"
    )
    for command in (ask, chat, demo):
        _add_common_options(command, defaults=False)
    return parser


class _Target:
    """Where the command line sends requests: OpenAI, a given server, or the fake."""

    def __init__(self, args: argparse.Namespace, out: TextIO, interrupts: Interrupts) -> None:
        self.args = args
        self.out = out
        self.interrupts = interrupts
        self.base_url: str | None = args.base_url or os.getenv("OPENAI_BASE_URL") or None
        self.use_fake = not os.getenv("OPENAI_API_KEY") and self.base_url is None
        self.api_key: str | None = None

    async def run(
        self,
        body: Callable[[_Target], Awaitable[None]],
        script: Callable[[FakeOpenAI], None] | None = None,
    ) -> None:
        """Run ``body`` against the target (starting the embedded fake if it is the one)."""
        if not self.use_fake:
            with self.interrupts.cancellable():
                await body(self)
            return
        from ._cli_fake import embedded_fake

        self.interrupts.defer()  # a Ctrl-C while the server starts must not cancel its start
        fake = embedded_fake()
        if script is not None:
            script(fake)
        async with fake.serve() as server:
            print(
                f"(no OPENAI_API_KEY and no --base-url: talking to the embedded fake "
                f"OpenAI server at {server.base_url})",
                file=self.out,
                flush=True,
            )
            self.base_url, self.api_key = server.base_url, "sk-embedded-fake"
            with self.interrupts.cancellable():  # Ctrl-C ends this; the server stops cleanly
                await body(self)

    def llm(self, *, streaming: bool | None = None) -> OpenAILLM:
        """An ``OpenAILLM`` for the target (use it with ``async with``)."""
        return OpenAILLM(
            model=self.args.model,
            base_url=self.base_url,
            api_key=self.api_key,
            streaming=self.args.websocket if streaming is None else streaming,
            api=self.args.api,
        )


async def _stream_reply(llm: OpenAILLM, ctx: ChatContext, out: TextIO) -> str:
    heard: list[str] = []
    async with llm.chat(ctx) as stream:
        async for item in stream:
            if item.content:
                heard.append(item.content)
                out.write(item.content)
                out.flush()
    note = " [interrupted]" if stream.cancelled else ""
    print(f"{note}\n  ({_figures(stream.metrics)})", file=out, flush=True)
    return "".join(heard)


def _figures(metrics: TurnMetrics | None) -> str:
    """The turn's figures in one line, from its ``TurnMetrics``."""
    if metrics is None:
        return "no figures"
    ttft = f"{metrics.ttft * 1000:.0f} ms" if metrics.ttft is not None else "n/a"
    parts = [f"time to first token {ttft}", f"{metrics.duration * 1000:.0f} ms in all"]
    if metrics.completion_tokens:
        parts.append(f"{metrics.completion_tokens} tokens, {metrics.tokens_per_second:.0f}/s")
    if metrics.retries:
        parts.append(f"{metrics.retries} retries")
    if metrics.request_id:
        parts.append(f"request {metrics.request_id}")
    return ", ".join(parts)


async def _ask(args: argparse.Namespace, out: TextIO, interrupts: Interrupts) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, args.system)
    ctx.add_message(ChatRole.USER, args.prompt)

    async def body(target: _Target) -> None:
        async with target.llm() as llm:
            await _stream_reply(llm, ctx, out)

    await _Target(args, out, interrupts).run(body)


async def _chat(args: argparse.Namespace, out: TextIO, interrupts: Interrupts) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, args.system)

    async def body(target: _Target) -> None:
        async with target.llm() as llm:
            await _chat_loop(llm, ctx, out, interrupts)

    await _Target(args, out, interrupts).run(body)


async def _chat_loop(llm: OpenAILLM, ctx: ChatContext, out: TextIO, interrupts: Interrupts) -> None:
    print("Type a message (empty line or Ctrl-D to quit; Ctrl-C interrupts a reply).", file=out)
    lines = StdinLines()
    while True:
        out.write("you> ")
        out.flush()
        line = await lines.readline()  # "" at end of input
        if not line.strip():
            return
        ctx.add_message(ChatRole.USER, line.rstrip("\n"))
        out.write("assistant> ")
        interrupts.barge_in = llm.cancel_current_generation  # Ctrl-C now ends the reply only
        try:
            spoken = await _stream_reply(llm, ctx, out)
        finally:
            interrupts.barge_in = None
        ctx.add_message(ChatRole.ASSISTANT, spoken)


async def _demo(args: argparse.Namespace, out: TextIO, interrupts: Interrupts) -> None:
    from ._demo import print_table, run_session, script_fake

    async def body(target: _Target) -> None:
        figures = []
        http = "http" if args.api == "chat" else "responses-http"  # the table's label
        for streaming, path in ((False, http), (True, "websocket")):
            async with target.llm(streaming=streaming) as llm:
                await llm.prewarm()
                figures += await run_session(llm, path, out)
        print_table(figures, out)

    await _Target(args, out, interrupts).run(body, script=script_fake)


Command = Callable[[argparse.Namespace, TextIO, Interrupts], Awaitable[None]]


async def _run(command: Command, args: argparse.Namespace, out: TextIO) -> bool:
    """Run ``command`` with Ctrl-C handled; True if Ctrl-C ended it."""
    interrupts = Interrupts()
    async with anyio.create_task_group() as task_group:
        await task_group.start(interrupts.watch, task_group.cancel_scope)
        await command(args, out, interrupts)
        task_group.cancel_scope.cancel()  # the watcher
    return interrupts.interrupted


def _missing_extra(args: argparse.Namespace) -> str | None:
    """The one-line error for an optional dependency this run needs and lacks, or None."""
    if args.backend == "trio" and importlib.util.find_spec("trio") is None:
        return "--backend trio needs trio: pip install 'scoped-openai[trio]'"
    use_fake = not (os.getenv("OPENAI_API_KEY") or args.base_url or os.getenv("OPENAI_BASE_URL"))
    if use_fake and importlib.util.find_spec("hypercorn") is None:
        return (
            "the embedded fake server needs hypercorn: pip install 'scoped-openai[fake]' "
            "(or set OPENAI_API_KEY, or pass --base-url for a server of your own)"
        )
    return None


def _one_line(error: BaseException) -> str | None:
    """What to print for a failure the user can act on, or None for a bug."""
    if isinstance(error, ModuleNotFoundError):
        extra = {"hypercorn": "fake", "trio": "trio", "trio_websocket": "trio", "h2": "http2"}
        hint = extra.get((error.name or "").partition(".")[0])
        where = f"pip install 'scoped-openai[{hint}]'" if hint else "install it"
        return f"{error.name} is not installed: {where}"
    if isinstance(error, ScopedOpenAIError | OSError | ValueError | RuntimeError):
        return str(error) or type(error).__name__
    return None


def _exit_status(error: BaseException) -> int:
    """Exit 130 for Ctrl-C, else 1 with one ``error:`` line; a bug keeps its traceback."""
    leaves = leaf_exceptions(error)
    if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
        return EXIT_INTERRUPTED
    for leaf in leaves:
        line = _one_line(leaf)
        if line is not None:
            print(f"error: {line}", file=sys.stderr)
            return EXIT_ERROR
    raise error


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    stream = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
        missing = _missing_extra(args)
        if missing is not None:
            raise UsageError(missing)
        command = {"ask": _ask, "chat": _chat, "demo": _demo}[args.command]
        interrupted = anyio.run(_run, command, args, stream, backend=args.backend)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BaseException as exc:  # Ctrl-C before the handler is in, errors in groups
        if isinstance(exc, SystemExit):
            raise
        return _exit_status(exc)
    if interrupted:
        print(file=stream, flush=True)  # end the half-written line
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())

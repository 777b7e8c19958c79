"""The command line: ``python -m scoped_openai`` / ``scoped-openai``.

``ask "prompt"`` streams one reply; ``chat`` is an interactive loop where Ctrl-C during a
reply is a barge-in, not an exit. With no ``OPENAI_API_KEY`` and no ``--base-url`` both
talk to the embedded fake server on loopback and say so. Errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TextIO

import anyio

from . import ChatContext, ChatRole, OpenAILLM, ScopedOpenAIError

if TYPE_CHECKING:
    from .testing import FakeOpenAI

EXIT_ERROR = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scoped-openai", description="Stream OpenAI replies (trio or asyncio)."
    )
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible API base URL")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--system", default="You are a concise, friendly voice assistant.")
    parser.add_argument(
        "--websocket", action="store_true", help="use the Responses API over a WebSocket"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="stream one reply")
    ask.add_argument("prompt")
    commands.add_parser("chat", help="interactive chat; Ctrl-C during a reply interrupts it")
    commands.add_parser(
        "demo", help="a scripted voice-agent session on both paths, with a table of figures"
    )
    return parser


class _Target:
    """Where the command line sends requests: OpenAI, a given server, or the fake."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args = args
        self.out = out
        self.use_fake = not os.getenv("OPENAI_API_KEY") and args.base_url is None
        self.base_url: str | None = args.base_url
        self.api_key: str | None = None

    async def run(
        self,
        body: Callable[[_Target], Awaitable[None]],
        script: Callable[[FakeOpenAI], None] | None = None,
    ) -> None:
        """Run ``body`` against the target (starting the embedded fake if it is the one)."""
        if not self.use_fake:
            await body(self)
            return
        from ._cli_fake import embedded_fake

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
            await body(self)

    def llm(self, *, streaming: bool | None = None) -> OpenAILLM:
        """An ``OpenAILLM`` for the target (use it with ``async with``)."""
        return OpenAILLM(
            model=self.args.model,
            base_url=self.base_url,
            api_key=self.api_key,
            streaming=self.args.websocket if streaming is None else streaming,
        )


async def _stream_reply(llm: OpenAILLM, ctx: ChatContext, out: TextIO) -> str:
    started = time.perf_counter()
    first: float | None = None
    heard: list[str] = []
    async with llm.chat(ctx) as stream:
        async for item in stream:
            if item.content:
                if first is None:
                    first = time.perf_counter() - started
                heard.append(item.content)
                out.write(item.content)
                out.flush()
    ttft = f"{first * 1000:.0f} ms" if first is not None else "n/a"
    note = " [interrupted]" if stream.cancelled else ""
    print(f"{note}\n  (time to first token {ttft})", file=out, flush=True)
    return "".join(heard)


async def _ask(args: argparse.Namespace, out: TextIO) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, args.system)
    ctx.add_message(ChatRole.USER, args.prompt)

    async def body(target: _Target) -> None:
        async with target.llm() as llm:
            await _stream_reply(llm, ctx, out)

    await _Target(args, out).run(body)


async def _chat(args: argparse.Namespace, out: TextIO) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, args.system)

    async def body(target: _Target) -> None:
        async with target.llm() as llm:
            await _chat_loop(llm, ctx, out)

    await _Target(args, out).run(body)


async def _chat_loop(llm: OpenAILLM, ctx: ChatContext, out: TextIO) -> None:
    print("Type a message (empty line or Ctrl-D to quit; Ctrl-C interrupts a reply).", file=out)
    while True:
        line = await _read_line("you> ", out)
        if not line.strip():
            return
        ctx.add_message(ChatRole.USER, line)
        out.write("assistant> ")
        spoken = await _reply_with_barge_in(llm, ctx, out)
        ctx.add_message(ChatRole.ASSISTANT, spoken)


async def _read_line(prompt: str, out: TextIO) -> str:
    """Read a line from stdin without a thread: wait until it is readable, then read."""
    out.write(prompt)
    out.flush()
    await anyio.wait_readable(sys.stdin)
    return sys.stdin.readline()  # "" at end of input


async def _reply_with_barge_in(llm: OpenAILLM, ctx: ChatContext, out: TextIO) -> str:
    """Stream a reply; SIGINT (Ctrl-C) while it streams is a barge-in."""
    import signal

    result: list[str] = []
    async with anyio.create_task_group() as tg:

        async def watch_ctrl_c() -> None:
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                async for _ in signals:
                    await llm.cancel_current_generation()

        tg.start_soon(watch_ctrl_c)
        result.append(await _stream_reply(llm, ctx, out))
        tg.cancel_scope.cancel()
    return result[0]


async def _demo(args: argparse.Namespace, out: TextIO) -> None:
    from ._demo import print_table, run_session, script_fake

    async def body(target: _Target) -> None:
        figures = []
        for streaming, path in ((False, "http"), (True, "websocket")):
            async with target.llm(streaming=streaming) as llm:
                await llm.prewarm()
                figures += await run_session(llm, path, out)
        print_table(figures, out)

    await _Target(args, out).run(body, script=script_fake)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    stream = out or sys.stdout
    command = {"ask": _ask, "chat": _chat, "demo": _demo}[args.command]
    try:
        anyio.run(command, args, stream, backend=args.backend)
    except ScopedOpenAIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ModuleNotFoundError as exc:
        extra = {"hypercorn": "fake", "trio": "trio", "trio_websocket": "trio"}.get(
            exc.name or "", "fake,trio"
        )
        print(
            f"error: {exc.name} is not installed: pip install 'scoped-openai[{extra}]'",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

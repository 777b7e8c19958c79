"""Soak: thousands of turns on real loopback sockets, with barge-ins, stalls and disconnects.

Run with ``python benchmarks/soak.py`` (or ``nox -s soak -- --turns 200``). The fake server
(``FakeOpenAI.serve()``: hypercorn on 127.0.0.1) runs in a child process on the same backend
(this script with ``--serve``), so the client's descriptors and tasks are counted alone; each
turn's plan travels in its user message, which the server reads to script its reply. For each
backend (asyncio, trio: one ``anyio.run`` each) and each path
(``http``: Chat Completions; ``ws``: the Responses API over a WebSocket, ``streaming=True``;
``responses-http``: the Responses API over HTTP, ``api="responses"``, on the fake's
``POST /responses``, which plays the WebSocket's scripts as Server-Sent Events) it plays
``--turns`` turns (1,000 by default), each one drawn from a seeded RNG (``--seed``):

* ``complete``: the whole reply streams in;
* ``barge_in``: the consumer calls ``cancel_current_generation()`` after a random number of
  items (from its loop), or ``barge_in_task``: another task does, racing the stream;
* ``stall``: the server sends some pieces and then nothing (the client's ``idle_timeout`` is
  small, 0.2 s by default): the turn must end with ``APITimeoutError``;
* ``disconnect``: the server drops the connection (HTTP) or closes the socket (WebSocket,
  code 1011; on ``POST /responses`` the same script drops the connection mid-body) after
  some pieces: the turn must end with ``APIConnectionError``.

Every piece of a turn's reply carries its turn number and position (``[t17.3]``), so each
item received is checked: it belongs to the current turn (else it is *stale*), it is the next
piece (else *out of order*), and a completed turn received exactly its full text (else
*lost*). A turn whose ending differs from the plan is *unexpected*; one that overruns
``--turn-timeout`` is *hung*.

File descriptors (``/proc/self/fd``), running tasks (``asyncio.all_tasks()``; on trio an
``Instrument`` counting spawned minus exited tasks), Python memory (``tracemalloc``) and RSS
of the client process are taken after a few warm-up turns and again after the last turn
(after a bounded settle, so closes still in flight can finish); the server's descriptors are
shown too, for information. The
script prints a table and exits non-zero when any stale, lost, out-of-order, unexpected or
hung turn was seen, or when descriptors or tasks grew by more than the tolerance.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio

if importlib.util.find_spec("scoped_openai") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from scoped_openai import (
    APIConnectionError,
    APITimeoutError,
    ChatContext,
    ChatRole,
    OpenAILLM,
    ScopedOpenAIError,
)
from scoped_openai.testing import (
    CloseSocket,
    Disconnect,
    FakeOpenAI,
    RecordedRequest,
    Reply,
    Stall,
    WSReply,
)

API_KEY = "sk-soak-0000"
#: The paths a soak can run, and how each one's llm is configured.
PATH_KWARGS: dict[str, dict[str, Any]] = {
    "http": {},
    "ws": {"streaming": True},
    "responses-http": {"api": "responses"},
}
PLANNED = ("complete", "barge_in", "barge_in_task", "stall", "disconnect")
WEIGHTS = (50, 14, 12, 10, 14)
#: What each planned turn may end as.
ALLOWED = {
    "complete": {"complete"},
    "barge_in": {"barge_in"},
    "barge_in_task": {"barge_in", "complete"},  # the reply may win the race
    "stall": {"stall"},
    "disconnect": {"disconnect"},
}
FILLERS = ("", " ok", " héllo", " 😀", " naïve €", " 日本")
PIECE = re.compile(r"\[t(\d+)\.(\d+)\]")
WARMUP_TURNS = 5


# -- the plan of one turn -----------------------------------------------------------------


@dataclass
class Plan:
    turn: int
    outcome: str
    pieces: list[str]
    cut: int  # items before the barge-in, the stall or the disconnect
    delay: float  # seconds between pieces


def make_plan(rng: random.Random, turn: int, *, warmup: bool = False) -> Plan:
    outcome = "complete" if warmup else rng.choices(PLANNED, WEIGHTS)[0]
    count = rng.randint(3, 12)
    pieces = [f"[t{turn}.{i}]{rng.choice(FILLERS)} " for i in range(count)]
    if outcome in ("barge_in", "barge_in_task"):
        cut = rng.randint(1, count - 1)
    elif outcome in ("stall", "disconnect"):
        cut = rng.randint(0, count - 1)
    else:
        cut = count
    delay = rng.choice((0.0, 0.0, 0.0, 0.001, 0.003))
    return Plan(turn, outcome, pieces, cut, delay)


def http_reply(plan: Plan) -> Reply:
    if plan.outcome == "stall":
        return Reply.text(plan.pieces[: plan.cut], delay=plan.delay, then=[Stall()])
    if plan.outcome == "disconnect":
        return Reply.text(plan.pieces[: plan.cut], delay=plan.delay, then=[Disconnect()])
    return Reply.text(plan.pieces, delay=plan.delay)


def ws_reply(plan: Plan) -> WSReply:
    if plan.outcome == "stall":
        return WSReply.text(plan.pieces[: plan.cut], delay=plan.delay, then=[Stall()])
    if plan.outcome == "disconnect":
        then = [CloseSocket(1011, "soak: scripted close")]
        return WSReply.text(plan.pieces[: plan.cut], delay=plan.delay, then=then)
    return WSReply.text(plan.pieces, delay=plan.delay)


def plan_of(request: RecordedRequest) -> Plan:
    """The plan the client put in the turn's user message (HTTP body or WebSocket frame)."""
    body = request.json()
    if "messages" in body:
        text = body["messages"][-1]["content"]
    else:
        text = body["input"][-1]["content"][0]["text"]
    return Plan(**json.loads(text))


# -- resources ----------------------------------------------------------------------------


class TaskCounter:
    """A trio ``Instrument``: tasks spawned minus tasks exited."""

    def __init__(self) -> None:
        self.live = 0

    def task_spawned(self, task: Any) -> None:
        self.live += 1

    def task_exited(self, task: Any) -> None:
        self.live -= 1


@dataclass
class Snapshot:
    fds: int
    tasks: int
    traced_kib: float
    rss_kib: int
    server_fds: int


def rss_kib() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def fd_count(pid: int | None = None) -> int:
    """Open descriptors of this process (or of ``pid``); -1 where /proc is missing."""
    try:
        if pid is None:
            return len(os.listdir("/proc/self/fd")) - 1  # minus the listing's own descriptor
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def snapshot(backend: str, counter: TaskCounter | None, server_pid: int) -> Snapshot:
    gc.collect()
    if backend == "trio":
        assert counter is not None
        tasks = counter.live
    else:
        tasks = len(asyncio.all_tasks())
    traced = tracemalloc.get_traced_memory()[0] / 1024 if tracemalloc.is_tracing() else -1.0
    return Snapshot(fd_count(), tasks, traced, rss_kib(), fd_count(server_pid))


# -- results ------------------------------------------------------------------------------


@dataclass
class Run:
    backend: str
    path: str
    turns: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_events: int = 0
    stale: int = 0
    lost: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    hung: int = 0
    short_disconnects: int = 0  # a disconnect that cut pieces already sent (see below)
    examples: list[str] = field(default_factory=list)
    start: Snapshot | None = None
    end: Snapshot | None = None
    closed: Snapshot | None = None
    seconds: float = 0.0

    def count_error_event(self, error: Exception) -> None:
        self.error_events += 1

    def note(self, message: str) -> None:
        if len(self.examples) < 8:
            self.examples.append(message)

    @property
    def fd_growth(self) -> int:
        assert self.start is not None
        assert self.end is not None
        return self.end.fds - self.start.fds

    @property
    def task_growth(self) -> int:
        assert self.start is not None
        assert self.end is not None
        return self.end.tasks - self.start.tasks

    @property
    def failures(self) -> int:
        return self.stale + self.lost + self.out_of_order + self.unexpected + self.hung


# -- one turn -----------------------------------------------------------------------------


async def play_turn(llm: OpenAILLM, plan: Plan, run: Run, turn_timeout: float) -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are a soak test.")
    ctx.add_message(ChatRole.USER, json.dumps(asdict(plan)))  # the server plays it
    received: list[str] = []
    error: BaseException | None = None
    cancelled = False
    done = False
    reached = anyio.Event()

    async def consume() -> None:
        nonlocal error, cancelled, done
        try:
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    if not item.content:
                        continue
                    received.append(item.content)
                    if len(received) == plan.cut:
                        if plan.outcome == "barge_in":
                            await llm.cancel_current_generation()
                        elif plan.outcome == "barge_in_task":
                            reached.set()
            cancelled = stream.cancelled
            done = stream.assembler.done
        except ScopedOpenAIError as exc:
            error = exc
        finally:
            reached.set()

    async def barge() -> None:
        await reached.wait()
        await llm.cancel_current_generation()

    try:
        with anyio.fail_after(turn_timeout):
            if plan.outcome == "barge_in_task":
                async with anyio.create_task_group() as tg:
                    tg.start_soon(barge)
                    await consume()
            else:
                await consume()
    except TimeoutError:
        run.hung += 1
        run.outcomes["hung"] += 1
        run.note(f"turn {plan.turn} ({plan.outcome}): hung for {turn_timeout}s")
        return

    # How did it end?
    if error is not None:
        run.errors[type(error).__name__] += 1
        if isinstance(error, APITimeoutError):
            actual = "stall"
        elif isinstance(error, APIConnectionError):
            actual = "disconnect"
        else:
            actual = f"error:{type(error).__name__}"
    elif cancelled:
        actual = "barge_in"
    else:
        actual = "complete" if done else "ended-early"
    run.outcomes[actual] += 1
    run.turns += 1
    if actual not in ALLOWED[plan.outcome]:
        run.unexpected += 1
        run.note(f"turn {plan.turn}: planned {plan.outcome}, ended {actual}: {error!r}")

    # Every item: this turn's, in order.
    numbers: list[int] = []
    for content in received:
        match = PIECE.match(content)
        if match is None or int(match.group(1)) != plan.turn:
            run.stale += 1
            run.note(f"turn {plan.turn}: stale or foreign item {content!r}")
            return
        numbers.append(int(match.group(2)))
    if received != plan.pieces[: len(received)]:
        run.out_of_order += 1
        run.note(f"turn {plan.turn}: items out of order: {numbers}")
        return

    # Nothing lost.
    if actual == "complete":
        if received != plan.pieces:
            run.lost += 1
            run.note(f"turn {plan.turn}: completed with {len(received)}/{len(plan.pieces)}")
    elif plan.outcome == "barge_in" and len(received) != plan.cut:
        run.lost += 1  # the consumer cancelled after exactly `cut` items: nothing more, no less
        run.note(f"turn {plan.turn}: barge-in after {plan.cut} but {len(received)} received")
    elif plan.outcome == "barge_in_task" and len(received) < plan.cut:
        run.lost += 1  # the other task cancels only once `cut` items were received
        run.note(f"turn {plan.turn}: barge-in after {plan.cut} but {len(received)} received")
    elif plan.outcome == "stall" and len(received) != plan.cut:
        # The connection stays open: every piece sent before the stall must arrive.
        run.lost += 1
        run.note(f"turn {plan.turn}: stall after {plan.cut} pieces, {len(received)} received")
    elif plan.outcome == "disconnect" and len(received) != plan.cut:
        if len(received) > plan.cut:
            run.lost += 1
            run.note(f"turn {plan.turn}: more than was sent before the disconnect")
        else:
            # The server aborts the connection: bytes still in flight may be dropped by the
            # peer's TCP stack, so a short prefix is not the client's loss. Counted apart.
            run.short_disconnects += 1


# -- one backend --------------------------------------------------------------------------


async def settle(
    backend: str, counter: TaskCounter | None, server_pid: int, baseline: Snapshot, tolerance: int
) -> Snapshot:
    """Let closes in flight finish (bounded): poll until within tolerance or 3 s passed."""
    current = snapshot(backend, counter, server_pid)
    with anyio.move_on_after(3.0):
        while current.fds > baseline.fds + tolerance or current.tasks > baseline.tasks + tolerance:
            await anyio.sleep(0.1)
            current = snapshot(backend, counter, server_pid)
    return current


async def run_backend(
    args: argparse.Namespace, backend: str, base_url: str, server_pid: int, deadline: float
) -> list[Run]:
    counter: TaskCounter | None = None
    if backend == "trio":
        import trio

        counter = TaskCounter()
        trio.lowlevel.add_instrument(counter)

        def walk(task: Any) -> int:  # the tasks that existed before the instrument
            return 1 + sum(walk(t) for n in task.child_nurseries for t in n.child_tasks)

        counter.live = walk(trio.lowlevel.current_root_task())

    rng = random.Random(f"{args.seed}:{backend}")
    runs: list[Run] = []
    turn = 0
    with anyio.fail_after(max(1.0, deadline - time.monotonic())):
        for path in args.paths:
            run = Run(backend, path)
            runs.append(run)
            llm = OpenAILLM(
                api_key=API_KEY,
                base_url=base_url,
                **PATH_KWARGS[path],
                idle_timeout=args.idle_timeout,
                first_token_timeout=args.first_token_timeout,
            )
            llm.on("error", run.count_error_event)
            started = time.perf_counter()
            async with llm:
                warmup = Run(backend, path)
                for _ in range(WARMUP_TURNS):
                    turn += 1
                    await play_turn(
                        llm, make_plan(rng, turn, warmup=True), warmup, args.turn_timeout
                    )
                if warmup.failures or warmup.outcomes["complete"] != WARMUP_TURNS:
                    raise RuntimeError(f"the warm-up turns failed: {warmup.examples}")
                run.start = snapshot(backend, counter, server_pid)
                for _ in range(args.turns):
                    turn += 1
                    await play_turn(llm, make_plan(rng, turn), run, args.turn_timeout)
                run.end = await settle(backend, counter, server_pid, run.start, args.tolerance)
            run.seconds = time.perf_counter() - started
            run.closed = snapshot(backend, counter, server_pid)
    return runs


# -- the server (a child process) -------------------------------------------------------------


async def serve(port_file: str) -> None:
    """Serve the fake on loopback until terminated; write the port to ``port_file``."""
    fake = FakeOpenAI(
        default=lambda request: http_reply(plan_of(request)),
        ws_default=lambda request: ws_reply(plan_of(request)),
    )
    async with fake.serve() as server:
        await anyio.Path(port_file).write_text(str(server.port), encoding="ascii")
        while True:
            await anyio.sleep(1.0)
            # The fake's own records grow per request: forget them (they are not the client's).
            fake.requests.clear()
            fake.ws_frames.clear()
            fake.ws_handshakes.clear()
            fake.loopback_clients.clear()


class ServerProcess:
    """This script with ``--serve`` on ``backend``, in a child process, until ``close()``."""

    def __init__(self, backend: str, port_file: Path) -> None:
        port_file.unlink(missing_ok=True)
        command = [sys.executable, __file__, "--serve", str(port_file), "--backend", backend]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        started = time.monotonic()
        while not port_file.exists() or not port_file.read_text(encoding="ascii"):
            if self.process.poll() is not None or time.monotonic() - started > 30:
                self.close()
                raise RuntimeError("the fake server did not start")
            time.sleep(0.05)
        self.port = int(port_file.read_text(encoding="ascii"))
        port_file.unlink()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# -- the report ---------------------------------------------------------------------------


def print_report(args: argparse.Namespace, runs: list[Run], seconds: float) -> int:
    print()
    head = (
        f"{'backend':8} {'path':14} {'turns':>6} {'complete':>8} {'barge':>6} {'stall':>6} "
        f"{'discon':>6} {'other':>6} {'stale':>6} {'lost':>5} {'order':>6} {'unexp':>6} "
        f"{'hung':>5} {'fds':>9} {'tasks':>9} {'traced KiB':>17} {'RSS KiB':>17} {'secs':>6} "
        f"{'server fds':>10}"
    )
    print(head)
    print("-" * len(head))
    status = 0
    for run in runs:
        assert run.start is not None
        assert run.end is not None
        known = ("complete", "barge_in", "stall", "disconnect")
        other = sum(n for name, n in run.outcomes.items() if name not in known)
        print(
            f"{run.backend:8} {run.path:14} {run.turns:>6} {run.outcomes['complete']:>8} "
            f"{run.outcomes['barge_in']:>6} {run.outcomes['stall']:>6} "
            f"{run.outcomes['disconnect']:>6} {other:>6} {run.stale:>6} {run.lost:>5} "
            f"{run.out_of_order:>6} {run.unexpected:>6} {run.hung:>5} "
            f"{f'{run.start.fds}->{run.end.fds}':>9} "
            f"{f'{run.start.tasks}->{run.end.tasks}':>9} "
            f"{f'{run.start.traced_kib:.0f}->{run.end.traced_kib:.0f}':>17} "
            f"{f'{run.start.rss_kib}->{run.end.rss_kib}':>17} {run.seconds:>6.1f} "
            f"{f'{run.start.server_fds}->{run.end.server_fds}':>10}"
        )
        if run.failures:
            status = 1
        if run.fd_growth > args.tolerance or run.task_growth > args.tolerance:
            status = 1
    print()
    for run in runs:
        assert run.closed is not None
        errors = ", ".join(f"{name} {n}" for name, n in sorted(run.errors.items())) or "none"
        print(
            f"{run.backend}/{run.path}: raised: {errors}; error events: {run.error_events}; "
            f"disconnects that cut pieces in flight: {run.short_disconnects}; "
            f"after llm.aclose(): {run.closed.fds} fds, {run.closed.tasks} tasks; "
            f"{run.turns / run.seconds:.0f} turns/s"
        )
        for example in run.examples:
            print(f"    {example}")
    print()
    verdict = "PASS" if status == 0 else "FAIL"
    print(
        f"{verdict}: {sum(r.turns for r in runs)} turns in {seconds:.1f}s; stale, lost, "
        f"out-of-order, unexpected and hung must be 0; fds and tasks may grow by at most "
        f"{args.tolerance}."
    )
    return status


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000, help="turns per backend and path")
    parser.add_argument("--seed", type=int, default=20240917)
    parser.add_argument("--backend", choices=["asyncio", "trio", "both"], default="both")
    parser.add_argument(
        "--path",
        choices=[*PATH_KWARGS, "both", "all"],
        default="all",
        help="one path; both: http and ws; all (the default): the three",
    )
    parser.add_argument("--idle-timeout", type=float, default=0.2, help="the client's, seconds")
    parser.add_argument("--first-token-timeout", type=float, default=5.0)
    parser.add_argument("--turn-timeout", type=float, default=10.0, help="bound of one turn")
    parser.add_argument("--overall-timeout", type=float, default=900.0, help="bound of the run")
    parser.add_argument("--tolerance", type=int, default=4, help="allowed fd and task growth")
    parser.add_argument("--no-tracemalloc", action="store_true", help="faster, no Python heap")
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args(argv)
    args.backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    chosen = {"both": ["http", "ws"], "all": list(PATH_KWARGS)}
    args.paths = chosen.get(args.path, [args.path])
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        anyio.run(serve, args.serve, backend=args.backend)
        return 0
    print(
        f"soak: turns={args.turns} per backend/path, seed={args.seed}, "
        f"backends={','.join(args.backends)}, paths={','.join(args.paths)}, "
        f"idle_timeout={args.idle_timeout}s, first_token_timeout={args.first_token_timeout}s, "
        f"turn_timeout={args.turn_timeout}s, overall_timeout={args.overall_timeout}s, "
        f"tolerance={args.tolerance}, warm-up turns={WARMUP_TURNS}, "
        f"tracemalloc={'off' if args.no_tracemalloc else 'on'}, "
        f"mix={dict(zip(PLANNED, WEIGHTS, strict=True))}, server=child process"
    )
    if not args.no_tracemalloc:
        tracemalloc.start()
    started = time.monotonic()
    deadline = started + args.overall_timeout
    runs: list[Run] = []
    port_file = Path(f"/tmp/scoped-openai-soak-{os.getpid()}.port")
    for backend in args.backends:
        server = ServerProcess(backend, port_file)
        try:
            runs += anyio.run(
                run_backend,
                args,
                backend,
                server.base_url,
                server.process.pid,
                deadline,
                backend=backend,
            )
        finally:
            server.close()
    return print_report(args, runs, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())

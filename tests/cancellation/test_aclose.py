"""``aclose()`` during a live turn, twice, and concurrently with ``chat()``, on both paths.

``aclose()`` must return promptly (on trio's virtual clock: no virtual time passes, since
every cleanup is in memory; never more than the cleanup bounds), be idempotent, and never let
an ``ExceptionGroup`` from our internals reach the user: a consumer's iteration ends with
``StopAsyncIteration`` (the loop simply ends) or a typed error, and a ``chat()`` or
``prewarm()`` racing the close gets a typed error.

The sweep (``test_aclose_at_every_checkpoint_of_a_turn``) calls ``aclose()`` from one or two
other tasks at every scheduling step ``k`` of a consumer running a turn, as
``test_every_checkpoint.py`` does for cancellations: a ``trio.abc.Instrument`` counts the
consumer task's steps and, after step ``k``, wakes the closers (each run seeds trio's
scheduler RNG, so a run is reproducible). The other tests are single scenarios; the ones that
need no timing run on both backends (anyio).
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
import trio.abc
import trio.lowlevel
import trio.testing

from scoped_openai import (
    APIConnectionError,
    ChatContext,
    ChatRole,
    LLMResponse,
    OpenAILLM,
    ScopedOpenAIError,
)
from scoped_openai._stream import CLEANUP_TIMEOUT
from scoped_openai._transports.http import DRAIN_TIMEOUT
from scoped_openai.testing import DONE, FakeOpenAI, Pause, Reply, Stall, WSReply, chunk

MakeLLM = Callable[..., OpenAILLM]
NO_GUARDS: dict[str, Any] = {"idle_timeout": None, "first_token_timeout": None}
GUARDS: dict[str, Any] = {"idle_timeout": 1000.0, "first_token_timeout": 1000.0}
PATHS = ["http", "ws"]
MAX_K = 400


def seed_scheduler(seed: int) -> None:
    """Make trio's in-batch task order reproducible (``trio._core._run._r``, the random
    source Hypothesis seeds)."""
    from trio._core import _run

    state = getattr(_run, "_r", None)
    assert isinstance(state, random.Random), "trio's scheduler RNG moved: update this helper"
    state.seed(seed)


def base_ctx() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are terse.")
    ctx.add_message(ChatRole.USER, "Say hello.")
    return ctx


def make(fake: FakeOpenAI, path: str, errors: list[Exception], **kwargs: Any) -> OpenAILLM:
    llm = fake.llm(streaming=path == "ws", **kwargs)
    llm.on("error", errors.append)
    return llm


def add_reply(
    fake: FakeOpenAI, path: str, pieces: list[str], *, delay: float = 0.0, stall: bool = False
) -> None:
    if path == "http":
        fake.add(Reply.text(pieces, delay=delay, then=[Stall()] if stall else ()))
    else:
        fake.add_ws(WSReply.text(pieces, delay=delay, then=[Stall()] if stall else None))


def all_closed(fake: FakeOpenAI) -> bool:
    return fake.counters.open_bodies == 0 and fake.ws_open == 0


def not_a_group(error: BaseException | None) -> None:
    """What may reach a consumer: nothing, or one typed error (never a group, never a bare
    library exception)."""
    assert not isinstance(error, BaseExceptionGroup), (
        f"an ExceptionGroup reached the user: {error!r}"
    )
    if error is not None:
        closed = isinstance(error, RuntimeError) and "closed" in str(error)
        assert isinstance(error, ScopedOpenAIError) or closed, repr(error)


class Reader:
    """Iterates one turn, recording items, how the iteration ended, and when."""

    def __init__(self, llm: OpenAILLM, ctx: ChatContext, *, bare: bool = False) -> None:
        self.llm = llm
        self.ctx = ctx
        self.bare = bare
        self.items: list[LLMResponse] = []
        self.first = anyio.Event()
        self.error: BaseException | None = None
        self.ended_at: float | None = None
        self.ended = anyio.Event()
        self.in_stream = False

    async def run(self) -> None:
        try:
            if self.bare:
                stream = self.llm.chat(self.ctx)
                self.in_stream = True
                async for item in stream:
                    self.items.append(item)
                    self.first.set()
            else:
                async with self.llm.chat(self.ctx) as stream:
                    self.in_stream = True
                    async for item in stream:
                        self.items.append(item)
                        self.first.set()
        except BaseException as exc:  # recorded, checked by the test
            self.error = exc
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise  # never swallow a cancellation
        finally:
            self.in_stream = False
            self.ended_at = anyio.current_time()
            self.first.set()
            self.ended.set()


# -- the sweep ------------------------------------------------------------------------------------


class Probe(trio.abc.Instrument):
    """Counts the target task's steps; calls ``fire`` after step ``fire_at``; tracks tasks."""

    def __init__(self) -> None:
        self.target: trio.lowlevel.Task | None = None
        self.steps = 0
        self.fire_at: int | None = None
        self.fire: Callable[[], None] | None = None
        self.live: set[trio.lowlevel.Task] = set()

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.live.add(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live.discard(task)

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.target:
            self.steps += 1
            if self.steps == self.fire_at and self.fire is not None:
                self.fire()


class Closer:
    """Calls ``aclose()`` once ``go`` is set; notes what was still open when it returned."""

    def __init__(self, llm: OpenAILLM, go: trio.Event, fake: FakeOpenAI, reader: Reader):
        self.llm = llm
        self.go = go
        self.fake = fake
        self.reader = reader
        self.started_at: float | None = None
        self.returned_at: float | None = None
        self.error: BaseException | None = None
        self.left_open: tuple[int, bool] | None = None  # (open bodies, reader still reading)
        self.done = trio.Event()

    async def run(self) -> None:
        await self.go.wait()
        self.started_at = trio.current_time()
        try:
            await self.llm.aclose()
        except BaseException as exc:
            self.error = exc
        self.returned_at = trio.current_time()
        self.left_open = (self.fake.counters.open_bodies, self.reader.in_stream)
        self.done.set()


async def aclose_run(path: str, closers: int, block: bool, k: int | None) -> bool:
    """One run: a consumer runs a turn; after its step ``k`` (None: never), ``closers``
    tasks call ``aclose()`` at once. Returns True when the close fired."""
    seed_scheduler(7919 + (k or 0))
    gc.disable()  # a dropped stream's release must not depend on the collector's timing
    probe = Probe()
    trio.lowlevel.add_instrument(probe)
    try:
        fake = FakeOpenAI()
        errors: list[Exception] = []
        if path == "ws":
            fake.ws_handshake_delay = 0.5  # the handshake is part of the turn
        add_reply(fake, path, ["a ", "b ", "c ", "d "], delay=0.1)
        llm = make(fake, path, errors, **GUARDS)
        go = trio.Event()
        reader = Reader(llm, base_ctx())
        tasks = [Closer(llm, go, fake, reader) for _ in range(closers)]
        fired_at: list[float] = []
        status: dict[str, Any] = {}

        def fire() -> None:
            fired_at.append(trio.current_time())
            status["in_stream"] = reader.in_stream
            go.set()

        async def consumer() -> None:
            probe.target = trio.lowlevel.current_task()
            await reader.run()

        async def body() -> None:
            probe.fire, probe.fire_at = fire, k
            async with trio.open_nursery() as nursery:
                for closer in tasks:
                    nursery.start_soon(closer.run)
                if k == 0:
                    fire()
                nursery.start_soon(consumer)
                await reader.ended.wait()
                if not fired_at:
                    nursery.cancel_scope.cancel()  # closers that never fired
                    return
                for closer in tasks:
                    await closer.done.wait()
            for closer in tasks:
                assert closer.error is None, f"k={k}: aclose raised {closer.error!r}"
                assert closer.returned_at == closer.started_at, f"k={k}: aclose took time"
                assert closer.started_at == fired_at[0]
                # When any aclose() returns, what it closes is closed: no HTTP body open,
                # no consumer still reading.
                assert closer.left_open == (0, False), (
                    f"k={k}: an aclose() returned while (open bodies, a reader reading) = "
                    f"{closer.left_open}"
                )
            assert reader.ended_at is not None
            if status["in_stream"]:
                assert reader.ended_at == fired_at[0], f"k={k}: the reader did not end at once"
            assert fake.counters.open_bodies == 0, f"k={k}: a body outlived aclose()"
            again = trio.current_time()
            await llm.aclose()  # idempotent
            assert trio.current_time() == again
            with pytest.raises(RuntimeError, match="closed"):
                llm.chat(base_ctx())

        with trio.fail_after(10_000.0):  # virtual time: a hang fails instead of hanging
            if block:
                async with llm:
                    await body()
                closed_at = trio.current_time()
            else:
                await body()
                closed_at = trio.current_time()
                await llm.aclose()
        assert trio.current_time() == closed_at
        not_a_group(reader.error)
        if fired_at and reader.error is not None:
            # Only a chat() that came after the close may fail, and only as "closed".
            assert isinstance(reader.error, RuntimeError), f"k={k}: {reader.error!r}"
        assert errors == [], f"k={k}: {errors!r}"
        assert all_closed(fake), (
            f"k={k}: left open: {fake.counters.open_bodies} bodies, {fake.ws_open} sockets"
        )
        assert probe.live == set(), f"k={k}: tasks left running: {probe.live!r}"
        return bool(fired_at)
    finally:
        trio.lowlevel.remove_instrument(probe)
        gc.enable()


@pytest.mark.trio
@pytest.mark.parametrize("closers", [1, 2], ids=["once", "twice-at-once"])
@pytest.mark.parametrize(
    ("path", "block"),
    [("http", True), ("http", False), ("ws", True)],
    ids=["http-async-with", "http-no-block", "ws-async-with"],
)
async def test_aclose_at_every_checkpoint_of_a_turn(
    autojump_clock: trio.testing.MockClock, path: str, block: bool, closers: int
) -> None:
    assert await aclose_run(path, closers, block, None) is False
    points = 0
    k = 0
    while await aclose_run(path, closers, block, k):
        points += 1
        k += 1
        assert k < MAX_K
    print(f"aclose points exercised, {path} block={block} closers={closers}: {points}")
    assert points > 5


async def block_run(path: str, k: int | None) -> bool:
    """One run: a task opens ``async with llm`` (prewarm on the WebSocket path), runs a turn
    and leaves; its own scope is cancelled after its step ``k`` (None: never), wherever that
    is: opening, prewarm, the turn, or the block's exit (aclose and the task group). Returns
    True when the cancellation fired."""
    seed_scheduler(104_729 + (k or 0))
    gc.disable()
    probe = Probe()
    trio.lowlevel.add_instrument(probe)
    try:
        fake = FakeOpenAI()
        errors: list[Exception] = []
        if path == "ws":
            fake.ws_handshake_delay = 0.5
        add_reply(fake, path, ["a ", "b ", "c "], delay=0.1)
        llm = make(fake, path, errors, **GUARDS)
        scope = trio.CancelScope()
        fired_at: list[float] = []
        outcome: dict[str, Any] = {}

        def fire() -> None:
            fired_at.append(trio.current_time())
            scope.cancel()

        async def agent() -> None:
            probe.target = trio.lowlevel.current_task()
            try:
                with scope:
                    async with llm:
                        if path == "ws":
                            await llm.prewarm()
                        async with llm.chat(base_ctx()) as stream:
                            outcome["heard"] = [item.content async for item in stream]
            except BaseException as exc:  # anything but our own scope's cancellation
                outcome["error"] = exc
            outcome["ended_at"] = trio.current_time()

        probe.fire, probe.fire_at = fire, k
        with trio.fail_after(10_000.0):
            async with trio.open_nursery() as nursery:
                if k == 0:
                    fire()
                nursery.start_soon(agent)
        error = outcome.get("error")
        assert error is None, f"k={k}: {error!r} reached the user"
        if fired_at:
            # Cleanup is bounded and, in memory, instant.
            assert outcome["ended_at"] - fired_at[0] <= CLEANUP_TIMEOUT, f"k={k}"
            assert outcome["ended_at"] == fired_at[0], f"k={k}"
        else:
            assert outcome["heard"] == ["a ", "b ", "c ", ""]
        assert errors == [], f"k={k}: {errors!r}"
        assert all_closed(fake), (
            f"k={k}: left open: {fake.counters.open_bodies} bodies, {fake.ws_open} sockets"
        )
        assert probe.live == set(), f"k={k}: tasks left running: {probe.live!r}"
        return bool(fired_at)
    finally:
        trio.lowlevel.remove_instrument(probe)
        gc.enable()


@pytest.mark.trio
@pytest.mark.parametrize("path", PATHS)
async def test_cancelling_the_llm_block_at_every_checkpoint(
    autojump_clock: trio.testing.MockClock, path: str
) -> None:
    # The agent's whole task is cancelled (the call hung up) at any point, including while
    # `async with llm` opens or closes: only the cancellation comes out, nothing stays open.
    assert await block_run(path, None) is False
    points = 0
    while await block_run(path, points):
        points += 1
        assert points < MAX_K
    print(f"llm block cancellation points, {path}: {points}")
    assert points > 5


# -- single scenarios, virtual clock --------------------------------------------------------------


@pytest.mark.trio
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bare", [False, True], ids=["async-with", "bare"])
async def test_aclose_twice_during_a_live_turn(
    autojump_clock: trio.testing.MockClock, path: str, bare: bool
) -> None:
    fake = FakeOpenAI()
    errors: list[Exception] = []
    add_reply(fake, path, ["one ", "two "], stall=True)
    async with make(fake, path, errors, **GUARDS) as llm:
        reader = Reader(llm, base_ctx(), bare=bare)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader.run)
            await reader.first.wait()
            await trio.sleep(1.0)  # virtual: the reader waits on the silent server
            assert [i.content for i in reader.items] == ["one ", "two "]
            start = trio.current_time()
            await llm.aclose()
            assert trio.current_time() == start
            assert reader.ended_at == start
            assert fake.counters.open_bodies == 0
            await llm.aclose()
            assert trio.current_time() == start
        assert reader.error is None  # the loop simply ended: StopAsyncIteration
        assert [i.content for i in reader.items] == ["one ", "two "]
        closing = trio.current_time()
    assert trio.current_time() == closing
    assert errors == []
    assert all_closed(fake)


@pytest.mark.trio
@pytest.mark.parametrize("path", PATHS)
async def test_aclose_from_inside_the_loop_body(
    autojump_clock: trio.testing.MockClock, path: str
) -> None:
    fake = FakeOpenAI()
    errors: list[Exception] = []
    add_reply(fake, path, ["one ", "two ", "three"])
    heard: list[str] = []
    async with make(fake, path, errors) as llm:
        async with llm.chat(base_ctx()) as stream:
            async for item in stream:
                heard.append(item.content)
                start = trio.current_time()
                await llm.aclose()
                assert trio.current_time() == start
        assert stream.cancelled is True
    assert heard == ["one "]
    assert errors == []
    assert all_closed(fake)


@pytest.mark.trio
@pytest.mark.parametrize("path", PATHS)
async def test_aclose_while_chat_waits_for_the_socket_or_a_retry(
    autojump_clock: trio.testing.MockClock, path: str
) -> None:
    # Two consumers: the first holds the connection (WebSocket: the socket's lease), the second
    # waits (HTTP: in a 30 s retry backoff). aclose() ends both at once.
    fake = FakeOpenAI()
    errors: list[Exception] = []
    if path == "http":
        fake.add(Reply.text(["a"], then=[Stall()]))
        fake.add(Reply.error(429, "slow down", headers={"retry-after": "30"}))
    else:
        fake.add_ws(WSReply.text(["a"], then=[Stall()]), WSReply.text("never"))
    async with make(fake, path, errors, max_retries=2, **GUARDS) as llm:
        first, second = Reader(llm, base_ctx()), Reader(llm, base_ctx())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first.run)
            await first.first.wait()
            nursery.start_soon(second.run)
            await trio.sleep(1.0)
            start = trio.current_time()
            await llm.aclose()
            assert trio.current_time() == start
        assert (first.ended_at, second.ended_at) == (start, start)
        assert (first.error, second.error) == (None, None)
        assert [i.content for i in first.items] == ["a"]
        assert second.items == []
    assert errors == []
    assert all_closed(fake)


@pytest.mark.trio
async def test_prewarm_racing_aclose_gets_a_typed_error_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeOpenAI()
    fake.ws_handshake_delay = 100.0
    errors: list[Exception] = []
    outcome: list[BaseException | None] = []
    async with make(fake, "ws", errors) as llm:

        async def warm() -> None:
            try:
                await llm.prewarm(instructions="You are terse.")
            except BaseException as exc:
                outcome.append(exc)
            else:
                outcome.append(None)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(warm)
            await trio.sleep(1.0)  # the handshake is in progress
            start = trio.current_time()
            await llm.aclose()
            assert trio.current_time() == start
        assert trio.current_time() == start  # prewarm ended at once too
    assert len(outcome) == 1
    not_a_group(outcome[0])
    assert outcome[0] is None or isinstance(outcome[0], APIConnectionError)
    if outcome[0] is not None:
        assert "closed" in str(outcome[0])
    assert fake.ws_open == 0
    assert fake.ws_frames == []


@pytest.mark.trio
async def test_leaving_the_block_waits_for_a_background_drain_only_up_to_its_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # A server that sends [DONE] and then never ends the body: the turn ends at [DONE], the
    # drain goes on in the background, and closing waits for it at most DRAIN_TIMEOUT.
    fake = FakeOpenAI()
    fake.add(Reply([chunk({"content": "hi"}), chunk({}, finish_reason="stop"), DONE, Stall()]))
    errors: list[Exception] = []
    async with make(fake, "http", errors) as llm:
        heard = [item.content async for item in llm.chat(base_ctx())]
        assert heard == ["hi"]
        start = trio.current_time()
        await llm.aclose()
        assert trio.current_time() == start
    assert trio.current_time() - start <= DRAIN_TIMEOUT
    assert fake.counters.open_bodies == 0
    assert errors == []


@pytest.mark.trio
@pytest.mark.parametrize("path", PATHS)
async def test_a_slow_server_never_holds_aclose_past_the_cleanup_bound(
    autojump_clock: trio.testing.MockClock, path: str
) -> None:
    # The reply is mid-pause (the server is slow, not silent): aclose() still returns at
    # once, and within CLEANUP_TIMEOUT in any case.
    fake = FakeOpenAI()
    errors: list[Exception] = []
    if path == "http":
        fake.add(Reply([chunk({"content": "a"}), Pause(50.0), chunk({"content": "b"}), DONE]))
    else:
        reply = WSReply.text(["a", "b"])
        reply.steps.insert(4, Pause(50.0))
        fake.add_ws(reply)
    async with make(fake, path, errors, **GUARDS) as llm:
        reader = Reader(llm, base_ctx())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader.run)
            await reader.first.wait()
            await trio.sleep(1.0)
            start = trio.current_time()
            await llm.aclose()
            elapsed = trio.current_time() - start
        assert elapsed <= CLEANUP_TIMEOUT
        assert elapsed == 0.0
        assert [i.content for i in reader.items] == ["a"]
        assert reader.error is None
    assert all_closed(fake)


# -- both backends --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_two_acloses_at_once_during_a_live_turn(
    fake: FakeOpenAI, path: str, errors: list[Exception]
) -> None:
    add_reply(fake, path, ["one "], stall=True)
    returned: list[bool] = []
    with anyio.fail_after(5):
        async with make(fake, path, errors, **NO_GUARDS) as llm:
            reader = Reader(llm, base_ctx())

            async def close() -> None:
                await llm.aclose()
                # Whichever call returns, the stream it closes is closed.
                returned.append(fake.counters.open_bodies == 0 and reader.ended_at is not None)

            async with anyio.create_task_group() as tg:
                tg.start_soon(reader.run)
                await reader.first.wait()
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(close)
                tg.start_soon(close)
    assert returned == [True, True]
    assert reader.error is None
    assert [i.content for i in reader.items] == ["one "]
    assert all_closed(fake)
    assert errors == []


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_chat_racing_aclose_is_refused_with_a_clear_error(
    fake: FakeOpenAI, path: str, errors: list[Exception]
) -> None:
    add_reply(fake, path, ["one "], stall=True)
    with anyio.fail_after(5):
        async with make(fake, path, errors, **NO_GUARDS) as llm:
            made_before = llm.chat(base_ctx())  # created, not yet iterated
            reader = Reader(llm, base_ctx())
            late: list[BaseException] = []

            closing = anyio.Event()

            async def close() -> None:
                closing.set()  # the closer runs on into aclose() before anyone sees this
                await llm.aclose()

            async def chat_after_close() -> None:
                await closing.wait()  # aclose() has begun (and may still be running)
                try:
                    async for _ in llm.chat(base_ctx()):
                        pass
                except BaseException as exc:
                    late.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(reader.run)
                await reader.first.wait()
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(close)
                tg.start_soon(chat_after_close)
            # A stream made before the close ends at once, sending nothing.
            requests = len(fake.requests)
            assert [item async for item in made_before] == []
            assert made_before.cancelled is True
            assert len(fake.requests) == requests
    assert reader.error is None
    assert len(late) == 1
    not_a_group(late[0])
    assert isinstance(late[0], RuntimeError)
    assert "closed" in str(late[0])
    assert all_closed(fake)
    assert errors == []


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_an_error_leaving_the_block_during_a_turn_is_not_wrapped(
    fake: FakeOpenAI, path: str, errors: list[Exception]
) -> None:
    # The body of `async with llm` fails while a turn is live: the user gets their own
    # exception, not an ExceptionGroup around it, and nothing is left open.
    add_reply(fake, path, ["one "], stall=True)
    raised: BaseException | None = None
    try:
        with anyio.fail_after(5):
            async with make(fake, path, errors, **NO_GUARDS) as llm:
                async for _ in llm.chat(base_ctx()):
                    raise ValueError("the agent failed")
    except BaseException as exc:
        raised = exc
    assert type(raised) is ValueError, repr(raised)
    assert str(raised) == "the agent failed"
    assert all_closed(fake)
    assert errors == []


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_cancelling_the_whole_block_during_a_turn_is_a_plain_cancellation(
    fake: FakeOpenAI, path: str, errors: list[Exception]
) -> None:
    add_reply(fake, path, ["one "], stall=True)
    heard: list[str] = []
    with anyio.fail_after(5), anyio.CancelScope() as scope:
        async with (
            make(fake, path, errors, **NO_GUARDS) as llm,
            llm.chat(base_ctx()) as stream,
        ):
            async for item in stream:
                heard.append(item.content)
                scope.cancel()
    assert scope.cancelled_caught is True  # the cancellation came out as itself
    assert heard == ["one "]
    assert all_closed(fake)
    assert errors == []

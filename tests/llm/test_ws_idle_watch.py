"""Between turns on a socket that can be watched without reading, the slot's task waits for
bytes instead of inside a read, so a turn that begins reads the socket itself at once:
nothing to hand over. Two kinds: ``IdleWatch`` (the default engine on a plain asyncio
socket: the loop calls back, nothing is cancelled) and ``IdleWait`` (on a plain trio
socket: the slot's task waits until the socket is readable, and a turn's start cancels that
wait). These tests pin, for both, that the slot still does what the idle read did: frames
that arrive between turns never reach a turn, a close between turns retires the socket, and
a silent socket is pinged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
import trio
import trio.testing

from scoped_openai._transports.websocket import WebSocketClosed
from scoped_openai._ws_slot import KEEPALIVE_INTERVAL
from support.slots import open_slot_over


class WatchedSocket:
    """A ``WebSocket`` + ``KeepAlive`` whose frames a test makes arrive, watched as
    ``IdleWatch`` (``kind="watch"``: a callback) or ``IdleWait`` (``kind="wait"``: a wait
    in the slot's task, cancelled by a turn's start)."""

    def __init__(self, kind: str = "watch") -> None:
        self.kind = kind
        self.frames: list[str | Exception] = []
        self.wake: Callable[[], object] | None = None
        self.arrived = anyio.Event()
        self.reads = 0  # receive_text calls
        self.pings: list[float] = []
        self.closed = False
        self.waiting = False  # inside the wait (``IdleWait``)
        self.waits_cancelled = 0

    @property
    def watched(self) -> bool:
        """Someone is told when a frame arrives (a callback set, or a task in the wait)."""
        return self.wake is not None or self.waiting

    def arrive(self, frame: str | Exception) -> None:
        self.frames.append(frame)
        self.arrived.set()
        if self.wake is not None:
            self.wake()

    def watch_incoming(self, wake: Callable[[], object] | None) -> bool:
        if wake is not None and self.frames:
            self.wake = None
            return False
        self.wake = wake
        return True

    def incoming_wait(self) -> Callable[[], Awaitable[bool]] | None:
        return self._wait if self.kind == "wait" else None

    async def _wait(self) -> bool:
        # As a socket's readiness: at once (after a checkpoint) while frames are unread.
        await anyio.lowlevel.checkpoint()
        self.waiting = True
        try:
            while not self.frames:
                self.arrived = anyio.Event()
                await self.arrived.wait()
        except anyio.get_cancelled_exc_class():
            self.waits_cancelled += 1
            raise
        finally:
            self.waiting = False
        return True

    async def send_text(self, text: str) -> None:
        await anyio.lowlevel.checkpoint()

    async def receive_text(self) -> str:
        self.reads += 1
        while not self.frames:
            self.arrived = anyio.Event()
            await self.arrived.wait()
        frame = self.frames.pop(0)
        if isinstance(frame, Exception):
            raise frame
        return frame

    def receive_text_nowait(self) -> str | None:
        return None

    async def ping(self) -> None:
        self.pings.append(anyio.current_time())

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
        await anyio.lowlevel.checkpoint()


@pytest.fixture(params=["watch", "wait"])
def socket(request: pytest.FixtureRequest) -> WatchedSocket:
    """The fake socket, watched by callback (asyncio's kind) or by a wait (trio's)."""
    return WatchedSocket(request.param)


@pytest.mark.anyio
async def test_between_turns_the_socket_is_watched_not_read_and_a_turn_reads_it_at_once(
    socket: WatchedSocket,
) -> None:
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        assert socket.reads == 0
        assert socket.watched

        slot.begin_turn()
        await anyio.wait_all_tasks_blocked()
        assert not socket.watched  # the turn's frames wake nobody else
        assert socket.waits_cancelled == (1 if socket.kind == "wait" else 0)
        with anyio.fail_after(0):  # nothing to wait for: no read in progress
            assert await slot.take_over() == []
        socket.arrive('{"first": true}')
        assert await socket.receive_text() == '{"first": true}'  # the turn reads itself
        await anyio.wait_all_tasks_blocked()
        assert socket.reads == 1  # the turn's own read only

        slot.end_turn()
        await anyio.wait_all_tasks_blocked()
        assert socket.watched  # watched again
        assert socket.reads == 1
        slot.retire()
    assert socket.closed
    assert socket.pings == []


@pytest.mark.anyio
async def test_frames_between_turns_are_dropped_and_never_reach_the_next_turn(
    socket: WatchedSocket,
) -> None:
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        socket.arrive('{"stale": 1}')
        await anyio.wait_all_tasks_blocked()  # the slot wakes, reads and drops it
        assert socket.frames == []
        assert socket.watched  # and watches again

        slot.begin_turn()
        assert await slot.take_over() == []
        socket.arrive('{"fresh": 1}')
        assert await socket.receive_text() == '{"fresh": 1}'
        slot.end_turn()

        socket.arrive('{"after the turn": 1}')
        await anyio.wait_all_tasks_blocked()
        assert socket.frames == []
        assert slot.usable
        slot.retire()


@pytest.mark.anyio
async def test_a_frame_that_arrived_during_the_turn_and_was_left_is_dropped_after_it(
    socket: WatchedSocket,
) -> None:
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        slot.begin_turn()
        socket.arrive('{"late": 1}')  # after the turn's last read (a late event)
        await anyio.wait_all_tasks_blocked()
        assert socket.frames == ['{"late": 1}']  # nobody reads while a turn owns it

        slot.end_turn()
        await anyio.wait_all_tasks_blocked()
        assert socket.frames == []  # dropped between turns, never the next turn's
        slot.retire()


@pytest.mark.anyio
async def test_a_close_between_turns_retires_the_slot(socket: WatchedSocket) -> None:
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        socket.arrive(WebSocketClosed(1001, "going away"))
        await anyio.wait_all_tasks_blocked()
        assert not slot.usable
    assert slot.dead
    assert socket.closed


@pytest.mark.trio
async def test_a_silent_watched_socket_is_pinged_and_a_turn_restarts_the_silence(
    socket: WatchedSocket, autojump_clock: trio.testing.MockClock
) -> None:
    async with anyio.create_task_group() as tg:
        start = trio.current_time()
        slot = await open_slot_over(tg, socket)
        await trio.sleep(KEEPALIVE_INTERVAL + 1)
        assert socket.pings == [start + KEEPALIVE_INTERVAL]

        await trio.sleep(KEEPALIVE_INTERVAL / 2)
        slot.begin_turn()  # a turn of a whole interval: no ping while it runs
        await trio.sleep(KEEPALIVE_INTERVAL)
        assert len(socket.pings) == 1
        ended = trio.current_time()
        slot.end_turn()
        await trio.sleep(KEEPALIVE_INTERVAL + 1)
        assert socket.pings[1:] == [ended + KEEPALIVE_INTERVAL]  # silence since the turn
        assert socket.reads == 0
        slot.retire()


@pytest.mark.anyio
async def test_retiring_a_waiting_slot_closes_its_socket_without_a_ping(
    socket: WatchedSocket,
) -> None:
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        assert socket.watched
        slot.retire()
        await anyio.wait_all_tasks_blocked()
        assert slot.dead
        assert socket.closed
    assert socket.pings == []
    assert socket.reads == 0


@pytest.mark.anyio
async def test_bytes_that_arrived_just_before_a_turn_began_are_the_turns_to_read() -> None:
    """The wait returned (bytes) but the slot's task had not run yet when the turn began:
    the slot reads nothing, the turn reads them (a stray frame among them is the turn's
    parser's to skip, as any frame before its ``response.created``)."""
    socket = WatchedSocket("wait")
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        socket.arrive('{"just before": 1}')  # the wait is done; its task not yet run
        slot.begin_turn()
        await anyio.wait_all_tasks_blocked()
        assert socket.reads == 0
        assert await slot.take_over() == []
        assert await socket.receive_text() == '{"just before": 1}'
        slot.end_turn()
        await anyio.wait_all_tasks_blocked()
        assert socket.watched
        slot.retire()


@pytest.mark.anyio
async def test_on_a_real_socket_a_turn_reads_what_the_slot_waited_on(
    anyio_backend: str,
) -> None:
    """The default engine on loopback, both backends (asyncio: watched; trio: waited on):
    a stray frame between turns is dropped by the slot; a turn that begins while the slot
    waits reads its own frames at once (on trio its read waits on the socket the slot's
    wait just left: trio refuses a second waiter), with nothing handed over."""
    from contextlib import AbstractAsyncContextManager
    from typing import Any

    from scoped_openai._transports.websocket import WebSocket
    from scoped_openai._transports.ws_sansio import SansIOWebSocketConnection
    from scoped_openai._ws_slot import SocketSlot
    from support.loopback_server import serving
    from support.raw_websocket import CLOSE, TEXT, accept, close_frame, frame

    stray = anyio.Event()

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        await stray.wait()
        await stream.send(frame(TEXT, '{"stray": 1}'))
        while True:
            opcode, _, payload = await reader.frame()
            if opcode == CLOSE:
                await stream.send(close_frame(1000))
                return
            await stream.send(frame(TEXT, payload))

    async with serving(handler) as port:

        def connector(url: str, headers: Any) -> AbstractAsyncContextManager[WebSocket]:
            return SansIOWebSocketConnection(url, dict(headers), connect_timeout=5)

        slot = SocketSlot(1)
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slot.run, connector, f"ws://127.0.0.1:{port}/v1/responses", {})
                await slot.ready.wait()
                ws = slot.ws
                assert ws is not None
                if anyio_backend == "trio":
                    assert ws.incoming_wait() is not None  # type: ignore[attr-defined]
                stray.set()
                await anyio.wait_all_tasks_blocked()  # the slot read and dropped it
                for turn in range(3):
                    slot.begin_turn()
                    assert await slot.take_over() == []  # no read in progress
                    await ws.send_text(f'{{"turn": {turn}}}')
                    assert await ws.receive_text() == f'{{"turn": {turn}}}'
                    slot.end_turn()
                    await anyio.wait_all_tasks_blocked()
                assert slot.usable
                slot.retire()
        assert slot.dead

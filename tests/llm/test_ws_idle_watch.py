"""Between turns on a socket that can be watched without reading (``IdleWatch``: the
default engine on a plain asyncio socket), the slot's task waits for bytes instead of
inside a read, so a turn that begins reads the socket itself at once: nothing to hand over,
nothing cancelled. These tests pin that it still does what the idle read did: frames that
arrive between turns never reach a turn, a close between turns retires the socket, and a
silent socket is pinged.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
import trio
import trio.testing

from scoped_openai._transports.websocket import WebSocketClosed
from scoped_openai._ws_slot import KEEPALIVE_INTERVAL
from support.slots import open_slot_over


class WatchedSocket:
    """A ``WebSocket`` + ``IdleWatch`` + ``KeepAlive`` whose frames a test makes arrive."""

    def __init__(self) -> None:
        self.frames: list[str | Exception] = []
        self.wake: Callable[[], object] | None = None
        self.arrived = anyio.Event()
        self.reads = 0  # receive_text calls
        self.pings: list[float] = []
        self.closed = False

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


@pytest.mark.anyio
async def test_between_turns_the_socket_is_watched_not_read_and_a_turn_reads_it_at_once() -> None:
    socket = WatchedSocket()
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        assert socket.reads == 0
        assert socket.wake is not None  # watched

        slot.begin_turn()
        assert socket.wake is None  # the turn's frames wake nobody else
        with anyio.fail_after(0):  # nothing to wait for: no read in progress
            assert await slot.take_over() == []
        socket.arrive('{"first": true}')
        assert await socket.receive_text() == '{"first": true}'  # the turn reads itself
        await anyio.wait_all_tasks_blocked()
        assert socket.reads == 1  # the turn's own read only

        slot.end_turn()
        await anyio.wait_all_tasks_blocked()
        assert socket.wake is not None  # watched again
        assert socket.reads == 1
        slot.retire()
    assert socket.closed


@pytest.mark.anyio
async def test_frames_between_turns_are_dropped_and_never_reach_the_next_turn() -> None:
    socket = WatchedSocket()
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        socket.arrive('{"stale": 1}')
        await anyio.wait_all_tasks_blocked()  # the slot wakes, reads and drops it
        assert socket.frames == []
        assert socket.wake is not None  # and watches again

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
async def test_a_frame_that_arrived_during_the_turn_and_was_left_is_dropped_after_it() -> None:
    socket = WatchedSocket()
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
async def test_a_close_between_turns_retires_the_slot() -> None:
    socket = WatchedSocket()
    async with anyio.create_task_group() as tg:
        slot = await open_slot_over(tg, socket)
        socket.arrive(WebSocketClosed(1001, "going away"))
        await anyio.wait_all_tasks_blocked()
        assert not slot.usable
    assert slot.dead
    assert socket.closed


@pytest.mark.trio
async def test_a_silent_watched_socket_is_pinged_and_a_turn_restarts_the_silence(
    autojump_clock: trio.testing.MockClock,
) -> None:
    socket = WatchedSocket()
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

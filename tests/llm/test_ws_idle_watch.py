"""Between turns on a socket that can be watched without reading (``IdleWatch``: the
default engine on a plain asyncio socket), the slot's task waits for bytes instead of
inside a read, so a turn that begins reads the socket itself at once: nothing to hand over,
nothing cancelled. These tests pin that it still does what the idle read did: frames that
arrive between turns never reach a turn, a close between turns retires the socket, and a
silent socket is pinged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
import trio
import trio.testing

from scoped_openai._transports.websocket import WebSocket, WebSocketClosed
from scoped_openai._transports.ws_sansio import SansIOWebSocketConnection
from scoped_openai._ws_slot import KEEPALIVE_INTERVAL, SocketSlot
from support.loopback_server import serving
from support.raw_websocket import CLOSE, PING, PONG, TEXT, accept, close_frame, frame
from support.slots import open_slot_over
from support.tls import localhost_tls_contexts


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

    async def receive_arrived(self) -> str | None:
        await anyio.lowlevel.checkpoint()
        if not self.frames:
            return None
        frame = self.frames.pop(0)
        if isinstance(frame, Exception):
            raise frame
        return frame

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


@asynccontextmanager
async def real_slot(
    handler: Callable[[anyio.abc.ByteStream], Awaitable[None]], tls: bool
) -> AsyncIterator[tuple[SocketSlot, WebSocket]]:
    """A ``SocketSlot`` running the default engine against ``handler`` on loopback (TLS
    when ``tls``), opened; retired, and checked dead, after the block."""
    server_context = client_context = None
    if tls:
        server_context, client_context = localhost_tls_contexts()
    url = "wss://localhost:{}/v1/responses" if tls else "ws://127.0.0.1:{}/v1/responses"

    def connector(url: str, headers: Any) -> AbstractAsyncContextManager[WebSocket]:
        return SansIOWebSocketConnection(
            url, dict(headers), connect_timeout=5, ssl_context=client_context
        )

    slot = SocketSlot(1)
    with anyio.fail_after(10):
        async with serving(handler, tls=server_context) as port, anyio.create_task_group() as tg:
            tg.start_soon(slot.run, connector, url.format(port), {})
            await slot.ready.wait()
            assert slot.ws is not None
            yield slot, slot.ws
            assert slot.usable
            slot.retire()
    assert slot.dead


@pytest.mark.anyio
@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_on_a_real_socket_a_turn_reads_its_own_frames_and_nothing_between_turns(
    anyio_backend: str, tls: bool
) -> None:
    """The default engine on loopback, plain and TLS, both backends: a stray frame
    between turns is dropped by the slot; each turn gets its own frame, none lost, none
    stale. On asyncio the slot watches between turns (not inside a read), so a turn reads
    its first frame itself, nothing handed over; on trio the slot's idle read hands it
    over."""
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

    watched = anyio_backend == "asyncio"
    async with real_slot(handler, tls) as (slot, ws):
        stray.set()
        await anyio.wait_all_tasks_blocked()  # the slot read and dropped it
        assert slot._reading is not watched  # watching again, or back inside a read
        for turn in range(3):
            echo = f'{{"turn": {turn}}}'
            slot.begin_turn()
            await ws.send_text(echo)
            if watched:
                assert await slot.take_over() == []  # no read in progress
                assert await ws.receive_text() == echo  # the turn reads it itself
            else:
                assert await slot.take_over() == [echo]  # the idle read's, handed over
            slot.end_turn()
            await anyio.wait_all_tasks_blocked()
            assert slot._reading is not watched


@pytest.mark.anyio
@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_a_control_frame_between_turns_leaves_the_slot_watching_not_inside_a_read(
    anyio_backend: str, tls: bool
) -> None:
    """A server's ping between turns (as a keep-alive's pong) completes no message: the
    slot answers it and watches again (asyncio), instead of waiting inside a read for the
    next message, which would hand the next turn its first frame (trio reads between turns
    anyway)."""
    ping = anyio.Event()
    ponged = anyio.Event()

    async def handler(stream: anyio.abc.ByteStream) -> None:
        reader = await accept(stream)
        await ping.wait()
        await stream.send(frame(PING, "are you there"))
        while True:
            opcode, _, payload = await reader.frame()
            if opcode == PONG:
                ponged.set()
            elif opcode == CLOSE:
                await stream.send(close_frame(1000))
                return
            else:
                await stream.send(frame(opcode, payload))

    watched = anyio_backend == "asyncio"
    async with real_slot(handler, tls) as (slot, ws):
        ping.set()
        await ponged.wait()  # the slot took the ping in and answered it
        await anyio.wait_all_tasks_blocked()
        assert slot._reading is not watched  # watching again, or back inside a read
        slot.begin_turn()
        await ws.send_text('{"turn": 1}')
        if watched:
            assert await slot.take_over() == []  # no read in progress
            assert await ws.receive_text() == '{"turn": 1}'  # the turn reads it itself
        else:
            assert await slot.take_over() == ['{"turn": 1}']
        slot.end_turn()

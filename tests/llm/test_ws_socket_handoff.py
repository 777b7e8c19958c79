"""The socket hand-off between a slot's idle reader and the turn that owns the socket.

A turn reads its socket directly, in the consumer's task; between turns the slot's own task
reads it (dropping frames no turn owns, noticing a close). These tests pin the hand-off:
nothing that arrived between turns reaches a turn, nothing that arrived after a turn began
is lost, and a close seen between turns moves the next turn to another socket.
"""

from __future__ import annotations

import anyio
import pytest

from scoped_openai._chain import ChainHome
from scoped_openai._transports.websocket import WebSocketClosed
from scoped_openai._transports.ws_memory import MemoryConnector, MemoryWebSocket
from scoped_openai._turn_owner import TurnOwner
from scoped_openai._ws_pool import WebSocketPool
from scoped_openai._ws_slot import SocketSlot
from support.slots import open_slot_over

pytestmark = pytest.mark.anyio

URL = "wss://example.test/v1/responses"


class _Reader:
    """A stream as a lease's owner sees it: never inside ``__anext__`` here."""

    waiting = False

    async def aclose(self) -> None:
        pass


async def open_slot(
    task_group: anyio.abc.TaskGroup, connector: MemoryConnector
) -> tuple[SocketSlot, MemoryWebSocket]:
    """A slot whose task is connected and idle-reading, and the server end of its socket."""
    slot = SocketSlot(1)
    task_group.start_soon(slot.run, connector, URL, {})
    server = await connector.accept()
    await slot.ready.wait()
    await anyio.wait_all_tasks_blocked()
    return slot, server


async def test_frames_between_turns_never_reach_the_next_turn() -> None:
    async with MemoryConnector() as connector, anyio.create_task_group() as tg:
        slot, server = await open_slot(tg, connector)
        await server.send_text('{"stale": 1}')
        await server.send_text('{"stale": 2}')
        await anyio.wait_all_tasks_blocked()  # the idle reader takes and drops both

        slot.begin_turn()  # the read in progress runs on: its frame is the turn's
        await server.send_text('{"fresh": 1}')
        assert await slot.take_over() == ['{"fresh": 1}']
        await server.send_text('{"fresh": 2}')
        assert slot.ws is not None
        assert await slot.ws.receive_text() == '{"fresh": 2}'

        slot.end_turn()
        await server.send_text('{"after the turn": 1}')
        await anyio.wait_all_tasks_blocked()  # dropped by the idle reader
        slot.begin_turn()
        await server.send_text('{"next turn": 1}')
        assert await slot.take_over() == ['{"next turn": 1}']
        assert slot.usable
        slot.retire()
        await server.aclose()


async def test_the_idle_reader_stops_before_the_turn_reads() -> None:
    """After ``take_over`` the turn is the only reader: a frame sent then is the turn's."""
    async with MemoryConnector() as connector, anyio.create_task_group() as tg:
        slot, server = await open_slot(tg, connector)
        slot.begin_turn()
        await server.send_text('{"n": 1}')
        taken = await slot.take_over()
        await server.send_text('{"n": 2}')
        await anyio.wait_all_tasks_blocked()  # an idle reader, if still reading, would take it
        assert slot.ws is not None
        with anyio.fail_after(1):
            assert await slot.ws.receive_text() == '{"n": 2}'
        assert taken == ['{"n": 1}']
        slot.retire()
        await server.aclose()


class _StubbornSocket:
    """A socket whose pending receive completes even when cancelled if a frame arrived
    before the cancel took effect (as a library's may, when the frame was already on its
    way): that frame must reach the turn, not vanish."""

    def __init__(self) -> None:
        self.frames: list[str | Exception] = []
        self._arrived = anyio.Event()
        self.closed = False

    def arrive(self, frame: str | Exception) -> None:
        self.frames.append(frame)
        self._arrived.set()

    async def send_text(self, text: str) -> None:
        await anyio.lowlevel.checkpoint()

    async def receive_text(self) -> str:
        while not self.frames:
            self._arrived = anyio.Event()
            try:
                await self._arrived.wait()
            except anyio.get_cancelled_exc_class():
                if not self.frames:
                    raise
                break  # the frame won the race against the cancel: return it
        frame = self.frames.pop(0)
        if isinstance(frame, Exception):
            raise frame
        return frame

    def receive_text_nowait(self) -> str | None:
        return None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
        await anyio.lowlevel.checkpoint()


async def open_stubborn_slot(
    task_group: anyio.abc.TaskGroup, socket: _StubbornSocket
) -> SocketSlot:
    """A slot over ``socket`` whose task is connected and idle-reading."""
    return await open_slot_over(task_group, socket)


async def test_a_frame_the_idle_read_got_after_the_turn_began_is_handed_to_the_turn() -> None:
    socket = _StubbornSocket()
    async with anyio.create_task_group() as tg:
        slot = await open_stubborn_slot(tg, socket)

        slot.begin_turn()  # the idle read runs on until a frame
        socket.arrive('{"first": true}')
        socket.arrive('{"second": true}')
        assert await slot.take_over() == ['{"first": true}']
        assert await socket.receive_text() == '{"second": true}'  # the turn reads on
        slot.retire()
    assert socket.closed


async def test_a_close_the_idle_read_got_after_the_turn_began_is_the_turns_error() -> None:
    socket = _StubbornSocket()
    async with anyio.create_task_group() as tg:
        slot = await open_stubborn_slot(tg, socket)

        slot.begin_turn()
        socket.arrive(WebSocketClosed(1011, "server error"))
        (taken,) = await slot.take_over()
        assert isinstance(taken, WebSocketClosed)
        assert taken.close_code == 1011
        assert not slot.usable
    assert socket.closed
    assert slot.dead


async def test_a_close_between_turns_moves_the_next_turn_to_the_spare() -> None:
    async with MemoryConnector() as connector, anyio.create_task_group() as tg:
        pool = WebSocketPool(tg, connector, URL, {}, chains=ChainHome(store=False))
        reader = _Reader()
        owner = TurnOwner(reader)
        first = await pool.lease(owner)
        first.release(clean=True)
        servers = [await connector.accept(), await connector.accept()]  # active, spare
        await anyio.wait_all_tasks_blocked()

        await servers[0].aclose(1001, "going away")  # while no turn owns the socket
        await anyio.wait_all_tasks_blocked()

        second = await pool.lease(owner)
        assert second.ws is not first.ws
        assert not second.ws.closed
        assert pool.sockets_opened == 3  # the spare became active; a new spare opens
        servers.append(await connector.accept())
        pool.close()
        for server in servers:
            await server.aclose()

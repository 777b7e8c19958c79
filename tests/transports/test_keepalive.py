"""Keep-alive between turns: the slot's own idle read pings a silent socket (no extra task),
on trio's virtual clock."""

from __future__ import annotations

import pytest
import trio

from scoped_openai._ws_slot import KEEPALIVE_INTERVAL, SocketSlot


class SilentSocket:
    """A ``WebSocket`` + ``KeepAlive`` whose peer never sends; counts pings."""

    closed = False

    def __init__(self) -> None:
        self.pings: list[float] = []
        self.frame = trio.Event()

    async def send_text(self, text: str) -> None:
        pass

    async def receive_text(self) -> str:
        await self.frame.wait()
        return "late frame"

    def receive_text_nowait(self) -> str | None:
        return None

    async def ping(self) -> None:
        self.pings.append(trio.current_time())

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        pass


@pytest.mark.trio
async def test_an_idle_socket_pings_every_interval_until_a_frame_or_a_turn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    socket = SilentSocket()
    start = trio.current_time()
    assert await SocketSlot._receive_or_ping(socket) is None  # silence: one ping
    assert socket.pings == [start + KEEPALIVE_INTERVAL]
    socket.frame.set()
    assert await SocketSlot._receive_or_ping(socket) == "late frame"  # no ping
    assert len(socket.pings) == 1


@pytest.mark.trio
async def test_a_socket_without_ping_just_waits(autojump_clock: trio.testing.MockClock) -> None:
    class NoKeepAlive(SilentSocket):
        ping = None  # type: ignore[assignment]

    socket = NoKeepAlive()
    with trio.move_on_after(10 * KEEPALIVE_INTERVAL) as scope:
        await SocketSlot._receive_or_ping(socket)  # type: ignore[arg-type]
    assert scope.cancelled_caught

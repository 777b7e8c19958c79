"""One WebSocket and the task that owns it (``SocketSlot``): the pool's unit (``_ws_pool``).

The slot's task connects, then, between turns, reads or watches the socket (noticing a
close, dropping frames no turn owns, pinging a silent one); while a turn owns the socket,
the turn reads it in the consumer's own task, and the slot hands over exactly what it read
after the turn began.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import anyio
import anyio.abc

from ._chain import ChainState
from ._transports.websocket import IdleWatch, KeepAlive, WebSocket, WebSocketConnector

logger = logging.getLogger("scoped_openai")

#: An idle socket (between turns, or a spare) pings after this much silence, so proxies and
#: the API's edge see traffic (the interval httpx-ws and the websockets package use).
KEEPALIVE_INTERVAL = 20.0


class SocketSlot:
    """One WebSocket and the task that owns it.

    While a turn owns the socket, the turn reads it directly in the consumer's own task
    (no hop through another task per frame); between turns the slot's task reads it, so a
    close is noticed and stray frames are dropped. The hand-off is exact and cancels
    nothing: ``begin_turn`` only marks the socket owned; a read in progress runs on until
    its frame arrives (usually the turn's first) and hands it over, and the turn's first
    ``take_over`` waits for that. Cancelling the read at every turn's start cost more
    than the one hop of the first frame (``benchmarks/bench_ws_turn_start.py``; measured
    again with the cancel after the request's write, between turns paused 1 ms: CPU per
    in-memory turn +64 µs on asyncio, +44 µs on trio, and a later first token). What the
    slot's task does between handing the frame over and waiting again delays the turn, so
    it does nothing else there.

    Where the socket can be watched without reading it (``IdleWatch``: the default engine
    on asyncio, plain or ``wss``), there is no read to hand over: between turns the slot's
    task waits for bytes to arrive and reads only what arrives while no turn owns the
    socket; ``begin_turn`` stops the watch, so the turn reads its first frame itself, with
    no hop through this task (``_wait_for_bytes``).

    Attributes:
        ready: Set once the handshake finished (``ws`` set) or failed (``error`` set).
        ws: The open socket, or None.
        error: Why the handshake failed, or None.
        opened_at: When the handshake finished (``anyio.current_time()``).
        retired: True once nobody may start a turn on it (it is closing).
        dead: True once its task ended (the socket is closed).
        chain: What the server holds that a turn on this socket may continue from (its
            own with ``store=False``, where it dies with the socket; the instance's with
            ``store=True``).
    """

    def __init__(
        self,
        number: int,
        chain: ChainState | None = None,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.number = number
        self.chain = chain if chain is not None else ChainState()
        self._clock = clock  # the backend's own (what anyio.current_time reads, cheaper)
        self.ready = anyio.Event()
        self.ws: WebSocket | None = None
        self.error: Exception | None = None
        self.opened_at = math.inf
        self.retired = False
        self.dead = False
        self._connect_scope = anyio.CancelScope()  # covers the handshake
        self._read_scope = anyio.CancelScope()  # covers the reading, not the polite close
        self._owned = False  # a turn reads the socket itself
        self._reading = False  # the slot's task is inside a receive
        self._read_returned: anyio.Event | None = None  # what take_over waits on
        self._turn_over = anyio.Event()
        #: What the idle read got after a turn began: the turn's, in order.
        self._handoff: list[str | Exception] = []
        #: Where the socket can be watched without reading (``IdleWatch``): its watch, and
        #: the event that wakes this task while it waits for bytes (``_wait_for_bytes``).
        self._watch: Callable[..., bool] | None = None
        self._wake: anyio.Event | None = None

    def __repr__(self) -> str:
        state = "dead" if self.dead else "retired" if self.retired else "live"
        return f"<SocketSlot #{self.number} {state}>"

    @property
    def usable(self) -> bool:
        """Open (or still connecting) and not retired."""
        return not (self.retired or self.dead or self.error is not None)

    def serves(self, now: float, max_age: float) -> bool:
        """``usable`` and younger than ``max_age`` at ``now`` (a clock reading): one call
        where a turn asks, not three."""
        if self.retired or self.dead or self.error is not None:
            return False
        return now - self.opened_at < max_age  # -inf while connecting: age 0

    def age(self) -> float:
        """Seconds since the handshake finished (0 while connecting)."""
        if self.opened_at == math.inf:
            return 0.0
        return self._clock() - self.opened_at

    async def run(
        self, connector: WebSocketConnector, url: str, headers: Mapping[str, str]
    ) -> None:
        """The slot's task: connect, then read between turns until retired or closed.
        Never raises.

        Retiring it during the handshake abandons the handshake; retiring it later stops the
        reading only, so leaving the adapter's block closes the socket politely (close frame
        and answer, bounded by the adapter) instead of under a cancellation.
        """
        with self._connect_scope:
            try:
                async with connector(url, headers) as ws:
                    self.ws = ws
                    self.opened_at = self._clock()
                    self.ready.set()
                    logger.debug("socket #%d: opened", self.number)
                    with self._read_scope:
                        await self._read_between_turns(ws)
            except Exception as exc:
                if not self.ready.is_set():
                    self.error = exc
                    logger.debug("socket #%d: could not open: %s", self.number, exc)
        self.dead = True
        self.ready.set()
        self._reading = False
        if self._read_returned is not None:
            self._read_returned.set()  # a turn waiting to take over sees the socket is gone

    async def _read_between_turns(self, ws: WebSocket) -> None:
        keepalive = isinstance(ws, KeepAlive)  # once per socket: a Protocol check is slow
        watch = self._watch = ws.watch_incoming if isinstance(ws, IdleWatch) else None
        try:
            await self._between_turns(ws, keepalive, watch)
        finally:
            if watch is not None:
                watch(None)

    async def _between_turns(
        self, ws: WebSocket, keepalive: bool, watch: Callable[..., bool] | None
    ) -> None:
        while True:
            if self._owned:
                await self._turn_over.wait()
                # The next turn's event is made as this one ends, off every turn's path:
                # made when a turn begins, it delayed that turn's first frame (this task
                # hands the frame over, then makes it, before the turn can run).
                self._turn_over = anyio.Event()
                continue
            if self.retired:
                return  # retired while a turn read it or while it watched: nothing cancelled
            if watch is not None and await self._wait_for_bytes(ws, watch, keepalive):
                continue  # woken (bytes, a turn's end) or pinged: look again
            got: str | Exception | None = None
            self._reading = True
            try:
                # Watched, bytes are here: take them in, then watch again (a pong completes
                # no message, and waiting in a read for the next one would leave the next
                # turn's first frame to the hand-off).
                arrived = cast(IdleWatch, ws).receive_arrived if watch is not None else None
                got = await self._receive_or_ping(ws, keepalive, arrived)
            except Exception as exc:  # a close, a binary frame: the socket is done
                got = exc
            finally:
                self._reading = False
                if self._read_returned is not None:
                    self._read_returned.set()
            if got is None:
                continue  # pinged, or what arrived completed no message
            if self._owned:
                self._handoff.append(got)
            elif isinstance(got, str):
                logger.debug("socket #%d: dropped a frame no turn owns: %.80s", self.number, got)
            if isinstance(got, Exception):
                self.retired = True  # no new turn may start on it; this task closes it
                return

    async def _wait_for_bytes(
        self, ws: WebSocket, watch: Callable[..., bool], keepalive: bool
    ) -> bool:
        """Wait, reading nothing, until bytes arrive while no turn owns the socket, a turn
        ends, or ``KEEPALIVE_INTERVAL`` passes in silence (then ping); True when it waited.
        False at once when bytes (or the end) are already here: read them.

        A turn that begins meanwhile stops the watch (``begin_turn``) and reads the socket
        itself; this task sleeps on until the turn ends."""
        wake = self._wake = anyio.Event()
        if not watch(wake.set):
            self._wake = None
            return False
        if not keepalive:
            await wake.wait()
            return True
        with anyio.move_on_after(KEEPALIVE_INTERVAL) as silence:
            await wake.wait()
        if silence.cancelled_caught and not self._owned:
            watch(None)
            await cast(KeepAlive, ws).ping()  # shielded and bounded by the engine
        return True

    @staticmethod
    async def _receive_or_ping(
        ws: WebSocket,
        keepalive: bool | None = None,
        receive: Callable[[], Awaitable[str | None]] | None = None,
    ) -> str | None:
        """The next frame (``receive``: ``ws.receive_text`` unless given, e.g. what
        arrived, which may be None); or, after ``KEEPALIVE_INTERVAL`` of silence, a ping
        and None. The ping is sent here, in the one task that reads between turns: no extra
        task. ``keepalive``: whether ``ws`` can ping (None: look)."""
        if keepalive is None:
            keepalive = isinstance(ws, KeepAlive)
        if receive is None:
            receive = ws.receive_text
        if not keepalive:
            return await receive()
        with anyio.move_on_after(KEEPALIVE_INTERVAL):
            return await receive()
        await cast(KeepAlive, ws).ping()  # shielded and bounded by the engine
        return None

    def begin_turn(self) -> None:
        """A turn owns the socket from now on: a read in progress is the last idle one
        (``take_over`` waits for it)."""
        self._owned = True
        self._handoff.clear()
        if self._watch is not None:
            self._watch(None)  # the turn reads the socket itself: no wake-up per frame

    async def take_over(self) -> list[str | Exception]:
        """Wait until the idle read in progress (if any) has returned; the frames (or the
        close) it got after the turn began, which the turn handles before reading the
        socket itself.

        Cancellation: only the wait is abandoned; the hand-off stays for the next call.
        """
        if self._reading:
            returned = self._read_returned = anyio.Event()
            await returned.wait()
        taken = self._handoff[:]
        self._handoff.clear()
        return taken

    def end_turn(self) -> None:
        """The turn no longer reads the socket: the slot's task reads (and drops) again."""
        self._owned = False
        self._handoff.clear()
        self._turn_over.set()
        if self._wake is not None:
            self._wake.set()  # watch again, the silence counted from now

    def retire(self) -> None:
        """Close the socket in the background; returns at once. Idempotent.

        Only a handshake or an idle read is cancelled: a task waiting for the turn's end (a
        barge-in's socket) or watching for bytes is woken (``end_turn``), sees ``retired``
        and goes on to the close by itself, so the barge-in spends no cancellation on it
        (on asyncio a scope's cancel formats the calling task's repr, and the wake-up
        unwinds a ``CancelledError``)."""
        if not self.retired:
            logger.debug("socket #%d: retired", self.number)
        self.retired = True
        self.end_turn()
        if self.ws is None:
            self._connect_scope.cancel()
            self._read_scope.cancel()
        elif self._reading:
            self._read_scope.cancel()

"""The WebSocket connection lifecycle: sockets as tasks in the llm's task group.

Each socket is a ``SocketSlot`` whose one task connects and then reads the socket between
turns (dropping frames no turn owns, noticing a close); while a turn owns the socket, the
turn reads it directly in the consumer's task. Nobody else touches the socket's lifetime:
retiring a slot cancels its task's scope, and the adapter closes the socket (bounded) in
that background task. So:

- a barge-in retires the socket that carried the cancelled response and returns at once;
  the next turn takes the warm spare, so it never waits for a drain and no late event of
  the cancelled response can reach it (nobody reads the old socket again);
- handshake races are waits, not locks: one task owns each handshake, and every turn that
  needs that socket waits on its ``ready`` event; a cancelled waiter abandons only its wait;
- sockets are replaced before the API's 60-minute limit, at a turn boundary, with the
  spare already open.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import anyio
import anyio.abc

from ._chain import ChainState
from ._errors import APIConnectionError
from ._transports.websocket import KeepAlive, WebSocket, WebSocketConnector

logger = logging.getLogger("scoped_openai")

#: The API closes a socket after 60 minutes; we replace ours well before.
MAX_SOCKET_AGE = 55 * 60.0
#: A spare older than this is renewed, so it is fresh when the active socket ages out.
SPARE_RENEW_AGE = 45 * 60.0
#: How often the pool checks socket ages while idle.
MAINTENANCE_INTERVAL = 60.0
#: An idle socket (between turns, or a spare) pings after this much silence, so proxies and
#: the API's edge see traffic (the interval httpx-ws and the websockets package use).
KEEPALIVE_INTERVAL = 20.0


class SocketSlot:
    """One WebSocket and the task that owns it.

    While a turn owns the socket, the turn reads it directly in the consumer's own task
    (no hop through another task per frame); between turns the slot's task reads it, so a
    close is noticed and stray frames are dropped. The hand-off is exact: ``begin_turn``
    stops the idle read, and the turn's first ``take_over`` waits until that read has
    really returned, taking any frame it got after the turn began.

    Attributes:
        ready: Set once the handshake finished (``ws`` set) or failed (``error`` set).
        ws: The open socket, or None.
        error: Why the handshake failed, or None.
        opened_at: When the handshake finished (``anyio.current_time()``).
        retired: True once nobody may start a turn on it (it is closing).
        dead: True once its task ended (the socket is closed).
    """

    def __init__(self, number: int) -> None:
        self.number = number
        self.ready = anyio.Event()
        self.ws: WebSocket | None = None
        self.error: Exception | None = None
        self.opened_at = math.inf
        self.retired = False
        self.dead = False
        self._connect_scope = anyio.CancelScope()  # covers the handshake
        self._read_scope = anyio.CancelScope()  # covers the reading, not the polite close
        self._owned = False  # a turn reads the socket itself
        self._idle_read: anyio.CancelScope | None = None  # set while the task is reading
        self._idle_read_done = anyio.Event()
        self._turn_over = anyio.Event()
        #: What the idle read got after a turn began: the turn's, in order.
        self._handoff: list[str | Exception] = []

    def __repr__(self) -> str:
        state = "dead" if self.dead else "retired" if self.retired else "live"
        return f"<SocketSlot #{self.number} {state}>"

    @property
    def usable(self) -> bool:
        """Open (or still connecting) and not retired."""
        return not (self.retired or self.dead or self.error is not None)

    def age(self) -> float:
        """Seconds since the handshake finished (0 while connecting)."""
        if self.opened_at == math.inf:
            return 0.0
        return anyio.current_time() - self.opened_at

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
                    self.opened_at = anyio.current_time()
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
        self._idle_read_done.set()  # a turn waiting to take over sees the socket is gone

    async def _read_between_turns(self, ws: WebSocket) -> None:
        while True:
            if self._owned:
                await self._turn_over.wait()
                continue
            got: str | Exception | None = None
            with anyio.CancelScope() as scope:
                self._idle_read = scope
                try:
                    got = await self._receive_or_ping(ws)
                except Exception as exc:  # a close, a binary frame: the socket is done
                    got = exc
                finally:
                    self._idle_read = None
                    self._idle_read_done.set()
            if got is None:
                continue  # stopped by begin_turn, or pinged
            if self._owned:
                self._handoff.append(got)
            elif isinstance(got, str):
                logger.debug("socket #%d: dropped a frame no turn owns: %.80s", self.number, got)
            if isinstance(got, Exception):
                self.retired = True  # no new turn may start on it; this task closes it
                return

    @staticmethod
    async def _receive_or_ping(ws: WebSocket) -> str | None:
        """The next frame; or, after ``KEEPALIVE_INTERVAL`` of silence, a ping and None.
        The ping is sent here, in the one task that reads between turns: no extra task."""
        if not isinstance(ws, KeepAlive):
            return await ws.receive_text()
        with anyio.move_on_after(KEEPALIVE_INTERVAL):
            return await ws.receive_text()
        await ws.ping()  # shielded and bounded by the engine: a turn waits at most that
        return None

    def begin_turn(self) -> None:
        """A turn owns the socket from now on: stop the idle read (``take_over`` waits for it)."""
        self._owned = True
        self._handoff.clear()
        self._turn_over = anyio.Event()
        if self._idle_read is not None:
            self._idle_read_done = anyio.Event()
            self._idle_read.cancel()

    async def take_over(self) -> list[str | Exception]:
        """Wait until the idle read has returned; the frames (or the close) it got after the
        turn began, which the turn handles before reading the socket itself.

        Cancellation: only the wait is abandoned; the hand-off stays for the next call.
        """
        if self._idle_read is not None:
            await self._idle_read_done.wait()
        taken = self._handoff[:]
        self._handoff.clear()
        return taken

    def end_turn(self) -> None:
        """The turn no longer reads the socket: the slot's task reads (and drops) again."""
        self._owned = False
        self._handoff.clear()
        self._turn_over.set()

    def retire(self) -> None:
        """Close the socket in the background; returns at once. Idempotent."""
        if not self.retired:
            logger.debug("socket #%d: retired", self.number)
        self.retired = True
        self.end_turn()
        if self.ws is None:
            self._connect_scope.cancel()
        self._read_scope.cancel()


class WebSocketPool:
    """The active socket, a warm spare, the turn gate and the chain state.

    Args:
        task_group: Where socket tasks live (the ``OpenAILLM``'s).
        connector: Opens a socket (the real adapters, or a test's in-memory one).
        url: The Responses WebSocket URL.
        headers: Handshake headers (auth, extra headers).
        store: Whether responses are stored: decides whether the chain survives a socket.
        keep_spare: Keep a second socket open so a barge-in never waits for a handshake.
    """

    def __init__(
        self,
        task_group: anyio.abc.TaskGroup,
        connector: WebSocketConnector,
        url: str,
        headers: Mapping[str, str],
        *,
        store: bool,
        keep_spare: bool = True,
    ) -> None:
        self._task_group = task_group
        self._connector = connector
        self._url = url
        self._headers = dict(headers)
        self._keep_spare = keep_spare
        self.active: SocketSlot | None = None
        self.spare: SocketSlot | None = None
        self.chain = ChainState(store=store)
        #: One response in flight per socket: a second concurrent turn waits its turn.
        self.turn_gate = anyio.Semaphore(1)
        self.sockets_opened = 0
        self._closed = False
        self._maintenance = anyio.CancelScope()
        task_group.start_soon(self._maintain)

    async def _maintain(self) -> None:
        """Renew an ageing spare and rotate an ageing idle socket, so no turn ever waits for
        a handshake because a socket reached the API's 60-minute limit."""
        with self._maintenance:
            while True:
                await anyio.sleep(MAINTENANCE_INTERVAL)
                if self._closed:
                    return
                active = self.active
                if active is None:
                    continue  # nothing in use: open nothing
                idle = self.turn_gate.value > 0
                if idle and active.age() >= MAX_SOCKET_AGE:
                    spare = self.spare
                    if spare is not None and spare.ws is not None and spare.usable:
                        logger.debug(
                            "socket #%d: rotated out at %.0f s", active.number, active.age()
                        )
                        self._current()  # retires the old one, promotes the spare
                self.ensure_spare()

    def _spawn(self) -> SocketSlot:
        if self._closed:
            raise APIConnectionError("the OpenAILLM is closed")
        self.sockets_opened += 1
        slot = SocketSlot(self.sockets_opened)
        self._task_group.start_soon(slot.run, self._connector, self._url, self._headers)
        return slot

    def _current(self) -> SocketSlot:
        """The slot the next turn goes on, promoting the spare or spawning as needed."""
        active = self.active
        if active is not None and active.usable and active.age() < MAX_SOCKET_AGE:
            return active
        if active is not None:
            active.retire()
        spare, self.spare = self.spare, None
        if spare is not None and spare.usable and spare.age() < MAX_SOCKET_AGE:
            promoted = spare
        else:
            if spare is not None:
                spare.retire()
            promoted = self._spawn()
        self.active = promoted
        self.chain.socket_retired()
        return promoted

    def ensure_spare(self) -> None:
        """Open a spare if there is none usable (and renew an old one)."""
        if not self._keep_spare or self._closed or self._task_group.cancel_scope.cancel_called:
            return  # (the llm is shutting down: a new socket would only be cancelled)
        spare = self.spare
        if spare is not None and spare.usable and spare.age() < SPARE_RENEW_AGE:
            return
        if spare is not None:
            spare.retire()
        try:
            self.spare = self._spawn()
        except RuntimeError:
            # The task group is already shutting down (e.g. a stream dropped while the llm
            # closes): no spare is needed any more.
            self.spare = None

    async def acquire(self) -> SocketSlot:
        """Wait until a socket is open for the next turn and return it, and make sure a
        spare is opening: a barge-in before the first frame (a model still thinking) must
        find one ready, which is worth the spare's handshake overlapping this turn.

        Raises:
            APIStatusError, APIConnectionError: The handshake failed (twice, when the
                failure was a spare's, opened earlier in the background).

        Cancellation: only the wait is abandoned; the handshake goes on in its own task
        and its socket serves the next turn.
        """
        for attempt in range(2):
            opened_before = self.sockets_opened
            slot = self._current()
            fresh = self.sockets_opened != opened_before
            await slot.ready.wait()
            if slot.ws is not None and not slot.dead and not slot.retired:
                self.ensure_spare()
                return slot
            if self.active is slot:
                self.active = None
            error = slot.error
            if error is not None and (fresh or attempt == 1):
                del slot
                try:
                    raise error
                finally:
                    del error  # no exception -> traceback -> frame -> exception cycle
        raise APIConnectionError("could not open a WebSocket to the Responses API")

    def retire(self, slot: SocketSlot) -> None:
        """Retire ``slot`` (after a barge-in, a failure, or a drop); the spare takes over.

        The spare is promoted here and its replacement opened now, not when the next turn
        starts: its handshake then runs while the user speaks, instead of beside the next
        turn's request, and that turn still finds a spare opening before it starts.
        """
        slot.retire()
        if self.active is slot:
            self.active = None
            self.chain.socket_retired()
            spare = self.spare
            if spare is not None and spare.usable and spare.age() < MAX_SOCKET_AGE:
                self.active, self.spare = spare, None
                self.ensure_spare()

    def close(self) -> None:
        """Retire every socket; their tasks finish closing in the task group."""
        self._closed = True
        self._maintenance.cancel()
        for slot in (self.active, self.spare):
            if slot is not None:
                slot.retire()
        self.active = self.spare = None

"""The WebSocket connection lifecycle: sockets as tasks in the llm's task group.

Each socket is a ``SocketSlot`` whose one task connects, reads every frame, and routes it to
the turn that currently owns the socket (a memory object stream), or drops it when no turn
does. Nobody else touches the socket's lifetime: retiring a slot cancels its task's scope,
and the adapter closes the socket (bounded) in that background task. So:

- a barge-in retires the socket that carried the cancelled response and returns at once;
  the next turn takes the warm spare, so it never waits for a drain and no late event of
  the cancelled response can reach it (the old socket's frames have nowhere to go);
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
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import APIConnectionError
from ._responses import ChainState
from ._transports.websocket import WebSocket, WebSocketClosed, WebSocketConnector

logger = logging.getLogger("scoped_openai")

#: The API closes a socket after 60 minutes; we replace ours well before.
MAX_SOCKET_AGE = 55 * 60.0
#: A spare older than this is renewed, so it is fresh when the active socket ages out.
SPARE_RENEW_AGE = 45 * 60.0
#: How often the pool checks socket ages while idle.
MAINTENANCE_INTERVAL = 60.0

Inbox = MemoryObjectReceiveStream[str | Exception]


class SocketSlot:
    """One WebSocket and the task that owns it.

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
        self._route: MemoryObjectSendStream[str | Exception] | None = None

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
        """The slot's task: connect, then route frames until retired or closed. Never raises.

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
                    with self._read_scope:
                        await self._read(ws)
            except Exception as exc:
                if not self.ready.is_set():
                    self.error = exc
                else:
                    self._deliver(exc)
        self.dead = True
        self.ready.set()
        if self._route is not None:
            self._deliver(WebSocketClosed(None, "the socket was retired"))

    async def _read(self, ws: WebSocket) -> None:
        while True:
            try:
                text = await ws.receive_text()
            except WebSocketClosed as closed:
                self._deliver(closed)
                return
            self._deliver(text)

    def _deliver(self, item: str | Exception) -> None:
        route = self._route
        if route is None:
            if isinstance(item, str):
                logger.debug("socket #%d: dropped a frame no turn owns: %.80s", self.number, item)
            return
        try:
            route.send_nowait(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._route = None

    def begin_turn(self) -> Inbox:
        """Route the frames that arrive from now on to a new inbox, which the turn reads."""
        send, receive = anyio.create_memory_object_stream[str | Exception](math.inf)
        self._route = send
        return receive

    def end_turn(self) -> None:
        """Stop routing frames to the turn's inbox (later frames are dropped)."""
        route, self._route = self._route, None
        if route is not None:
            route.close()

    def retire(self) -> None:
        """Close the socket in the background; returns at once. Idempotent."""
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
        if not self._keep_spare or self._closed:
            return
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
        """Retire ``slot`` (after a barge-in, a failure, or a drop); the spare takes over."""
        slot.retire()
        if self.active is slot:
            self.active = None
            self.chain.socket_retired()

    def close(self) -> None:
        """Retire every socket; their tasks finish closing in the task group."""
        self._closed = True
        self._maintenance.cancel()
        for slot in (self.active, self.spare):
            if slot is not None:
                slot.retire()
        self.active = self.spare = None

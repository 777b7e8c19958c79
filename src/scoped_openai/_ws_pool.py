"""The WebSocket connection lifecycle: sockets as tasks in the llm's task group.

Each socket is a ``SocketSlot`` (``_ws_slot``) whose one task connects and then reads the
socket between turns (dropping frames no turn owns, noticing a close); while a turn owns the
socket, the turn reads it directly in the consumer's task. Nobody else touches the
socket's lifetime: retiring a slot stops its task's reading (a handshake or an idle read in
progress is cancelled; a task waiting for the turn's end or watching for bytes is woken),
and the adapter closes the socket (politely, bounded) in that background task. So:

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
from collections.abc import Callable, Mapping

import anyio
import anyio.abc

from ._chain import ChainHome, ChainState
from ._errors import APIConnectionError
from ._transports.websocket import WebSocket, WebSocketConnector
from ._turn_owner import TurnOwner
from ._ws_slot import SocketSlot

logger = logging.getLogger("scoped_openai")

#: The API closes a socket after 60 minutes; we replace ours well before.
MAX_SOCKET_AGE = 55 * 60.0
#: A spare older than this is renewed, so it is fresh when the active socket ages out.
SPARE_RENEW_AGE = 45 * 60.0
#: How often the pool checks socket ages while idle.
MAINTENANCE_INTERVAL = 60.0
#: After a barge-in the spare's replacement opens once the next turn's first output reached
#: its caller, or this long after the barge-in if that comes sooner: a model still thinking
#: leaves the client idle, and a second barge-in then finds a spare opening since shortly
#: after the first (counted from the barge-in, not from the interrupted socket's close,
#: which may be slow).
SPARE_DEFER_LIMIT = 0.05
#: How often a turn waiting behind another looks again whether that turn's owner vanished
#: (nothing announces it: see ``_turn_owner``).
RECLAIM_CHECK_INTERVAL = 0.1


class Lease:
    """One turn's hold on the pool's active socket (one response in flight per socket).

    Taken with ``await pool.lease(owner)`` and ended with ``release(clean=...)``. A turn
    spans many ``__anext__`` calls and no scope may stay open across a ``yield`` (DESIGN.md
    section 3), so the release is an explicit call rather than the end of an ``async with``;
    a turn whose owner vanished without releasing is reclaimed by the next ``lease`` (see
    ``_turn_owner``), so nothing waits for the garbage collector.

    Attributes:
        owner: Who the turn belongs to.
    """

    __slots__ = ("_pool", "_slot", "chain", "owner", "reclaimed", "released", "ws")

    def __init__(self, pool: WebSocketPool, owner: TurnOwner, slot: SocketSlot) -> None:
        self._pool = pool
        self._slot = slot
        self.owner = owner
        ws = slot.ws
        assert ws is not None, "a socket is leased only once open"
        #: The leased socket (open) and the chain valid on it: a slot's never change.
        self.ws: WebSocket = ws
        self.chain: ChainState = slot.chain
        #: True once released or reclaimed: the socket is no longer this turn's.
        self.released = False
        #: True when the pool took the lease back because its owner vanished.
        self.reclaimed = False

    def __repr__(self) -> str:
        return f"<Lease {self._slot!r}{' released' if self.released else ''}>"

    async def take_over(self) -> list[str | Exception]:
        """What the socket's idle read got after the lease began (see
        ``SocketSlot.take_over``), then the turn reads the socket itself.

        Cancellation: only the wait is abandoned; the hand-off stays for the next call.
        """
        return await self._slot.take_over()

    def release(self, *, clean: bool) -> None:
        """End the lease: keep the socket for the next turn when ``clean`` (its response
        reached a terminal event), retire it otherwise (a response may still be streaming
        on it). Idempotent; never blocks."""
        if not self.released:
            self._pool._end(self, clean=clean)


class WebSocketPool:
    """The active socket, a warm spare, and the one-turn-per-socket rule behind ``lease``.

    Args:
        task_group: Where socket tasks live (the ``OpenAILLM``'s).
        connector: Opens a socket (the real adapters, or a test's in-memory one).
        url: The Responses WebSocket URL.
        headers: Handshake headers (auth, extra headers).
        chains: Where chains live (``ChainHome``): with ``store=True`` the instance's one
            chain, which its other paths share; otherwise one per socket.
        keep_spare: Keep a second socket open so a barge-in never waits for a handshake.
        clock: The running backend's clock (what ``anyio.current_time`` reads, read
            without its look-up of the backend on every turn).
    """

    def __init__(
        self,
        task_group: anyio.abc.TaskGroup,
        connector: WebSocketConnector,
        url: str,
        headers: Mapping[str, str],
        *,
        chains: ChainHome,
        keep_spare: bool = True,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self._task_group = task_group
        self._clock = clock
        self._connector = connector
        self._url = url
        self._headers = dict(headers)
        self._keep_spare = keep_spare
        self._chains = chains
        self._active: SocketSlot | None = None
        self._spare: SocketSlot | None = None
        self._lease: Lease | None = None
        #: Set (and dropped) when a lease ends; made only by a turn that waits for one, so
        #: neither an idle pool nor a turn that waits for none holds or makes an event.
        self._lease_ended: anyio.Event | None = None
        self.sockets_opened = 0
        #: A barge-in promoted the spare: its replacement is opened at the next turn's first
        #: output or end (``output_started``, ``_end``), not beside that turn's request; at
        #: the latest ``SPARE_DEFER_LIMIT`` after the barge-in (``_maintain``), or once the
        #: interrupted socket has closed if no turn is running (``_run_slot``).
        self._spare_deferred = False
        self._deferred_at = 0.0  # when the barge-in that deferred it happened
        self._closed = False
        #: The scope ``_maintain`` sleeps in (None while it runs, or before it started): a
        #: barge-in that defers the spare moves its deadline, waking nothing; ``close``
        #: cancels it. (The task awaits nowhere else, so no scope of its own is needed.)
        self._idle: anyio.CancelScope | None = None
        task_group.start_soon(self._maintain)

    # -- leases -----------------------------------------------------------------------

    async def lease(self, owner: TurnOwner, *, avoid: Lease | None = None) -> Lease:
        """Wait for this turn's go (one response in flight per socket) and an open socket;
        lease it. A spare is opening before this returns, so a barge-in before the first
        frame (a model still thinking) finds one ready; except on the turn right after a
        barge-in, which runs on the spare that barge-in promoted: its replacement opens at
        that turn's first output or its end, whichever comes first (at the latest
        ``SPARE_DEFER_LIMIT`` after the barge-in; between turns as soon as the interrupted
        socket has closed), so its handshake does not run beside that turn's request and
        first frames, and the turn after still finds a spare opening.

        A lease held by a turn whose owner vanished (``TurnOwner.vanished``) is reclaimed
        here: its socket is retired, like a barge-in's, so none of its late events can
        reach this turn. A turn held by a live owner is waited for; the wait looks again
        every ``RECLAIM_CHECK_INTERVAL`` seconds, since nothing announces that an owner
        vanished.

        Args:
            owner: Who the new turn belongs to.
            avoid: An earlier lease whose socket this one must not use (a resend after the
                server closed or refused it, e.g. its connection limit): retired first.

        Raises:
            APIStatusError, APIConnectionError: The handshake failed (twice, when the
                failure was a spare's, opened earlier in the background).

        Cancellation: only the wait is abandoned; a handshake goes on in its own task and
        its socket serves the next turn.
        """
        if self._lease is None and avoid is None:
            # The usual turn: nobody holds the socket and the active one is open and young.
            # Taken here, without ``_open_socket``'s coroutine and its second look (the same
            # checks, one clock reading), on every turn's way to its request.
            active = self._active
            now = self._clock()
            if active is not None and active.ws is not None and active.serves(now, MAX_SOCKET_AGE):
                if not self._spare_deferred:
                    self.ensure_spare(now)
                lease = self._lease = Lease(self, owner, active)
                active.begin_turn()
                return lease
        while (held := self._lease) is not None:
            if held.owner.vanished():
                self._reclaim(held)
                break
            ended = self._lease_ended
            if ended is None:
                ended = self._lease_ended = anyio.Event()
            with anyio.move_on_after(RECLAIM_CHECK_INTERVAL):
                await ended.wait()
        if avoid is not None:
            self.retire(avoid._slot)
        slot = await self._open_socket()
        if self._lease is not None:
            # Another turn got its go while this one waited for the handshake.
            return await self.lease(owner)
        lease = self._lease = Lease(self, owner, slot)
        slot.begin_turn()
        return lease

    def output_started(self) -> None:
        """The leased turn's first output reached its caller (the turn tells at its next
        read, so the spare's task does not start between that output and the caller): open
        the spare a barge-in deferred."""
        if self._spare_deferred:
            self.ensure_spare()

    def _end(self, lease: Lease, *, clean: bool) -> None:
        lease.released = True
        slot = lease._slot
        slot.end_turn()
        if self._spare_deferred:
            self.ensure_spare()  # the turn ended before its first output
        if not clean:
            self.retire(slot)
        if self._lease is lease:
            self._lease = None
            ended, self._lease_ended = self._lease_ended, None
            if ended is not None:
                ended.set()

    def _reclaim(self, held: Lease) -> None:
        # Its response may still be streaming: the socket is retired, like a barge-in's.
        logger.debug("reclaimed the lease of a turn whose owner is gone: %r", held)
        held.reclaimed = True
        self._end(held, clean=False)

    def reclaim_vanished(self) -> None:
        """Reclaim the lease of a turn whose owner vanished (a barge-in's sweep: nothing
        else would free its socket before the next turn)."""
        held = self._lease
        if held is not None and held.owner.vanished():
            self._reclaim(held)

    # -- sockets ----------------------------------------------------------------------

    async def wait_open(self) -> None:
        """Wait until the socket the next turn goes on is open, and a spare opening
        (``prewarm``). Takes no lease.

        Raises:
            APIStatusError, APIConnectionError: The handshake failed.

        Cancellation: only the wait is abandoned; the handshake goes on in its own task
        and its socket serves the next turn.
        """
        await self._open_socket()
        self.ensure_spare()  # also one a barge-in deferred

    async def _open_socket(self) -> SocketSlot:
        for attempt in range(2):
            opened_before = self.sockets_opened
            now = self._clock()  # one reading for both checks (a turn's start)
            slot = self._current(now)
            fresh = self.sockets_opened != opened_before
            if slot.ws is None and not slot.ready.is_set():  # its ws is set with ``ready``
                await slot.ready.wait()
                now = self._clock()
            if slot.ws is not None and not slot.dead and not slot.retired:
                if not self._spare_deferred:
                    self.ensure_spare(now)
                return slot
            if self._active is slot:
                self._active = None
            if slot.error is not None and (fresh or attempt == 1):
                raise slot.error
        raise APIConnectionError("could not open a WebSocket to the Responses API")

    async def _maintain(self) -> None:
        """Renew an ageing spare and rotate an ageing idle socket, so no turn ever waits for
        a handshake because a socket reached the API's 60-minute limit; and open the spare a
        barge-in deferred once ``SPARE_DEFER_LIMIT`` has passed, unless the next turn's
        first output or end opened it first. The barge-in only moves this task's wake-up
        (``retire``), the pool's one background task: a task started per barge-in cost its
        start (tens of µs) before the next turn's first token, and waking this one a step."""
        clock = self._clock
        next_check = clock() + MAINTENANCE_INTERVAL
        while not self._closed:
            wake_at = next_check
            if self._spare_deferred:
                wake_at = min(wake_at, self._deferred_at + SPARE_DEFER_LIMIT)
            with anyio.CancelScope(deadline=wake_at) as idle:
                self._idle = idle
                await anyio.sleep_forever()
            self._idle = None
            if self._closed:
                return
            now = clock()
            if self._spare_deferred and now >= self._deferred_at + SPARE_DEFER_LIMIT:
                self.ensure_spare(now)  # the next turn's first output or end came later
            if now < next_check:
                continue  # woken for a deferred spare: the age check is not due yet
            next_check = now + MAINTENANCE_INTERVAL
            active = self._active
            if active is None:
                continue  # nothing in use: open nothing
            if self._lease is None and active.age() >= MAX_SOCKET_AGE:
                spare = self._spare
                if spare is not None and spare.ws is not None and spare.usable:
                    logger.debug("socket #%d: rotated out at %.0f s", active.number, active.age())
                    self.retire(active)  # the spare takes over
            self.ensure_spare()

    def _spawn(self) -> SocketSlot:
        if self._closed:
            raise APIConnectionError("the OpenAILLM is closed")
        self.sockets_opened += 1
        slot = SocketSlot(self.sockets_opened, self._chains.for_new_socket(), self._clock)
        self._task_group.start_soon(self._run_slot, slot)
        return slot

    async def _run_slot(self, slot: SocketSlot) -> None:
        await slot.run(self._connector, self._url, self._headers)
        # A socket (the interrupted one, usually) finished closing. Between turns the user
        # is still speaking: a deferred spare opens now. During the turn on the promoted
        # spare it opens at that turn's first output or end (``output_started``, ``_end``),
        # or ``SPARE_DEFER_LIMIT`` after the barge-in (``_maintain``).
        if self._spare_deferred and self._lease is None:
            self.ensure_spare()

    def _current(self, now: float) -> SocketSlot:
        """The slot the next turn goes on, promoting the spare or spawning as needed."""
        active = self._active
        if active is not None and active.serves(now, MAX_SOCKET_AGE):
            return active
        if active is not None:
            active.retire()
        spare, self._spare = self._spare, None
        if spare is not None and spare.serves(now, MAX_SOCKET_AGE):
            promoted = spare
        else:
            if spare is not None:
                spare.retire()
            promoted = self._spawn()
        self._active = promoted
        return promoted

    def ensure_spare(self, now: float | None = None) -> None:
        """Open a spare if there is none usable (and renew an old one); ``now``: the
        pool's clock read just before, if the caller has it."""
        self._spare_deferred = False
        spare = self._spare
        if spare is not None and spare.serves(
            self._clock() if now is None else now, SPARE_RENEW_AGE
        ):
            return  # the common case: looked at first, as every turn asks
        if not self._keep_spare or self._closed or self._task_group.cancel_scope.cancel_called:
            return  # (the llm is shutting down: a new socket would only be cancelled)
        if spare is not None:
            spare.retire()
        try:
            self._spare = self._spawn()
        except RuntimeError:
            # The task group is already shutting down (e.g. a stream dropped while the llm
            # closes): no spare is needed any more.
            self._spare = None

    def retire(self, slot: SocketSlot) -> None:
        """Retire ``slot`` (after a barge-in, a failure, a drop, its age); the spare takes
        over.

        The spare is promoted here; its replacement opens at the next turn's first output or
        end (see ``lease``): opened now, its handshake ran beside that turn's request and
        first frames (a barge-in is followed at once by the next turn as often as not). The
        deadline ``SPARE_DEFER_LIMIT`` is kept by the maintenance task: this moves the
        deadline of its sleep (``_idle``) and wakes nothing.
        """
        slot.retire()
        if self._active is slot:
            self._active = None
            spare = self._spare
            if spare is not None and spare.usable and spare.age() < MAX_SOCKET_AGE:
                self._active, self._spare = spare, None
                if self._keep_spare and not self._spare_deferred and not self._closed:
                    self._spare_deferred = True
                    deferred_at = self._deferred_at = self._clock()
                    idle = self._idle  # None before _maintain first ran: it reads the flag
                    if idle is not None:  # it opens the spare at the limit
                        idle.deadline = min(idle.deadline, deferred_at + SPARE_DEFER_LIMIT)

    def close(self) -> None:
        """Retire every socket; their tasks finish closing in the task group."""
        self._closed = True
        if self._idle is not None:
            self._idle.cancel()  # _maintain ends (not started yet: it sees _closed)
        for slot in (self._active, self._spare):
            if slot is not None:
                slot.retire()
        self._active = self._spare = None

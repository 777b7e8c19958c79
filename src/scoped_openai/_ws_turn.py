"""One Responses API turn over the pooled WebSocket (the WebSocket path's ``TurnSource``).

``start`` leases the pool's socket (``WebSocketPool.lease``: one response in flight per
socket, the pool alone decides when a socket is free), plans the input with the chain valid
on that socket (chained with ``previous_response_id`` only when provably safe), and sends
``response.create``. ``receive`` reads the socket itself, in the consumer's task.
``aclose`` releases the lease: the socket is kept when the response reached a terminal event
and retired otherwise (a barge-in or a failure mid-response), so no late event can reach the
next turn.
A socket kept after a terminal event can still carry what a server sends after it (a second
``response.completed``, a late delta): the turn's parser counts only its own response's
events (``ResponsesParser``: nothing before this turn's ``response.created``, nothing
that names another response after it).

Recovery, only while nothing reached the caller and once per turn (``plan_retry``'s plan,
applied by the next ``start``): ``previous_response_not_found`` resends the full context on
the same socket; ``websocket_connection_limit_reached`` or a socket that closed before any
output resends the full context on a fresh socket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._assembly import Assembler
from ._body import json_bytes
from ._chain import ChainState
from ._chat import ChatItem
from ._errors import APIStreamError
from ._events import Event, ResponseCreated
from ._graph import ConversationalGraph
from ._limits import DEFAULT_LIMITS, StreamLimits
from ._responses import ResponsesParser
from ._responses_request import build_create_event
from ._retry_plan import RetryPlan
from ._settings import GenerationSettings
from ._tools import FunctionTool
from ._transports.websocket import WebSocket, WebSocketClosed
from ._turn_owner import TurnOwner
from ._ws_pool import Lease, WebSocketPool

RESEND_SAME_SOCKET = frozenset({"previous_response_not_found"})
RESEND_NEW_SOCKET = frozenset({"websocket_connection_limit_reached"})
#: At most this many already-queued frames are taken after a wait, so a long burst still
#: reaches the caller item by item (each frame costs about 10 µs to map and assemble).
#: Until the turn's first output the burst ends at it: its first item is not held back
#: while the rest of the reply (often all of it, ``response.completed`` too) is decoded.
BURST = 32


class ResponsesTurnSource:
    """One ``response.create`` and its events (see ``_stream.TurnSource``)."""

    def __init__(
        self,
        pool: WebSocketPool,
        settings: GenerationSettings,
        items: Sequence[ChatItem],
        *,
        tools: Sequence[FunctionTool] | None = None,
        graph: ConversationalGraph | None = None,
        overrides: Mapping[str, Any] | None = None,
        generate: bool | None = None,
        limits: StreamLimits = DEFAULT_LIMITS,
    ) -> None:
        self._pool = pool
        self._limits = limits
        self._settings = settings
        self._items = list(items)
        self._tools = tools
        self._graph = graph
        self._overrides = overrides
        self._generate = generate
        self._lease: Lease | None = None  # the last attempt's (kept after its release)
        self._ws: WebSocket | None = None  # its socket
        self._chain: ChainState | None = None  # the chain valid on the leased socket
        self._handoff: list[str | Exception] | None = None  # None: not taken over yet
        self._parser = ResponsesParser(limits, created_first=True)
        self._full_input: Sequence[dict[str, Any]] = ()
        self._before_output = True  # nothing but response.created has arrived yet
        self._created: list[Event] = []  # response.created, held back (see ``receive``)
        self._output_began = False  # the first output was returned; the pool not told yet
        self.chained = False

    async def start(self, owner: TurnOwner, plan: RetryPlan | None = None) -> None:
        """Lease the socket, plan the input, send ``response.create``; a resend applies
        ``plan`` (a fresh socket, the full context)."""
        previous = self._lease
        avoid = previous if plan is not None and plan.fresh_socket else None
        lease = self._lease = await self._pool.lease(owner, avoid=avoid)
        ws = self._ws = lease.ws
        chain = self._chain = lease.chain
        whole = plan is not None and plan.full_context  # the server lost (or may have) it
        input_items, previous_id = chain.plan(self._items, whole_context=whole)
        self._full_input = chain.planned_input
        self.chained = previous_id is not None
        event = build_create_event(
            self._settings,
            input_items,
            tools=self._tools,
            graph=self._graph,
            previous_response_id=previous_id,
            overrides=self._overrides,
            generate=self._generate,
        )
        if previous is not None:  # a resend: none of the first attempt's events count
            self._parser = ResponsesParser(self._limits, created_first=True)
        self._handoff = None
        self._before_output = True
        self._output_began = False
        self._created.clear()
        await ws.send_text(json_bytes(event).decode())

    async def receive(self, out: list[Event]) -> bool:
        """Wait for one frame (the frames the slot's idle read handed over first), then
        take the frames already queued behind it, up to ``BURST`` (before the turn's first
        output, up to it); append their events (maybe none: frames we skip). One wait, one
        cancel scope, serves a burst. Every frame is a whole server event, so this returns
        True.

        A ``response.created`` that arrived alone is held back and put in front of the
        next call's events: it makes no item, so the stream reads on in the same step, the
        idle deadline moved for it (``ChatStream._read_until_event``), instead of spending
        a step of its own before the first token. Should the turn end before the next
        event, ``turn_ended`` gives its id to the assembler all the same."""
        if self._output_began:
            # The turn's first output went to the caller with the previous call: only now
            # may the pool open the spare a barge-in deferred (its task's start no longer
            # stands between that output and the caller).
            self._output_began = False
            self._pool.output_started()
        created = self._created
        if created:
            out.extend(created)
            created.clear()
        await self._receive(out)
        if len(out) == 1 and type(out[0]) is ResponseCreated:
            created.append(out.pop())
        return True

    async def _receive(self, out: list[Event]) -> None:
        lease, ws = self._lease, self._ws
        assert lease is not None, "receive() before start()"
        assert ws is not None
        handoff = self._handoff
        if handoff is None:
            handoff = self._handoff = await lease.take_over()
        if handoff:
            frame = handoff.pop(0)
            if isinstance(frame, Exception):
                raise frame
        else:
            frame = await ws.receive_text()
        feed = self._parser.feed_frame
        if feed(frame, out):
            return
        for _ in range(BURST):
            if self._before_output and out and type(out[-1]) is not ResponseCreated:
                self._before_output = False  # the first output: to the caller at once
                self._output_began = True  # the pool hears of it at the next call
                return
            queued = ws.receive_text_nowait() if not handoff else None
            if queued is None or feed(queued, out):
                return

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        """Resend once, with the full context, after the recoverable failures; changes
        nothing (``start`` applies the plan)."""
        if attempt >= 1:
            return None
        code = getattr(error, "code", None)
        if isinstance(error, APIStreamError) and code in RESEND_SAME_SOCKET:
            return RetryPlan(0.0, fresh_socket=False, full_context=True)
        if isinstance(error, WebSocketClosed) or code in RESEND_NEW_SOCKET:
            return RetryPlan(0.0, fresh_socket=True, full_context=True)
        return None

    #: ``aclose`` never awaits (``Lease.release`` is synchronous): the stream calls it
    #: without a shielded deadline (``ChatStream._close``).
    releases_at_once = True

    async def aclose(self, *, completed: bool) -> None:
        """Release the lease at once: the socket is kept after a terminal event and
        retired otherwise (its response may still be streaming). Never awaits.

        Cancellation: nothing to cancel; it does not wait."""
        lease = self._lease
        if lease is not None:
            # After an error event the response is over and the socket clean.
            lease.release(clean=completed or self._parser.failed)
        self._handoff = None

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        """Record the outcome in the chain of the socket the turn ran on: a completed
        response is the new base; anything else is not. Nothing is recorded when nothing
        was sent, or when the pool reclaimed the lease (the turn's owner had vanished and
        another turn may have moved the chain on since)."""
        response_id = self._parser.response_id
        if assembler.response_id is None and response_id is not None:
            assembler.feed(ResponseCreated(response_id), [])  # held back by ``receive``
        lease, chain = self._lease, self._chain
        if lease is None or chain is None or lease.reclaimed:
            return
        chain.turn_ended(self._full_input, assembler, cancelled=cancelled)

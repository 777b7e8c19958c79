"""One Responses API turn over the pooled WebSocket (the WebSocket path's ``TurnSource``).

``start`` waits for the turn gate (one response in flight per socket) and an open socket,
plans the input (chained with ``previous_response_id`` only when provably safe), and sends
``response.create``. ``receive`` reads the socket itself, in the consumer's task.
``aclose`` keeps the socket when the response reached a terminal event and retires it
otherwise (a barge-in or a failure mid-response), so no late event can reach the next turn.
A socket kept after a terminal event can still carry what a server sends after it (a second
``response.completed``, a late delta): the turn's parser counts only its own response's
events (``ResponsesParser``: nothing before this turn's ``response.created``, nothing
that names another response after it).

Recovery, only while nothing reached the caller and once per turn:
``previous_response_not_found`` resends the full context on the same socket;
``websocket_connection_limit_reached`` or a socket that closed before any output resends the
full context on a fresh socket.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._assembly import Assembler
from ._chat import ChatItem
from ._errors import APIStreamError
from ._events import Event
from ._graph import ConversationalGraph
from ._limits import DEFAULT_LIMITS, StreamLimits
from ._responses import ResponsesParser
from ._responses_input import to_input_items
from ._responses_request import build_create_event
from ._settings import GenerationSettings
from ._tools import FunctionTool
from ._transports.websocket import WebSocketClosed
from ._ws_pool import SocketSlot, WebSocketPool

RESEND_SAME_SOCKET = frozenset({"previous_response_not_found"})
RESEND_NEW_SOCKET = frozenset({"websocket_connection_limit_reached"})
#: At most this many already-queued frames are taken after a wait, so a long burst still
#: reaches the caller item by item (each frame costs about 10 µs to map and assemble).
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
        self._slot: SocketSlot | None = None
        self._handoff: list[str | Exception] | None = None  # None: not taken over yet
        self._parser = ResponsesParser(limits, created_first=True)
        self._holding_gate = False
        self._force_full = False
        self._keep_socket = False
        self._new_socket = False  # a resend that needs a fresh socket, whatever this one saw
        self._full_input: list[dict[str, Any]] = []
        self._sent = False
        self._retired_socket = False  # this turn retired its socket (the chain went with it)
        self.chained = False

    async def start(self) -> None:
        """Wait for the socket, plan the input, send ``response.create``."""
        pool = self._pool
        if not self._holding_gate:
            await pool.turn_gate.acquire()
            self._holding_gate = True
        slot = await pool.acquire()
        if self._force_full:
            self._full_input = to_input_items(self._items)
            input_items, previous = self._full_input, None
        else:
            input_items, previous = pool.chain.plan(self._items)
            self._full_input = pool.chain.planned_input
        self.chained = previous is not None
        event = build_create_event(
            self._settings,
            input_items,
            tools=self._tools,
            graph=self._graph,
            previous_response_id=previous,
            overrides=self._overrides,
            generate=self._generate,
        )
        self._parser = ResponsesParser(self._limits, created_first=True)
        self._new_socket = False
        self._keep_socket = False
        self._retired_socket = False  # a socket an earlier attempt retired is not this one
        self._slot = slot
        self._handoff = None
        slot.begin_turn()
        assert slot.ws is not None
        self._sent = True
        await slot.ws.send_text(json.dumps(event))

    async def receive(self, out: list[Event]) -> bool:
        """Wait for one frame (the frames the slot's idle read handed over first), then
        take the frames already queued behind it, up to ``BURST``; append their events
        (maybe none: frames we skip). One wait, one cancel scope, serves a burst. Every
        frame is a whole server event, so this returns True."""
        slot = self._slot
        assert slot is not None, "receive() before start()"
        handoff = self._handoff
        if handoff is None:
            handoff = self._handoff = await slot.take_over()
        ws = slot.ws
        assert ws is not None, "a slot is only acquired once open"
        if handoff:
            frame = handoff.pop(0)
            if isinstance(frame, Exception):
                try:
                    raise frame
                finally:
                    del frame  # no exception -> traceback -> frame -> exception cycle
        else:
            frame = await ws.receive_text()
        feed = self._parser.feed_frame
        if feed(frame, out):
            return True
        for _ in range(BURST):
            queued = ws.receive_text_nowait() if not handoff else None
            if queued is None or feed(queued, out):
                return True
        return True

    def retry_delay(self, error: Exception, attempt: int) -> float | None:
        """Resend once, with the full context, for the recoverable failures."""
        if attempt >= 1:
            return None
        code = getattr(error, "code", None)
        if isinstance(error, APIStreamError) and code in RESEND_SAME_SOCKET:
            self._keep_socket = True
        elif isinstance(error, WebSocketClosed) or code in RESEND_NEW_SOCKET:
            self._keep_socket = False
            self._new_socket = True
        else:
            return None
        self._force_full = True
        self._pool.chain.reset()
        return 0.0

    async def aclose(self, *, completed: bool) -> None:
        """Release the socket at once: keep it after a terminal event, retire it otherwise.

        The turn gate stays held (a resend may follow); ``turn_ended`` releases it.
        """
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.end_turn()
            # After an error event the response is over and the socket clean.
            clean = self._parser.failed and not self._new_socket
            if not (completed or clean or self._keep_socket):
                self._retire(slot)
        self._handoff = None

    def _release_gate(self) -> None:
        self._holding_gate = False
        self._pool.turn_gate.release()

    def abandon(self) -> None:
        """Dropped unfinished: retire the socket (its response is still streaming)."""
        slot, self._slot = self._slot, None
        if slot is not None:
            self._retire(slot)
        self._handoff = None

    def _retire(self, slot: SocketSlot) -> None:
        self._retired_socket = True
        self._pool.retire(slot)

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        """Record the chain: a completed response is the new base; anything else is not.

        The gate is held across a resend and released only here, at the very end.
        """
        if self._holding_gate:
            self._release_gate()
        if not self._sent:
            return  # nothing reached the server: the chain is as it was
        chain = self._pool.chain
        if assembler.done and assembler.response_id:
            chain.completed(self._full_input, assembler.output, assembler.response_id)
        elif cancelled:
            chain.interrupted(assembler.response_id)
        else:
            chain.reset()
        if self._retired_socket:
            # The pool promoted the spare when this turn retired its socket, before the
            # outcome above was recorded: what the old socket held is not the new one's.
            chain.socket_retired()

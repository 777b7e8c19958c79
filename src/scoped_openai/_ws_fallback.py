"""From the WebSocket to the Responses API over HTTP when the server cannot upgrade.

Many servers speak the Responses API but not its WebSocket mode: OpenAI-compatible servers
(vLLM, Ollama, gateways) serve ``POST /responses`` only, and corporate proxies often refuse
WebSocket upgrades. A handshake refused *as unsupported* (``is_unsupported_upgrade``: 404,
405, 426, or a plain page where the switch to WebSocket should be) moves the instance to
the Responses API over HTTP for the rest of its life: one warning in the log and one
``"fallback"`` event to its listeners (with the refusal), and the turn that met the refusal
is served over HTTP, so the caller sees no error. Authentication, permission and rate-limit
refusals (401, 403, 429), a redirect, and failures to connect at all are errors, never
fallbacks: the same request over HTTP would be refused too, or the server is down.

With ``store=True`` the instance's one chain (``ChainHome.shared``) is what both paths
continue from, so a conversation chained over the WebSocket goes on chained over HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._assembly import Assembler
from ._errors import APIStatusError
from ._events import Event
from ._retry_plan import RetryPlan
from ._stream import TurnSource
from ._turn_owner import TurnOwner

logger = logging.getLogger("scoped_openai")

#: Statuses that say the server does not offer the WebSocket there (not found, method not
#: allowed, upgrade required as something else): the HTTP path may still be served.
UNSUPPORTED_UPGRADE = frozenset({404, 405, 426})


def is_unsupported_upgrade(error: Exception) -> bool:
    """Whether a failed handshake says "no WebSocket here" (rather than "not you", "not
    now" or "down"): 404, 405, 426, or a success status that is not 101 (a page)."""
    if not isinstance(error, APIStatusError):
        return False
    status = error.status_code
    return status in UNSUPPORTED_UPGRADE or 200 <= status < 300


class FallbackSwitch:
    """Whether the instance moved to HTTP, and telling once when it does.

    Args:
        notify: Called once with the refusal when the instance moves (the llm's
            ``"fallback"`` listeners).
    """

    __slots__ = ("_notify", "moved")

    def __init__(self, notify: Callable[[Exception], None]) -> None:
        self._notify = notify
        self.moved = False

    def move(self, refusal: Exception) -> None:
        """Move to HTTP for good (idempotent: the first refusal is the one reported)."""
        if self.moved:
            return
        self.moved = True
        logger.warning(
            "the server refused the WebSocket upgrade (%s); this OpenAILLM now uses the "
            "Responses API over HTTP (POST /responses) for the rest of its life",
            refusal,
        )
        self._notify(refusal)


class WebSocketOrHTTPTurn:
    """A WebSocket turn that finishes over HTTP when its handshake is refused as unsupported
    (see ``_stream.TurnSource``; everything after ``start`` goes to the transport chosen).

    Args:
        websocket: The turn over the pooled WebSocket.
        over_http: Builds the same turn over HTTP (called at most once).
        switch: The instance's switch (another turn may have moved it already).
    """

    __slots__ = ("_inner", "_over_http", "_switch", "_websocket")

    def __init__(
        self,
        websocket: TurnSource,
        over_http: Callable[[], TurnSource],
        switch: FallbackSwitch,
    ) -> None:
        self._websocket = websocket
        self._over_http = over_http
        self._switch = switch
        self._inner = over_http() if switch.moved else websocket

    @property
    def request_id(self) -> str | None:
        """The HTTP turn's request id (the WebSocket's is the response id: None here)."""
        request_id: str | None = getattr(self._inner, "request_id", None)
        return request_id

    async def start(self, owner: TurnOwner, plan: RetryPlan | None) -> None:
        """Start on the WebSocket; on a handshake refused as unsupported, move the instance
        to HTTP and start there instead (the refusal is not the caller's error).

        Cancellation: as the transport's ``start``.
        """
        if self._switch.moved and not self._on_http:
            self._inner = self._over_http()  # another turn moved the instance meanwhile
        try:
            await self._inner.start(owner, plan)
        except APIStatusError as refusal:
            if self._on_http or not is_unsupported_upgrade(refusal):
                raise
            self._switch.move(refusal)
        else:
            return
        self._inner = self._over_http()
        await self._inner.start(owner, plan)

    @property
    def _on_http(self) -> bool:
        return self._inner is not self._websocket

    @property
    def delegate(self) -> TurnSource:
        """The transport's turn that ``start`` chose: the stream reads it directly after
        each start (``ChatStream._start``), one call less per frame and chunk."""
        return self._inner

    async def receive(self, out: list[Event]) -> bool:
        return await self._inner.receive(out)

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        return self._inner.plan_retry(error, attempt)

    async def aclose(self, *, completed: bool) -> None:
        await self._inner.aclose(completed=completed)

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        self._inner.turn_ended(assembler, cancelled=cancelled)

"""What a ``FakeOpenAI`` holds, whichever way it is served.

``FakeState`` is the script (queued replies, the defaults, the WebSocket settings) and the
record (requests, counters, handshakes, open sockets). The servers (``_memory`` in memory,
``_asgi`` on loopback, ``_ws_fake`` and ``_responses_http`` for the Responses API) and the
HTTP router (``_answer``) take a ``FakeState``; ``FakeOpenAI`` (``_fake``) adds the ways to
serve it. So no server imports the module that builds it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Self

import anyio

from ._recorder import Counters, RecordedRequest
from ._refusals import is_openai_model
from ._script import Reply
from ._ws_script import WSReply

__all__ = ["CancelBehaviour", "FakeState", "ReplyFactory", "WSHandshake", "WSReplyFactory"]

ReplyFactory = Callable[[RecordedRequest], Reply]
WSReplyFactory = Callable[[RecordedRequest], WSReply]
#: What a ``response.cancel`` frame does (``_ws_fake`` module docstring).
CancelBehaviour = Literal["ignore", "error", "stop"]


@dataclass(slots=True)
class WSHandshake:
    """One WebSocket handshake the fake received (accepted or rejected)."""

    url: str
    headers: dict[str, str]


class FakeState:
    """The script and the record of a fake OpenAI API (see ``FakeOpenAI``)."""

    def __init__(
        self, default: ReplyFactory | None = None, *, ws_default: WSReplyFactory | None = None
    ) -> None:
        self.replies: deque[Reply] = deque()
        self.default = default
        self.counters = Counters()
        self.loopback_clients: set[tuple[Any, ...]] = set()
        self.ws_replies: deque[WSReply] = deque()
        self.responses_sse: deque[Reply] = deque()
        self.ws_default = ws_default
        self.on_cancel: CancelBehaviour = "ignore"
        self.ws_frames: list[dict[str, Any]] = []
        self.ws_handshakes: list[WSHandshake] = []
        self.ws_open = 0
        self.ws_handshake_status: int | None = None
        self.ws_handshake_delay = 0.0
        self.ws_stored_responses: set[str] = set()
        self.extra_models: set[str] = set()
        self._response_numbers = 0
        self._changed: anyio.Event | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first."""
        return self.counters.requests

    def add(self, *replies: Reply) -> Self:
        """Queue replies for the next chat requests, in order."""
        self.replies.extend(replies)
        return self

    def add_responses_sse(self, *replies: Reply) -> Self:
        """Queue raw HTTP answers for ``POST /responses`` (e.g. a recorded SSE body, as
        ``Reply.raw``): each request takes the next, before the WebSocket script is asked."""
        self.responses_sse.extend(replies)
        return self

    def add_ws(self, *replies: WSReply) -> Self:
        """Queue WebSocket replies for the next ``response.create`` frames, in order."""
        self.ws_replies.extend(replies)
        return self

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds; it is checked again each time a response body
        or a WebSocket of this fake opens or closes (e.g. ``lambda: fake.ws_open == 0``).

        On loopback, the server notices a client's close in its own tasks, after the
        client's call returned: this waits for that instead of sleeping.

        Cancellation: nothing to undo; bound it with a timeout (``anyio.fail_after``).
        """
        while not condition():
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()

    def _connections_changed(self) -> None:
        """Wake ``wait_until``: a body or WebSocket opened or closed (the transports call it)."""
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def next_response_id(self) -> str:
        """A fresh response id: ``resp_fake_1``, ``resp_fake_2``..."""
        self._response_numbers += 1
        return f"resp_fake_{self._response_numbers}"

    def knows_model(self, model: str) -> bool:
        """Whether a request for ``model`` is served (else: the API's unknown-model error)."""
        return model in self.extra_models or is_openai_model(model)

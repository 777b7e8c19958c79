"""A ``WebSocketConnector`` that numbers the sockets it opens and records what is sent on each."""

from __future__ import annotations

import json
from typing import Any

import anyio

from scoped_openai.testing import FakeOpenAI


class TrackedSocket:
    """A fake WebSocket that records, in its ``SocketTracker``, every frame sent on it."""

    def __init__(self, inner: Any, number: int, tracker: SocketTracker) -> None:
        self.inner = inner
        self.number = number
        self._tracker = tracker
        self.received = 0  # frames the client took from this socket

    @property
    def closed(self) -> bool:
        return bool(self.inner.closed)

    async def send_text(self, text: str) -> None:
        await self.inner.send_text(text)
        self._tracker.sent.append((self.number, json.loads(text)))

    async def receive_text(self) -> str:
        text = str(await self.inner.receive_text())
        self.received += 1
        return text

    def receive_text_nowait(self) -> str | None:
        text = self.inner.receive_text_nowait()
        if text is None:
            return None
        self.received += 1
        return str(text)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.aclose(code, reason)


class _TrackedConnection:
    def __init__(self, tracker: SocketTracker, inner: Any) -> None:
        self._tracker = tracker
        self._inner = inner

    async def __aenter__(self) -> TrackedSocket:
        ws = await self._inner.__aenter__()
        tracker = self._tracker
        socket = TrackedSocket(ws, len(tracker.sockets) + 1, tracker)
        tracker.sockets.append(socket)
        tracker.opened_at.append(anyio.current_time())
        return socket

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._inner.__aexit__(*exc_info)


class SocketTracker:
    """A ``WebSocketConnector`` over ``fake.ws_connector()`` that tells sockets apart.

    Sockets are numbered 1, 2, ... in the order their handshakes finished; ``sent`` holds
    ``(socket number, parsed frame)`` for every client frame, oldest first; ``opened_at``
    the time each handshake finished (``anyio.current_time()``).
    """

    def __init__(self, fake: FakeOpenAI) -> None:
        self._connector = fake.ws_connector()
        self.sockets: list[TrackedSocket] = []
        self.opened_at: list[float] = []
        self.sent: list[tuple[int, dict[str, Any]]] = []

    def __call__(self, url: str, headers: Any) -> _TrackedConnection:
        return _TrackedConnection(self, self._connector(url, headers))

    @property
    def creates(self) -> list[tuple[int, dict[str, Any]]]:
        """``(socket number, frame)`` of every ``response.create`` sent, oldest first."""
        return [(n, frame) for n, frame in self.sent if frame.get("type") == "response.create"]

    @property
    def create_sockets(self) -> list[int]:
        """The socket number each ``response.create`` went out on, oldest first."""
        return [n for n, _ in self.creates]

    def open_sockets(self) -> list[int]:
        """Numbers of the sockets that are open now."""
        return [s.number for s in self.sockets if not s.closed]

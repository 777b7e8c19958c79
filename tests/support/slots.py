"""A ``SocketSlot`` over one scripted socket object, its task connected and idle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from scoped_openai._transports.websocket import WebSocket, WebSocketConnector
from scoped_openai._ws_slot import SocketSlot

URL = "wss://example.test/v1/responses"


def single_socket_connector(socket: Any) -> WebSocketConnector:
    """A connector that hands out ``socket`` and closes it when the slot is done."""

    @asynccontextmanager
    async def connect(url: str, headers: Mapping[str, str]) -> AsyncIterator[WebSocket]:
        try:
            yield socket
        finally:
            await socket.aclose()

    return connect


async def open_slot_over(task_group: anyio.abc.TaskGroup, socket: Any) -> SocketSlot:
    """A slot over ``socket`` whose task is connected and idle (reading or watching)."""
    slot = SocketSlot(1)
    task_group.start_soon(slot.run, single_socket_connector(socket), URL, {})
    await slot.ready.wait()
    await anyio.wait_all_tasks_blocked()
    return slot

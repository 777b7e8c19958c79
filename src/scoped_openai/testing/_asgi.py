"""The fake as an ASGI app, for the loopback server (real sockets, real httpx)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio

from ._script import Disconnect, Pause, Stall

if TYPE_CHECKING:
    from ._fake import FakeOpenAI

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class FakeDisconnect(Exception):
    """Raised inside the app to make the server drop the connection mid-body."""


def asgi_app(fake: FakeOpenAI) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app serving ``fake``'s scripted replies."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await fake.serve_websocket(scope, receive, send)
            return
        client = scope.get("client")
        if client is not None:
            fake.loopback_clients.add(tuple(client))
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(
            pair.split("=", 1) if "=" in pair else (pair, "")
            for pair in scope.get("query_string", b"").decode().split("&")
            if pair
        )
        reply = fake.answer(scope["method"], scope["path"], headers, query, body)
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()],
            }
        )
        fake.counters.bodies_opened += 1
        try:
            for step in reply.steps:
                if isinstance(step, bytes):
                    await send({"type": "http.response.body", "body": step, "more_body": True})
                elif isinstance(step, Pause):
                    await anyio.sleep(step.seconds)
                elif isinstance(step, Stall):
                    await anyio.sleep_forever()
                elif isinstance(step, Disconnect):
                    raise FakeDisconnect("scripted disconnect")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            fake.counters.bodies_closed += 1

    return app

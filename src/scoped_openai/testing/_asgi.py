"""The fake as an ASGI app, for the loopback server (real sockets, real httpx).

HTTP requests are answered from the fake's ``Reply`` script; WebSocket connections (the
Responses API's ``/responses``) run a ``ScriptedResponsesSocket`` (``serve_asgi_websocket``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from .._transports.websocket import WebSocketClosed
from ._answer import answer_http
from ._script import Disconnect, Live, Pause, Stall, Step
from ._state import FakeState, WSHandshake
from ._ws_fake import (
    WRONG_PATH_CLOSE,
    ScriptedResponsesSocket,
    rejection_body,
    wrong_path_reason,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class FakeDisconnect(Exception):
    """Raised inside the app to make the server drop the connection mid-body."""


def asgi_app(fake: FakeState) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app serving ``fake``'s scripted replies."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "websocket":
            await serve_asgi_websocket(fake, scope, receive, send)
        else:
            await _serve_http(fake, scope, receive, send)

    return app


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge the server's startup and shutdown (the fake has nothing to start)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _serve_http(fake: FakeState, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one HTTP request with the fake's reply, played step by step."""
    client = scope.get("client")
    if client is not None:
        fake.loopback_clients.add(tuple(client))
    body = await _request_body(receive)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    reply = answer_http(fake, scope["method"], scope["path"], headers, _query(scope), body)
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()],
        }
    )
    fake.counters.bodies_opened += 1
    fake._connections_changed()
    try:
        async with anyio.create_task_group() as tg:

            async def stop_when_the_client_leaves() -> None:
                # A client that barged in has closed the connection: stop playing (a
                # real server stops writing too) instead of writing into a dead socket.
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(stop_when_the_client_leaves)
            await _play(reply.steps, send)
            tg.cancel_scope.cancel()
    finally:
        fake.counters.bodies_closed += 1
        fake._connections_changed()


async def _request_body(receive: Receive) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def _query(scope: Scope) -> dict[str, str]:
    return dict(
        pair.split("=", 1) if "=" in pair else (pair, "")
        for pair in scope.get("query_string", b"").decode().split("&")
        if pair
    )


async def _play(steps: list[Step], send: Send) -> None:
    for step in steps:
        if isinstance(step, bytes):
            await send({"type": "http.response.body", "body": step, "more_body": True})
        elif isinstance(step, Live):
            try:
                while isinstance(made := await step.next_step(), bytes):
                    await send({"type": "http.response.body", "body": made, "more_body": True})
            finally:
                step.close()
            if isinstance(made, Disconnect):
                raise FakeDisconnect("scripted disconnect")
        elif isinstance(step, Pause):
            await anyio.sleep(step.seconds)
        elif isinstance(step, Stall):
            await anyio.sleep_forever()
        elif isinstance(step, Disconnect):
            raise FakeDisconnect("scripted disconnect")
    await send({"type": "http.response.body", "body": b"", "more_body": False})


# --- the Responses WebSocket ---------------------------------------------------------------


async def serve_asgi_websocket(fake: FakeState, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ASGI WebSocket connection with a ``ScriptedResponsesSocket``.

    A refused handshake (``fake.ws_handshake_status``) is an HTTP answer with the API's JSON
    error body when the server offers the ``websocket.http.response`` extension (hypercorn
    does), else a close before accepting (the client sees a 403). A path not ending with
    ``/responses`` is accepted and closed with 1008. Otherwise one task feeds the client's
    frames to the state machine and another sends what it plays; a scripted ``CloseSocket``
    becomes a ``websocket.close`` with its code, a client disconnect ends both.
    """
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    path = str(scope["path"])
    server_addr = scope.get("server") or ("127.0.0.1", 0)
    url = f"{scope.get('scheme', 'ws')}://{server_addr[0]}:{server_addr[1]}{path}"
    if fake.ws_handshake_delay:
        await anyio.sleep(fake.ws_handshake_delay)
    fake.ws_handshakes.append(WSHandshake(url, headers))
    status = fake.ws_handshake_status
    if status is not None:
        await _refuse_handshake(status, scope, send)
        return
    await send({"type": "websocket.accept"})
    if not path.endswith("/responses"):
        await send(
            {"type": "websocket.close", "code": WRONG_PATH_CLOSE, "reason": wrong_path_reason(path)}
        )
        return
    socket = ScriptedResponsesSocket(fake, path=path, headers=headers)
    try:
        await _run_socket(socket, receive, send)
    finally:
        socket.close(1006, "the server stopped")


async def _refuse_handshake(status: int, scope: Scope, send: Send) -> None:
    """Answer the upgrade with ``status`` and the API's error body, where the server can."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})  # before accepting: a 403
        return
    body = json.dumps(rejection_body(status)).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


async def _run_socket(socket: ScriptedResponsesSocket, receive: Receive, send: Send) -> None:
    """Feed the client's frames to ``socket`` and send what it plays, until either side
    closes."""
    async with anyio.create_task_group() as task_group:

        async def read_client() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    if text is None:
                        text = bytes(message.get("bytes") or b"").decode("utf-8", "replace")
                    socket.client_frame(text)
                elif message["type"] == "websocket.disconnect":
                    socket.close(message.get("code", 1005))
                    task_group.cancel_scope.cancel()
                    return

        async def play() -> None:
            while True:
                try:
                    text = await socket.next_frame()
                except WebSocketClosed as closed:
                    if socket.closed_by_server:
                        await send(
                            {
                                "type": "websocket.close",
                                "code": closed.close_code,
                                "reason": closed.reason,
                            }
                        )
                    task_group.cancel_scope.cancel()
                    return
                await send({"type": "websocket.send", "text": text})

        task_group.start_soon(read_client)
        task_group.start_soon(play)

"""The bench server's Responses replies over HTTP, rendered once per spec and replayed.

The fake plays ``POST /responses`` through its Responses reply machine, which builds every
event as it goes (a dict, ``json.dumps``, then ``json.loads`` and the SSE lines again): about
25 µs of the server's CPU per event, where a Chat Completions chunk costs it about 7 µs. At
that pace the clients run out of data every few events, and the client's CPU per chunk
counts how often it ran dry (each wait on the socket costs it 40-150 µs), not what it does
per chunk: a client that is cheaper per chunk runs dry more often, and the figure spread
0.66-1.03x between runs (``bench_http_pace.py`` shows it).

So, as the Chat Completions reply is built once per spec (``_server.http_reply``), a
Responses reply that is neither paced, stalled nor stored is recorded the first time its
spec is asked for, exactly as the fake sent it (status, headers, one body message per
event), and every later request with that spec gets the same messages again: the same
bytes for every client, at about the pace the Chat Completions reply comes. Paced,
stalling and stored (``store: true``, ``previous_response_id``) replies still go through
the fake each time (the barge-in and chaining figures need its live machine). On a replay
the fake does not see the request (its ``requests`` count leaves it out).
"""

from __future__ import annotations

import json
from typing import Any

from _spec import Spec, parse

from scoped_openai.testing._asgi import _request_body


def replayable(body: bytes) -> Spec | None:
    """The spec of a request whose reply can be replayed, else None."""
    spec = parse(body)
    if spec.pace > 0 or spec.stall >= 0:
        return None
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict) or request.get("stream") is not True:
        return None
    if request.get("store") is not False or "previous_response_id" in request:
        return None
    return spec


class RenderedResponses:
    """Wraps the fake's ASGI app: ``POST .../responses`` replayed per spec (see above)."""

    def __init__(self) -> None:
        self.replies: dict[Spec, list[dict[str, Any]]] = {}

    def wrap(self, inner: Any) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            if not (
                scope["type"] == "http"
                and scope["method"] == "POST"
                and scope["path"].endswith("/responses")
            ):
                await inner(scope, receive, send)
                return
            body = await _request_body(receive)
            spec = replayable(body)
            recorded = None if spec is None else self.replies.get(spec)
            if recorded is not None:
                for message in recorded:
                    await send(message)
                return
            sent: list[dict[str, Any]] = []

            async def record(message: dict[str, Any]) -> None:
                sent.append(message)
                await send(message)

            given = False

            async def replay_body() -> Any:
                nonlocal given
                if given:
                    return await receive()
                given = True
                return {"type": "http.request", "body": body, "more_body": False}

            await inner(scope, replay_body, send if spec is None else record)
            start = sent[0] if sent else {}
            if spec is not None and start.get("status") == 200 and not sent[-1].get("more_body"):
                self.replies[spec] = sent  # a whole reply that went out: replay it

        return app

"""``FakeOpenAI``: a scripted stand-in for the OpenAI API, in memory or on loopback.

Example: a complete, deterministic barge-in test (trio's virtual clock; no real waiting)::

    import pytest
    from scoped_openai import ChatContext, ChatRole, OpenAILLM
    from scoped_openai.testing import FakeOpenAI, Reply

    @pytest.mark.trio
    async def test_barge_in_stops_the_reply(autojump_clock):
        fake = FakeOpenAI()
        fake.add(Reply.text(["one ", "two ", "three ", "four "], delay=0.1))
        fake.add(Reply.text("next answer"))
        ctx = ChatContext.empty()
        ctx.add_message(ChatRole.USER, "talk to me")
        async with fake.llm() as llm:
            heard = []
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    heard.append(item.content)
                    if len(heard) == 2:          # the user starts speaking
                        await llm.cancel_current_generation()
            assert stream.cancelled
            assert "".join(heard) == "one two "   # nothing after the barge-in
            replies = [r.content async for r in llm.chat(ctx)]
            assert "".join(replies) == "next answer"
        assert fake.counters.open_bodies == 0      # every response was closed

The Responses WebSocket (``streaming=True``) is scripted the same way with ``WSReply``::

    fake.add_ws(WSReply.text("hello there"), WSReply.function_calls(("call_1", "f", "{}")))
    async with fake.llm(streaming=True) as llm:   # in memory: fake.ws_connector()
        ...
    async with fake.serve() as server:            # or ws://127.0.0.1:PORT/v1/responses
        ...
"""

from __future__ import annotations

from typing import Any

import httpx

from .._llm import OpenAILLM
from .._transports.websocket import WebSocketConnector
from ._answer import answer_http
from ._asgi import Receive, Scope, Send, asgi_app, serve_asgi_websocket
from ._loopback import LoopbackServer
from ._memory import MemoryTransport
from ._script import Reply
from ._state import FakeState
from ._ws_fake import FakeWSConnector

FAKE_API_KEY = "sk-fake-0000"
MEMORY_BASE_URL = "http://fake-openai.invalid/v1"


class FakeOpenAI(FakeState):
    """A scripted OpenAI API.

    Queue replies with ``add``; each request to ``/chat/completions`` takes the next one
    (or, when the queue is empty, ``default(request)``, else a 500 that says the script
    ran out). ``HEAD`` requests (``prewarm``) get an empty 200. Every request is recorded
    in ``requests``; ``counters`` counts response bodies opened and closed.

    Serve it in memory (``transport()``, ``client()``, ``llm()``) for deterministic tests,
    or on a real loopback socket (``async with fake.serve() as server: server.base_url``).

    The Responses WebSocket (``/responses``) is scripted apart: queue ``WSReply`` objects
    with ``add_ws``; each ``response.create`` takes the next (else ``ws_default(request)``,
    else an ``error`` frame saying the script ran out). See ``_ws_fake`` for what the socket
    does with ``previous_response_id``, ``generate: false``, ``response.cancel`` and bad
    frames. ``POST /responses`` with ``stream: true`` (the Responses API over HTTP) plays
    the same WebSocket script as Server-Sent Events (``_responses_http``).

    What it sends is shaped like the real API's and validates against OpenAI's OpenAPI spec
    (tests/spec checks every reply kind). What the real API refuses, the fake refuses with
    the real API's error, before taking a scripted reply (``_refusals`` names the evidence):

    - an unknown model (not one of OpenAI's families, ``gpt-*``, ``o1``/``o3``/``o4``...,
      nor in ``extra_models``): on Chat Completions HTTP 404, type
      ``invalid_request_error``, code ``model_not_found``, message "The model `X` does not
      exist or you do not have access to it."; on the WebSocket an ``error`` frame, status
      400, code ``model_not_found``, param ``model``. Azure deployment paths are not
      checked (a deployment's name is the user's);
    - ``messages: []`` on Chat Completions: HTTP 400, code ``empty_array``, param
      ``messages``;
    - a second ``response.create`` while a response is in flight on the socket: an
      ``error`` frame at once, status 400, code ``conversation_already_has_active_response``
      (the response in flight goes on);
    - a ``previous_response_id`` the socket cannot reach: an ``error`` frame, status 400,
      code ``previous_response_not_found``, param ``previous_response_id``.

    Attributes:
        ws_replies: Scripted WebSocket replies, next first (``POST /responses`` plays them
            too, as SSE).
        responses_sse: Raw answers for ``POST /responses``, taken before ``ws_replies``.
        ws_default: Answers a ``response.create`` when ``ws_replies`` is empty.
        on_cancel: What a ``response.cancel`` does: ``"ignore"`` (default), ``"error"``,
            ``"stop"``.
        ws_frames: Every client frame that was a JSON object, parsed, oldest first (all
            client frames are also in ``requests``, method ``"WS"``).
        ws_handshakes: Every WebSocket handshake (URL and headers), refused ones included.
        ws_open: WebSockets open now (``counters.connections`` counts all ever accepted).
        ws_handshake_status: Refuse handshakes with this HTTP status (None: accept).
        ws_handshake_delay: Seconds each handshake takes before it is answered.
        ws_stored_responses: Ids of responses completed with ``store: true``.
        extra_models: Model names accepted besides OpenAI's families (a local model's name,
            for a test of an OpenAI-compatible server).
    """

    def answer(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        query: dict[str, str],
        body: bytes,
    ) -> Reply:
        """The reply to one request (and record it)."""
        return answer_http(self, method, path, headers, query, body)

    # -- in memory --------------------------------------------------------------------

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport serving this fake without sockets."""
        return MemoryTransport(self)

    def client(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` wired to this fake in memory."""
        return httpx.AsyncClient(transport=self.transport())

    def ws_connector(self) -> WebSocketConnector:
        """A ``WebSocketConnector`` serving this fake's Responses WebSocket in memory."""
        return FakeWSConnector(self)

    def llm(self, **kwargs: Any) -> OpenAILLM:
        """An ``OpenAILLM`` talking to this fake in memory (kwargs go to ``OpenAILLM``).

        With ``streaming=True`` its WebSockets are this fake's in-memory ones
        (``ws_connector()``) unless ``ws_connector`` is given.
        """
        kwargs.setdefault("api_key", FAKE_API_KEY)
        kwargs.setdefault("base_url", MEMORY_BASE_URL)
        kwargs.setdefault("client", self.client())
        if kwargs.get("streaming"):
            kwargs.setdefault("ws_connector", self.ws_connector())
        return OpenAILLM(**kwargs)

    # -- on loopback ------------------------------------------------------------------

    def serve(self) -> LoopbackServer:
        """``async with fake.serve() as server``: serve on ``server.base_url`` (loopback)."""
        return LoopbackServer(asgi_app(self))

    async def serve_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection of the loopback server (the Responses API).

        Cancellation: ends the connection (the server shutting down).
        """
        await serve_asgi_websocket(self, scope, receive, send)

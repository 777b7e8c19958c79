"""``FakeOpenAI``: a scripted stand-in for the OpenAI API, in memory or on loopback.

Example: a complete, deterministic barge-in test (trio's virtual clock; no real waiting)::

    import pytest
    from scoped_openai import ChatContext, ChatRole, OpenAILLM
    from scoped_openai.testing import FakeOpenAI, Reply

    @pytest.mark.trio
    async def test_barge_in_stops_the_reply(autojump_clock):
        fake = FakeOpenAI()
        fake.add(Reply.text("one two three four five six", chunk_size=4, delay=0.1))
        fake.add(Reply.text("next answer"))
        ctx = ChatContext.empty()
        ctx.add_message(ChatRole.USER, "talk to me")
        async with fake.llm() as llm:
            heard = []
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    heard.append(item.content)
                    if len(heard) == 3:          # the user starts speaking
                        await llm.cancel_current_generation()
            assert stream.cancelled
            assert "".join(heard) == "one two "   # nothing after the barge-in
            replies = [r.content async for r in llm.chat(ctx)]
            assert "".join(replies) == "next answer"
        assert fake.counters.open_bodies == 0      # every response was closed
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

from .._llm import OpenAILLM
from ._asgi import Receive, Scope, Send, asgi_app
from ._loopback import LoopbackServer
from ._memory import MemoryTransport
from ._recorder import Counters, RecordedRequest
from ._script import Reply

FAKE_API_KEY = "sk-fake-0000"
MEMORY_BASE_URL = "http://fake-openai.invalid/v1"

ReplyFactory = Callable[[RecordedRequest], Reply]


class FakeOpenAI:
    """A scripted OpenAI API.

    Queue replies with ``add``; each request to ``/chat/completions`` takes the next one
    (or, when the queue is empty, ``default(request)``, else a 500 that says the script
    ran out). ``HEAD`` requests (``prewarm``) get an empty 200. Every request is recorded
    in ``requests``; ``counters`` counts response bodies opened and closed.

    Serve it in memory (``transport()``, ``client()``, ``llm()``) for deterministic tests,
    or on a real loopback socket (``async with fake.serve() as server: server.base_url``).
    """

    def __init__(self, default: ReplyFactory | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.default = default
        self.counters = Counters()
        self.loopback_clients: set[tuple[Any, ...]] = set()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first."""
        return self.counters.requests

    def add(self, *replies: Reply) -> FakeOpenAI:
        """Queue replies for the next chat requests, in order."""
        self.replies.extend(replies)
        return self

    def answer(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        query: dict[str, str],
        body: bytes,
    ) -> Reply:
        """The reply to one request (and record it)."""
        request = RecordedRequest(method, path, headers, query, body)
        self.counters.requests.append(request)
        if method == "HEAD":
            return Reply([], status=200, headers={"content-type": "text/plain"})
        if not path.endswith("/chat/completions"):
            return Reply.error(404, f"the fake serves no {method} {path}")
        if self.replies:
            return self.replies.popleft()
        if self.default is not None:
            return self.default(request)
        return Reply.error(500, "FakeOpenAI: no scripted reply left for this request")

    # -- in memory --------------------------------------------------------------------

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport serving this fake without sockets."""
        return MemoryTransport(self)

    def client(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` wired to this fake in memory."""
        return httpx.AsyncClient(transport=self.transport())

    def llm(self, **kwargs: Any) -> OpenAILLM:
        """An ``OpenAILLM`` talking to this fake in memory (kwargs go to ``OpenAILLM``)."""
        kwargs.setdefault("api_key", FAKE_API_KEY)
        kwargs.setdefault("base_url", MEMORY_BASE_URL)
        kwargs.setdefault("client", self.client())
        return OpenAILLM(**kwargs)

    # -- on loopback ------------------------------------------------------------------

    def serve(self) -> LoopbackServer:
        """``async with fake.serve() as server``: serve on ``server.base_url`` (loopback)."""
        return LoopbackServer(asgi_app(self))

    async def serve_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse WebSocket upgrades (this fake serves only Chat Completions)."""
        await receive()
        await send({"type": "websocket.close", "code": 1008})

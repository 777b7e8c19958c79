"""The paths a turn can take, as one test parameter.

A behaviour every path must have is one test that takes the ``path`` fixture
(tests/conftest.py: one run per entry of ``PATHS``), not a pair of twin files. What only one
path has (HTTP retries and status codes, WebSocket sockets and chaining) stays in modules
named for that path.

A ``Path`` says how to reach the API (``llm_kwargs``), which scripts the fake plays for it
(``api``: Chat Completions ``Reply`` or Responses-event ``WSReply``) and what carries the
turn (``transport``: an HTTP body or a pooled WebSocket), which decides what "released"
means. The Responses API over HTTP (``api="responses"``) is the third entry: the fake plays
the WebSocket's scripts on ``POST /responses`` as SSE, and takes a raw ``Reply`` (an HTTP
refusal, a recorded body) from its own queue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from scoped_openai import ChatContext, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply, Stall, WSReply
from support.sockets import SocketTracker

#: What a path's next turn hears when the fake answers ``next answer`` (4-character pieces
#: and the closing usage item).
NEXT_REPLY = ["next", " ans", "wer", ""]


@dataclass(frozen=True)
class Path:
    """One way a turn reaches the API."""

    id: str
    llm_kwargs: Mapping[str, Any]
    api: Literal["chat", "responses"]
    transport: Literal["http", "ws"]


#: Chat Completions over HTTP (the default).
HTTP = Path("http", {}, "chat", "http")
#: The Responses API over a WebSocket (``streaming=True``).
WS = Path("ws", {"streaming": True}, "responses", "ws")

#: The Responses API over HTTP (``api="responses"``).
RESPONSES_HTTP = Path("responses-http", {"api": "responses"}, "responses", "http")

PATHS = [HTTP, WS, RESPONSES_HTTP]

Scripted = Reply | WSReply

#: How each (api, transport) queues its scripted replies on the fake.
_QUEUES: dict[tuple[str, str], Callable[[FakeOpenAI, Any], None]] = {
    ("chat", "http"): lambda fake, reply: fake.add(reply),
    ("responses", "ws"): lambda fake, reply: fake.add_ws(reply),
    # POST /responses plays the WebSocket's scripts; a raw Reply (a refusal) goes first.
    ("responses", "http"): lambda fake, reply: (
        fake.add_responses_sse(reply) if isinstance(reply, Reply) else fake.add_ws(reply)
    ),
}


class OnPath:
    """A ``Path`` bound to one test's fake: build its llm, script its replies, and check
    what a finished or cancelled turn left behind."""

    def __init__(
        self, path: Path, fake: FakeOpenAI, tracker: SocketTracker, errors: list[Exception]
    ) -> None:
        self.path = path
        self.fake = fake
        self.tracker = tracker
        self.errors = errors

    @property
    def id(self) -> str:
        return self.path.id

    @property
    def transport(self) -> str:
        return self.path.transport

    def llm(self, **kwargs: Any) -> OpenAILLM:
        """An in-memory llm on this path (WebSockets numbered by ``tracker``), its error
        events collected in ``errors``."""
        options = {**self.path.llm_kwargs, **kwargs}
        if self.path.transport == "ws":
            options.setdefault("ws_connector", self.tracker)
        llm = self.fake.llm(**options)
        llm.on("error", self.errors.append)
        return llm

    def llm_on(self, base_url: str, api_key: str, **kwargs: Any) -> OpenAILLM:
        """An llm on this path talking to a real server at ``base_url`` (e.g. the fake on
        loopback: ``fake.serve()``), with the library's own transports."""
        return OpenAILLM(api_key=api_key, base_url=base_url, **{**self.path.llm_kwargs, **kwargs})

    # -- scripting --------------------------------------------------------------------------

    def text(self, text: str | list[str], **kwargs: Any) -> Scripted:
        """This path's scripted reply streaming ``text`` (``Reply.text`` or ``WSReply.text``;
        both take ``chunk_size``, ``delay``, ``usage`` and ``then``)."""
        builder = Reply.text if self.path.api == "chat" else WSReply.text
        return builder(text, **kwargs)

    def function_calls(self, *calls: tuple[str, str, str], **kwargs: Any) -> Scripted:
        """This path's reply calling tools, each ``(call_id, name, arguments_json)``
        (``Reply.tool_calls`` or ``WSReply.function_calls``; both take ``text``,
        ``fragment_size`` and ``usage``)."""
        if self.path.api == "chat":
            return Reply.tool_calls(*calls, **kwargs)
        return WSReply.function_calls(*calls, **kwargs)

    def error(self, status: int, message: str) -> Scripted:
        """This path's refusal of a turn: an HTTP status with the API's error body, or the
        WebSocket's ``error`` event carrying that status."""
        if self.path.transport == "http":
            return Reply.error(status, message)
        return WSReply.error("invalid_request_error", message, status=status)

    def usage(
        self, prompt: int = 10, completion: int = 5, *, model: str = "gpt-4o-mini"
    ) -> dict[str, Any]:
        """The ``usage`` metadata of the first scripted reply (``usage=(prompt, completion)``):
        its request id is the chunk id on Chat Completions, the response id on Responses."""
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_cached_tokens": 0,
            "reasoning_tokens": 0,
            "request_id": "chatcmpl-fake" if self.path.api == "chat" else "resp_fake_1",
            "model": model,
        }

    def silent(self) -> Scripted:
        """A reply that starts (HTTP: headers; WebSocket: the create is taken) and then
        sends nothing, ever."""
        return Reply([Stall()]) if self.path.api == "chat" else WSReply([Stall()])

    def add(self, *replies: Scripted) -> None:
        """Queue replies for this path's next turns, in order."""
        queue = _QUEUES[(self.path.api, self.path.transport)]
        for reply in replies:
            queue(self.fake, reply)

    def add_text(self, text: str | list[str], **kwargs: Any) -> None:
        self.add(self.text(text, **kwargs))

    def requests(self) -> list[dict[str, Any]]:
        """The bodies of the turns sent so far (HTTP POSTs or ``response.create`` frames)."""
        if self.path.transport == "http":
            return [r.json() for r in self.fake.requests if r.method == "POST"]
        return [f for f in self.fake.ws_frames if f["type"] == "response.create"]

    # -- what a turn leaves behind -----------------------------------------------------------

    async def assert_cancelled_turn_released(self) -> None:
        """The cancelled first turn holds nothing: HTTP, its body is closed; WebSocket, its
        socket (number 1) is retired and closed in the background."""
        if self.path.transport == "http":
            assert self.fake.counters.open_bodies == 0
        else:
            await anyio.wait_all_tasks_blocked()
            assert 1 not in self.tracker.open_sockets()

    async def next_turn_after_barge_in(self, llm: OpenAILLM, ctx: ChatContext) -> None:
        """The next turn hears exactly its own reply and leaves nothing open. On a WebSocket
        it also goes out on a socket other than the cancelled turn's (number 1) that was
        open before it started (the warm spare; the virtual-clock tests show the
        replacement is not on the critical path), and no ``response.cancel`` was ever sent.
        """
        self.add_text("next answer")
        open_before = len(self.tracker.sockets)
        async with llm.chat(ctx) as stream:
            heard = [item.content async for item in stream]
        assert heard == NEXT_REPLY
        if self.path.transport == "http":
            assert self.fake.counters.open_bodies == 0
        else:
            socket = self.tracker.create_sockets[-1]
            assert socket != 1
            assert socket <= open_before
            assert [f for f in self.fake.ws_frames if f["type"] != "response.create"] == []

    async def next_turn_works(self, llm: OpenAILLM, ctx: ChatContext) -> None:
        """The next turn hears exactly its own reply (and, on HTTP, closes its body), on
        whatever socket the path chooses."""
        self.add_text("next answer")
        async with llm.chat(ctx) as stream:
            heard = [item.content async for item in stream]
        assert heard == NEXT_REPLY
        assert self.fake.counters.open_bodies == 0

    async def next_turn_after_failure(self, llm: OpenAILLM, ctx: ChatContext) -> None:
        """After a failed first turn, the next turn works as after a barge-in; on a WebSocket
        the failed turn's socket was dropped, so the two turns went out on sockets 1 and 2."""
        await self.next_turn_after_barge_in(llm, ctx)
        if self.path.transport == "ws":
            assert self.tracker.create_sockets == [1, 2]

    def assert_all_closed(self) -> None:
        """After the llm's block: no HTTP body and no WebSocket left open."""
        assert self.fake.counters.open_bodies == 0
        assert self.fake.ws_open == 0

"""A Chat Completions turn over HTTP rehearsed in memory while the process's first chat
instance is entered, so its first real turn runs warm code.

The process's first turn runs, for the first time, the whole way from building the request
through httpx, httpcore, h11, our reads, the SSE decoder and the assembler to closing the
response. Cold (before CPython has specialised it, with cold caches), that path took 1.3-1.5
ms of CPU in the one step where a loopback reply's chunks arrive together, twice a warm
turn's (0.6-0.7 ms), on this project's machine: most of the first-turn stall of the
benchmark's figure 8. Here the same code runs once against a canned reply served by a
network backend in memory (``CannedBackend``: it never opens a socket), each of its reads
after ``give_way``, so the rehearsal's own steps stay short. The turn is unrecorded (no
metrics, no log line, no turn number) and httpx's request line for its host is dropped
(``_transports.http``). It warms HTTP/1.1 only: an HTTP/2 connection (negotiated over TLS
where ``h2`` is installed) reads through other code. No rehearsal is made where a test double
or an instrumentation replaced httpx's or httpcore's request entry points (``httpx_is_its_own``):
its request would reach them (pytest-httpx fails the user's test on it as unexpected, respx
counts it as a call, a tracer records it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import FunctionType
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import httpcore
import httpx
from httpx import AsyncClient

from ._chat import ChatContext, ChatRole
from ._compat import wrap_network_backends
from ._give_way import give_way
from ._tls import shared_tls_context
from ._transports.http import REHEARSAL_HOST, http2_available
from ._transports.http_backend import ScopedReadBackend

if TYPE_CHECKING:
    from ._stream import ChatStream

REHEARSAL_URL = f"http://{REHEARSAL_HOST}/v1"


def _event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-rehearsal",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _chunked(*events: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in events)


#: The canned reply, as three network reads: the head with the first event, two deltas,
#: then the end (the reason, ``[DONE]``, the last chunk), as a server's reply arrives.
CANNED_READS = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n\r\n" + _chunked(_event({"role": "assistant", "content": ""})),
    _chunked(_event({"content": "Hello"}), _event({"content": " there"})),
    _chunked(_event({}, "stop"), b"data: [DONE]\n\n") + b"0\r\n\r\n",
)

#: The text the rehearsal's turn delivers.
REHEARSED_TEXT = "Hello there"


class CannedStream:
    """httpcore's network stream, in memory: writes are dropped and each read returns the
    next of ``CANNED_READS``, after ``give_way`` (a step of its own). Its signatures are
    httpcore's (hence the ``timeout`` arguments)."""

    def __init__(self) -> None:
        self.reads = list(CANNED_READS)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        await give_way()
        return self.reads.pop(0) if self.reads else b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await give_way()

    async def aclose(self) -> None:
        self.reads.clear()

    async def start_tls(self, *args: Any, **kwargs: Any) -> CannedStream:
        return self

    def get_extra_info(self, info: str) -> Any:
        return None


class CannedBackend:
    """httpcore's network backend, in memory: every connection is a ``CannedStream``."""

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> CannedStream:
        await give_way()
        return CannedStream()

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> CannedStream:
        return await self.connect_tcp()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class Rehearsable(Protocol):
    """What the rehearsal needs of ``OpenAILLM`` (passed in: this module is imported from
    ``_first_entry``, which ``_llm`` imports)."""

    def _unrecorded_chat(self, messages: ChatContext) -> ChatStream: ...

    async def aclose(self) -> None: ...


#: Where test doubles and instrumentations hook httpx (pytest-httpx, respx, OpenTelemetry,
#: Sentry): each of these replaces one of them on its class.
_ENTRY_POINTS = (
    (httpx.AsyncClient, "send"),
    (httpx.AsyncHTTPTransport, "handle_async_request"),
    (httpcore.AsyncConnectionPool, "handle_async_request"),
)


def httpx_is_its_own() -> bool:
    """Whether httpx's and httpcore's request entry points are their own functions (no
    test double or instrumentation in place that the rehearsal's request would reach)."""
    for owner, name in _ENTRY_POINTS:
        function = vars(owner).get(name)
        if type(function) is not FunctionType:
            return False  # replaced by a mock or a wrapper object (wrapt)
        if function.__module__.partition(".")[0] not in ("httpx", "httpcore"):
            return False
    return True


async def rehearse_chat_turn(new_llm: Callable[..., Rehearsable], limits: httpx.Limits) -> str:
    """Run one unrecorded Chat Completions turn of ``new_llm(api_key=..., base_url=...,
    client=...)`` against the canned reply and return its text. The client is built as
    ``OpenAILLM``'s own is (``limits`` is its pool's; our reads over the network backend),
    minus the environment's proxies (already looked up while entering), so the turn takes
    our own client's path. Nothing is run (and "" returned) where ``httpx_is_its_own`` is
    False.

    Cancellation: the turn and the client are closed (shielded); nothing is left open.
    """
    if not httpx_is_its_own():
        return ""
    client = AsyncClient(
        limits=limits,
        follow_redirects=False,
        verify=shared_tls_context(),  # loaded while entering; a default one loads the CAs
        http2=http2_available(),
        trust_env=False,
    )
    wrap_network_backends(client, lambda _: ScopedReadBackend(CannedBackend()))
    llm: Rehearsable | None = None
    text = []
    try:
        await give_way()  # each part of the turn cold is a step of its own
        llm = new_llm(api_key="rehearsal", base_url=REHEARSAL_URL, client=client)
        ctx = ChatContext.empty()
        ctx.add_message(ChatRole.USER, "Hi")
        await give_way()
        stream = llm._unrecorded_chat(ctx)  # builds the request
        await give_way()
        async with stream:
            async for item in stream:
                text.append(item.content)
    finally:
        with anyio.CancelScope(shield=True):
            if llm is not None:
                await llm.aclose()
            await client.aclose()
    return "".join(text)

"""Our own HTTP client opens the turn's cancel scope per network read, not per chunk
(``_transports.http_backend``): pinned on real loopback sockets, on asyncio and trio.

- a barge-in while the turn waits on the socket ends the iteration at once, with the wait
  in the read's own scope (and with a caller's ``client=``, which keeps the scope per step);
- a turn binds the connection for its steps only: once its reply is complete the
  connection goes back to the pool with nothing bound, and the next turn on it binds its
  own steps;
- a stalled server still ends with the same typed timeout, with the llm's watchdog
  (``async with``) and without it (the read's scope carries the deadline);
- over TLS the TLS stream is wrapped too, so the same holds (HTTP/1.1 over TLS);
- HTTP/2 through our backend keeps the scope per step (its connection is shared);
- the backoff before a resend, slept in a step that has no scope of its own, still ends
  at a barge-in.

Each test is bounded by ``anyio.fail_after(10)``; the timeouts are 0.3 s of real time.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.abc
import httpx
import pytest

from scoped_openai import APITimeoutError, ChatContext, ChatRole, OpenAILLM
from scoped_openai._stream import ChatStream
from scoped_openai._transports.http import with_scoped_reads
from scoped_openai._transports.http_backend import ReadWait
from scoped_openai.testing import DONE, FakeOpenAI, Reply, Stall, chunk
from support.loopback_server import RawServer, serving
from support.raw_http import chunked, read_request, sse_head
from support.tls import localhost_tls_contexts
from support.turns import contents, turn

pytestmark = pytest.mark.anyio

FIRST = chunk({"role": "assistant", "content": "a"})


def stalling_server(stall: anyio.Event) -> RawServer:
    """Answers every request with one chunk (``FIRST``), then sends nothing until ``stall``
    is set."""

    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        await stream.send(sse_head() + chunked(FIRST))
        await stall.wait()

    return RawServer(handler)


async def barge_in_once_waiting_on_the_socket(
    llm: OpenAILLM, ctx: ChatContext, check: Callable[[ChatStream], None]
) -> list[str]:
    """Consume a turn in a task; once every task is blocked (the consumer in its socket
    read), ``check`` the stream, barge in, and see the consumer done before anything else
    is scheduled to happen: what it heard."""
    heard: list[str] = []
    first = anyio.Event()
    done = anyio.Event()
    streams: list[ChatStream] = []

    async def consume() -> None:
        async with llm.chat(ctx) as stream:
            streams.append(stream)
            async for item in stream:
                heard.append(item.content)
                first.set()
        assert stream.cancelled is True
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await first.wait()
        await anyio.wait_all_tasks_blocked()
        (stream,) = streams
        assert stream.waiting
        check(stream)
        await llm.cancel_current_generation()
        await anyio.wait_all_tasks_blocked()
        assert done.is_set()  # the server sent nothing: only the barge-in ended the wait
    return heard


def waits_in_the_read_scope(stream: ChatStream) -> None:
    wait = stream._scope
    assert isinstance(wait, ReadWait)
    assert wait.scope is not None  # the socket read's own scope, the one a barge-in cancels


def waits_in_the_step_scope(stream: ChatStream) -> None:
    assert stream._reads is None
    assert not isinstance(stream._scope, ReadWait)


@pytest.mark.parametrize("own_client", [True, False], ids=["our-client", "caller-client"])
async def test_a_barge_in_while_the_turn_waits_on_the_socket_ends_it_at_once(
    ctx: ChatContext, own_client: bool
) -> None:
    stall = anyio.Event()
    server = stalling_server(stall)
    with anyio.fail_after(10):
        async with server, httpx.AsyncClient() as caller_client:
            llm = OpenAILLM(
                base_url=server.base_url,
                client=None if own_client else caller_client,
                idle_timeout=None,
                first_token_timeout=None,
            )
            async with llm:
                check = waits_in_the_read_scope if own_client else waits_in_the_step_scope
                heard = await barge_in_once_waiting_on_the_socket(llm, ctx, check)
            stall.set()
    assert heard == ["a"]


async def test_a_connection_back_in_the_pool_has_no_turn_bound(ctx: ChatContext) -> None:
    """Turn 1 completes (its body drained inline, so its connection goes back to the pool)
    and leaves nothing bound to the connection; turn 2 goes out on the same connection and
    is barged in while its read waits in its own scope."""
    stall = anyio.Event()

    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        body = chunk({"content": "done"}) + DONE
        await stream.send(sse_head() + chunked(body) + chunked(b""))
        await read_request(stream)
        await stream.send(sse_head() + chunked(FIRST))
        await stall.wait()

    server = RawServer(handler)
    with anyio.fail_after(10):
        async with server, OpenAILLM(base_url=server.base_url, idle_timeout=None) as llm:
            async with llm.chat(ctx) as first:
                assert [item.content async for item in first] == ["done"]
            wait = first._reads
            assert isinstance(wait, ReadWait)
            connection = wait._stream
            assert connection.wait is None  # a read now (a drain, a request) opens no scope
            heard = await barge_in_once_waiting_on_the_socket(llm, ctx, waits_in_the_read_scope)
            assert heard == ["a"]
            assert connection.wait is None
            stall.set()
    assert server.connections == 1


async def stalled_turn(llm: OpenAILLM, ctx: ChatContext, in_block: bool) -> Exception | None:
    if not in_block:  # no task group: no watchdog, the scope carries the deadline
        try:
            return (await turn(llm, ctx))[1]
        finally:
            await llm.aclose()
    async with llm:
        return (await turn(llm, ctx))[1]


@pytest.mark.parametrize("in_block", [True, False], ids=["watchdog", "scope-deadline"])
@pytest.mark.parametrize("phase", ["idle", "first_token"])
async def test_a_stalled_socket_still_times_out_with_the_same_error(
    ctx: ChatContext, in_block: bool, phase: str
) -> None:
    stall = anyio.Event()
    first = FIRST if phase == "idle" else chunk({"role": "assistant", "content": ""})

    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        await stream.send(sse_head() + chunked(first))
        await stall.wait()

    server = RawServer(handler)
    timeouts = {"idle_timeout": None, "first_token_timeout": None, f"{phase}_timeout": 0.3}
    with anyio.fail_after(10):
        async with server:
            llm = OpenAILLM(base_url=server.base_url, **timeouts)
            error = await stalled_turn(llm, ctx, in_block)
            stall.set()
    assert type(error) is APITimeoutError
    assert (error.phase, error.seconds) == (phase, 0.3)


async def test_http2_through_our_backend_keeps_the_scope_per_step(fake: FakeOpenAI) -> None:
    fake.add(Reply.text(["Hel"], then=[Stall()]), Reply.text("next"))
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Hi.")
    with anyio.fail_after(10):
        async with fake.serve() as server:
            client = with_scoped_reads(httpx.AsyncClient(http1=False, http2=True))
            async with client, OpenAILLM(base_url=server.base_url, client=client) as llm:
                heard = await barge_in_once_waiting_on_the_socket(llm, ctx, waits_in_the_step_scope)
                items, error = await turn(llm, ctx)
    assert heard == ["Hel"]
    assert (contents(items)[0], error) == ("next", None)
    assert len(fake.loopback_clients) == 1  # the barge-in reset a stream, not the connection


async def test_a_barge_in_during_the_backoff_of_a_resend_ends_it_at_once(
    ctx: ChatContext,
) -> None:
    """The body breaks after ``response.created`` (nothing heard yet), so the turn resends
    after a backoff; the backoff is slept in the step, which has no scope of its own on our
    client: it sleeps in one of the ``ReadWait``'s, and the barge-in ends it."""
    broke = anyio.Event()
    created = b'{"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}'

    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        event = b"event: response.created\ndata: " + created + b"\n\n"
        await stream.send(sse_head() + chunked(event))
        await stream.aclose()  # the body ends without its last chunk: a broken connection
        broke.set()

    server = RawServer(handler)
    heard: list[str] = []
    done = anyio.Event()
    streams: list[ChatStream] = []
    with anyio.fail_after(10):
        async with server:
            llm = OpenAILLM(
                base_url=server.base_url, api="responses", streaming=False, max_retries=1
            )
            async with llm, anyio.create_task_group() as tg:

                async def consume() -> None:
                    async with llm.chat(ctx) as stream:
                        streams.append(stream)
                        heard.extend([item.content async for item in stream])
                    assert stream.cancelled is True
                    done.set()

                tg.start_soon(consume)
                await broke.wait()
                await anyio.wait_all_tasks_blocked()  # the consumer sleeps its backoff
                (stream,) = streams
                waits_in_the_read_scope(stream)
                await llm.cancel_current_generation()
                await anyio.wait_all_tasks_blocked()
                assert done.is_set()
    assert heard == []
    assert server.connections == 1  # not resent


async def test_over_tls_the_read_scope_wraps_the_tls_stream(ctx: ChatContext) -> None:
    """httpcore wraps the TCP stream in TLS (``start_tls``): the TLS stream is wrapped too,
    so an HTTP/1.1 body over TLS (api.openai.com without the ``http2`` extra) waits in the
    read's scope and barges in at once."""
    server_context, client_context = localhost_tls_contexts()
    stall = anyio.Event()

    async def handler(stream: anyio.abc.ByteStream) -> None:
        await read_request(stream)  # type: ignore[arg-type]
        await stream.send(sse_head() + chunked(FIRST))
        await stall.wait()

    with anyio.fail_after(10):
        async with serving(handler, tls=server_context) as port:
            client = with_scoped_reads(httpx.AsyncClient(verify=client_context))
            base_url = f"https://localhost:{port}/v1"
            async with (
                client,
                OpenAILLM(base_url=base_url, client=client, idle_timeout=None) as llm,
            ):
                heard = await barge_in_once_waiting_on_the_socket(llm, ctx, waits_in_the_read_scope)
            stall.set()
    assert heard == ["a"]

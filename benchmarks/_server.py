"""The benchmark's fake OpenAI server, in its own process (so its CPU is not the client's).

Run: ``python benchmarks/_server.py [--port 0] [--backend asyncio|trio]``. It serves
``FakeOpenAI`` on hypercorn at ``127.0.0.1``, prints ``PORT <n>`` on one line once it listens,
and stops when its standard input closes (the bench holds a pipe) or on SIGTERM.

Every chat request (``POST /v1/chat/completions``), ``POST /v1/responses`` and every
``response.create`` on the Responses WebSocket (``/v1/responses``) is answered from the
``BENCH[...]`` marker in the request (``_spec.py``): N content chunks, paced or not, stalling
or not. Replies are built once per spec and cached; a Responses reply over HTTP that is not
paced, stalled or stored is also replayed as first sent (``_rendered.py``; not with
``--live-responses``).

``GET /stats`` (answered here, before the fake) returns JSON counts: ``connections`` (TCP
connections accepted, HTTP or WebSocket, the stats requests' own excluded), ``http_connections``
(distinct client (host, port) pairs that sent a chat or HEAD request:
``FakeOpenAI.loopback_clients``), ``ws_connections`` (WebSockets accepted ever), ``ws_open``,
``requests`` and ``open_bodies``. ``POST /stats/reset`` drops the recorded requests and
frames (memory; counts are kept: clients take differences).

``--spans`` (``bench_bargein_pause.py``) also timestamps, in this process, what each
WebSocket's ASGI app sees (``WebSocketSpans``), returned and cleared by ``GET /stats/spans``:
so a benchmark can split a turn's wait into the server's part and the client's. Off by
default: the other figures run the server without it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import raise_fd_limit
from _rendered import RenderedResponses
from _spec import PIECE, Spec, parse

from scoped_openai.testing import FakeOpenAI, Reply, Stall
from scoped_openai.testing._asgi import asgi_app

try:  # the WebSocket side of the fake; absent in older trees
    from scoped_openai.testing import WSReply
except ImportError:  # pragma: no cover
    WSReply = None  # type: ignore[assignment,misc]

BACKLOG = 4096

#: TCP connections hypercorn accepted (HTTP and WebSocket), and ``/stats`` requests among them
#: (the bench's urllib opens one connection per request). Counted at accept time because
#: ``loopback_clients`` is a set of (host, port): a port the kernel reuses after a close
#: would not count as a new connection.
COUNTS = {"tcp_accepted": 0, "stats_requests": 0}


def count_accepts(backend: str) -> None:
    """Wrap hypercorn's per-connection ``TCPServer`` so every accepted connection counts."""
    if backend == "trio":
        import hypercorn.trio.run as run
    else:
        import hypercorn.asyncio.run as run
    original = run.TCPServer

    def counting(*args: Any, **kwargs: Any) -> Any:
        COUNTS["tcp_accepted"] += 1
        return original(*args, **kwargs)

    run.TCPServer = counting  # type: ignore[misc,assignment]


@functools.lru_cache(maxsize=64)
def http_reply(spec: Spec) -> Reply:
    """The Chat Completions reply for ``spec`` (cached: ``Reply`` is only read when played)."""
    delay = 1.0 / spec.pace if spec.pace > 0 else 0.0
    if spec.stall >= 0:
        return Reply.text([PIECE] * spec.stall, delay=delay, then=[Stall()])
    return Reply.text([PIECE] * spec.chunks, delay=delay)


@functools.lru_cache(maxsize=64)
def ws_reply(spec: Spec) -> Any:
    """The Responses WebSocket reply for ``spec`` (cached; the fake copies what it changes)."""
    delay = 1.0 / spec.pace if spec.pace > 0 else 0.0
    if spec.stall >= 0:
        return WSReply.text([PIECE] * spec.stall, delay=delay, then=[Stall()])
    return WSReply.text([PIECE] * spec.chunks, delay=delay)


def make_fake() -> FakeOpenAI:
    fake = FakeOpenAI(default=lambda request: http_reply(parse(request.body)))
    if WSReply is not None:
        fake.ws_default = lambda request: ws_reply(parse(request.body))
    return fake


class WebSocketSpans:
    """Timestamps of what each WebSocket's ASGI app receives and sends, taken in the server
    (``time.perf_counter``: CLOCK_MONOTONIC on Linux, the clock the client reads too, so the
    two processes' marks compare) with the server's CPU time (``time.process_time``).

    Recorded, as dicts with ``kind``, ``socket`` (a number per connection) and ``t``:

    - ``turn``: a ``response.create`` reached the app (``t``, ``cpu``) and the app handed the
      first ``response.output_text.delta`` after it to hypercorn (``first``, ``first_cpu``):
      the server's own part of a turn's time to first token (hypercorn's parse of the frame
      before it and its write of the delta after it are the server's too, but fall outside
      the span: on the client's sides of it);
    - ``disconnect``: the app learned that the client closed (hypercorn has answered the
      close frame by then); ``gone``: the app's handler returned (the socket's close done).

    Bounded (``MAX_EVENTS``, the oldest dropped); the bench reads and clears them between
    trials.
    """

    MAX_EVENTS = 4096

    def __init__(self) -> None:
        self.events: deque[dict[str, object]] = deque(maxlen=self.MAX_EVENTS)
        self._sockets = 0

    def wrap(self, inner: Any) -> Any:
        """``inner`` with its WebSocket connections timestamped."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "websocket":
                await inner(scope, receive, send)
                return
            self._sockets += 1
            number = self._sockets
            turn: dict[str, object] | None = None
            events = self.events

            async def timed_receive() -> Any:
                nonlocal turn
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive" and '"response.create"' in (
                    message.get("text") or ""
                ):
                    turn = {"kind": "turn", "socket": number}
                    turn["t"], turn["cpu"] = time.perf_counter(), time.process_time()
                elif kind == "websocket.disconnect":
                    now = time.perf_counter()
                    events.append({"kind": "disconnect", "socket": number, "t": now})
                return message

            async def timed_send(message: Any) -> None:
                nonlocal turn
                if (
                    turn is not None
                    and message["type"] == "websocket.send"
                    and '"response.output_text.delta"' in (message.get("text") or "")
                ):
                    turn["first"], turn["first_cpu"] = time.perf_counter(), time.process_time()
                    events.append(turn)
                    turn = None
                await send(message)

            try:
                await inner(scope, timed_receive, timed_send)
            finally:
                events.append({"kind": "gone", "socket": number, "t": time.perf_counter()})

        return app

    def take(self) -> list[dict[str, object]]:
        """The events since the last call, oldest first."""
        taken = list(self.events)
        self.events.clear()
        return taken


def stats(fake: FakeOpenAI) -> dict[str, int]:
    return {
        # Every client connection accepted, HTTP or WebSocket, the bench's own excluded.
        "connections": COUNTS["tcp_accepted"] - COUNTS["stats_requests"],
        "http_connections": len(fake.loopback_clients),
        "ws_connections": fake.counters.connections,
        "ws_open": fake.ws_open,
        "requests": len(fake.requests),
        "open_bodies": fake.counters.open_bodies,
        "ws_served": WSReply is not None,
    }


def stop_on_disconnect(inner: Any) -> Any:
    """End an HTTP reply when its client goes away (a barge-in drops the connection).

    The fake reads the request body and then only sends; without this, a paced reply to a
    client that left keeps writing into a dead socket until its script ends.
    """

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        body_read = anyio.Event()

        async def receive_body() -> Any:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read.set()
            return message

        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await body_read.wait()
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            await inner(scope, receive_body, send)
            tg.cancel_scope.cancel()

    return app


def with_stats(
    fake: FakeOpenAI, spans: WebSocketSpans | None = None, *, live_responses: bool = False
) -> Any:
    """The fake's ASGI app, with ``/stats`` answered in front of it (and its WebSockets
    timestamped when ``spans`` is given); Responses replies over HTTP rendered once per spec
    (``_rendered``) unless ``live_responses``."""
    inner = asgi_app(fake)
    if not live_responses:
        inner = RenderedResponses().wrap(inner)
    inner = stop_on_disconnect(inner)
    if spans is not None:
        inner = spans.wrap(inner)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/stats"):
            COUNTS["stats_requests"] += 1
            if scope["path"] == "/stats/reset":
                fake.counters.requests.clear()
                fake.ws_frames.clear()
                fake.ws_handshakes.clear()
            if scope["path"] == "/stats/spans":
                taken = spans.take() if spans is not None else None
                clock = time.get_clock_info("perf_counter").implementation
                body = json.dumps({"events": taken, "clock": clock}).encode()
            else:
                body = json.dumps(stats(fake)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    return app


async def serve(port: int, backend: str, spans: bool = False, live: bool = False) -> None:
    from hypercorn.config import Config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(BACKLOG)  # 1,000 sessions connect at once: a short backlog means SYN retries
    sock.setblocking(False)
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.backlog = BACKLOG
    config.graceful_timeout = 0.2
    config.keep_alive_timeout = 120.0
    config.errorlog = None
    config.accesslog = None
    config.websocket_ping_interval = None
    config.h2_max_concurrent_streams = 1000
    count_accepts(backend)
    app = with_stats(make_fake(), WebSocketSpans() if spans else None, live_responses=live)
    stop = anyio.Event()

    async def watch_stdin() -> None:
        # The bench holds our stdin: EOF means it is gone (even if it was killed).
        await anyio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)
        stop.set()

    print(f"PORT {sock.getsockname()[1]}", flush=True)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_stdin)
        if backend == "trio":
            from hypercorn.trio import serve as hserve
        else:
            from hypercorn.asyncio import serve as hserve
        await hserve(app, config, shutdown_trigger=stop.wait)
        tg.cancel_scope.cancel()
    sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument(
        "--spans", action="store_true", help="timestamp WebSocket turns (GET /stats/spans)"
    )
    parser.add_argument(
        "--live-responses",
        action="store_true",
        help="build every Responses reply over HTTP event by event (no replay: _rendered.py)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    raise_fd_limit()
    anyio.run(serve, args.port, args.backend, args.spans, args.live_responses, backend=args.backend)


if __name__ == "__main__":
    main()

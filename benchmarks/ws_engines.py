"""Which WebSocket engine: client CPU per frame of each candidate, measured side by side.

Every candidate opens one socket to the benchmark's fake server (``_server.py``, in its own
process), sends one ``response.create`` asking for ``--chunks`` text deltas, and reads until
``response.completed`` with ``json.loads`` per frame; ``time.process_time()`` of this process
over the reply, divided by the frames, is one sample. The median of ``--repeats`` samples is
quoted. Candidates (each the least a user of that library writes):

- ``aiohttp``: ``ClientWebSocketResponse.receive()`` (asyncio only): the floor a user could pick;
- ``websockets-asyncio``: the ``websockets`` package's own asyncio client, ``recv()``;
- ``sansio-anyio``: the ``websockets`` sans-IO ``ClientProtocol`` fed from an anyio TCP stream
  in the reading task (no reader task), on both backends: the candidate engine;
- ``engine``: scoped-openai's own engine (``_transports/ws_sansio.py``), when present;
- ``httpx-ws`` (asyncio) and ``trio-websocket`` (trio): the adapters the library used before.

Run: ``python benchmarks/ws_engines.py [--chunks 20000] [--repeats 5]``; prints a table and
writes ``benchmarks/results/ws_engines.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, MODEL
from _serverproc import ServerProcess
from _spec import Spec

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
#: A socket: (send one text frame, receive one text frame).
Socket = tuple[Callable[[str], Awaitable[Any]], Callable[[], Awaitable[str]]]


def create_frame(chunks: int) -> str:
    user = {"type": "message", "role": "user", "content": Spec(chunks=chunks).user_text()}
    return json.dumps({"type": "response.create", "model": MODEL, "input": [user]})


@asynccontextmanager
async def aiohttp_socket(url: str) -> AsyncIterator[Socket]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=HEADERS, max_msg_size=16 * 2**20) as ws,
    ):

        async def receive() -> str:
            message = await ws.receive()
            return str(message.data)

        yield ws.send_str, receive


@asynccontextmanager
async def websockets_asyncio_socket(url: str) -> AsyncIterator[Socket]:
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers=HEADERS, max_size=16 * 2**20) as ws:

        async def receive() -> str:
            return str(await ws.recv())

        yield ws.send, receive


@asynccontextmanager
async def sansio_anyio_socket(url: str) -> AsyncIterator[Socket]:
    """The candidate, written plainly: the protocol is fed in the reading task."""
    from websockets.client import ClientProtocol
    from websockets.frames import Opcode
    from websockets.http11 import Response
    from websockets.uri import parse_uri

    uri = parse_uri(url)
    protocol = ClientProtocol(uri, max_size=16 * 2**20)
    request = protocol.connect()
    request.headers.update(HEADERS)
    protocol.send_request(request)
    pending: deque[str] = deque()
    async with await anyio.connect_tcp(uri.host, uri.port) as stream:
        for data in protocol.data_to_send():
            await stream.send(data)
        while not any(isinstance(e, Response) for e in protocol.events_received()):
            protocol.receive_data(await stream.receive())
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc

        async def send(text: str) -> None:
            protocol.send_text(text.encode())
            for data in protocol.data_to_send():
                await stream.send(data)

        async def receive() -> str:
            while not pending:
                protocol.receive_data(await stream.receive(65536))
                for event in protocol.events_received():
                    if event.opcode is Opcode.TEXT:
                        pending.append(event.data.decode())
            return pending.popleft()

        yield send, receive


@asynccontextmanager
async def engine_socket(url: str) -> AsyncIterator[Socket]:
    from scoped_openai._transports.ws_sansio import SansIOWebSocketConnection

    async with SansIOWebSocketConnection(url, HEADERS, connect_timeout=15.0) as ws:
        yield ws.send_text, ws.receive_text


@asynccontextmanager
async def httpx_ws_socket(url: str) -> AsyncIterator[Socket]:
    import httpx
    import httpx_ws

    http = url.replace("ws://", "http://", 1)
    # A copy: httpx-ws adds its upgrade headers to the dict it is given.
    async with (
        httpx.AsyncClient() as client,
        httpx_ws.aconnect_ws(
            http, client, headers=dict(HEADERS), max_message_size_bytes=16 * 2**20
        ) as ws,
    ):
        yield ws.send_text, ws.receive_text


@asynccontextmanager
async def trio_websocket_socket(url: str) -> AsyncIterator[Socket]:
    import trio_websocket

    headers = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
    async with trio_websocket.open_websocket_url(
        url, extra_headers=headers, max_message_size=16 * 2**20, message_queue_size=256
    ) as ws:
        yield ws.send_message, ws.get_message  # type: ignore[return-value]


CANDIDATES: dict[str, dict[str, Callable[[str], Any]]] = {
    "asyncio": {
        "aiohttp": aiohttp_socket,
        "websockets-asyncio": websockets_asyncio_socket,
        "sansio-anyio": sansio_anyio_socket,
        "engine": engine_socket,
        "httpx-ws": httpx_ws_socket,
    },
    "trio": {
        "sansio-anyio": sansio_anyio_socket,
        "engine": engine_socket,
        "trio-websocket": trio_websocket_socket,
    },
}


async def one_reply(socket: Socket, create: str) -> int:
    send, receive = socket
    loads = json.loads
    frames = 0
    await send(create)
    while True:
        event = loads(await receive())
        frames += 1
        if event["type"] == "response.completed":
            return frames


async def measure(url: str, backend: str, chunks: int, repeats: int) -> dict[str, float]:
    """Median CPU µs per frame of each candidate on the running backend."""
    create = create_frame(chunks)
    samples: dict[str, list[float]] = {}
    for name, opener in CANDIDATES[backend].items():
        try:
            async with opener(url) as socket:
                await one_reply(socket, create_frame(200))  # warm
                for _ in range(repeats):
                    gc.collect()
                    c0 = time.process_time()
                    frames = await one_reply(socket, create)
                    samples.setdefault(name, []).append((time.process_time() - c0) / frames * 1e6)
        except ImportError as exc:
            print(f"  {backend}/{name}: skipped ({exc})", file=sys.stderr)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", choices=list(CANDIDATES), action="append")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with ServerProcess() as server:
        url = server.base_url.replace("http://", "ws://", 1) + "/responses"
        for backend in args.backend or list(CANDIDATES):
            results[backend] = anyio.run(
                measure, url, backend, args.chunks, args.repeats, backend=backend
            )
    floor = results["asyncio"].get("aiohttp", float("nan"))
    print(f"CPU per frame, median of {args.repeats} x {args.chunks:,} frames (floor: aiohttp)")
    for backend, row in results.items():
        for name, us in sorted(row.items(), key=lambda kv: kv[1]):
            print(f"  {backend:8} {name:20} {us:6.2f} µs  {us / floor:5.2f}x floor")
    out = Path(__file__).resolve().parent / "results" / "ws_engines.json"
    out.write_text(
        json.dumps({"chunks": args.chunks, "repeats": args.repeats, **results}, indent=2)
    )


if __name__ == "__main__":
    main()

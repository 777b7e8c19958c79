"""The floors: the least a client can do on the same wire, measured in the same run.

HTTP: one ``httpx.AsyncClient`` stream per turn, ``aiter_lines`` and ``json.loads`` per
``data:`` line, the content of choice 0 collected. WebSocket: a plain socket, ``json.loads`` per
frame, the full context sent with every ``response.create`` (no chaining). The WebSocket floor
(``library="aiohttp"``) is aiohttp's ``receive()``, the fastest plain client a user could pick
(asyncio only; the report uses its asyncio figures as the trio floor too); the same-library
floor (``library="same"``, the ``floor-lib`` column) is httpx-ws under asyncio and
trio-websocket under trio, the libraries of the engines before the default one.

Barge-in: the consumer's loop runs inside a ``CancelScope`` that the canceller cancels. Over
HTTP the next turn is a new request on the same client (HTTP/1.1 drops the interrupted
connection; HTTP/2 resets one stream). Over WebSocket the floor keeps one warm spare socket:
the interrupted socket is dropped and the next turn goes on the spare (the least work that
keeps stale frames away from the next turn), a new spare is opened between trials.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.abc
import httpx
import sniffio
from _common import API_KEY, MODEL, SYSTEM, Turn
from _spec import Spec

TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=5.0, pool=30.0)
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying context for every floor client: building one (loading the CA bundle)
    costs about 20-30 ms and 0.9 MB each, which the least possible client does once."""
    return httpx.create_ssl_context()


class FloorHTTP:
    """Chat Completions over a plain httpx stream."""

    name = "floor"
    path = "http"

    def __init__(self, base_url: str, *, http2: bool = False) -> None:
        self.url = base_url + "/chat/completions"
        self.http2 = http2
        self.messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM}]
        self._scope: anyio.CancelScope | None = None
        self.client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> FloorHTTP:
        self.client = httpx.AsyncClient(
            timeout=TIMEOUT,
            http1=not self.http2,
            http2=self.http2,
            headers=HEADERS,
            verify=shared_ssl_context(),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.client is not None
        await self.client.aclose()

    def _body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": MODEL,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.7,
        }

    async def _stream(self, messages: list[dict[str, str]], on_item: Callable[[str], None]) -> None:
        assert self.client is not None
        loads = json.loads
        async with self.client.stream("POST", self.url, json=self._body(messages)) as response:
            if response.status_code != 200:
                await response.aread()
                raise RuntimeError(f"floor: HTTP {response.status_code}: {response.text[:200]}")
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    continue  # read on to the body's end: the connection goes back to the pool
                chunk = loads(data)
                for choice in chunk["choices"]:
                    if choice["index"] == 0:
                        content = choice["delta"].get("content")
                        if content:
                            on_item(content)

    async def turn(self, spec: Spec, *, remember: bool = True, turn_no: int = 0) -> Turn:
        messages = self.messages if remember else [self.messages[0]]
        messages.append({"role": "user", "content": spec.user_text(turn_no)})
        parts: list[str] = []
        first = 0.0

        def on_item(content: str) -> None:
            nonlocal first
            if not parts:
                first = time.perf_counter()
            parts.append(content)

        c0 = time.process_time()
        t0 = time.perf_counter()
        await self._stream(messages, on_item)
        t1 = time.perf_counter()
        c1 = time.process_time()
        text = "".join(parts)
        if remember:
            messages.append({"role": "assistant", "content": text})
        return Turn(first - t0 if parts else float("nan"), t1 - t0, c1 - c0, len(parts), text, t0)

    # -- barge-in -----------------------------------------------------------------------

    async def consume(self, spec: Spec, on_item: Callable[[str], None]) -> float:
        """Stream ``spec`` until done or cancelled; return when the loop exited."""
        self.messages.append({"role": "user", "content": spec.user_text()})
        with anyio.CancelScope() as scope:
            self._scope = scope
            await self._stream(self.messages, on_item)
        self._scope = None
        return time.perf_counter()

    async def cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        await anyio.lowlevel.checkpoint()

    async def reset(self) -> None:
        """Between trials (untimed)."""
        del self.messages[1:]


# --- WebSocket --------------------------------------------------------------------------


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/responses"


class _RawSocket:
    """One plain WebSocket owned by its own task (so any one can be closed first)."""

    def __init__(self) -> None:
        self.ready = anyio.Event()
        self.done = anyio.Event()
        self.send: Callable[[str], Any] | None = None
        self.recv: Callable[[], Any] | None = None
        self.error: BaseException | None = None

    async def run(self, url: str, client: httpx.AsyncClient | None, library: str) -> None:
        try:
            async with open_raw_websocket(url, client, library) as (send, recv):
                self.send, self.recv = send, recv
                self.ready.set()
                await self.done.wait()
        except Exception as exc:  # reported to the waiter, never into the group
            self.error = exc
        finally:
            self.ready.set()


class _RawWSContext:
    """``async with open_raw_websocket(url) as (send_text, receive_text)`` on either backend."""

    def __init__(self, url: str, client: httpx.AsyncClient | None, library: str) -> None:
        self._url = url
        self._client = client
        self._library = library
        self._cm: AbstractAsyncContextManager[Any] | None = None

    async def __aenter__(self) -> tuple[Callable[[str], Any], Callable[[], Any]]:
        if self._library == "aiohttp":
            return await self._enter_aiohttp()
        if sniffio.current_async_library() == "trio":
            import trio_websocket

            self._cm = trio_websocket.open_websocket_url(self._url, extra_headers=[])
            ws = await self._cm.__aenter__()
            return ws.send_message, ws.get_message
        import httpx_ws

        self._cm = httpx_ws.aconnect_ws(http_url(self._url), self._client)
        session = await self._cm.__aenter__()
        return session.send_text, session.receive_text

    async def _enter_aiohttp(self) -> tuple[Callable[[str], Any], Callable[[], Any]]:
        import aiohttp

        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(self._url, max_msg_size=16 * 2**20)
        except BaseException:
            await session.close()
            raise
        self._aiohttp = (session, ws)

        async def receive() -> Any:
            return (await ws.receive()).data

        return ws.send_str, receive

    async def __aexit__(self, *exc: Any) -> Any:
        if self._library == "aiohttp":
            session, ws = self._aiohttp
            await ws.close()
            await session.close()
            return None
        assert self._cm is not None
        # Not wrapped in a scope of ours: the library's own task group was entered outside it.
        return await self._cm.__aexit__(*exc)


def open_raw_websocket(
    url: str, client: httpx.AsyncClient | None, library: str = "same"
) -> _RawWSContext:
    return _RawWSContext(url, client, library)


def http_url(url: str) -> str:
    return url.replace("ws://", "http://", 1)


class FloorWS:
    """Responses API over a plain WebSocket, full context each turn, one warm spare."""

    path = "ws"

    def __init__(self, base_url: str, *, spare: bool = False, library: str = "aiohttp") -> None:
        self.name = "floor" if library == "aiohttp" else "floor-lib"
        self.library = library
        self.url = ws_url(base_url)
        self.want_spare = spare
        self.input: list[dict[str, Any]] = []
        self._tg: anyio.abc.TaskGroup | None = None
        self._client: httpx.AsyncClient | None = None
        self.active: _RawSocket | None = None
        self.spare: _RawSocket | None = None
        self._scope: anyio.CancelScope | None = None
        self.sockets_opened = 0

    async def __aenter__(self) -> FloorWS:
        if sniffio.current_async_library() != "trio":
            self._client = httpx.AsyncClient(timeout=TIMEOUT, verify=shared_ssl_context())
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self.active = await self._open()
        if self.want_spare:
            self.spare = await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._tg is not None
        for sock in (self.active, self.spare):
            if sock is not None:
                sock.done.set()
        await self._tg.__aexit__(None, None, None)
        if self._client is not None:
            await self._client.aclose()

    async def _open(self) -> _RawSocket:
        assert self._tg is not None
        sock = _RawSocket()
        self.sockets_opened += 1
        self._tg.start_soon(sock.run, self.url, self._client, self.library)
        await sock.ready.wait()
        if sock.error is not None:
            raise sock.error
        return sock

    def _create(self, items: list[dict[str, Any]]) -> str:
        return json.dumps(
            {
                "type": "response.create",
                "model": MODEL,
                "instructions": SYSTEM,
                "input": items,
                "store": False,
                "temperature": 0.7,
            }
        )

    async def _stream(
        self, sock: _RawSocket, items: list[dict[str, Any]], on_item: Callable[[str], None]
    ) -> None:
        assert sock.send is not None
        assert sock.recv is not None
        recv = sock.recv
        loads = json.loads
        await sock.send(self._create(items))
        while True:
            event = loads(await recv())
            kind = event["type"]
            if kind == "response.output_text.delta":
                on_item(event["delta"])
            elif kind in TERMINAL:
                if kind != "response.completed":
                    raise RuntimeError(f"floor ws: {str(event)[:200]}")
                return

    async def turn(self, spec: Spec, *, remember: bool = True, turn_no: int = 0) -> Turn:
        items = self.input if remember else []
        items.append({"type": "message", "role": "user", "content": spec.user_text(turn_no)})
        parts: list[str] = []
        first = 0.0

        def on_item(content: str) -> None:
            nonlocal first
            if not parts:
                first = time.perf_counter()
            parts.append(content)

        assert self.active is not None
        c0 = time.process_time()
        t0 = time.perf_counter()
        await self._stream(self.active, items, on_item)
        t1 = time.perf_counter()
        c1 = time.process_time()
        text = "".join(parts)
        if remember:
            items.append({"type": "message", "role": "assistant", "content": text})
        return Turn(first - t0 if parts else float("nan"), t1 - t0, c1 - c0, len(parts), text, t0)

    # -- barge-in -----------------------------------------------------------------------

    async def consume(self, spec: Spec, on_item: Callable[[str], None]) -> float:
        self.input.append({"type": "message", "role": "user", "content": spec.user_text()})
        assert self.active is not None
        with anyio.CancelScope() as scope:
            self._scope = scope
            await self._stream(self.active, self.input, on_item)
        self._scope = None
        if scope.cancelled_caught:
            # The reply is still in flight on that socket: drop it, take the spare.
            self._drop(self.active)
            self.active, self.spare = self.spare, None
        return time.perf_counter()

    def _drop(self, interrupted: _RawSocket) -> None:
        """Close the interrupted socket (in its own task)."""
        interrupted.done.set()

    async def cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        await anyio.lowlevel.checkpoint()

    async def reset(self) -> None:
        """Between trials (untimed): a fresh spare, an empty context."""
        self.input.clear()
        if self.active is None:
            self.active = await self._open()
        if self.want_spare and self.spare is None:
            self.spare = await self._open()

"""The floor of the Responses API over HTTP: the least a client can do on the same wire.

One ``httpx.AsyncClient`` stream per turn (``POST /responses``, ``stream: true``),
``aiter_lines`` and ``json.loads`` per ``data:`` line, the text of every
``response.output_text.delta`` collected; the body is read to its end so the connection goes
back to the pool. ``chain=False`` sends the full context each turn (``store: false``);
``chain=True`` sends ``store: true`` and, from the second turn, ``previous_response_id`` of
the last completed response with only the new items, as a client that trusts the server to
hold the prefix would. Barge-in as the Chat Completions floor: the loop runs in a
``CancelScope`` the canceller cancels (HTTP/1.1 drops the interrupted connection), and an
interrupted turn breaks the chain (the next one sends the full context).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from _common import MODEL, SYSTEM, Turn
from _floor import HEADERS, TIMEOUT, shared_ssl_context
from _spec import Spec

DELTA = "response.output_text.delta"
FAILED = frozenset({"response.failed", "response.incomplete", "error"})


class FloorResponsesHTTP:
    """The Responses API over a plain httpx stream, chained on ``previous_response_id`` or not."""

    name = "floor"

    def __init__(self, base_url: str, *, chain: bool = False) -> None:
        self.url = base_url + "/responses"
        self.chain = chain
        self.path = "responses-store" if chain else "responses"
        self.input: list[dict[str, Any]] = []
        self.previous: str | None = None  # the last completed response (chain=True)
        self.sent = 0  # items of ``input`` the server holds under ``previous``
        self._scope: anyio.CancelScope | None = None
        self.client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> FloorResponsesHTTP:
        self.client = httpx.AsyncClient(
            timeout=TIMEOUT, headers=HEADERS, verify=shared_ssl_context()
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.client is not None
        await self.client.aclose()

    def _body(self, items: list[dict[str, Any]], previous: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": MODEL,
            "instructions": SYSTEM,
            "input": items,
            "stream": True,
            "store": self.chain,
            "temperature": 0.7,
        }
        if previous is not None:
            body["previous_response_id"] = previous
        return body

    async def _stream(self, items: list[dict[str, Any]], on_item: Callable[[str], None]) -> None:
        """One turn over ``items`` (the whole conversation so far)."""
        assert self.client is not None
        previous = self.previous if self.chain else None
        new = items[self.sent :] if previous is not None else items
        self.previous = None  # set again only if this turn completes
        loads = json.loads
        body = self._body(new, previous)
        async with self.client.stream("POST", self.url, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                raise RuntimeError(f"floor: HTTP {response.status_code}: {response.text[:200]}")
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = loads(line[6:])
                kind = event["type"]
                if kind == DELTA:
                    on_item(event["delta"])
                elif kind == "response.completed":
                    if self.chain:
                        self.previous = event["response"]["id"]
                        self.sent = len(items)
                elif kind in FAILED:
                    raise RuntimeError(f"floor responses: {str(event)[:200]}")

    async def turn(self, spec: Spec, *, remember: bool = True, turn_no: int = 0) -> Turn:
        items = self.input if remember else []
        if not remember:
            self.previous = None
        items.append({"type": "message", "role": "user", "content": spec.user_text(turn_no)})
        parts: list[str] = []
        first = 0.0

        def on_item(content: str) -> None:
            nonlocal first
            if not parts:
                first = time.perf_counter()
            parts.append(content)

        c0 = time.process_time()
        t0 = time.perf_counter()
        await self._stream(items, on_item)
        t1 = time.perf_counter()
        c1 = time.process_time()
        text = "".join(parts)
        if remember:
            # The reply is in the server's stored response; it counts as held.
            items.append({"type": "message", "role": "assistant", "content": text})
            if self.previous is not None:
                self.sent = len(items)
        return Turn(first - t0 if parts else float("nan"), t1 - t0, c1 - c0, len(parts), text, t0)

    # -- barge-in -----------------------------------------------------------------------

    async def consume(self, spec: Spec, on_item: Callable[[str], None]) -> float:
        """Stream ``spec`` until done or cancelled; return when the loop exited."""
        self.input.append({"type": "message", "role": "user", "content": spec.user_text()})
        with anyio.CancelScope() as scope:
            self._scope = scope
            await self._stream(self.input, on_item)
        self._scope = None
        return time.perf_counter()

    async def cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        await anyio.lowlevel.checkpoint()

    async def reset(self) -> None:
        """Between trials (untimed)."""
        self.input.clear()
        self.previous = None
        self.sent = 0

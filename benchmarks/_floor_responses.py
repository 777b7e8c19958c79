"""The floor of the Responses API over HTTP: the least a client can do on the same wire.

The Chat Completions floor (``FloorHTTP``) with another request and another event shape:
one ``httpx.AsyncClient`` stream per turn (``POST /responses``, ``stream: true``),
``aiter_lines`` and ``json.loads`` per ``data:`` line, the text of every
``response.output_text.delta`` collected; the body is read to its end so the connection goes
back to the pool. The history is the same list of ``{"role", "content"}`` messages (the
Responses API takes them as input items, the system message included). ``chain=False``
sends the full context each turn (``store: false``); ``chain=True`` sends ``store: true``
and, after a completed turn, ``previous_response_id`` with only the user messages added
since, as a client that trusts the server to hold the prefix would. Barge-in as
``FloorHTTP``'s; an interrupted turn breaks the chain (the next one sends the full context).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from _common import MODEL
from _floor import FloorHTTP

DELTA = "response.output_text.delta"
FAILED = frozenset({"response.failed", "response.incomplete", "error"})


class FloorResponsesHTTP(FloorHTTP):
    """The Responses API over a plain httpx stream, chained on ``previous_response_id`` or not."""

    def __init__(self, base_url: str, *, chain: bool = False) -> None:
        super().__init__(base_url)
        self.url = base_url + "/responses"
        self.chain = chain
        self.path = "responses-store" if chain else "responses"
        self.previous: str | None = None  # the last completed response (chain=True)
        self.held = 0  # messages of the history the server holds under ``previous``

    def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        chained = self.chain and messages is self.messages and self.previous is not None
        body: dict[str, Any] = {
            "model": MODEL,
            "input": messages,
            "stream": True,
            "store": self.chain,
            "temperature": 0.7,
        }
        if chained:
            # The server holds the prefix and its own replies: send what the user added.
            body["input"] = [m for m in messages[self.held :] if m["role"] != "assistant"]
            body["previous_response_id"] = self.previous
        return body

    async def _stream(self, messages: list[dict[str, str]], on_item: Callable[[str], None]) -> None:
        assert self.client is not None
        body = self._request(messages)
        self.previous = None  # set again only if this turn completes
        loads = json.loads
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
                    if self.chain and messages is self.messages:
                        self.previous, self.held = event["response"]["id"], len(messages)
                elif kind in FAILED:
                    raise RuntimeError(f"floor responses: {str(event)[:200]}")

    async def reset(self) -> None:
        await super().reset()
        self.previous, self.held = None, 0

"""Which client classes exist, by name, for a path and a backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import _sdk
from _floor import FloorHTTP, FloorWS
from _floor_responses import FloorResponsesHTTP
from _ours import RESPONSES_PATHS, Ours

#: Display order of the clients in tables and charts.
ORDER = ("ours", "floor", "floor-lib", "openai-sdk", "reference")


def makers(
    base_url: str, path: str, backend: str, *, http2: bool = False, spare: bool = False
) -> dict[str, Callable[[], Any]]:
    """Session factories for ``path`` (``"http"``/``"ws"``/``"responses"``/
    ``"responses-store"``) on ``backend``.

    The SDK joins on HTTP under asyncio when it is installed (it is the peer a user would
    pick; it is an asyncio/anyio library). On WebSocket, ``floor`` is aiohttp (asyncio only)
    and ``floor-lib`` the backend's own WebSocket library (``_floor.py``).
    """
    found: dict[str, Callable[[], Any]]
    if path in RESPONSES_PATHS:  # the Responses API over HTTP; its floor chains as ours does
        chain = path == "responses-store"
        return {
            "ours": lambda: Ours(base_url, path=path),
            "floor": lambda: FloorResponsesHTTP(base_url, chain=chain),
        }
    if path == "ws":
        found = {"ours": lambda: Ours(base_url, path="ws")}
        if backend == "asyncio":  # aiohttp is asyncio-only; its figures are trio's floor too
            found["floor"] = lambda: FloorWS(base_url, spare=spare, library="aiohttp")
        found["floor-lib"] = lambda: FloorWS(base_url, spare=spare, library="same")
        return found
    found = {
        "ours": lambda: Ours(base_url, http2=http2),
        "floor": lambda: FloorHTTP(base_url, http2=http2),
    }
    if backend == "asyncio" and not http2 and _sdk.available() is None:
        found["openai-sdk"] = lambda: _sdk.SDK(base_url)
    return found

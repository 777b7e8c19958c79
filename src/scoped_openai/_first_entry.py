"""What the first ``async with`` of an ``OpenAILLM`` in a process pays, so its first turn
does not: the HTTP transport's and WebSocket engine's imports and our Responses API
modules, a module per step (``_stepwise_import``), the shared TLS context, the HTTP client's
first-time code paths and the WebSocket proxy lookup. Each runs once per process (once per
event loop while it runs: instances entered meanwhile wait for it, ``load_once``);
``OpenAILLM.__aenter__`` says which it needs.
"""

from __future__ import annotations

import sys
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from ._compat import HTTP_TRANSPORT, WEBSOCKET_ENGINE
from ._deferred_import import defer_until_used
from ._endpoint import OPENAI_BASE_URL
from ._give_way import give_way
from ._stepwise_import import import_stepwise
from ._tls import load_shared_tls_context, shared_tls_context
from ._transports.http import http2_available
from ._transports.ws_base import http_url

#: The first ``async with``'s loads running now, by event loop and what they load: an
#: instance entered meanwhile waits for that one instead of stepping through the same
#: imports beside it (1,000 sessions entered at once each took a checkpoint per module,
#: about 150, which was most of their setup's CPU above the floor's).
_loading: dict[tuple[object, str], anyio.Event] = {}


async def load_once(loop: object, what: str, load: Callable[[], Awaitable[None]]) -> None:
    """``await load()``, unless a load of ``what`` is running on ``loop``: then wait for it
    and call ``load()`` after it (nothing left to do unless that one was cancelled)."""
    key = (loop, what)
    running = _loading.get(key)
    if running is not None:
        await running.wait()
        await load()
        return
    _loading[key] = done = anyio.Event()
    try:
        await load()
    finally:
        del _loading[key]
        done.set()


async def load_websocket_engine(url: str) -> None:
    await import_stepwise(WEBSOCKET_ENGINE)
    await _look_up_proxy_once(url)


#: How many WebSocket URLs ``_proxies_looked_up`` keeps: as many as ``_compat`` remembers
#: answers for (past that the handshake looks it up again anyway), so a process that enters
#: instances for ever new URLs keeps a bounded set.
PROXY_LOOKUPS_KEPT = 16

#: The WebSocket URLs whose proxy lookup has run in this process, least recently entered
#: first (an LRU of ``PROXY_LOOKUPS_KEPT``).
_proxies_looked_up: OrderedDict[str, None] = OrderedDict()


async def _look_up_proxy_once(url: str) -> None:
    """Run the handshake's proxy lookup for ``url`` in a step of its own, once: httpx's
    environment rules decode every variable (0.2-0.4 ms on this project's machine), then
    the answer is remembered (``_compat.environment_proxy``). It was in the first
    handshake's step, beside the first turn.

    Cancellation: nothing is remembered; the first handshake looks it up, as it would have.
    """
    if url in _proxies_looked_up:
        _proxies_looked_up.move_to_end(url)
        return
    await give_way()
    from ._compat import environment_proxy  # imported with the engine, just before

    try:
        environment_proxy(http_url(url))
    except Exception:
        # A proxy variable httpx cannot use: the handshake looks it up again and raises the
        # UsageError naming it where it did before, at the first turn, not while entering.
        return
    _proxies_looked_up[url] = None
    if len(_proxies_looked_up) > PROXY_LOOKUPS_KEPT:
        _proxies_looked_up.popitem(last=False)


#: Our modules only the Responses API's turns use (over HTTP and the WebSocket): imported
#: when an instance that speaks it is entered, a module per step (each after those it
#: imports), not with the package.
RESPONSES_MODULES = (
    "scoped_openai._responses_input",
    "scoped_openai._chain",
    "scoped_openai._responses_wire",
    "scoped_openai._responses",
    "scoped_openai._responses_request",
    "scoped_openai._http_responses",
    "scoped_openai._ws_slot",
    "scoped_openai._ws_pool",
    "scoped_openai._ws_turn",
)


async def load_responses_modules() -> None:
    await import_stepwise(RESPONSES_MODULES)


async def load_transport_once(limits: httpx.Limits) -> None:
    """Pay, when an ``OpenAILLM`` is entered, what the first turn would otherwise pay before
    its request, without holding the event loop longer than needed: the HTTP transport's
    imports (httpcore, which httpx imports only when its first client is built, and what
    the first connection imports), a module per step (``_stepwise_import``), then the shared
    TLS context, a slice of the CA bundle per step (``_tls``). ``_transports.http`` imports
    httpcore before any loop runs unless that would also import trio; httpcore imports trio
    whenever it is installed, so in an asyncio app trio is deferred until something uses it
    (``_deferred_import``): its import (about 85 ms) never runs there."""
    if "httpcore" not in sys.modules:
        defer_until_used("trio")  # a trio app has imported trio long before this
    await import_stepwise(HTTP_TRANSPORT)
    await load_shared_tls_context()
    await _run_first_client_paths_once(limits)


#: Whether this process has run the HTTP client's first-time code paths.
_client_paths_run = False


async def _run_first_client_paths_once(limits: httpx.Limits) -> None:
    """Run, in entering's steps, what the process's first HTTP turn would otherwise run for
    the first time in its first step: building an httpx client (0.6 ms the first time, 0.1
    after, on this project's machine) and the URL parsing httpx's cookie handling does with
    a urllib ``Request`` per response (two regular expressions compiled on first use,
    0.2 ms). The client is a throwaway with our options (``limits`` is the pool's), as
    ``_tls`` pays OpenSSL's set-up with a throwaway context; it opens no connection.

    Cancellation: what ran stays warm; the rest runs in the first turn, as it would have.
    """
    global _client_paths_run
    if _client_paths_run:
        return
    await give_way()
    options: dict[str, Any] = {
        "limits": limits,
        "verify": shared_tls_context(),
        "http2": http2_available(),
    }
    try:
        client = httpx.AsyncClient(**options)
    except Exception:
        # The environment names a proxy httpx cannot use here (a SOCKS proxy without
        # socksio, an unknown scheme, a URL it cannot parse): the application's own client
        # decides whether that matters, at its first turn, not this throwaway while entering.
        client = httpx.AsyncClient(**options, trust_env=False)
    try:
        await give_way()
        urllib.request.Request(OPENAI_BASE_URL)
        _client_paths_run = True
    finally:
        with anyio.CancelScope(shield=True):
            await client.aclose()  # no connection: nothing to wait for

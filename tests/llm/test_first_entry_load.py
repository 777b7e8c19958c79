"""Instances entered at once while the first ``async with`` loads the transport wait for that
load instead of stepping through the same imports beside it (``_first_entry.load_once``), and a
load cancelled half-way leaves the waiters to finish it. The first client's code paths run
once per process, with nothing left open. Both backends, no timing: the load
here is a stand-in that waits on an event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest

from scoped_openai import ChatContext, UsageError, _compat, _first_entry
from scoped_openai._llm import DEFAULT_POOL
from scoped_openai._loops import current_loop
from scoped_openai.testing import FakeOpenAI, Reply
from support.turns import turn_text

pytestmark = pytest.mark.anyio


class Load:
    """A load that waits for ``release`` the first time and notes who ran it, in order."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.started = anyio.Event()
        self.log: list[str] = []

    def by(self, who: str) -> Callable[[], Awaitable[None]]:
        async def load() -> None:
            self.log.append(f"{who} starts")
            self.started.set()
            if len(self.log) == 1:
                await self.release.wait()
            self.log.append(f"{who} ends")

        return load


async def test_entries_during_a_load_wait_for_it() -> None:
    load = Load()
    loop = current_loop()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_first_entry.load_once, loop, "x", load.by("first"))
        await load.started.wait()
        for who in ("second", "third"):
            tg.start_soon(_first_entry.load_once, loop, "x", load.by(who))
        await anyio.wait_all_tasks_blocked()
        assert load.log == ["first starts"]  # the others wait, they do not load beside it
        load.release.set()
    assert load.log[:2] == ["first starts", "first ends"]
    assert sorted(load.log[2:]) == ["second ends", "second starts", "third ends", "third starts"]
    assert _first_entry._loading == {}


async def test_a_cancelled_load_leaves_the_waiters_to_finish_it() -> None:
    load = Load()
    loop = current_loop()
    scope = anyio.CancelScope()

    async def first() -> None:
        with scope:
            await _first_entry.load_once(loop, "x", load.by("first"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await load.started.wait()
        tg.start_soon(_first_entry.load_once, loop, "x", load.by("waiter"))
        await anyio.wait_all_tasks_blocked()
        assert load.log == ["first starts"]
        scope.cancel()  # the first entrant's block is cancelled while it loads
    assert load.log == ["first starts", "waiter starts", "waiter ends"]
    assert _first_entry._loading == {}


class Clients:
    """httpx clients built while patched in, and those closed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.built: list[httpx.AsyncClient] = []
        self.closed: list[httpx.AsyncClient] = []
        clients = self

        class Counted(httpx.AsyncClient):
            def __init__(self, **options: Any) -> None:
                super().__init__(**options)
                clients.built.append(self)

            async def aclose(self) -> None:
                clients.closed.append(self)
                await super().aclose()

        monkeypatch.setattr(_first_entry.httpx, "AsyncClient", Counted)
        monkeypatch.setattr(_first_entry, "_client_paths_run", False)  # a process that has not yet


async def test_the_first_clients_code_paths_run_once_and_leave_nothing_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = Clients(monkeypatch)
    await _first_entry._run_first_client_paths_once(DEFAULT_POOL)
    assert len(clients.built) == 1
    assert clients.closed == clients.built  # a throwaway: closed, no connection opened
    await _first_entry._run_first_client_paths_once(DEFAULT_POOL)
    assert len(clients.built) == 1  # once per process


async def test_cancelled_the_first_clients_code_paths_close_it_and_run_again_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = Clients(monkeypatch)
    give_way = _first_entry.give_way
    with anyio.CancelScope() as scope:

        async def cancelled_after_the_client() -> None:
            if clients.built:  # the step after the client is built is cancelled
                scope.cancel()
            await give_way()

        monkeypatch.setattr(_first_entry, "give_way", cancelled_after_the_client)
        await _first_entry._run_first_client_paths_once(DEFAULT_POOL)
    assert scope.cancelled_caught
    assert clients.closed == clients.built == clients.built[:1]
    monkeypatch.setattr(_first_entry, "give_way", give_way)
    await _first_entry._run_first_client_paths_once(DEFAULT_POOL)
    assert len(clients.built) == 2
    assert clients.closed == clients.built


@pytest.mark.parametrize(
    ("variable", "proxy"),
    [("ALL_PROXY", "ftp://proxy.invalid:21"), ("HTTPS_PROXY", "http://[::1")],
    ids=["unknown-scheme", "unparsable"],
)
async def test_a_proxy_httpx_cannot_use_does_not_stop_an_instance_with_its_own_client(
    monkeypatch: pytest.MonkeyPatch, ctx: ChatContext, variable: str, proxy: str
) -> None:
    # The application's client (here the fake's, in memory) decides how to reach the API;
    # a proxy variable that an httpx client built from the environment refuses (ValueError:
    # unknown scheme; httpx.InvalidURL; a SOCKS proxy without socksio: ImportError) is not
    # the throwaway's to raise while entering.
    monkeypatch.setenv(variable, proxy)
    monkeypatch.setattr(_first_entry, "_client_paths_run", False)
    fake = FakeOpenAI()
    fake.add(Reply.text("fine"))
    async with fake.llm() as llm:
        assert await turn_text(llm, ctx) == "fine"
    assert _first_entry._client_paths_run  # the code paths were still run (without the proxy)


async def test_the_handshakes_proxy_lookup_runs_once_per_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up: list[str] = []
    monkeypatch.setattr(_compat, "environment_proxy", looked_up.append)
    monkeypatch.setattr(_first_entry, "_proxies_looked_up", OrderedDict())
    for url in ("wss://one.example/v1/responses", "wss://one.example/v1/responses", "ws://two"):
        await _first_entry._look_up_proxy_once(url)
    # As the handshake asks it (``ws_dial``), so the first handshake finds it remembered.
    assert looked_up == ["https://one.example/v1/responses", "http://two"]


async def test_the_urls_whose_proxy_was_looked_up_are_a_bounded_lru(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A process entering instances for ever new URLs keeps a bounded set; the URL entered
    # most recently stays, the least recent is looked up again.
    looked_up: list[str] = []
    monkeypatch.setattr(_compat, "environment_proxy", looked_up.append)
    monkeypatch.setattr(_first_entry, "_proxies_looked_up", OrderedDict())
    kept = _first_entry.PROXY_LOOKUPS_KEPT
    assert kept == _compat._environment_proxy.cache_info().maxsize  # what _compat keeps
    urls = [f"wss://host{n}.example/v1/responses" for n in range(kept + 1)]
    for url in urls[:kept]:
        await _first_entry._look_up_proxy_once(url)
    await _first_entry._look_up_proxy_once(urls[0])  # entered again: the most recent now
    await _first_entry._look_up_proxy_once(urls[kept])  # one too many: urls[1] goes
    assert len(_first_entry._proxies_looked_up) == kept
    assert urls[0] in _first_entry._proxies_looked_up
    assert urls[1] not in _first_entry._proxies_looked_up
    assert len(looked_up) == kept + 1
    await _first_entry._look_up_proxy_once(urls[1])
    assert len(looked_up) == kept + 2  # looked up again
    assert len(_first_entry._proxies_looked_up) == kept


async def test_a_proxy_lookup_that_fails_is_left_to_the_handshake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As before the lookup moved into entering: a variable httpx cannot parse fails the
    # first handshake (at the turn, a UsageError naming it), not the entering; nothing is
    # remembered.
    monkeypatch.setenv("NO_PROXY", "[::1")
    monkeypatch.setattr(_first_entry, "_proxies_looked_up", OrderedDict())
    with pytest.raises(UsageError, match=r"NO_PROXY='\[::1'"):
        _compat.environment_proxy("https://one.example/v1/responses")
    await _first_entry._look_up_proxy_once("wss://one.example/v1/responses")
    assert not _first_entry._proxies_looked_up

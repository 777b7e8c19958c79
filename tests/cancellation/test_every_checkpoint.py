"""Cancellation at every checkpoint, on every path, in every phase of a turn.

For each path (HTTP: ``fake.llm()``; WebSocket: ``fake.llm(streaming=True)`` inside
``async with``; the Responses API over HTTP: ``fake.llm(api="responses")``, its scripts the
WebSocket's, played as SSE on ``POST /responses``), each phase (connecting/handshaking,
request sent, waiting for the first token, mid text, mid tool-call arguments, after usage,
retry backoff, prewarm, ``aclose()``), each way of cancelling (``mode``:
``cancel_current_generation()``, the barge-in, or the caller's own cancel scope) and each
way of iterating (``form``: ``async with llm.chat(ctx) as stream``, or the reference's bare
``async for r in llm.chat(ctx)``, which drops the stream when it is left), a scenario is run
once per checkpoint index ``k = 0, 1, 2, ...`` with the cancellation delivered at checkpoint
``k``, until the scenario completes unhindered (the consumer finishes
in fewer than ``k`` steps). The consumer hands each item on with a checkpoint (as an agent
awaits its TTS), so the caller's scope is also cancelled inside the loop body. Everything runs
on trio's virtual clock (pytest-trio's ``autojump_clock``) with in-memory transports.

How "cancel at checkpoint k" is made deterministic: a ``trio.abc.Instrument`` (``Probe``)
counts the consumer task's scheduling steps in ``after_task_step``; a step is the run of a
task from one schedule point to the next, so after step ``k`` the consumer is parked at its
``k``-th checkpoint. When the count reaches ``k`` (``k = 0``: before the consumer's first
step):

- scope mode: the hook calls ``consumer.scope.cancel()`` itself (synchronous, legal anywhere
  in trio's thread), so the cancellation is delivered at exactly that checkpoint;
- barge-in mode: the hook sets an event that wakes a parked canceller task, which calls
  ``await llm.cancel_current_generation()`` in the next scheduler batch. Trio orders the tasks
  of a batch at random; each run seeds that random source (``trio._core._run._r``, the one
  Hypothesis seeds to make trio's scheduling reproducible), so a run is reproducible from
  ``(scenario, mode, form, k)``. The probe records the step at which the barge-in landed.

The same probe records every task spawned and exited while it is installed: once the llm's
block and the nursery have exited, no task may be left. The cyclic garbage collector is off
during a run, so whether a dropped stream is released never depends on when it happens to run,
and each run has a virtual-time deadline, so a hang fails instead of hanging.

After each run: the consumer saw no exception (a cancellation is not an error, and nothing
reached the ``error`` listeners); what it heard is a prefix of the unhindered reply; a scope
cancellation ended the consumer, and a barge-in on a live stream its iteration, at the same
virtual instant; every response body (HTTP) and socket (WebSocket) is closed once the llm is;
and the next turn returns exactly the scripted next reply. On the WebSocket path the next
turn's ``response.create`` is sent exactly once (a refused chain would take two) and follows
the chain rule for ``store=False``: chained on the turn that completed; unchanged when nothing
of the cancelled turn was sent; otherwise the full context (a barge-in retired the socket, and
its connection-local response with it). The ``*_store`` scenarios run the same with
``store=True``, where chaining on the last completed response from a new socket is also right.
On the Responses API over HTTP the next turn is one POST; without storage it sends the whole
context, and with ``store=True`` it chains on the last response the client saw complete, with
exactly the items after what that response holds (``next_responses_http_turn`` says when the
whole context is right instead).

``test_zz_cancellation_points_summary`` (last in this file) prints how many cancellation
points each path/phase/mode/form exercised (``-s`` shows it) and asserts every sweep ran and
landed at least one cancellation in its phase.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import trio
import trio.abc
import trio.lowlevel
import trio.testing

from scoped_openai import (
    ChatContext,
    ChatMessage,
    ChatRole,
    ChatStream,
    FunctionCall,
    LLMResponse,
    OpenAILLM,
)
from scoped_openai._transports.websocket import WebSocketClosed
from scoped_openai.testing import (
    DONE,
    CloseSocket,
    FakeOpenAI,
    Pause,
    Reply,
    WSReply,
    chunk,
    usage_chunk,
)
from support.tools import WEATHER
from support.wire_items import msg

#: Generous stall guards: a cancellation must never wait for them (the clock would jump).
GUARDS: dict[str, Any] = {"idle_timeout": 1000.0, "first_token_timeout": 1000.0}
#: No scenario has this many consumer steps; reaching it means the sweep never ends.
MAX_K = 400
VIRTUAL_LIMIT = 10_000.0  # seconds of virtual time one run may take
SEED = 1_000_003

CALL_ARGS = '{"city": "Paris", "unit": "C"}'
NEXT_REPLY = ["next", " ans", "wer", ""]


def seed_scheduler(seed: int) -> None:
    """Make trio's in-batch task order reproducible (see the module docstring)."""
    from trio._core import _run

    state = getattr(_run, "_r", None)
    assert isinstance(state, random.Random), "trio's scheduler RNG moved: update this helper"
    state.seed(seed)


# -- the probe ----------------------------------------------------------------------------------


class Probe(trio.abc.Instrument):
    """Counts the consumer's steps, fires the cancellation at step ``fire_at``, and tracks
    every task spawned while installed."""

    def __init__(self) -> None:
        self.target: trio.lowlevel.Task | None = None
        self.steps = 0
        self.fire_at: int | None = None
        self.fire: Callable[[], None] | None = None
        self.fired = False
        self.live: set[trio.lowlevel.Task] = set()
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.live.add(task)
        self.spawned += 1

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live.discard(task)

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is not self.target:
            return
        self.steps += 1
        if not self.fired and self.steps == self.fire_at and self.fire is not None:
            self.fired = True
            self.fire()


# -- observing the transports --------------------------------------------------------------------


class _CountingStream(httpx.AsyncByteStream):
    # A class, not an async generator: trio warns about generators left to the collector.
    def __init__(self, inner: Any, transport: CountingTransport, index: int) -> None:
        self._inner = inner
        self._iterator: Any = None
        self._counts = transport.chunks
        self._bodies = transport.bodies
        self._index = index

    def __aiter__(self) -> _CountingStream:
        self._iterator = self._inner.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        data: bytes = await self._iterator.__anext__()
        self._counts[self._index] += 1
        self._bodies[self._index] += data
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """The fake's in-memory transport, counting the body chunks handed to the client and
    recording each POST's body and the bytes of its answer."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.inner = fake.transport()
        self.posts: list[dict[str, Any]] = []  # the JSON body of every POST attempted
        self.chunks: list[int] = []  # per POST answered, in order
        self.bodies: list[bytearray] = []  # ditto, the bytes handed to the client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts.append(json.loads(request.content))
        response = await self.inner.handle_async_request(request)
        if request.method != "POST":
            return response
        self.chunks.append(0)
        self.bodies.append(bytearray())
        stream = _CountingStream(response.stream, self, len(self.chunks) - 1)
        return httpx.Response(
            response.status_code, headers=response.headers, stream=stream, request=request
        )

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        """The Responses events (SSE ``data:`` objects) of the answers to POSTs ``since``
        on, as far as they reached the client (a last event cut short is left out)."""
        events: list[dict[str, Any]] = []
        for body in self.bodies[since:]:
            for block in bytes(body).split(b"\n\n")[:-1]:
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        events.append(json.loads(line[6:]))
        return events

    def completed(self, response_id: str | None) -> list[dict[str, Any]]:
        """The ``response.completed`` events that reached the client for ``response_id``."""
        return [
            e
            for e in self.events()
            if e.get("type") == "response.completed" and e["response"]["id"] == response_id
        ]


class _LedgerSocket:
    def __init__(self, inner: Any, number: int, ledger: Ledger) -> None:
        self.inner = inner
        self.number = number
        self._ledger = ledger

    @property
    def closed(self) -> bool:
        return bool(self.inner.closed)

    async def send_text(self, text: str) -> None:
        frame = json.loads(text)
        self._ledger.attempted.append((self.number, frame))
        await self.inner.send_text(text)
        self._ledger.sent.append((self.number, frame))

    async def receive_text(self) -> str:
        try:
            text = str(await self.inner.receive_text())
        except WebSocketClosed as closed:
            self._ledger.received.append((self.number, {"type": "<closed>", "code": closed.code}))
            raise
        self._ledger.received.append((self.number, json.loads(text)))
        return text

    def receive_text_nowait(self) -> str | None:
        text = self.inner.receive_text_nowait()
        if text is not None:
            self._ledger.received.append((self.number, json.loads(text)))
        return None if text is None else str(text)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.aclose(code, reason)


class _LedgerConnection:
    def __init__(self, ledger: Ledger, inner: Any) -> None:
        self._ledger = ledger
        self._inner = inner

    async def __aenter__(self) -> _LedgerSocket:
        ws = await self._inner.__aenter__()
        socket = _LedgerSocket(ws, len(self._ledger.sockets) + 1, self._ledger)
        self._ledger.sockets.append(socket)
        return socket

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._inner.__aexit__(*exc_info)


class Ledger:
    """A ``WebSocketConnector`` over ``fake.ws_connector()`` recording, per socket (numbered
    from 1 in handshake order), every client frame attempted and sent and every server frame
    received (a close as ``{"type": "<closed>"}``)."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self._connector = fake.ws_connector()
        self.sockets: list[_LedgerSocket] = []
        self.attempted: list[tuple[int, dict[str, Any]]] = []
        self.sent: list[tuple[int, dict[str, Any]]] = []
        self.received: list[tuple[int, dict[str, Any]]] = []

    def __call__(self, url: str, headers: Any) -> _LedgerConnection:
        return _LedgerConnection(self, self._connector(url, headers))

    def creates(self, since: int = 0) -> list[tuple[int, dict[str, Any]]]:
        return [(n, f) for n, f in self.sent[since:] if f["type"] == "response.create"]

    def completed(self, response_id: str | None) -> list[dict[str, Any]]:
        """The ``response.completed`` frames received for ``response_id``."""
        return [
            f
            for _, f in self.received
            if f["type"] == "response.completed" and f["response"]["id"] == response_id
        ]


# -- context <-> Responses input items (written out here, not taken from the library) -----------


def input_items(ctx: ChatContext) -> list[dict[str, Any]]:
    """``ctx`` as Responses input items (text messages, calls and outputs only)."""
    out: list[dict[str, Any]] = []
    for item in ctx.items:
        if isinstance(item, ChatMessage):
            if item.text_content:
                out.append(msg(item.role.value, item.text_content))
        elif isinstance(item, FunctionCall):
            out.append(
                {
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                }
            )
        else:
            out.append(
                {"type": "function_call_output", "call_id": item.call_id, "output": item.output}
            )
    return out


def output_items(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ``response.completed`` output as the input items the server now holds."""
    out: list[dict[str, Any]] = []
    for item in output:
        if item["type"] == "message":
            text = "".join(part["text"] for part in item["content"])
            out.append(msg("assistant", text))
        elif item["type"] == "function_call":
            out.append(
                {
                    "type": "function_call",
                    "call_id": item["call_id"],
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
    return out


def base_ctx() -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are terse.")
    ctx.add_message(ChatRole.USER, "Say hello.")
    return ctx


# -- scenarios ------------------------------------------------------------------------------------


@dataclass
class World:
    """What a phase predicate may look at when the cancellation fires."""

    fake: FakeOpenAI
    scenario: Scenario
    consumer: Consumer
    transport: CountingTransport | None = None
    ledger: Ledger | None = None
    ledger_mark: int = 0  # len(ledger.received) when the consumer started
    create_mark: int = 0  # len(ledger.attempted) when the consumer started
    post_mark: int = 0  # len(transport.posts) when the consumer started

    # HTTP
    def chunks(self) -> list[int]:
        assert self.transport is not None
        return self.transport.chunks

    # Responses (WebSocket frames, or the events of the answers to this turn's POSTs)
    def turn_frames(self) -> list[str]:
        if self.transport is not None:
            return [str(e.get("type")) for e in self.transport.events(self.post_mark)]
        assert self.ledger is not None
        return [f["type"] for _, f in self.ledger.received[self.ledger_mark :]]

    # WebSocket

    def turn_attempts(self) -> list[dict[str, Any]]:
        assert self.ledger is not None
        return [f for _, f in self.ledger.attempted[self.create_mark :]]

    # both
    def texts(self) -> list[str]:
        return [i.content for i in self.consumer.items if i.content]

    def usage_heard(self) -> bool:
        return any(
            i.content == "" and i.function_call is None and (i.usage or {}).get("total_tokens")
            for i in self.consumer.items
        )


@dataclass
class Scenario:
    path: str
    phase: str
    setup: Callable[[FakeOpenAI], None]
    in_phase: Callable[[World], bool]
    first_turn: bool = False  # WebSocket: a completed turn first, so there is a chain
    prewarm: bool = False
    aclose: bool = False
    tools: bool = False
    llm_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path}-{self.phase}"


def _http_tool_reply() -> Reply:
    steps: list[Any] = [
        chunk({"role": "assistant", "content": None}),
        chunk({"content": "Checking."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
    ]
    for i in range(0, len(CALL_ARGS), 4):
        piece = CALL_ARGS[i : i + 4]
        steps += [
            Pause(0.1),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
        ]
    steps += [chunk({}, finish_reason="tool_calls"), usage_chunk(10, 5), DONE]
    return Reply(steps)


HTTP_TOOL_FIRST_FRAGMENT = 4  # chunks before the first argument fragment, plus one
HTTP_TOOL_FINISH = 3 + len(range(0, len(CALL_ARGS), 4)) + 1  # the finish chunk's number


def _http_setup(*replies: Callable[[], Reply]) -> Callable[[FakeOpenAI], None]:
    def setup(fake: FakeOpenAI) -> None:
        fake.add(*(make() for make in replies))

    return setup


def _paused_first() -> Reply:
    reply = Reply.text(["Hel", "lo"])
    reply.steps.insert(0, Pause(1.0))
    return reply


def _paused_after_role() -> Reply:
    reply = Reply.text(["Hel", "lo"])
    reply.steps.insert(1, Pause(1.0))
    return reply


def _pause_before_done() -> Reply:
    return Reply.text(
        ["Hel", "lo"],
        then=[chunk({}, finish_reason="stop"), usage_chunk(10, 5), Pause(1.0), DONE],
    )


HTTP_SCENARIOS = [
    Scenario(
        "http",
        "connecting",
        _http_setup(_paused_first),
        lambda w: sum(w.chunks()) == 0,
    ),
    Scenario(
        "http",
        "request_sent",
        _http_setup(lambda: Reply.text(["Hel", "lo"])),
        lambda w: len(w.chunks()) == 1 and w.chunks()[0] == 0,
    ),
    Scenario(
        "http",
        "first_token",
        _http_setup(_paused_after_role),
        lambda w: sum(w.chunks()) >= 1 and not w.texts(),
    ),
    Scenario(
        "http",
        "mid_text",
        _http_setup(lambda: Reply.text(["a ", "b ", "c ", "d "], delay=0.1)),
        lambda w: 1 <= len(w.texts()) < 4,
    ),
    Scenario(
        "http",
        "mid_tool_args",
        _http_setup(_http_tool_reply),
        lambda w: bool(w.chunks()) and HTTP_TOOL_FIRST_FRAGMENT <= w.chunks()[0] < HTTP_TOOL_FINISH,
        tools=True,
    ),
    Scenario(
        "http",
        "after_usage",
        _http_setup(_pause_before_done),
        lambda w: w.usage_heard(),
    ),
    Scenario(
        "http",
        "retry_backoff",
        _http_setup(
            lambda: Reply.error(503, "overloaded", headers={"retry-after": "1"}),
            lambda: Reply.text(["Hel", "lo"]),
        ),
        lambda w: len(w.chunks()) == 1 and w.fake.counters.bodies_closed >= 1,
        llm_kwargs={"max_retries": 1},
    ),
    Scenario(
        "http",
        "prewarm",
        _http_setup(lambda: Reply.text(["Hel", "lo"])),
        lambda w: w.consumer.in_prewarm,
        prewarm=True,
    ),
    Scenario(
        "http",
        "aclose",
        _http_setup(lambda: Reply.text(["a ", "b ", "c "], delay=0.1)),
        lambda w: w.consumer.in_aclose,
        aclose=True,
    ),
]


def _ws_setup(*replies: Callable[[], WSReply], delay: float = 0.0) -> Callable[[FakeOpenAI], None]:
    def setup(fake: FakeOpenAI) -> None:
        fake.ws_handshake_delay = delay
        fake.add_ws(*(make() for make in replies))

    return setup


def _ws_paused_after_created() -> WSReply:
    reply = WSReply.text(["Hel", "lo"])
    reply.steps.insert(1, Pause(1.0))
    return reply


def _ws_slow_arguments() -> WSReply:
    reply = WSReply.function_calls(
        ("call_1", "get_weather", CALL_ARGS), text="Checking.", fragment_size=4
    )
    steps: list[Any] = []
    for step in reply.steps:
        if isinstance(step, dict) and step["type"] == "response.function_call_arguments.delta":
            steps.append(Pause(0.1))
        steps.append(step)
    return WSReply(steps)


def _ws_mid_args(w: World) -> bool:
    frames = w.turn_frames()
    return "response.function_call_arguments.delta" in frames and not any(
        f == "response.output_item.done"
        for f in frames[frames.index("response.function_call_arguments.delta") :]
    )


def _ws_backoff(w: World) -> bool:
    attempts = [f for f in w.turn_attempts() if f["type"] == "response.create"]
    return "<closed>" in w.turn_frames() and len(attempts) == 1


WS_SCENARIOS = [
    Scenario(
        "ws",
        "connecting",
        _ws_setup(lambda: WSReply.text(["Hel", "lo"]), delay=1.0),
        lambda w: w.ledger is not None and not w.ledger.sockets,
    ),
    Scenario(
        "ws",
        "request_sent",
        _ws_setup(lambda: WSReply.text(["Hel", "lo"])),
        lambda w: bool(w.turn_attempts()) and not w.turn_frames(),
        first_turn=True,
    ),
    Scenario(
        "ws",
        "first_token",
        _ws_setup(_ws_paused_after_created),
        lambda w: "response.created" in w.turn_frames() and not w.texts(),
        first_turn=True,
    ),
    Scenario(
        "ws",
        "mid_text",
        _ws_setup(lambda: WSReply.text(["a ", "b ", "c ", "d "], delay=0.1)),
        lambda w: 1 <= len(w.texts()) < 4,
        first_turn=True,
    ),
    Scenario(
        "ws",
        "mid_tool_args",
        _ws_setup(_ws_slow_arguments),
        _ws_mid_args,
        first_turn=True,
        tools=True,
    ),
    Scenario(
        "ws",
        "after_usage",
        _ws_setup(lambda: WSReply.text(["Hel", "lo"])),
        lambda w: w.usage_heard(),
        first_turn=True,
    ),
    Scenario(
        "ws",
        "retry_backoff",
        _ws_setup(
            lambda: WSReply([CloseSocket(1011, "overloaded")]), lambda: WSReply.text(["Hel", "lo"])
        ),
        _ws_backoff,
        first_turn=True,
    ),
    Scenario(
        "ws",
        "prewarm",
        _ws_setup(lambda: WSReply.text(["Hel", "lo"])),
        lambda w: w.consumer.in_prewarm,
        prewarm=True,
    ),
    Scenario(
        "ws",
        "aclose",
        _ws_setup(lambda: WSReply.text(["a ", "b ", "c "], delay=0.1)),
        lambda w: w.consumer.in_aclose,
        aclose=True,
        first_turn=True,
    ),
]


def _responses_setup(*replies: Callable[[], WSReply | Reply]) -> Callable[[FakeOpenAI], None]:
    """``POST /responses`` answers in order: a WebSocket script (played as SSE) or a raw
    ``Reply`` (an HTTP refusal)."""

    def setup(fake: FakeOpenAI) -> None:
        for make in replies:
            reply = make()
            if isinstance(reply, Reply):
                fake.add_responses_sse(reply)
            else:
                fake.add_ws(reply)

    return setup


def _ws_paused_first() -> WSReply:
    reply = WSReply.text(["Hel", "lo"])
    reply.steps.insert(0, Pause(1.0))
    return reply


#: The phases where a Responses turn reads the same events whatever carries them: the
#: WebSocket's scenarios as they are (their setups script ``fake.add_ws``, which the fake
#: also plays on ``POST /responses``).
SHARED_RESPONSES_PHASES = ("first_token", "mid_text", "mid_tool_args", "after_usage", "aclose")

# The Responses API over HTTP: an HTTP POST's own phases (connecting, request sent, a retry
# after a 503, a prewarm that is a HEAD) and the shared ones; the first turn (a completed
# one, so with store=True there is a chain) as on the WebSocket.
RESPONSES_HTTP_SCENARIOS = [
    Scenario(
        "responses-http",
        "connecting",
        _responses_setup(_ws_paused_first),
        lambda w: sum(w.chunks()[w.post_mark :]) == 0,
        first_turn=True,
    ),
    Scenario(
        "responses-http",
        "request_sent",
        _responses_setup(lambda: WSReply.text(["Hel", "lo"])),
        lambda w: w.chunks()[w.post_mark :] == [0],
        first_turn=True,
    ),
    Scenario(
        "responses-http",
        "retry_backoff",
        _responses_setup(
            lambda: Reply.error(503, "overloaded", headers={"retry-after": "1"}),
            lambda: WSReply.text(["Hel", "lo"]),
        ),
        lambda w: len(w.chunks()) == w.post_mark + 1 and w.fake.counters.bodies_closed >= 2,
        first_turn=True,
        llm_kwargs={"max_retries": 1},
    ),
    Scenario(
        "responses-http",
        "prewarm",
        _responses_setup(lambda: WSReply.text(["Hel", "lo"])),
        lambda w: w.consumer.in_prewarm,
        prewarm=True,
    ),
    *(
        dataclasses.replace(scenario, path="responses-http")
        for scenario in WS_SCENARIOS
        if scenario.phase in SHARED_RESPONSES_PHASES
    ),
]


def _with_store(scenarios: list[Scenario]) -> list[Scenario]:
    """The scenarios that chain (a first turn, a next turn), again with ``store=True``."""
    return [
        dataclasses.replace(
            scenario,
            phase=f"{scenario.phase}_store",
            llm_kwargs={**scenario.llm_kwargs, "store": True},
        )
        for scenario in scenarios
        if scenario.first_turn and not scenario.aclose
    ]


# store=True: stored responses outlive their socket, so after a barge-in the next turn may
# chain on the last completed response from the new socket (or send the full context). Over
# HTTP only stored responses can be continued at all.
WS_STORE_SCENARIOS = _with_store(WS_SCENARIOS)
RESPONSES_HTTP_STORE_SCENARIOS = _with_store(RESPONSES_HTTP_SCENARIOS)
SCENARIOS = (
    HTTP_SCENARIOS
    + WS_SCENARIOS
    + WS_STORE_SCENARIOS
    + RESPONSES_HTTP_SCENARIOS
    + RESPONSES_HTTP_STORE_SCENARIOS
)
MODES = ["barge_in", "scope"]
FORMS = ["with", "bare"]


# -- one run ------------------------------------------------------------------------------------


class Consumer:
    """The task whose checkpoints are counted: (prewarm,) one turn, and in the ``aclose``
    scenario ``llm.aclose()`` while a reader task of its own waits for the next item.

    Each item is handed on with a checkpoint (as a voice agent awaits its TTS), so the
    caller's scope is also cancelled inside the loop body. ``form="bare"`` iterates
    ``llm.chat(ctx)`` directly, as the reference did, and keeps no reference to the stream
    once its loop is left.
    """

    def __init__(
        self, llm: OpenAILLM, ctx: ChatContext, scenario: Scenario, probe: Probe, form: str
    ):
        self.llm = llm
        self.ctx = ctx
        self.scenario = scenario
        self.probe = probe
        self.form = form
        self.scope = trio.CancelScope()
        self.items: list[LLMResponse] = []
        self.first = trio.Event()
        self.in_stream = False
        self.in_prewarm = False
        self.in_aclose = False
        self.called_aclose = False
        self.loop_done = False
        self.cancelled: bool | None = None  # the stream's flag, read when its loop was left
        self.response_id: str | None = None  # the stream's response id, ditto
        self.stream_left_at: float | None = None
        self.ended_at: float | None = None
        self.ended = trio.Event()
        self.error: BaseException | None = None

    async def run(self) -> None:
        self.probe.target = trio.lowlevel.current_task()
        scenario = self.scenario
        try:
            with self.scope:
                if scenario.prewarm:
                    self.in_prewarm = True
                    instructions = "You are terse." if scenario.path == "ws" else None
                    await self.llm.prewarm(instructions=instructions)
                    self.in_prewarm = False
                if not scenario.aclose:
                    await self._read()
                    return
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader)
                    await self.first.wait()
                    # Virtual time, between two chunks 0.1 s apart: the reader is waiting
                    # for the next one, so aclose() has a waiting consumer to stop.
                    await trio.sleep(0.05)
                    self.in_aclose = self.called_aclose = True
                    await self.llm.aclose()
                    self.in_aclose = False
        except BaseException as exc:  # everything but our own scope's cancellation
            self.error = exc
        finally:
            self.ended_at = trio.current_time()
            self.ended.set()

    async def _reader(self) -> None:
        try:
            await self._read()
        except Exception as exc:
            self.error = exc
        finally:
            self.first.set()

    async def _read(self) -> None:
        tools = [WEATHER] if self.scenario.tools else None
        if self.form == "with":
            async with self.llm.chat(self.ctx, tools=tools) as stream:
                await self._iterate(stream)
        else:
            await self._iterate(self.llm.chat(self.ctx, tools=tools))

    async def _iterate(self, stream: ChatStream) -> None:
        self.in_stream = True
        try:
            async for item in stream:
                self.items.append(item)
                self.first.set()
                await trio.lowlevel.checkpoint()  # the item goes on to the TTS
            self.loop_done = True
        finally:
            self.in_stream = False
            self.stream_left_at = trio.current_time()
            self.cancelled = stream.cancelled
            self.response_id = stream.assembler.response_id


@dataclass
class Outcome:
    finished_unhindered: bool  # the consumer ended before the cancellation fired
    landed_at: int | None = None  # consumer steps when the cancellation took effect
    in_phase: bool = False
    items: list[tuple[str, Any]] = field(default_factory=list)


def _key(item: LLMResponse) -> tuple[str, Any]:
    return (item.content, item.function_call)


class Canceller:
    def __init__(self, llm: OpenAILLM, consumer: Consumer, probe: Probe, world: World) -> None:
        self.llm = llm
        self.consumer = consumer
        self.probe = probe
        self.world = world
        self.go = trio.Event()
        self.landed_at: int | None = None
        self.at: float | None = None
        self.stream_live = False
        self.in_phase = False

    def note(self) -> None:
        self.landed_at = self.probe.steps
        self.at = trio.current_time()
        self.stream_live = self.consumer.in_stream
        self.in_phase = self.world.scenario.in_phase(self.world)

    async def run(self) -> None:
        await self.go.wait()
        self.note()
        await self.llm.cancel_current_generation()


async def run_once(scenario: Scenario, mode: str, form: str, k: int | None) -> Outcome:
    """One run of ``scenario`` with the cancellation at consumer step ``k`` (None: never)."""
    seed_scheduler(SEED + (k or 0))
    # No cyclic garbage collection during a run: whether a dropped stream is released
    # must not depend on when the collector happens to run (see the module docstring).
    gc.disable()
    run = Run(scenario, mode, form, k)
    trio.lowlevel.add_instrument(run.probe)
    try:
        # Virtual time: a run takes a few seconds; a hang fails instead of hanging.
        with trio.fail_after(VIRTUAL_LIMIT):
            return await run.play()
    finally:
        trio.lowlevel.remove_instrument(run.probe)
        gc.enable()


class Run:
    """One run: the llm, its fake and observers, a first turn (WebSocket scenarios that
    chain), the consumer and its canceller, then the next turn and the checks."""

    def __init__(self, scenario: Scenario, mode: str, form: str, k: int | None) -> None:
        self.scenario = scenario
        self.mode = mode
        self.form = form
        self.k = k
        self.fake = FakeOpenAI()
        self.errors: list[Exception] = []
        self.probe = Probe()
        self.transport: CountingTransport | None = None
        self.ledger: Ledger | None = None
        self.client: httpx.AsyncClient | None = None
        kwargs: dict[str, Any] = {**GUARDS, **scenario.llm_kwargs}
        if scenario.path in ("http", "responses-http"):
            if scenario.path == "responses-http":
                kwargs["api"] = "responses"
            self.transport = CountingTransport(self.fake)
            self.client = httpx.AsyncClient(transport=self.transport)
            self.llm = self.fake.llm(client=self.client, **kwargs)
        else:
            self.ledger = Ledger(self.fake)
            self.llm = self.fake.llm(streaming=True, ws_connector=self.ledger, **kwargs)
        self.llm.on("error", self.errors.append)
        self.ctx = base_ctx()
        self.held: list[dict[str, Any]] = []  # what the chain's response holds
        self.chain_id: str | None = None  # the chain before the consumer's turn
        self.turn_input: list[dict[str, Any]] = []  # the consumer's turn's full input

    async def play(self) -> Outcome:
        k, fake, llm, ctx = self.k, self.fake, self.llm, self.ctx
        async with llm:
            if self.scenario.first_turn:
                fake.add_ws(WSReply.text("Hello."))
                async with llm.chat(ctx) as stream:
                    assert [i.content async for i in stream] == ["Hell", "o.", ""]
                ctx.add_message(ChatRole.ASSISTANT, "Hello.")
                self.held = input_items(ctx)
                self.chain_id = stream.assembler.response_id
                ctx.add_message(ChatRole.USER, "Count.")
            self.scenario.setup(fake)
            self.turn_input = input_items(ctx)
            outcome = await self.cancel_the_turn()
            if self.consumer.called_aclose:
                # The llm is closed: a second aclose returns at once, chat() is refused.
                closing = trio.current_time()
                await llm.aclose()
                assert trio.current_time() == closing
                with pytest.raises(RuntimeError, match="closed"):
                    llm.chat(ctx)
            else:
                try:
                    await self.next_turn()
                except AssertionError:
                    raise
                except Exception as exc:
                    raise AssertionError(f"k={k}: the next turn failed: {exc!r}") from exc
        if self.client is not None:
            await self.client.aclose()
        assert fake.counters.open_bodies == 0, f"k={k}: a response body was left open"
        assert fake.ws_open == 0, f"k={k}: a WebSocket was left open"
        assert self.probe.live == set(), f"k={k}: tasks left running: {self.probe.live!r}"
        return outcome

    async def cancel_the_turn(self) -> Outcome:
        k, probe = self.k, self.probe
        consumer = self.consumer = Consumer(self.llm, self.ctx, self.scenario, probe, self.form)
        world = self.world = World(self.fake, self.scenario, consumer, self.transport, self.ledger)
        if self.ledger is not None:
            world.ledger_mark = len(self.ledger.received)
            world.create_mark = len(self.ledger.attempted)
        if self.transport is not None:
            world.post_mark = len(self.transport.posts)
        canceller = Canceller(self.llm, consumer, probe, world)

        def fire() -> None:
            if self.mode == "scope":
                canceller.note()
                consumer.scope.cancel()
            else:
                canceller.go.set()

        probe.fire, probe.fire_at = fire, k
        async with trio.open_nursery() as nursery:
            if k == 0:
                probe.fired = True
                fire()
            nursery.start_soon(canceller.run)
            nursery.start_soon(consumer.run)
            await consumer.ended.wait()
            nursery.cancel_scope.cancel()  # a canceller that never fired

        assert consumer.error is None, f"k={k}: {consumer.error!r}"
        assert self.errors == [], f"k={k}: a cancellation is not an error: {self.errors!r}"
        outcome = Outcome(finished_unhindered=canceller.at is None)
        outcome.items = [_key(i) for i in consumer.items]
        if canceller.at is not None:
            outcome.landed_at = canceller.landed_at
            outcome.in_phase = canceller.in_phase
            if self.mode == "scope":
                # Delivered at the consumer's next checkpoint; cleanup is instant in memory.
                assert consumer.ended_at == canceller.at, f"k={k}"
            elif canceller.stream_live:
                assert consumer.stream_left_at == canceller.at, (
                    f"k={k}: the barge-in did not end the iteration at once"
                )
        return outcome

    async def next_turn(self) -> None:
        """Run the next turn and check it returns exactly its reply (and, on the WebSocket
        path, that its create follows the chain rule and goes out once)."""
        k, fake, llm, ctx, consumer = self.k, self.fake, self.llm, self.ctx, self.consumer
        scenario, ledger = self.scenario, self.ledger
        completed = consumer.loop_done and not consumer.cancelled and consumer.error is None
        # The agent's bookkeeping: the reply if it completed, else what was actually heard.
        if completed and scenario.tools:
            ctx.add_message(ChatRole.ASSISTANT, "Checking.")
            ctx.add_function_call("get_weather", CALL_ARGS, call_id="call_1")
            ctx.add_function_output("get_weather", "18C", call_id="call_1")
        else:
            spoken = "".join(i.content for i in consumer.items)
            if spoken:
                ctx.add_message(ChatRole.ASSISTANT, spoken)
        ctx.add_message(ChatRole.USER, "Stop.")
        tools = [WEATHER] if scenario.tools else None
        if scenario.path == "responses-http":
            await self.next_responses_http_turn(completed, tools)
            return
        if ledger is None:
            fake.replies.clear()
            fake.add(Reply.text("next answer"))
            async with llm.chat(ctx, tools=tools) as next_stream:
                heard = [i.content async for i in next_stream]
            assert heard == NEXT_REPLY, f"k={k}"
            return

        attempts = [f for f in self.world.turn_attempts() if f["type"] == "response.create"]
        fake.ws_replies.clear()
        fake.add_ws(WSReply.text("next answer"))
        before = len(ledger.sent)
        async with llm.chat(ctx, tools=tools) as next_stream:
            heard = [i.content async for i in next_stream]
        assert heard == NEXT_REPLY, f"k={k}"
        sent = ledger.creates(before)
        assert len(sent) == 1, f"k={k}: the next turn took {len(sent)} creates: {sent!r}"
        frame = sent[0][1]
        full = input_items(ctx)
        if completed:
            # Chained on the turn that completed: it holds its full input plus its output.
            rid = consumer.response_id
            done = ledger.completed(rid)
            assert len(done) == 1, f"k={k}: {rid} completed {len(done)} times"
            turn_input = input_items(base_ctx()) if scenario.prewarm else self.turn_input
            holds = turn_input + output_items(done[0]["response"]["output"])
            assert full[: len(holds)] == holds
            expected = (rid, full[len(holds) :])
        elif not attempts:
            # Nothing of the cancelled turn was sent: the chain is unchanged.
            chain_id = self.chain_id
            expected = (chain_id, full[len(self.held) :]) if chain_id else (None, full)
        elif scenario.llm_kwargs.get("store") and frame.get("previous_response_id"):
            # store=True: chained on a response the client saw complete, with exactly the
            # items after what that response holds.
            previous = frame["previous_response_id"]
            if previous == self.chain_id:
                holds = self.held
            else:
                done = ledger.completed(previous)
                assert done, f"k={k}: chained on {previous}, never completed"
                holds = self.turn_input + output_items(done[0]["response"]["output"])
            assert full[: len(holds)] == holds, f"k={k}: the context does not extend {previous}"
            expected = (previous, full[len(holds) :])
        elif scenario.prewarm and frame.get("previous_response_id"):
            # A completed warm-up (generate: false) holds the system prompt only.
            warmup = frame["previous_response_id"]
            assert ledger.completed(warmup), f"k={k}: chained on {warmup}, never completed"
            expected = (warmup, full[1:])
        else:
            # The cancelled turn went out: its socket was retired (store=False): full context.
            expected = (None, full)
        actual = (frame.get("previous_response_id"), frame["input"])
        assert actual == expected, f"k={k} {completed=} {attempts=}"

    async def next_responses_http_turn(self, completed: bool, tools: Any) -> None:
        """The next turn on the Responses API over HTTP: exactly its reply, one POST (a
        refused chain would take two), chained as the rule says. Without storage every
        turn sends the whole context. With ``store=True`` the chain stays on the last
        response the client saw complete (a barge-in does not drop it): the first turn's,
        or the cancelled turn's when its ``response.completed`` was read before the
        cancel; the whole context goes out only when the context does not extend it, or
        when the caller's own scope ended the turn (no barge-in: the turn counts as
        failed and the chain is reset, the WebSocket turn's rule too)."""
        k, fake, llm, ctx, consumer = self.k, self.fake, self.llm, self.ctx, self.consumer
        transport = self.transport
        assert transport is not None
        fake.responses_sse.clear()
        fake.ws_replies.clear()
        fake.add_ws(WSReply.text("next answer"))
        before = len(transport.posts)
        async with llm.chat(ctx, tools=tools) as next_stream:
            heard = [i.content async for i in next_stream]
        assert heard == NEXT_REPLY, f"k={k}"
        sent = transport.posts[before:]
        assert len(sent) == 1, f"k={k}: the next turn took {len(sent)} POSTs: {sent!r}"
        body = sent[0]
        full = input_items(ctx)
        actual = (body.get("previous_response_id"), body["input"])
        if not self.scenario.llm_kwargs.get("store"):
            assert actual == (None, full), f"k={k}: without storage, the whole context"
            return
        previous = actual[0]
        if completed or previous not in (None, self.chain_id):
            # Chained on the cancelled turn's response: the client saw it complete.
            rid = consumer.response_id
            assert previous == rid, f"k={k}: chained on {previous}, not {rid}"
            done = transport.completed(rid)
            assert len(done) == 1, f"k={k}: {rid} completed {len(done)} times"
            holds = self.turn_input + output_items(done[0]["response"]["output"])
        elif previous == self.chain_id:
            holds = self.held  # the first turn's response, which the barge-in kept
        elif not consumer.cancelled:
            # The caller's scope ended the turn: reset, as after a failure.
            assert self.mode == "scope", f"k={k}: a barge-in dropped the chain"
            assert actual == (None, full), f"k={k}"
            return
        else:
            # The whole context: only when the client's chain moved to the cancelled
            # turn's response (it saw it complete) and the context does not extend it.
            done = transport.completed(consumer.response_id)
            assert done, f"k={k}: the chain on {self.chain_id} was dropped"
            holds = self.turn_input + output_items(done[0]["response"]["output"])
            assert full[: len(holds)] != holds, f"k={k}: it could have chained"
            assert actual == (None, full), f"k={k}"
            return
        assert full[: len(holds)] == holds, f"k={k}: the context does not extend {previous}"
        assert actual == (previous, full[len(holds) :]), f"k={k} {completed=}"


# -- the sweeps -----------------------------------------------------------------------------------


@dataclass
class Tally:
    points: int = 0  # runs in which the cancellation fired
    distinct: set[int] = field(default_factory=set)  # consumer steps it landed at
    in_phase: int = 0  # of those, how many landed in the scenario's phase
    steps: int = 0  # consumer steps of the unhindered scenario


TALLY: dict[str, Tally] = {}


@pytest.fixture(scope="session")
def tally() -> dict[str, Tally]:
    return TALLY


@pytest.mark.trio
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
async def test_cancel_at_every_checkpoint(
    autojump_clock: trio.testing.MockClock,
    scenario: Scenario,
    mode: str,
    form: str,
    tally: dict[str, Tally],
) -> None:
    counts = tally[f"{scenario.id}/{mode}/{form}"] = Tally()  # partial counts if it fails
    reference = await run_once(scenario, mode, form, None)
    assert reference.finished_unhindered
    full = reference.items
    k = 0
    while True:
        assert k < MAX_K, "the scenario never completes"
        outcome = await run_once(scenario, mode, form, k)
        if outcome.finished_unhindered:
            assert outcome.items == full
            counts.steps = k
            break
        assert outcome.items == full[: len(outcome.items)], f"k={k}: not a prefix of the reply"
        counts.points += 1
        assert outcome.landed_at is not None
        counts.distinct.add(outcome.landed_at)
        counts.in_phase += outcome.in_phase
        k += 1
    assert counts.points > 0
    assert counts.in_phase > 0, f"no cancellation landed in the {scenario.phase} phase"


@pytest.mark.trio
async def test_zz_cancellation_points_summary(tally: dict[str, Tally]) -> None:
    """Last in the file: prints the points per path/phase/mode (``-s`` to see it)."""
    expected = {f"{s.id}/{m}/{f}" for s in SCENARIOS for m in MODES for f in FORMS}
    lines = ["", "cancellation points (runs / distinct steps / in the phase / scenario steps):"]
    for key in sorted(tally):
        t = tally[key]
        counts = f"{t.points:4} / {len(t.distinct):4} / {t.in_phase:4} / {t.steps:4}"
        lines.append(f"  {key:50} {counts}")
    per_phase: dict[str, int] = {}
    for key, t in tally.items():
        per_phase[key.split("/")[0]] = per_phase.get(key.split("/")[0], 0) + t.points
    lines.append("per path/phase (both modes, both forms):")
    lines.extend(f"  {key:36} {n:4}" for key, n in sorted(per_phase.items()))
    total = sum(t.points for t in tally.values())
    lines.append(f"  total: {total}")
    print("\n".join(lines))
    assert set(tally) == expected, f"sweeps missing from this session: {expected - set(tally)}"
    assert all(t.points > 0 and t.in_phase > 0 for t in tally.values())

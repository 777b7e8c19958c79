"""The chat stream both paths return: an async context manager and an async iterator.

Each ``__anext__`` that has to wait opens one ``CancelScope`` around that wait and nothing
else (no scope is ever open across a ``yield`` to the consumer, DESIGN.md section 3). A
barge-in cancels that scope, so the consumer's iteration ends within one scheduler step
whatever the server does; a barge-in between steps sets a flag the next step sees first.
The scope also ends at the idle timeout, the first-token deadline or the whole-turn
deadline, whichever is nearest, so a stall ends with an ``APITimeoutError`` instead of
hanging; the turn's ``TurnDeadlines`` (_deadlines.py) opens that scope, enforces it and
names the deadline that expired. Idle means no *event*: bytes that complete none (a
comment, half a line, one byte at a time) do not move the deadline, so a server cannot hold
a turn by trickling.

One step (``_step``) is: open the wait, start the turn if it is not started (``_start``),
read until a read yields events (``_read_until_event``), on an error resend or fail
(``_resend_or_fail``), then feed the events to the assembler and queue the items, with the
failure behind them (``_assemble``).

Why a scope per step, even a step that does not wait: over HTTP, httpx hands over one
HTTP chunk per read, so a fast server costs one step per item, and in the benchmark all but
about 65 of 20,000 reads return without suspending (their bytes are already buffered). A
scope opened only once a read suspends cannot be entered from outside the read: httpcore
enters its own ``fail_after`` scope before it suspends, so a scope entered then would nest
inside it and be left out of order. Our own client does it from below instead: its network
backend opens the step's scope around each socket read, outside httpcore's
(``_transports.http_backend``), and such a body's steps wait in its ``ReadWait``, which
stands in for the scope (cancel, deadline) and opens none itself. A caller's own client,
HTTP/2 and the WebSocket keep the scope per step.

Every exception a caller receives is one of ours: anything else that escapes the network
side or the assembly (a ``RecursionError`` from JSON nested 100,000 deep, a ``TypeError``
from a value of the wrong type) becomes a ``ProtocolError`` (data) or an
``APIConnectionError`` (anything else), chained to the original, and ends the turn like any
other failure (emitted to ``on("error")``, the connection released).

A burst is bounded: when one network read brings many events (or the HTTP client hands
over buffered chunks without suspending), the items are handed out without a scheduler
checkpoint. ``__anext__`` reads a clock once per item: items asked for less than
``BURST_BUDGET`` apart belong to one burst, and once a burst has run longer than the
budget it gives the loop back (``_give_way_in_burst``) before going on, so no step of a
burst holds the loop much longer than the budget plus one item. That checkpoint is a wait
like the others: inside the scope a barge-in cancels, with the flag looked at after it.

The network work lives behind ``TurnSource`` (HTTP response or WebSocket turn); the item
building lives in the sans-IO ``Assembler``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.lowlevel

from ._assembly import Assembler
from ._deadlines import TurnDeadlines, burst_clock
from ._errors import APIConnectionError, ProtocolError, ScopedOpenAIError
from ._events import Event, ResponseCreated
from ._metrics import TurnMetrics, TurnRecorder
from ._response import LLMResponse
from ._retry_plan import RetryPlan
from ._transports.http_backend import ReadWait
from ._turn_owner import TurnOwner
from ._watchdog import Watchdog

logger = logging.getLogger("scoped_openai")

#: Upper bound on the shielded cleanup after a cancel or an error (closing a response,
#: retiring a socket): cleanup never holds a barge-in up for longer than this.
CLEANUP_TIMEOUT = 0.5

#: Longest run of items handed out without a scheduler checkpoint, in seconds (issue 16:
#: a step of at most 2 ms on a 1 ms ticker), one clock reading per item (``burst_clock``).
BURST_BUDGET = 0.0005


class TurnSource(Protocol):
    """One turn's network side, as the stream drives it."""

    async def start(self, owner: TurnOwner, plan: RetryPlan | None) -> None:
        """Send the request (again after a failure: ``plan`` says how); raise a typed
        error if it is refused. ``owner``: whom the turn belongs to (a WebSocket lease
        whose owner vanished is reclaimed by the next turn).

        Cancellation: called under the step's scope; a cancel leaves at most an opened
        response or a leased socket, which ``aclose`` releases.
        """

    async def receive(self, out: list[Event]) -> bool:
        """Wait for the next chunk or frame and append its events, or raise a typed error.
        True when at least one whole server event arrived (an SSE event, a WebSocket frame),
        even one that maps to nothing (a reasoning-summary delta): it moves the idle
        deadline. Bytes that complete no event (half a line, a comment) return False.

        Cancellation: the barge-in point; what was not yet appended is dropped.
        """

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        """How to send again after ``error`` (nothing was delivered yet), or None to give
        up. A question: it changes nothing; the next ``start`` applies the plan."""

    async def aclose(self, *, completed: bool) -> None:
        """Release the response or socket. ``completed``: the end marker was seen.

        Cancellation: called shielded and bounded by ``CLEANUP_TIMEOUT``; unshielded when
        the source has a true ``releases_at_once`` attribute (its ``aclose`` never awaits).
        """

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        """Bookkeeping once the turn is over (chain state); must not block."""


class ChatStream:
    """The items of one reply. Use ``async with llm.chat(ctx) as stream: async for r in
    stream`` (preferred: leaving the block releases the connection at once, however it is
    left) or iterate it directly, as the reference did: then the connection is released
    when the iteration ends, fails, is barged in on, or is cancelled while waiting for an
    item. A bare loop left by ``break`` or by a cancellation in its body is released by
    the next turn (in the same task, or once the task that started it has ended, or once
    the stream is gone), the next ``cancel_current_generation()`` or ``llm.aclose()``;
    none of these waits for the garbage collector (``_turn_owner``).

    Attributes:
        cancelled: True once a barge-in ended this stream.
        assembler: The turn's assembler: ``spoken`` text, ``calls``, ``usage``.
        metrics: The turn's ``TurnMetrics`` once it has ended (None before, and for a
            prewarm's warm-up turn).
    """

    def __init__(
        self,
        source: TurnSource,
        assembler: Assembler,
        *,
        idle_timeout: float | None,
        first_token_timeout: float | None,
        on_error: Callable[[Exception], None],
        turn_timeout: float | None = None,
        on_close: Callable[[ChatStream], None],
        prepare: Callable[[TurnOwner], Awaitable[None] | None] | None = None,
        watchdog: Watchdog | None = None,
        recorder: TurnRecorder | None = None,
        on_metrics: Callable[[TurnMetrics], None] | None = None,
        native: tuple[Callable[..., Any], Callable[[], float]] | None = None,
        burst_clock: Callable[[], float] | None = None,
    ) -> None:
        self._source = source
        self.assembler = assembler
        self._deadlines = TurnDeadlines(
            idle=idle_timeout,
            first_token=first_token_timeout,
            turn=turn_timeout,
            watchdog=watchdog,
            native=native,
        )
        self._on_error = on_error
        self._on_close = on_close
        self._prepare = prepare
        self._owner: TurnOwner | None = None  # set when the turn starts
        self._plan: RetryPlan | None = None  # how the next start resends
        self._buffer: deque[LLMResponse | Exception] = deque()
        self._events: list[Event] = []
        # The source's receive, taken again at every start (see ``_start``).
        self._receive: Callable[[list[Event]], Awaitable[bool]] = source.receive
        self._scope: Any = None  # the backend's cancel scope of the current step
        self._reads: ReadWait | None = None  # the body's, when its reads open the scope
        self._started = False
        self._finished = False
        self._released = False  # ``_close`` has released the source (it may wait for a drain)
        self._delivered = False
        self._attempt = 0
        self._closed_event: anyio.Event | None = None
        self.cancelled = False
        self.metrics: TurnMetrics | None = None
        self._recorder = recorder
        self._on_metrics = on_metrics
        self._output_seen = recorder is None  # nothing to record without a recorder
        self._error_name: str | None = None
        # The burst budget: its clock (chosen at the first item), when the current burst
        # began, and when the last item was asked for.
        self._clock: Callable[[], float] = burst_clock or self._first_clock
        self._burst_mark = 0.0
        self._burst_last = -math.inf

    # -- barge-in ---------------------------------------------------------------------

    def cancel(self) -> None:
        """End the iteration now (barge-in). Safe from any task; idempotent; no await."""
        if self._finished or self.cancelled:
            return
        self.cancelled = True
        if self._scope is not None:
            self._scope.cancel()

    # -- context manager --------------------------------------------------------------

    async def __aenter__(self) -> ChatStream:
        """Enter the stream; nothing is sent until the first item is awaited.

        Cancellation: nothing to lose; it does not wait.
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release the connection; a stream left early counts as cancelled.

        Cancellation: the release is shielded and bounded by ``CLEANUP_TIMEOUT``.
        """
        if not self._finished:
            self.cancelled = self.cancelled or exc_type is None
            await self._close(completed=False)

    async def aclose(self) -> None:
        """Stop the stream and release its connection (idempotent; from any task).

        If a consumer is waiting for the next item right now, its wait is cancelled and it
        releases the connection itself (it ends its iteration); this call waits for that,
        up to ``CLEANUP_TIMEOUT``. Otherwise the connection is released here.

        Cancellation: the release is shielded and bounded by ``CLEANUP_TIMEOUT``.
        """
        if self._finished:
            if not self._released:
                # Another task is closing it, e.g. a consumer waiting for its body's drain
                # (at most ``DRAIN_INLINE``): closed means closed once this returns.
                await self._wait_closed()
            return
        self.cancelled = True
        if self._scope is None:
            await self._close(completed=False)
            return
        self._scope.cancel()
        await self._wait_closed()

    async def _wait_closed(self) -> None:
        if self._closed_event is None:
            self._closed_event = anyio.Event()
        with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
            await self._closed_event.wait()

    @property
    def waiting(self) -> bool:
        """True while a consumer is inside ``__anext__`` waiting for the network."""
        return self._scope is not None

    # -- iteration --------------------------------------------------------------------

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> LLMResponse:
        """The next item.

        Cancellation: a barge-in (``cancel()``) ends the iteration with
        ``StopAsyncIteration``; items already returned stay delivered, the rest of the
        reply is dropped. Cancelling the caller's scope releases the connection and
        re-raises the cancellation.
        """
        if self.cancelled:  # checked first: a barge-in also drops items already buffered
            await self._close(completed=False)
            raise StopAsyncIteration
        now = self._clock()
        if now - self._burst_last > BURST_BUDGET:  # a wait (or the caller's own work) since
            self._burst_mark = now  # the last item: a new burst
        elif now - self._burst_mark > BURST_BUDGET:
            await self._give_way_in_burst()
            if self.cancelled:  # a barge-in during the checkpoint: nothing more is heard
                await self._close(completed=False)
                raise StopAsyncIteration
            self._burst_mark = now
        self._burst_last = now
        buffer = self._buffer
        while not buffer:
            if self._finished:
                raise StopAsyncIteration
            if self.assembler.done:
                await self._close(completed=True)
                raise StopAsyncIteration
            await self._step()
            if self.cancelled:
                # Looked at again after every wait: under trio a barge-in that lands after
                # the read completed but before this task ran cancels nothing (the wait is
                # over), and the items of that read must not be spoken.
                await self._close(completed=False)
                raise StopAsyncIteration
        item = buffer.popleft()
        if isinstance(item, LLMResponse):
            self._delivered = True
            if not self._output_seen and (item.content or item.function_call is not None):
                self._first_output()
            return item
        self._error_name = type(item).__name__
        await self._close(completed=False)
        self._on_error(item)
        raise item

    async def _step(self) -> None:
        """Wait for the next events once, under a scope a barge-in or a deadline cancels.

        The shape of a step: open the wait (its scope ends at the nearest deadline), start
        the turn if it is not started, read until an event arrives; on an error, resend or
        fail; then assemble. Events that arrived before a failure are assembled first and
        the failure is queued behind their items, so nothing received before a fault is
        lost.
        """
        deadlines = self._deadlines
        started = self._started
        scope = deadlines.open_wait(
            started=started, delivered=self._delivered, reads=self._reads if started else None
        )
        failure: Exception | None = None
        ended = False  # the wait ended by itself: False when the scope caught its cancel
        try:
            with scope:
                self._scope = scope
                if self.cancelled:  # a barge-in raced us here
                    scope.cancel()
                try:
                    if not self._started:
                        await self._start()
                    events = self._events
                    arrived = await self._receive(events)
                    if not events:
                        await self._read_until_event(arrived)
                except Exception as error:
                    failure = await self._resend_or_fail(error)
                    if failure is None:
                        return  # resent: the next step reads the new attempt
                ended = True  # a local, where ``scope.cancelled_caught`` is a property call
        except BaseException:
            # The caller's own scope was cancelled (or worse): release, then re-raise.
            await self._close(completed=False)
            raise
        finally:
            self._scope = None
            deadlines.close_wait()
        if not ended:
            if self.cancelled:
                return  # __anext__ sees the flag and ends the iteration
            failure = deadlines.timeout_error()
        self._assemble(failure)

    async def _give_way_in_burst(self) -> None:
        """One checkpoint in the middle of a burst, under a scope a barge-in cancels
        (``cancel()``, ``aclose()``), as every wait of the stream is. One, not
        ``_give_way.give_way``'s three and its collection: in a fast 20,000-chunk reply
        this runs every 0.5 ms, and with those one run measured 6-25% more CPU per chunk."""
        scope = anyio.CancelScope()
        try:
            with scope:
                self._scope = scope
                if self.cancelled:
                    scope.cancel()
                await anyio.lowlevel.checkpoint()
        except BaseException:
            # The caller's own scope was cancelled (or worse): release, then re-raise.
            await self._close(completed=False)
            raise
        finally:
            self._scope = None

    def _first_clock(self) -> float:
        self._clock = burst_clock()  # in the running loop, once a stream
        return self._clock()

    async def _start(self) -> None:
        """Send the request, once per attempt (a resend applies the plan)."""
        if self._owner is None:
            self._owner = TurnOwner(self)  # the task that starts the turn owns it
        if self._prepare is not None:
            pending = self._prepare(self._owner)
            if pending is not None:
                await pending  # e.g. release the turns left before this one
        if self._recorder is not None:
            self._recorder.sending(self._deadlines.opened_at, self._attempt)
        await self._source.start(self._owner, self._plan)
        # A source that wraps another (``WebSocketOrHTTPTurn``) names the one it chose.
        self._receive = getattr(self._source, "delegate", self._source).receive
        self._started = True
        # The next steps wait in it when the body's reads open the scope themselves.
        self._reads = getattr(self._source, "read_wait", None)

    async def _read_until_event(self, arrived: bool) -> None:
        """Read on until a read yields events (the first read yielded none).

        A server event that maps to nothing (a reasoning-summary delta, a function-argument
        fragment) moves the idle deadline; bytes that complete no event (a partial line, a
        comment) do not, so a server cannot hold a turn by trickling. The first-token
        deadline stays.
        """
        events = self._events
        receive = self._receive
        while not events:
            if arrived:
                self._deadlines.event_arrived()
            arrived = await receive(events)

    async def _resend_or_fail(self, error: Exception) -> Exception | None:
        """After ``error``: resend (None, once the resend is prepared) or the failure."""
        failure = error if isinstance(error, ScopedOpenAIError) else _ours(error)
        # Resend only while nothing the caller could hear arrived: not after an item was
        # delivered, nor after one arrived in this very read.
        if self._delivered or not all(type(e) is ResponseCreated for e in self._events):
            return failure
        plan = self._source.plan_retry(failure, self._attempt)
        if plan is None:
            return failure
        await self._prepare_retry(plan, failure)
        return None

    def _assemble(self, failure: Exception | None) -> None:
        """Feed what arrived to the assembler and queue its items, then ``failure``
        behind them (a value the assembly cannot use becomes the failure)."""
        out = self._buffer
        events = self._events
        if events:
            assembler = self.assembler
            try:
                if len(events) == 1:  # the common step: one chunk, one event
                    assembler.feed(events[0], out)
                else:
                    feed = assembler.feed
                    for event in events:
                        feed(event, out)
            except Exception as caught:  # a value the assembly cannot use, a limit
                if failure is None:
                    failure = caught if isinstance(caught, ScopedOpenAIError) else _ours(caught)
            events.clear()
            warnings = assembler.warnings
            if warnings:
                for warning in warnings:
                    self._on_error(warning)
                warnings.clear()
        if failure is not None:
            out.append(failure)

    async def _prepare_retry(self, plan: RetryPlan, error: Exception) -> None:
        self._attempt += 1
        delay = plan.delay
        if self._recorder is not None:
            self._recorder.retrying(delay, error)
        else:
            logger.info("retrying in %.2fs after: %s", delay, error)
        self._events.clear()
        self._buffer.clear()
        self.assembler.reset()
        with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
            await self._source.aclose(completed=False)
        self._started = False
        self._reads = None
        self._plan = plan
        scope = self._scope
        if isinstance(scope, ReadWait):  # no scope is open: the sleep needs one
            await scope.run(anyio.sleep, delay)
        else:
            await anyio.sleep(delay)

    async def _close(self, *, completed: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if self._buffer:
            self.assembler.unsay(self._buffer)  # built, never heard
            self._buffer.clear()
        source = self._source
        try:
            if getattr(getattr(source, "delegate", source), "releases_at_once", False):
                # Its release never waits (a WebSocket lease): no cancel can reach it, so
                # no shielded deadline (a timer each) on a barge-in's way to the loop's end.
                await source.aclose(completed=completed)
            else:
                with anyio.move_on_after(CLEANUP_TIMEOUT, shield=True):
                    await source.aclose(completed=completed)
        finally:
            self._released = True
            self._source.turn_ended(self.assembler, cancelled=self.cancelled)
            self._on_close(self)
            if self._recorder is not None:
                self._report_metrics(self._recorder, completed=completed)
            if self._closed_event is not None:
                self._closed_event.set()

    # -- metrics ----------------------------------------------------------------------

    def _request_id(self) -> str | None:
        # The HTTP source knows the x-request-id header; the WebSocket's id is the response's.
        request_id: str | None = getattr(self._source, "request_id", None)
        return request_id

    def _first_output(self) -> None:
        self._output_seen = True
        assert self._recorder is not None
        self._recorder.first_output(self._deadlines.now(), self._request_id())

    def _report_metrics(self, recorder: TurnRecorder, *, completed: bool) -> None:
        # Neither completed nor failed: a barge-in, the stream left early, or the caller's
        # own scope cancelled.
        cancelled = self.cancelled or not (completed or self._error_name)
        self.metrics = recorder.finish(
            self._deadlines.now(),
            self.assembler,
            cancelled=cancelled,
            retries=self._attempt,
            request_id=self._request_id(),
            error=self._error_name,
        )
        if self._on_metrics is not None:
            self._on_metrics(self.metrics)


def _ours(error: Exception) -> ScopedOpenAIError:
    """Our error for one that escaped the network side or the assembly (the original is
    kept as ``__cause__``). Data errors are the server's: a ``ProtocolError``."""
    detail = f"{type(error).__name__}: {str(error)[:200]}"
    ours: ScopedOpenAIError
    if isinstance(error, RecursionError | TypeError | ValueError | LookupError | AttributeError):
        ours = ProtocolError(f"the server sent data this library cannot read ({detail})")
    else:
        ours = APIConnectionError(f"the connection failed unexpectedly ({detail})")
    ours.__cause__ = error
    return ours

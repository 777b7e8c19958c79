"""The fake's Responses WebSocket: one connection's server side, in memory and over ASGI.

``ScriptedResponsesSocket`` is the server-side state machine of ONE connection, driven by the
client: ``client_frame(text)`` takes a client frame (synchronously) and queues the answer;
``await next_frame()`` plays the queue and returns the next server frame. It needs no task of
its own, so in-memory tests stay deterministic (and run on trio's virtual clock):
``FakeWebSocket`` wraps it as the client's ``WebSocket`` (``send_text`` is ``client_frame``,
``receive_text`` is ``next_frame``), and ``FakeWSConnector`` hands those out as a
``WebSocketConnector``. The loopback server runs the same state machine behind a real socket
(``_asgi.serve_asgi_websocket``).

Behaviour, as the real API's where it is documented (DESIGN.md section 4):

- ``response.create`` takes the next ``WSReply`` from ``fake.ws_replies`` (else
  ``fake.ws_default(request)``, else an ``error`` frame saying the script ran out), at once.
- What the real API refuses is refused with its error frame (``_refusals``), taking no
  scripted reply: a create while a response is in flight on the socket, i.e. before the
  reply's terminal frame was sent (one response in flight per socket; code
  ``conversation_already_has_active_response``, sent at once, the reply goes on); a model
  outside OpenAI's families and ``fake.extra_models`` (``model_not_found``); a
  ``previous_response_id`` the socket cannot reach (below).
- ``"generate": false`` answers ``response.created`` + ``response.completed`` (no output,
  zero usage, numbered 0 and 1) with a fresh id, without taking a scripted reply.
- ``previous_response_id`` must name a response this fake completed: with ``store: true``
  any completed one (on any socket); otherwise only the connection-local cache, which holds
  the most recent response completed on this socket. An unknown id is answered with the
  nested ``error`` frame, code ``previous_response_not_found`` (status 400). A response
  counts as completed when its ``response.completed`` frame is *sent*.
- Every frame a builder, the warm-up, a cancel or a refusal sends validates against OpenAI's
  OpenAPI spec (``ResponsesServerEvent``); tests/spec checks each. Their response objects
  echo the create's ``instructions``, ``tools``, ``tool_choice``, ``temperature``,
  ``top_p``, ``parallel_tool_calls`` and ``previous_response_id`` as the real API's do
  (``_ws_script.request_echo``); raw frames (``WSReply.frames``) are sent as given.
- ``response.cancel`` (not a documented event) follows ``fake.on_cancel``: ``"ignore"``
  keeps streaming; ``"error"`` sends an ``error`` frame (code ``unknown_event``) at once
  and keeps streaming; ``"stop"`` drops the rest of the reply in flight and sends
  ``response.incomplete`` for it at once (``response.status`` ``"cancelled"``,
  ``incomplete_details`` null, no output, zero usage, numbered on from the reply's last
  frame), preceded by its ``response.created`` if that was not sent yet. A
  ``response_id`` in the cancel, when given, must name the reply in flight (else nothing
  is stopped).
- Invalid JSON gets an ``error`` frame with code ``invalid_json``; a JSON value that is not
  an object with a string ``type`` gets ``invalid_event``; another event type gets
  ``unknown_event``. These error frames are sent at once, ahead of a reply in flight.

Timing: pauses run on a server timeline, not on the client's reads. A reply starts when its
create arrives (or when the reply before it ends); each ``Pause`` moves the next frame's due
time; a frame is returned as soon as it is due, so a client that reads late gets the frames
that were due in a burst, as from a real socket's buffer. ``Stall`` holds the queue until the
socket closes (or a ``"stop"`` cancel drops it); ``CloseSocket`` closes the socket from the
server's side.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel

from .._errors import APIConnectionError, APIStatusError
from .._transports.websocket import WebSocketClosed, describe_url, handshake_rejected
from ._recorder import RecordedRequest
from ._refusals import in_flight_frame, previous_response_not_found_frame, unknown_model_frame
from ._script import Pause, Stall
from ._state import CancelBehaviour, FakeState, WSHandshake
from ._ws_script import (
    AUTO_RESPONSE_ID,
    CloseSocket,
    WSReply,
    cancelled_frames,
    error_frame,
    frame_text,
    request_echo,
    warmup_frames,
)

__all__ = [
    "CancelBehaviour",
    "FakeWSConnector",
    "FakeWebSocket",
    "ScriptedResponsesSocket",
    "WSHandshake",
    "rejection_body",
]

#: The frames that end a response: after one, the socket may take the next create.
TERMINAL_KINDS = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "error"}
)

#: The close code for a WebSocket path the fake does not serve (policy violation).
WRONG_PATH_CLOSE = 1008


@dataclass(slots=True)
class _Playing:
    """A reply being played on a socket: what its frames need to be recorded."""

    response_id: str
    store: bool
    model: str = "gpt-4o-mini"
    created_sent: bool = False
    next_sequence: int = 0  # after the last frame delivered
    ended: bool = False  # its terminal frame was sent: frames after it are not in flight
    echo: dict[str, Any] | None = None  # the request's echoes, for a reply the fake built


@dataclass(slots=True)
class _Entry:
    """One queued step; a frame is serialized already, with what recording needs."""

    step: str | Pause | Stall | CloseSocket
    reply: _Playing | None = None
    kind: str | None = None
    response_id: str | None = None
    sequence: int | None = None


@dataclass(slots=True)
class _Closed:
    code: int | None
    reason: str
    by_server: bool

    def error(self) -> WebSocketClosed:
        return WebSocketClosed(self.code, self.reason)


class ScriptedResponsesSocket:
    """The server side of one fake Responses WebSocket connection (see the module docstring).

    Args:
        fake: The fake whose script, counters and stored responses this socket uses.
        path: The URL path the client connected to (recorded with each client frame).
        headers: The client's handshake headers (recorded with each client frame).

    Attributes:
        sent: How many frames this socket returned from ``next_frame``.
    """

    def __init__(
        self,
        fake: FakeState,
        *,
        path: str,
        headers: Mapping[str, str],
        websocket: bool = True,
    ) -> None:
        self._fake = fake
        self._path = path
        self._headers = {key.lower(): value for key, value in headers.items()}
        self._queue: deque[_Entry] = deque()
        self._urgent: deque[_Entry] = deque()  # sent at once, ahead of the queue
        self._wake: anyio.Event | None = None
        self._cursor = -math.inf  # when the server timeline's last step was due
        self._closed: _Closed | None = None
        self._local_response: str | None = None  # the connection-local cache
        self.sent = 0
        # False: one POST /responses plays its reply through this machine; the HTTP
        # transports count its body, and no WebSocket was opened.
        self._websocket = websocket
        if websocket:
            fake.counters.connections += 1
            fake.ws_open += 1
            fake._connections_changed()

    def __repr__(self) -> str:
        return f"<ScriptedResponsesSocket {self._path} closed={self.closed}>"

    @property
    def closed(self) -> bool:
        """True once either side closed the socket."""
        return self._closed is not None

    @property
    def closed_by_server(self) -> bool:
        """True when a scripted ``CloseSocket`` (or a refused path) closed the socket."""
        return self._closed is not None and self._closed.by_server

    @property
    def close_code(self) -> int | None:
        """The close code, once closed."""
        return None if self._closed is None else self._closed.code

    @property
    def close_reason(self) -> str:
        """The close reason, once closed."""
        return "" if self._closed is None else self._closed.reason

    # -- the client's side drives these -----------------------------------------------

    def client_frame(self, text: str) -> None:
        """Take one text frame from the client and queue the answer (never blocks).

        The frame is recorded in ``fake.requests`` (method ``"WS"``) and, when it is a JSON
        object, in ``fake.ws_frames``. Frames arriving after the close are ignored.
        """
        if self._closed is not None:
            return
        fake = self._fake
        request = RecordedRequest("WS", self._path, dict(self._headers), {}, text.encode())
        fake.counters.requests.append(request)
        try:
            event: object = json.loads(text)
        except ValueError as exc:
            self._send_now(error_frame("invalid_json", f"The frame is not valid JSON: {exc}"))
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            if isinstance(event, dict):
                fake.ws_frames.append(event)
            self._send_now(
                error_frame("invalid_event", "A client event must be an object with a 'type'.")
            )
            return
        fake.ws_frames.append(event)
        kind = event["type"]
        if kind == "response.create":
            self._create(event, request)
        elif kind == "response.cancel":
            self._cancel(event.get("response_id"))
        else:
            self._send_now(
                error_frame("unknown_event", f"Unsupported event type: {kind!r}.", param="type")
            )

    async def next_frame(self) -> str:
        """Wait for the next server frame and return its text.

        Raises:
            WebSocketClosed: The socket is closed: by the client (its code), by a scripted
                ``CloseSocket`` (the script's code and reason; raised when it is played and
                on every later call).

        Cancellation: nothing is lost; a frame not yet returned stays queued, and pauses
        keep their place on the server timeline.
        """
        await anyio.lowlevel.checkpoint()
        while True:
            # A fresh event per wait: every state change after this line sets it, and no
            # checkpoint separates the checks below from the wait.
            wake = self._wake = anyio.Event()
            if self._closed is not None:
                raise self._closed.error()
            frame, due = self._due_frame(play_close=True)
            if frame is not None:
                return frame
            with anyio.move_on_after(due - anyio.current_time()):
                await wake.wait()

    def next_frame_nowait(self) -> str | None:
        """The next server frame if it is due now, else None (a close is left for
        ``next_frame``). Never waits."""
        if self._closed is not None:
            return None
        frame, _ = self._due_frame(play_close=False)
        return frame

    def _due_frame(self, *, play_close: bool) -> tuple[str | None, float]:
        """The frame due now (or None), and when the next one is due (``math.inf``: when
        something is sent or closed)."""
        now = anyio.current_time()
        if self._urgent:
            return self._deliver(self._urgent.popleft()), now
        while self._queue:
            entry = self._queue[0]
            step = entry.step
            if isinstance(step, Pause):
                self._queue.popleft()
                self._cursor += step.seconds
                continue
            if isinstance(step, Stall):
                return None, math.inf  # wait for a close, a stop, or an urgent frame
            if self._cursor > now:
                return None, self._cursor
            if isinstance(step, CloseSocket):
                if not play_close:
                    return None, now
                self._queue.popleft()
                self._close(_Closed(step.code, step.reason, by_server=True))
                raise self._closed_error()
            self._queue.popleft()
            return self._deliver(entry), now
        return None, math.inf

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """The client closed the socket (or dropped it): ``next_frame`` raises from now on.

        Idempotent: a close that came first (either side's) stands.
        """
        self._close(_Closed(code, reason, by_server=False))

    def create(self, event: dict[str, Any], request: RecordedRequest) -> None:
        """Queue the answer to a ``response.create`` that came another way (a ``POST
        /responses``, recorded by the caller), with the refusals and replies of a frame."""
        self._create(event, request)

    def close_from_server(self, code: int, reason: str = "") -> None:
        """Close the socket from the server's side (as a scripted ``CloseSocket`` does)."""
        self._close(_Closed(code, reason, by_server=True))

    # -- internals --------------------------------------------------------------------

    def _closed_error(self) -> WebSocketClosed:
        assert self._closed is not None
        return self._closed.error()

    def _close(self, closed: _Closed) -> None:
        if self._closed is not None:
            return
        self._closed = closed
        self._queue.clear()
        self._urgent.clear()
        if self._websocket:
            self._fake.ws_open -= 1
            self._fake._connections_changed()
        self._notify()

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _send_now(self, frame: dict[str, Any], reply: _Playing | None = None) -> None:
        self._urgent.append(self._entry(frame, reply))
        self._notify()

    def _entry(self, frame: dict[str, Any] | str, reply: _Playing | None) -> _Entry:
        """Serialize a frame (giving it the reply's id and, for a built reply, the request's
        echoes) and note what recording needs."""
        parsed: object = frame
        if isinstance(frame, str):
            try:
                parsed = json.loads(frame)
            except (ValueError, RecursionError):  # hostile frames are sent as they are
                parsed = None
        kind: str | None = None
        response_id: str | None = None
        sequence: int | None = None
        if isinstance(parsed, dict):
            kind = parsed.get("type") if isinstance(parsed.get("type"), str) else None
            number = parsed.get("sequence_number")
            sequence = number if isinstance(number, int) else None
            response = parsed.get("response")
            if isinstance(response, dict) and isinstance(response.get("id"), str):
                response_id = response["id"]
                changes: dict[str, Any] = {}
                if response_id == AUTO_RESPONSE_ID and reply is not None:
                    response_id = changes["id"] = reply.response_id
                if reply is not None and reply.echo is not None:
                    changes.update(reply.echo)
                if changes:
                    rewritten = {**parsed, "response": {**response, **changes}}
                    frame = rewritten if isinstance(frame, dict) else json.dumps(rewritten)
        return _Entry(frame_text(frame), reply, kind, response_id, sequence)

    def _deliver(self, entry: _Entry) -> str:
        reply = entry.reply
        if reply is not None and entry.sequence is not None:
            reply.next_sequence = entry.sequence + 1
        if reply is not None and entry.kind is not None:
            if entry.kind in TERMINAL_KINDS:
                reply.ended = True
            if entry.kind == "response.created":
                reply.created_sent = True
                if entry.response_id is not None:
                    reply.response_id = entry.response_id  # raw frames name their own id
            elif entry.kind == "response.completed":
                response_id = entry.response_id or reply.response_id
                if reply.store:
                    self._fake.ws_stored_responses.add(response_id)
                self._local_response = response_id
        self.sent += 1
        assert isinstance(entry.step, str)
        return entry.step

    def _enqueue(self, steps: list[_Entry]) -> None:
        if not self._queue:
            # The server was idle: this reply starts now (or when the last one's time ran).
            self._cursor = max(self._cursor, anyio.current_time())
        self._queue.extend(steps)
        self._notify()

    def _known(self, response_id: str) -> bool:
        return response_id in self._fake.ws_stored_responses or response_id == self._local_response

    def _in_flight(self) -> _Playing | None:
        """The reply being played whose terminal frame was not sent yet, if any."""
        return next(
            (e.reply for e in self._queue if e.reply is not None and not e.reply.ended), None
        )

    def _create(self, event: dict[str, Any], request: RecordedRequest) -> None:
        fake = self._fake
        store = event.get("store") is True
        model = event.get("model")
        if not isinstance(model, str):
            model = "gpt-4o-mini"
        # What the real API refuses, before anything is generated (see _refusals).
        in_flight = self._in_flight()
        if in_flight is not None:
            self._send_now(in_flight_frame(in_flight.response_id))  # at once; it goes on
            return
        if not fake.knows_model(model):
            self._enqueue([self._entry(unknown_model_frame(model), None)])
            return
        previous = event.get("previous_response_id")
        if previous is not None and not (isinstance(previous, str) and self._known(previous)):
            frame = previous_response_not_found_frame(str(previous))
            self._enqueue([self._entry(frame, None)])
            return
        echo = request_echo(event)
        if event.get("generate") is False:
            playing = _Playing(fake.next_response_id(), store, model, echo=echo)
            frames = warmup_frames(playing.response_id, model)
            self._enqueue([self._entry(frame, playing) for frame in frames])
            return
        reply: WSReply
        if fake.ws_replies:
            reply = fake.ws_replies.popleft()
        elif fake.ws_default is not None:
            reply = fake.ws_default(request)
        else:
            reply = WSReply.error(
                "fake_script_exhausted",
                "FakeOpenAI: no scripted WebSocket reply left for this response.create",
                status=500,
                type="server_error",
            )
        playing = _Playing(
            reply.response_id or fake.next_response_id(),
            store,
            model,
            echo=echo if reply.echo_request else None,
        )
        entries: list[_Entry] = []
        for step in reply.steps:
            if isinstance(step, dict | str):
                entries.append(self._entry(step, playing))
            else:
                entries.append(_Entry(step, playing))
        self._enqueue(entries)

    def _cancel(self, response_id: object) -> None:
        behaviour = self._fake.on_cancel
        if behaviour == "error":
            self._send_now(
                error_frame(
                    "unknown_event",
                    "Unsupported event type: 'response.cancel'.",
                    param="type",
                )
            )
            return
        if behaviour != "stop" or not self._queue:
            return
        playing = self._queue[0].reply
        if playing is None or (response_id is not None and response_id != playing.response_id):
            return
        # Drop the rest of the reply in flight; later replies keep their places.
        self._queue = deque(entry for entry in self._queue if entry.reply is not playing)
        self._cursor = min(self._cursor, anyio.current_time())
        for frame in cancelled_frames(
            playing.response_id,
            playing.model,
            sequence=playing.next_sequence,
            created=playing.created_sent,
        ):
            self._send_now(frame, playing)


class FakeWebSocket:
    """The client end of a fake Responses WebSocket, in memory (implements ``WebSocket``).

    Attributes:
        url: The URL the client connected to.
        request_headers: The handshake headers the client sent.
        server: The server side (``ScriptedResponsesSocket``).
    """

    __slots__ = ("request_headers", "server", "url")

    def __init__(self, server: ScriptedResponsesSocket, url: str, headers: Mapping[str, str]):
        self.server = server
        self.url = url
        self.request_headers = dict(headers)

    def __repr__(self) -> str:
        return f"<FakeWebSocket {describe_url(self.url)} closed={self.closed}>"

    @property
    def closed(self) -> bool:
        """True once either side closed the socket."""
        return self.server.closed

    async def send_text(self, text: str) -> None:
        """Send one frame to the fake (see ``WebSocket.send_text``).

        Raises:
            WebSocketClosed: The socket is closed (the close's code and reason).

        Cancellation: the frame was not sent when this is cancelled (the checkpoint comes
        first).
        """
        await anyio.lowlevel.checkpoint()
        if self.server.closed:
            raise WebSocketClosed(self.server.close_code, self.server.close_reason)
        self.server.client_frame(text)

    async def receive_text(self) -> str:
        """The next server frame (see ``WebSocket.receive_text``).

        Cancellation: nothing is lost (see ``ScriptedResponsesSocket.next_frame``).
        """
        return await self.server.next_frame()

    def receive_text_nowait(self) -> str | None:
        """A server frame that is due now, or None (see ``WebSocket.receive_text_nowait``)."""
        return self.server.next_frame_nowait()

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket: a pending ``receive_text`` raises ``WebSocketClosed(code)``.

        Idempotent, never raises.

        Cancellation: not a cancellation point; the close always happens.
        """
        self.server.close(code, reason)
        await anyio.lowlevel.cancel_shielded_checkpoint()


class FakeWSConnector:
    """A ``WebSocketConnector`` serving a ``FakeOpenAI``'s Responses WebSocket in memory.

    ``connector(url, headers)`` returns a context manager; entering it is the handshake
    (``fake.ws_handshake_delay``, then ``fake.ws_handshake_status`` may refuse it with the
    typed status error, as a real adapter raises) and gives a ``FakeWebSocket``; leaving it
    closes the socket (code 1000). A URL whose path does not end with ``/responses`` is
    accepted and then closed by the server with code 1008, as on the loopback server.
    """

    __slots__ = ("_fake",)

    def __init__(self, fake: FakeState) -> None:
        self._fake = fake

    def __call__(self, url: str, headers: Mapping[str, str]) -> _FakeWSConnection:
        return _FakeWSConnection(self._fake, url, dict(headers))


class _FakeWSConnection:
    __slots__ = ("_fake", "_headers", "_url", "_websocket")

    def __init__(self, fake: FakeState, url: str, headers: dict[str, str]) -> None:
        self._fake = fake
        self._url = url
        self._headers = headers
        self._websocket: FakeWebSocket | None = None

    async def __aenter__(self) -> FakeWebSocket:
        if self._websocket is not None:
            raise RuntimeError("this connection context was already entered")
        fake = self._fake
        if fake.ws_handshake_delay:
            await anyio.sleep(fake.ws_handshake_delay)
        await anyio.lowlevel.checkpoint()
        headers = {key.lower(): value for key, value in self._headers.items()}
        fake.ws_handshakes.append(WSHandshake(self._url, headers))
        if fake.ws_handshake_status is not None:
            raise _rejection(fake.ws_handshake_status, describe_url(self._url))
        path = urlsplit(self._url).path
        server = ScriptedResponsesSocket(fake, path=path, headers=self._headers)
        if not path.endswith("/responses"):
            server.close_from_server(WRONG_PATH_CLOSE, wrong_path_reason(path))
        self._websocket = FakeWebSocket(server, self._url, self._headers)
        return self._websocket

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._websocket is not None:
            await self._websocket.aclose()


def wrong_path_reason(path: str) -> str:
    return f"the fake serves WebSockets only at .../responses, not {path}"


def rejection_body(status: int) -> dict[str, Any]:
    """The API's error body for a refused handshake with ``status``."""
    code: str | None
    if status == 401:
        code, message = "invalid_api_key", "Incorrect API key provided (FakeOpenAI)."
    elif status == 429:
        code, message = "rate_limit_exceeded", "Rate limit reached (FakeOpenAI)."
    else:
        code, message = None, f"FakeOpenAI refused the WebSocket handshake (HTTP {status})."
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _rejection(status: int, where: str) -> APIStatusError | APIConnectionError:
    body = json.dumps(rejection_body(status)).encode()
    return handshake_rejected(status, [(b"content-type", b"application/json")], body, where)

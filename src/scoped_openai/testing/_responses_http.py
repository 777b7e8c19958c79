"""The fake's ``POST /responses`` (``stream: true``): the Responses API over HTTP.

It answers from the same script as the fake's Responses WebSocket (``fake.add_ws``,
``fake.ws_replies``, ``fake.ws_default``), played by the same reply machine
(``ScriptedResponsesSocket``, one per request, counted as an HTTP body and not as a
WebSocket), so a test scripts a reply once and runs it on either transport. Differences, as
the real API's:

- Each event is one Server-Sent Event, ``event: <type>`` then ``data: <the JSON>``. An
  ``error`` event has the flat streaming shape (``{"type": "error", "code", "message",
  "param", "sequence_number"}``), not the WebSocket's nested one.
- What the API refuses before it streams is an HTTP status with the API's error body
  (``{"error": {...}}``): an unknown model (400, ``model_not_found``), a
  ``previous_response_id`` the server does not hold (400, ``previous_response_not_found``):
  over HTTP only stored responses (``store: true``) can be continued, there is no
  connection-local cache), a ``generate`` field (400, ``unknown_parameter``: it belongs to
  the WebSocket mode), a body without ``stream: true`` (400: this fake only streams).
- A scripted ``CloseSocket`` drops the connection mid-body; ``Pause`` and ``Stall`` behave
  as on the socket. The body ends after the terminal event.
"""

from __future__ import annotations

import json
from typing import Any

from .._errors import WebSocketClosed
from ._recorder import RecordedRequest
from ._script import Disconnect, Live, Reply
from ._state import FakeState
from ._ws_fake import TERMINAL_KINDS, ScriptedResponsesSocket


def responses_http_reply(fake: FakeState, request: RecordedRequest, body: dict[str, Any]) -> Reply:
    """The reply to one ``POST /responses`` (``body`` is its JSON object)."""
    refused = _refusal(fake, body)
    if refused is not None:
        return refused
    machine = ScriptedResponsesSocket(
        fake, path=request.path, headers=request.headers, websocket=False
    )
    machine.create({"type": "response.create", **body}, request)
    events = _EventStream(machine)
    return Reply([Live(events.next_step, events.close)])


def _error_reply(status: int, code: str, message: str, param: str | None) -> Reply:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return Reply(
        [json.dumps({"error": error}).encode()],
        status=status,
        headers={"content-type": "application/json"},
    )


def _refusal(fake: FakeState, body: dict[str, Any]) -> Reply | None:
    """What the API refuses before streaming, as its HTTP error; None: accepted."""
    if body.get("stream") is not True:
        return _error_reply(400, "unsupported_value", "FakeOpenAI only streams.", "stream")
    if "generate" in body:
        message = "Unknown parameter: 'generate'."
        return _error_reply(400, "unknown_parameter", message, "generate")
    model = body.get("model")
    if isinstance(model, str) and not fake.knows_model(model):
        message = f"The requested model '{model}' does not exist."
        return _error_reply(400, "model_not_found", message, "model")
    previous = body.get("previous_response_id")
    if previous is not None and previous not in fake.ws_stored_responses:
        message = f"Previous response with id '{previous}' not found."
        return _error_reply(400, "previous_response_not_found", message, "previous_response_id")
    return None


class _EventStream:
    """The reply machine's frames as SSE bytes, up to the terminal event."""

    def __init__(self, machine: ScriptedResponsesSocket) -> None:
        self._machine = machine
        self._over = False

    async def next_step(self) -> bytes | Disconnect | None:
        if self._over:
            return None
        try:
            text = await self._machine.next_frame()
        except WebSocketClosed:  # a scripted CloseSocket: the connection drops
            self._over = True
            return Disconnect()
        kind, data = _as_sse(text)
        if kind in TERMINAL_KINDS:
            self._over = True
        lines = "".join(f"data: {line}\n" for line in data.split("\n"))
        return (f"event: {kind}\n{lines}\n" if kind else f"{lines}\n").encode()

    def close(self) -> None:
        self._machine.close()


def _as_sse(text: str) -> tuple[str | None, str]:
    """The event name and data line of one frame; the nested WebSocket ``error`` frame
    becomes the flat streaming one. A frame that is not a JSON object (a hostile script's)
    is sent as it is, without an event name."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None, text
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None, text
    kind: str = frame["type"]
    nested = frame.get("error")
    if kind == "error" and isinstance(nested, dict):
        flat = {"type": "error", **{key: nested.get(key) for key in ("code", "message", "param")}}
        flat["sequence_number"] = frame.get("sequence_number", 0)
        return kind, json.dumps(flat)
    return kind, text

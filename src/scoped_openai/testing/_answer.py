"""The fake's answer to one HTTP request: the route, the API's refusals, the script."""

from __future__ import annotations

import json
from typing import Any

from ._recorder import RecordedRequest
from ._refusals import empty_messages_reply, unknown_model_reply
from ._responses_http import responses_http_reply
from ._script import Reply
from ._state import FakeState

__all__ = ["answer_http"]


def answer_http(
    fake: FakeState,
    method: str,
    path: str,
    headers: dict[str, str],
    query: dict[str, str],
    body: bytes,
) -> Reply:
    """The reply to one request (and record it): see ``FakeOpenAI.answer``."""
    request = RecordedRequest(method, path, headers, query, body)
    fake.counters.requests.append(request)
    if method == "HEAD":
        return Reply([], status=200, headers={"content-type": "text/plain"})
    parsed = _json_object(body)
    if method == "POST" and path.endswith("/responses"):
        if fake.responses_sse:
            return fake.responses_sse.popleft()
        return responses_http_reply(fake, request, parsed)
    if not path.endswith("/chat/completions"):
        return Reply.error(404, f"the fake serves no {method} {path}")
    model = parsed.get("model")
    if isinstance(model, str) and "/deployments/" not in path and not fake.knows_model(model):
        return unknown_model_reply(model)
    if parsed.get("messages") == []:
        return empty_messages_reply()
    if fake.replies:
        return fake.replies.popleft()
    if fake.default is not None:
        return fake.default(request)
    return Reply.error(500, "FakeOpenAI: no scripted reply left for this request")


def _json_object(body: bytes) -> dict[str, Any]:
    """A request body parsed, when it is a JSON object (else empty: the fake does not judge)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}

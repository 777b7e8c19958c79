"""One refusal rule for HTTP answers and WebSocket handshakes (``_transports/refusal.py``).

The same answer (status, headers, body) must give the same error whichever path received
it: the HTTP transport's ``raise_for_status`` and every engine's ``handshake_rejected``.
"""

from __future__ import annotations

import json

import httpx
import pytest

from scoped_openai import (
    APIStatusError,
    AuthenticationError,
    InternalServerError,
    RateLimitError,
)
from scoped_openai._transports.http import raise_for_status
from scoped_openai._transports.refusal import ERROR_BODY_LIMIT, refusal_error
from scoped_openai._transports.ws_base import handshake_rejected

WHERE = "wss://api.example/v1/responses"


def api_error(message: str, code: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    ).encode()


ANSWERS = [
    pytest.param(401, {"x-request-id": "req_1"}, api_error("bad key", "invalid_api_key"), id="401"),
    pytest.param(
        429, {"retry-after-ms": "1500", "x-request-id": "req_2"}, api_error("slow down"), id="429"
    ),
    pytest.param(503, {"retry-after": "2"}, b"<html>upstream down</html>", id="503-html"),
    pytest.param(
        307, {"location": "https://elsewhere.example/v1/secret?key=1"}, b"", id="307-redirect"
    ),
]


async def from_http(status: int, headers: dict[str, str], body: bytes) -> APIStatusError:
    response = httpx.Response(status, headers=headers, content=body)
    with pytest.raises(APIStatusError) as caught:
        await raise_for_status(response)
    return caught.value


def fields(error: BaseException) -> tuple[object, ...]:
    assert isinstance(error, APIStatusError)
    return (
        type(error),
        str(error),
        error.status_code,
        error.request_id,
        error.retry_after,
        error.code,
        error.body,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "headers", "body"), ANSWERS)
async def test_http_and_handshake_refusals_are_the_same_error(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    over_http = await from_http(status, headers, body)
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
    over_ws = handshake_rejected(status, raw_headers, body, WHERE)
    assert fields(over_ws) == fields(over_http)
    # Only the handshake says which handshake was refused (a note: the message is shared).
    assert over_ws.__notes__ == [f"the WebSocket handshake with {WHERE} was refused"]
    assert getattr(over_http, "__notes__", []) == []


def test_each_status_gets_its_class_request_id_and_retry_after() -> None:
    error = refusal_error(429, [(b"retry-after-ms", b"1500"), (b"x-request-id", b"req_2")], b"")
    assert isinstance(error, RateLimitError)
    assert (error.retry_after, error.request_id) == (1.5, "req_2")
    error = refusal_error(401, [], api_error("bad key", "invalid_api_key"))
    assert isinstance(error, AuthenticationError)
    assert error.code == "invalid_api_key"
    assert str(error).startswith("HTTP 401: bad key")
    assert isinstance(refusal_error(502, [], b"gateway"), InternalServerError)


def test_a_redirect_names_the_origin_only() -> None:
    error = refusal_error(308, [(b"location", b"https://other.example:8443/v1/x?api-key=s")], b"")
    assert type(error) is APIStatusError
    assert error.status_code == 308
    assert "redirected to https://other.example;" in str(error)
    assert "api-key" not in str(error)
    assert "/v1/x" not in str(error)
    assert "not followed" in str(error)


def test_the_body_read_is_bounded() -> None:
    huge = b'{"error": {"message": "' + b"x" * (4 * ERROR_BODY_LIMIT) + b'"}}'
    error = refusal_error(400, [], huge)
    # Past the limit the JSON is cut, so it is not the API's body: the message is the
    # raw text's start, itself bounded.
    assert error.body is None
    assert len(str(error)) < 400


def test_a_handshake_answered_with_another_success_is_not_a_websocket() -> None:
    error = handshake_rejected(200, [(b"content-type", b"text/html")], b"<html>", WHERE)
    assert type(error) is APIStatusError  # the server said no to the upgrade
    assert error.status_code == 200
    assert (
        f"the WebSocket handshake with {WHERE} was answered with HTTP 200 instead of 101: "
        "the server does not speak WebSocket there"
    ) in str(error)


def test_a_success_is_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="not a refusal"):
        refusal_error(200, [], b"")

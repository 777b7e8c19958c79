"""The typed error for an answer that refuses a request: one rule for HTTP and handshakes.

A Chat Completions request (``http.raise_for_status``) and a WebSocket handshake (every
engine, through ``ws_base.handshake_rejected``) can be answered with a redirect or an error
status instead of what was asked. Both become the same error: a 3xx is never followed and
names where it pointed (its origin only: no credential or conversation travels to an address
the caller did not configure); a 4xx/5xx is the status's class (401 ``AuthenticationError``,
429 ``RateLimitError``...) with the API's error body, read bounded, the request id and the
server's ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import anyio
import httpx

from .._errors import APIStatusError, status_error

__all__ = [
    "ERROR_BODY_LIMIT",
    "ERROR_BODY_TIMEOUT",
    "RETRY_AFTER_MAX",
    "read_error_body",
    "refusal_error",
    "retry_after_seconds",
]

#: Bounds on what we read of an error body and how long we wait for it.
ERROR_BODY_LIMIT = 64 * 1024
ERROR_BODY_TIMEOUT = 5.0
#: The longest ``Retry-After`` honoured; a longer one falls back to our own backoff.
RETRY_AFTER_MAX = 60.0


def refusal_error(
    status_code: int,
    headers: httpx.Headers | Iterable[tuple[bytes, bytes]],
    body: bytes,
    where: str | None = None,
) -> APIStatusError:
    """The error for an answer with ``status_code`` 300 or more.

    Args:
        status_code: The answer's status (a 3xx is a redirect, never followed).
        headers: The answer's headers (``location``, ``x-request-id``, ``retry-after``).
        body: The answer's body, or its first bytes (only ``ERROR_BODY_LIMIT`` are read).
        where: What was refused ("the WebSocket handshake with wss://host/path"), added as a
            note; None adds none.
    """
    if status_code < 300:
        raise ValueError(f"HTTP {status_code} is not a refusal")
    if not isinstance(headers, httpx.Headers):
        headers = httpx.Headers(list(headers))
    request_id = headers.get("x-request-id")
    if status_code < 400:
        error = _redirect_error(status_code, headers.get("location", ""), request_id)
    else:
        text = body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
        error = status_error(
            status_code,
            _json_or_none(text),
            request_id=request_id,
            retry_after=retry_after_seconds(headers),
            raw_text=text,
        )
    if where is not None:
        error.add_note(f"{where} was refused")
    return error


def _redirect_error(status_code: int, location: str, request_id: str | None) -> APIStatusError:
    """A 3xx: we do not follow it; say where it pointed (origin only)."""
    target = httpx.URL(location)
    where = f"{target.scheme}://{target.host}" if target.host else "another path"
    return APIStatusError(
        f"HTTP {status_code}: the server redirected to {where}; redirects are not "
        "followed (the request carries credentials and the conversation): configure the "
        "final URL as base_url (wss_url for the WebSocket)",
        status_code=status_code,
        request_id=request_id,
    )


def _json_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """The server's requested wait, from ``retry-after-ms`` or ``Retry-After`` (seconds)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: rare from OpenAI; fall back to our backoff
        if 0 <= seconds <= RETRY_AFTER_MAX:
            return seconds
    return None


async def read_error_body(response: httpx.Response) -> bytes:
    """Up to ``ERROR_BODY_LIMIT`` bytes of a body we will not stream (an error's), within
    ``ERROR_BODY_TIMEOUT``: a status whose body never comes is still reported as itself.

    Cancellation: what was read is lost; the response stays open (its owner closes it).
    """
    raw = b""
    with anyio.move_on_after(ERROR_BODY_TIMEOUT):
        try:
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) >= ERROR_BODY_LIMIT:
                    break
        except httpx.HTTPError:
            pass  # what we have still says what happened
    return raw[:ERROR_BODY_LIMIT]

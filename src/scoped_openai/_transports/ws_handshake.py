"""The HTTP/1.1 exchanges before WebSocket frames flow, read with h11 and bounded in bytes.

Two exchanges, each one request and the head of its answer:

- ``tunnel``: ``CONNECT host:port`` through an HTTP proxy (a 2xx opens the tunnel);
- ``upgrade``: ``GET`` with ``Upgrade: websocket``; a 101 with the right
  ``Sec-WebSocket-Accept`` opens the WebSocket, anything else is a typed error.

Bounds, whatever the server sends: the answer's head (status line and headers) is at most
``HEAD_LIMIT`` bytes (h11 refuses more), a refusal's body is read up to ``ERROR_BODY_LIMIT``
and for at most ``ERROR_BODY_SECONDS``, and nothing is followed: a redirect is an error that
says so, so no credential or frame ever reaches another origin. The bytes a server sent
after the head (the first frames) are returned to the caller, never lost.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import anyio.abc
import h11

from .._errors import APIConnectionError, ProtocolError
from .refusal import ERROR_BODY_LIMIT
from .ws_base import check_accept, handshake_key, handshake_rejected

__all__ = ["HEAD_LIMIT", "tunnel", "upgrade"]

#: The largest answer head (status line + headers) accepted: real ones are under 2 KB.
HEAD_LIMIT = 64 * 1024
#: How long a refusal's body may take to arrive: the status is known, the body only adds
#: the API's message, so a slow body must not turn a 401 into a timeout.
ERROR_BODY_SECONDS = 2.0
#: Bytes per network read while reading a head or a body.
READ_SIZE = 64 * 1024

Answer = h11.Response | h11.InformationalResponse


async def upgrade(
    stream: anyio.abc.ByteStream,
    host_header: str,
    resource: str,
    headers: Mapping[str, str],
    where: str,
) -> bytes:
    """Send the upgrade request and check the 101; return the bytes that followed it.

    Raises:
        APIStatusError: A redirect (never followed) or a 4xx/5xx refusal, typed by status,
            with the API's error body (``refusal.refusal_error``).
        APIConnectionError: Any other answer (a 2xx), or the server closed.
        ProtocolError: Not HTTP, a head over ``HEAD_LIMIT``, or a 101 without the right
            ``Sec-WebSocket-Accept``.
    """
    key = handshake_key()
    request = h11.Request(
        method="GET",
        target=resource,
        headers=[
            (b"Host", host_header.encode("utf-8")),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", key),
            (b"Sec-WebSocket-Version", b"13"),
            *_encoded(headers),
        ],
    )
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
    answer = await _exchange(stream, connection, request, where)
    if answer.status_code != 101:
        await _refused(stream, connection, answer, where)
    check_accept(_header(answer, b"sec-websocket-accept"), key, where)
    return connection.trailing_data[0]


async def tunnel(
    stream: anyio.abc.ByteStream, authority: str, proxy_headers: Mapping[str, str], proxy: str
) -> bytes:
    """Open a ``CONNECT`` tunnel to ``authority`` (``host:port``) through an HTTP proxy;
    return the bytes that followed the proxy's answer.

    Raises:
        APIConnectionError: The proxy refused (its status is in the message) or closed.
        ProtocolError: The proxy's answer is not HTTP or its head is over ``HEAD_LIMIT``.
    """
    request = h11.Request(
        method="CONNECT",
        target=authority,
        headers=[(b"Host", authority.encode("utf-8")), *_encoded(proxy_headers)],
    )
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
    answer = await _exchange(stream, connection, request, f"the proxy {proxy}")
    if not 200 <= answer.status_code < 300:
        raise APIConnectionError(
            f"the proxy {proxy} refused to open a tunnel to {authority}: HTTP {answer.status_code}"
        )
    return connection.trailing_data[0]


def _encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    # UTF-8 cannot fail (latin-1 could, with the offending header value in the message).
    return [(name.encode("utf-8"), value.encode("utf-8")) for name, value in headers.items()]


def _header(answer: Answer, name: bytes) -> bytes | None:
    for key, value in answer.headers:
        if key == name:
            return bytes(value)
    return None


async def _receive_into(stream: anyio.abc.ByteStream, connection: h11.Connection) -> None:
    try:
        data = await stream.receive(READ_SIZE)
    except anyio.EndOfStream:
        data = b""
    connection.receive_data(data)


async def _exchange(
    stream: anyio.abc.ByteStream, connection: h11.Connection, request: h11.Request, where: str
) -> Answer:
    """Send ``request`` and read the head of the answer (skipping 1xx other than 101)."""
    try:
        await stream.send(connection.send(request) + connection.send(h11.EndOfMessage()))
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                await _receive_into(stream, connection)
            elif isinstance(event, h11.Response) or (
                isinstance(event, h11.InformationalResponse) and event.status_code == 101
            ):
                return event
            elif isinstance(event, h11.ConnectionClosed):
                raise APIConnectionError(f"{where} closed the connection without an answer")
    except h11.RemoteProtocolError as exc:
        raise ProtocolError(
            f"{where} did not answer with valid HTTP (or its head is over "
            f"{HEAD_LIMIT:,} bytes): {exc}"
        ) from None
    except h11.LocalProtocolError as exc:  # our own headers: a caller's value h11 refuses
        raise ValueError(f"a header of the WebSocket request is not valid HTTP: {exc}") from None


async def _refused(
    stream: anyio.abc.ByteStream, connection: h11.Connection, answer: Answer, where: str
) -> None:
    """Raise the error for an answer that is not a 101 (an error status's body read, bounded;
    a redirect's is not needed)."""
    status = answer.status_code
    body = await _error_body(stream, connection) if status >= 400 else b""
    raise handshake_rejected(status, answer.headers, body, where)


async def _error_body(stream: anyio.abc.ByteStream, connection: h11.Connection) -> bytes:
    """Up to ``ERROR_BODY_LIMIT`` bytes of the refusal's body, within ``ERROR_BODY_SECONDS``."""
    body = bytearray()
    with anyio.move_on_after(ERROR_BODY_SECONDS):
        try:
            while len(body) < ERROR_BODY_LIMIT:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    await _receive_into(stream, connection)
                elif isinstance(event, h11.Data):
                    body += event.data
                else:  # the end of the body, or of the connection
                    break
        except (h11.RemoteProtocolError, anyio.BrokenResourceError, OSError):
            pass  # what we have still says what happened
    return bytes(body)

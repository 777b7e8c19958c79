"""The asyncio WebSocket adapter: httpx-ws over an ``httpx.AsyncClient``.

How httpx-ws's quirks are handled:

- **Handshake.** We send the upgrade request ourselves (``client.send(..., stream=True)``
  under ``anyio.fail_after(connect_timeout)``) and only then enter httpx-ws's public
  ``AsyncWebSocketSession`` on the upgraded stream. ``aconnect_ws`` would do both in one
  generator, but its session opens a task group, and a task group entered inside our
  ``fail_after`` could not outlive it; splitting lets the timeout cover the whole handshake
  (connect, TLS, request, 101 response) and lets us read a refusal's error body while the
  response is still open (``WebSocketUpgradeError`` arrives after it is closed).
  ``Sec-WebSocket-Accept`` is checked (RFC 6455 §4.1), which httpx-ws skips.
- **Nursery across the yield.** The session's task group (reader + keepalive) stays open while
  the caller's block runs, so ``HttpxWebSocketConnection`` is a class-based context manager
  that enters the session in ``__aenter__`` and exits it in ``__aexit__`` (DESIGN §3).
- **ExceptionGroup.** httpx-ws wraps whatever leaves its block in an ``ExceptionGroup``;
  ``__aexit__`` unwraps it with ``websocket.resolve_exit``: the block's own exception passes
  through unchanged, library errors become ours.
- **Close codes.** ``WebSocketDisconnect(code, reason)`` becomes ``WebSocketClosed``; a
  ``WebSocketNetworkError`` (read/write failure, keepalive timeout) becomes
  ``WebSocketClosed(1006)``, the same code trio-websocket reports for a dropped connection.
  httpx-ws delivers a close only once and then blocks forever on the next receive, so the
  adapter remembers the close and raises it again on every later call.
- **Keepalive.** httpx-ws pings every 20 s and drops the connection when no pong arrives
  within 20 s; we keep that (OpenAI's edge drops idle sockets, and a spare socket is idle).
  Pongs are read by the session's reader, which blocks while a received message waits for
  ``receive_text`` (its queue holds none), so the caller must keep reading: ours always does.
  A keepalive failure cancels the block from inside httpx-ws's task group and surfaces from
  the ``async with`` as ``WebSocketClosed(1006)``.
- **Close.** httpx-ws sends its close frame and drops TCP at once (no wait for the peer's
  reply); its own shielded, unbounded close runs on exit. We close first, under
  ``move_on_after(CLOSE_TIMEOUT, shield=True)``; the library's close then only closes an
  already-closed stream.
- **HTTP/2.** The upgrade needs HTTP/1.1: a client built with ``http2=True`` may negotiate h2
  for ``https`` and the server then refuses the upgrade.
"""

from __future__ import annotations

import contextlib
from types import TracebackType

import anyio
import httpcore
import httpx
import wsproto.events
import wsproto.utilities
from httpx_ws import (
    AsyncWebSocketSession,
    HTTPXWSException,
    WebSocketDisconnect,
    WebSocketNetworkError,
)

from .._errors import APIConnectionError, APITimeoutError, ScopedOpenAIError
from .refusal import read_error_body
from .ws_base import (
    ABNORMAL_CLOSURE,
    CLOSE_TIMEOUT,
    WebSocketClosed,
    binary_frame_error,
    check_accept,
    connect_failed,
    describe_url,
    handshake_key,
    handshake_rejected,
    http_url,
    resolve_exit,
)

__all__ = ["HttpxWebSocket", "HttpxWebSocketConnection"]

#: httpx-ws's keepalive defaults, kept and named here.
KEEPALIVE_INTERVAL = 20.0
# Generous: a process saturated with many sockets may take a while to answer, and a
# stalled turn is caught by the stream's idle timeout anyway (measured: with a 20 s
# timeout, 1,000 concurrent sessions on 2 cores lost their sockets to it).
KEEPALIVE_TIMEOUT = 120.0
#: Bytes per network read (httpx-ws reassembles fragmented messages of any size).
READ_SIZE = 64 * 1024


def map_httpx_ws_error(exc: BaseException) -> BaseException:
    """Our exception for an httpx-ws, httpcore or httpx failure; anything else unchanged."""
    if isinstance(exc, ScopedOpenAIError):
        return exc
    if isinstance(exc, WebSocketDisconnect):
        return WebSocketClosed(exc.code, exc.reason)
    if isinstance(exc, WebSocketNetworkError):
        return WebSocketClosed(ABNORMAL_CLOSURE, "the connection was lost")
    if isinstance(exc, HTTPXWSException | httpcore.NetworkError | httpx.TransportError):
        return APIConnectionError(f"the WebSocket failed: {type(exc).__name__}")
    return exc


class HttpxWebSocket:
    """The ``WebSocket`` over one httpx-ws session (see the module docstring)."""

    __slots__ = ("_close", "_local_close", "_session")

    def __init__(self, session: AsyncWebSocketSession) -> None:
        self._session = session
        # The close we saw or made: raised again by every later send/receive, because httpx-ws
        # reports a close once and then waits forever.
        self._close: tuple[int | None, str] | None = None
        self._local_close = False

    @property
    def closed(self) -> bool:
        """True once a close was seen or sent, or the connection dropped."""
        return self._close is not None

    def _closed_error(self) -> WebSocketClosed:
        assert self._close is not None
        return WebSocketClosed(*self._close)

    async def send_text(self, text: str) -> None:
        """Send one text frame (see ``WebSocket.send_text``)."""
        if self._close is not None:
            raise self._closed_error()
        try:
            await self._session.send_text(text)
        except WebSocketNetworkError:
            self._close = (ABNORMAL_CLOSURE, "the connection was lost")
            raise self._closed_error() from None
        except wsproto.utilities.LocalProtocolError:
            # wsproto refuses to send once the peer's close frame arrived; its code is still
            # queued for receive_text, so it is unknown here.
            raise WebSocketClosed(None, "the peer is closing the WebSocket") from None

    async def receive_text(self) -> str:
        """Return the next text frame (see ``WebSocket.receive_text``)."""
        while True:
            if self._close is not None:
                raise self._closed_error()
            try:
                event = await self._session.receive()
            except WebSocketDisconnect as exc:
                self._close = (exc.code, exc.reason)
                raise self._closed_error() from None
            except WebSocketNetworkError:
                self._close = (ABNORMAL_CLOSURE, "the connection was lost")
                raise self._closed_error() from None
            except HTTPXWSException as exc:
                raise map_httpx_ws_error(exc) from exc
            if isinstance(event, wsproto.events.TextMessage):
                return event.data
            if isinstance(event, wsproto.events.BytesMessage):
                raise binary_frame_error(len(event.data))
            # Anything else (none is documented) carries no data for us: skip it.

    def receive_text_nowait(self) -> str | None:
        """Always None: httpx-ws keeps its queue private, so every frame is one
        ``receive_text`` (the asyncio path measures within its target without batching)."""
        return None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and drop the connection (see ``WebSocket.aclose``)."""
        if self._local_close:
            return
        self._local_close = True
        if self._close is None:
            self._close = (code, reason)
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            # Best effort: whatever happens, the stream is closed and the socket is done.
            with contextlib.suppress(Exception):
                await self._session.close(code, reason or None)


class HttpxWebSocketConnection:
    """Async context manager: handshake on enter, bounded close on exit (module docstring)."""

    __slots__ = (
        "_client",
        "_connect_timeout",
        "_headers",
        "_owns_client",
        "_response",
        "_session",
        "_url",
        "_websocket",
        "_where",
    )

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        client: httpx.AsyncClient | None,
        connect_timeout: float,
    ) -> None:
        self._url = http_url(url)
        self._where = describe_url(url)
        self._headers = headers
        self._client = client
        self._owns_client = client is None
        self._connect_timeout = connect_timeout
        self._response: httpx.Response | None = None
        self._session: AsyncWebSocketSession | None = None
        self._websocket: HttpxWebSocket | None = None

    async def __aenter__(self) -> HttpxWebSocket:
        if self._client is None:
            self._client = httpx.AsyncClient()
        try:
            response = await self._handshake(self._client)
            self._response = response
            session = AsyncWebSocketSession(
                response.extensions["network_stream"],
                max_message_size_bytes=READ_SIZE,
                keepalive_ping_interval_seconds=KEEPALIVE_INTERVAL,
                keepalive_ping_timeout_seconds=KEEPALIVE_TIMEOUT,
                response=response,
            )
            # Entered here, outside any scope of ours: its task group outlives __aenter__.
            await session.__aenter__()
        except BaseException:
            await self._release()
            raise
        self._session = session
        self._websocket = HttpxWebSocket(session)
        return self._websocket

    async def _handshake(self, client: httpx.AsyncClient) -> httpx.Response:
        key = handshake_key()
        headers = {
            **self._headers,
            "connection": "upgrade",
            "upgrade": "websocket",
            "sec-websocket-key": key.decode("ascii"),
            "sec-websocket-version": "13",
        }
        try:
            with anyio.fail_after(self._connect_timeout):
                request = client.build_request("GET", self._url, headers=headers)
                response = await client.send(request, stream=True)
                try:
                    status = response.status_code
                    if status != 101:
                        body = await read_error_body(response) if status >= 400 else b""
                        raise handshake_rejected(status, response.headers, body, self._where)
                    accept = response.headers.get("sec-websocket-accept", "")
                    check_accept(accept.encode("ascii", "replace"), key, self._where)
                except BaseException:
                    with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                        await response.aclose()
                    raise
        except TimeoutError:
            raise APITimeoutError(
                f"the WebSocket handshake with {self._where} did not complete within "
                f"{self._connect_timeout:g} s",
                phase="connect",
                seconds=self._connect_timeout,
            ) from None
        except httpx.TimeoutException as exc:
            # Any httpx timeout before the 101 (connect, pool, or reading the answer) is a
            # handshake timeout.
            raise APITimeoutError(
                f"the WebSocket handshake with {self._where} timed out: {type(exc).__name__}",
                phase="connect",
            ) from None
        except httpx.HTTPError as exc:
            raise connect_failed(exc, self._where) from None
        return response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._session is not None, "__aexit__ without __aenter__"
        assert self._websocket is not None
        try:
            await self._websocket.aclose()
            try:
                await self._session.__aexit__(exc_type, exc, tb)
            except BaseException as raised:
                return resolve_exit(raised, exc, map_httpx_ws_error)
            return False
        finally:
            await self._release()

    async def _release(self) -> None:
        """Close the upgrade response and a client we made; bounded, shielded, silent."""
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
            response, self._response = self._response, None
            if response is not None:
                with contextlib.suppress(Exception):  # the session already closed the stream
                    await response.aclose()
            if self._owns_client and self._client is not None:
                client, self._client = self._client, None
                await client.aclose()

"""Dial the byte stream a WebSocket runs on: TCP, an optional proxy tunnel, then TLS.

anyio's TCP and TLS streams (``ssl.MemoryBIO`` under both backends), so one code path runs on
asyncio and trio. The proxy is the one httpx would use for the same ``https``/``http`` URL
from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``;
``_compat.environment_proxy``): a ``CONNECT`` tunnel through an ``http://`` proxy (or an
``https://`` one, TLS to the proxy first), with ``Proxy-Authorization`` from the proxy URL's
user info.

Failures are ours: an unreachable host or proxy is ``APIConnectionError`` naming it; a
certificate that fails verification is reported at once, saying so (never a timeout).
"""

from __future__ import annotations

import base64
import ssl
from ipaddress import ip_address
from urllib.parse import unquote, urlsplit

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from .._compat import connect_tcp_address, environment_proxy
from .._errors import APIConnectionError
from .ws_base import connect_failed, http_url
from .ws_handshake import tunnel

__all__ = ["BufferedStream", "dial"]


class BufferedStream(anyio.abc.ByteStream):
    """A byte stream that first gives back bytes already read from it (what a proxy sent
    right after its answer: normally nothing, but never dropped)."""

    def __init__(self, stream: anyio.abc.ByteStream, buffered: bytes) -> None:
        self._stream = stream
        self._buffered = buffered

    @property
    def inner(self) -> anyio.abc.ByteStream:
        """The stream beneath."""
        return self._stream

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self._buffered:
            data, self._buffered = self._buffered[:max_bytes], self._buffered[max_bytes:]
            return data
        return await self._stream.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


async def dial(
    host: str, port: int, *, tls: bool, ssl_context: ssl.SSLContext, url: str, where: str
) -> anyio.abc.ByteStream:
    """Open the stream to ``host:port`` (through the environment's proxy for ``url``).

    Raises:
        APIConnectionError: The host or proxy is unreachable, the proxy refused the tunnel,
            or TLS failed (a certificate that fails verification says so).

    Cancellation: whatever was opened is closed; nothing leaks.
    """
    proxy = environment_proxy(http_url(url))
    stream: anyio.abc.ByteStream | None = None
    try:
        if proxy is None:
            stream = await _connect(host, port, where)
        else:
            stream = await _through_proxy(proxy, host, port, ssl_context)
        if tls:
            stream = await _start_tls(stream, host, ssl_context, where)
    except BaseException:
        if stream is not None:
            with anyio.CancelScope(shield=True):
                await anyio.aclose_forcefully(stream)
        raise
    return stream


async def _connect(host: str, port: int, where: str) -> anyio.abc.ByteStream:
    try:
        address = ip_address(host)
    except ValueError:
        address = None  # a name: anyio resolves it and races its addresses
    try:
        if address is not None:
            return await connect_tcp_address(address.compressed, port)
        return await anyio.connect_tcp(host, port)
    except OSError as exc:
        raise connect_failed(exc, where) from None


async def _start_tls(
    stream: anyio.abc.ByteStream, hostname: str, ssl_context: ssl.SSLContext, where: str
) -> anyio.abc.ByteStream:
    try:
        # Not standard-compatible: closing skips the TLS close_notify exchange, as httpx does.
        return await TLSStream.wrap(
            stream, hostname=hostname, ssl_context=ssl_context, standard_compatible=False
        )
    except ssl.SSLCertVerificationError as exc:
        raise APIConnectionError(
            f"the TLS certificate of {where} failed verification: {exc.verify_message}"
        ) from None
    except (ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
        raise APIConnectionError(f"the TLS handshake with {where} failed: {exc!r}") from None


async def _through_proxy(
    proxy: str, host: str, port: int, ssl_context: ssl.SSLContext
) -> anyio.abc.ByteStream:
    parts = urlsplit(proxy)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise APIConnectionError(
            f"the proxy scheme {parts.scheme!r} is not supported for WebSockets "
            "(http:// and https:// proxies are)"
        )
    port_shown = f":{parts.port}" if parts.port else ""
    shown = f"{parts.scheme}://{parts.hostname}{port_shown}"  # no user info
    default_port = 443 if parts.scheme == "https" else 80
    stream = await _connect(parts.hostname, parts.port or default_port, f"the proxy {shown}")
    try:
        if parts.scheme == "https":
            stream = await _start_tls(stream, parts.hostname, ssl_context, f"the proxy {shown}")
        headers = {}
        if parts.username is not None:
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            token = base64.b64encode(userinfo.encode("utf-8")).decode("ascii")
            headers["Proxy-Authorization"] = f"Basic {token}"
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        leftover = await tunnel(stream, authority, headers, shown)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(stream)
        raise
    return BufferedStream(stream, leftover) if leftover else stream

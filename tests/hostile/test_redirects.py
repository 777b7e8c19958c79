"""Issue 18, item 1: redirects are not followed, so nothing reaches another origin.

The API answers 307/308 pointing at a second loopback server (another port: another
origin). The turn must fail with an ``APIStatusError`` naming the redirect, and the second
server must see no connection at all: not the ``api-key``, not the organization header, not
``extra_headers``, not the conversation. The WebSocket handshake is checked the same way.
"""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from scoped_openai import APIStatusError, ChatContext, OpenAILLM
from support.loopback_server import RawServer
from support.raw_http import read_request
from support.turns import turn

pytestmark = pytest.mark.anyio


def redirect_to(target: RawServer, status: int) -> RawServer:
    async def handler(stream: anyio.abc.SocketStream) -> None:
        await read_request(stream)
        reason = b"Temporary Redirect" if status == 307 else b"Permanent Redirect"
        location = f"http://127.0.0.1:{target.port}/v1/chat/completions".encode()
        await stream.send(
            b"HTTP/1.1 %d %s\r\nlocation: %s\r\ncontent-length: 0\r\n\r\n"
            % (status, reason, location)
        )
        await anyio.sleep_forever()

    return RawServer(handler)


async def record(stream: anyio.abc.SocketStream) -> None:
    await read_request(stream)  # the other origin: it must never get here
    await stream.send(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")


def azure(base_url: str, **kwargs: object) -> OpenAILLM:
    return OpenAILLM.azure(
        azure_endpoint="http://127.0.0.1",
        base_url=base_url,
        api_key="azure-SECRET-key",
        organization="org-SECRET",
        extra_headers={"x-tenant-token": "SECRET-tenant"},
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("status", [307, 308])
async def test_http_redirect_to_another_origin_is_not_followed(
    ctx: ChatContext, status: int
) -> None:
    errors: list[Exception] = []
    with anyio.fail_after(10):
        async with RawServer(record) as other, redirect_to(other, status) as api:
            async with azure(api.base_url) as llm:
                llm.on("error", errors.append)
                items, error = await turn(llm, ctx)
            assert other.connections == 0
    assert items == []
    assert isinstance(error, APIStatusError), repr(error)
    assert error.status_code == status
    assert "redirected to http://127.0.0.1" in str(error)
    assert "not followed" in str(error)
    assert errors == [error]


async def test_websocket_handshake_redirect_is_not_followed(ctx: ChatContext) -> None:
    errors: list[Exception] = []
    with anyio.fail_after(10):
        async with RawServer(record) as other, redirect_to(other, 307) as api:
            wss = f"ws://127.0.0.1:{api.port}/v1/responses"
            async with azure(api.base_url, streaming=True, wss_url=wss) as llm:
                llm.on("error", errors.append)
                items, error = await turn(llm, ctx)
            assert other.connections == 0
    assert items == []
    # The same error as the HTTP path's (one refusal rule for requests and handshakes).
    assert isinstance(error, APIStatusError), repr(error)
    assert error.status_code == 307
    assert "redirected to http://127.0.0.1" in str(error)
    assert "not followed" in str(error)
    assert errors == [error]

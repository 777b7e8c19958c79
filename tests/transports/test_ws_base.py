"""``ws_base``: the handshake's key and its proof, shared by the sans-IO and httpx-ws engines."""

from __future__ import annotations

import base64

import pytest

from scoped_openai._errors import ProtocolError
from scoped_openai._transports.ws_base import check_accept, handshake_key


def test_the_accept_is_checked_as_rfc_6455_computes_it() -> None:
    # RFC 6455 §1.3's own example.
    check_accept(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", b"dGhlIHNhbXBsZSBub25jZQ==", "ws://x/")
    for wrong in (None, b"", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo"):
        with pytest.raises(ProtocolError, match="ws://x/ answered 101 without a valid"):
            check_accept(wrong, b"dGhlIHNhbXBsZSBub25jZQ==", "ws://x/")


def test_each_key_is_16_fresh_random_bytes() -> None:
    keys = {handshake_key() for _ in range(8)}
    assert len(keys) == 8
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)

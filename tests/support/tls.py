"""TLS contexts for loopback tests: a server certificate for ``localhost`` from a test CA
(trustme), and a client context that trusts that CA."""

from __future__ import annotations

import ssl

import pytest


def localhost_tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """``(server_context, client_context)``; skips the test where trustme is missing."""
    trustme = pytest.importorskip("trustme", reason="trustme makes the test CA")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context

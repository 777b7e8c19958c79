"""The TLS context every instance shares, loaded without holding the event loop.

Loading certifi's CA bundle (about 120 certificates) is one C call of about 20 ms on this
project's 2-core machine: on the event loop, a realtime audio task on the same loop would
miss 20 of its 1 ms ticks. :func:`load_shared_tls_context` loads the bundle a few
certificates at a time, with a checkpoint between slices (under 1 ms each), so no single
step holds the loop; threads are not an option here (DESIGN.md section 3). One context
serves every instance: a process with a thousand agents pays the bundle (and its 0.8 MB)
once.

The trust is httpx's default (``httpx.create_ssl_context()``): ``SSL_CERT_FILE`` or
``SSL_CERT_DIR`` when set, else certifi's bundle. A bundle file is loaded in slices when it
holds only certificates, else whole; a directory is read lazily by OpenSSL anyway.
"""

from __future__ import annotations

import os
import ssl

from ._errors import UsageError
from ._give_way import give_way

#: Certificates per slice: about 0.5 ms of parsing each on this project's machine (five took
#: 0.9-1.5 ms, with the step after it the most an audio task on the loop would wait).
SLICE = 3
_END = "-----END CERTIFICATE-----"


class _Shared:
    """The context and the PEM slices not loaded into it yet (shared by concurrent loaders:
    each slice is taken and loaded in one step, so none is loaded twice)."""

    __slots__ = ("context", "openssl_ready", "pending")

    def __init__(self) -> None:
        self.context: ssl.SSLContext | None = None
        self.openssl_ready = False
        self.pending: list[str] = []


_shared = _Shared()


def _pem_slices(path: str) -> list[str] | None:
    """A bundle file's certificates, a few per slice; None when it holds anything else
    (a CRL, a trusted-certificate block) or is not text: then it is loaded whole."""
    try:
        with open(path, encoding="ascii") as bundle:
            text = bundle.read()
    except (OSError, UnicodeDecodeError):
        return None
    blocks = [block + _END for block in text.split(_END) if "-----BEGIN" in block]
    if not blocks or text.count("-----BEGIN") != text.count("-----BEGIN CERTIFICATE-----"):
        return None
    # Taken from the end; the first holds one certificate: creating the context is part of
    # that step.
    rest = ["\n".join(blocks[i : i + SLICE]) for i in range(1, len(blocks), SLICE)]
    return [*reversed(rest), blocks[0]]


def _source() -> str:
    """Where the trust comes from, as the error names it."""
    if os.environ.get("SSL_CERT_FILE"):
        return f"SSL_CERT_FILE={os.environ['SSL_CERT_FILE']!r}"
    if os.environ.get("SSL_CERT_DIR"):
        return f"SSL_CERT_DIR={os.environ['SSL_CERT_DIR']!r}"
    return "certifi's CA bundle"


def _unusable(exc: Exception) -> UsageError:
    """The typed error for a bundle that cannot be loaded, naming where it comes from; the
    half-loaded context is dropped, so no client ever trusts part of a bundle."""
    _shared.context = None
    _shared.pending = []
    return UsageError(f"cannot load the CA certificates from {_source()}: {exc}")


def _begin() -> None:
    """Queue the bundle's slices (a step of its own: reading and splitting it takes about
    1 ms), or create the context at once when there is nothing to slice.

    Raises:
        UsageError: The bundle (or directory) cannot be read or holds no usable
            certificate; the message names the variable and the path.
    """
    try:
        cafile = os.environ.get("SSL_CERT_FILE")
        if not cafile and os.environ.get("SSL_CERT_DIR"):
            # Certificates in a hashed directory are read when a handshake needs them.
            _shared.context = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
            return
        if not cafile:
            import certifi  # httpx's own dependency

            cafile = certifi.where()
        slices = _pem_slices(cafile)
        if slices is None:
            _shared.context = ssl.create_default_context(cafile=cafile)
        else:
            _shared.pending = slices
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise _unusable(exc) from exc


def _load_one() -> None:
    """Load one queued slice (the first creates the context), or, before the first, only
    set OpenSSL up: the first context a process creates pays OpenSSL's one-time set-up
    (about 1.5 ms on this project's machine, 0.15 ms for the next), so a throwaway one pays it
    in a step of its own."""
    if _shared.context is None and not _shared.openssl_ready:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _shared.openssl_ready = True
        return
    cadata = _shared.pending.pop()
    try:
        if _shared.context is None:
            _shared.context = ssl.create_default_context(cadata=cadata)
        else:
            _shared.context.load_verify_locations(cadata=cadata)
    except (OSError, ValueError) as exc:  # a malformed certificate in the bundle
        raise _unusable(exc) from exc


def shared_tls_context() -> ssl.SSLContext:
    """The shared context, complete: what :func:`load_shared_tls_context` has not loaded
    yet is loaded now, at once (a client built without ``async with`` pays it here).

    Raises:
        UsageError: The CA certificates cannot be loaded (see ``_begin``).
    """
    if _shared.context is None and not _shared.pending:
        _begin()
    while _shared.pending:
        _load_one()
    assert _shared.context is not None
    return _shared.context


def shared_tls_context_loaded() -> bool:
    """Whether :func:`shared_tls_context` would return at once, reading no file."""
    return _shared.context is not None and not _shared.pending


async def load_shared_tls_context() -> None:
    """Load the shared context a slice per step, if no one has yet.

    Cancellation: what was loaded stays loaded; the rest is loaded by the next call, or at
    once by :func:`shared_tls_context` when a client needs the context.

    Raises:
        UsageError: The CA certificates cannot be loaded (see ``_begin``).
    """
    if _shared.context is None and not _shared.pending:
        await give_way()  # reading the bundle is a step of its own, not the last import's
        if _shared.context is None and not _shared.pending:
            _begin()
    while _shared.pending:
        await give_way()
        if _shared.pending:  # another task may have taken the last slice meanwhile
            _load_one()

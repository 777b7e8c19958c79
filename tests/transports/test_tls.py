"""The shared TLS context: httpx's trust, loaded a slice of the CA bundle per step."""

from __future__ import annotations

import itertools
import ssl
from pathlib import Path
from typing import Any

import anyio
import certifi
import pytest

from scoped_openai import UsageError, _tls


def trusted(context: ssl.SSLContext) -> list[str]:
    return sorted(repr(sorted(cert.items())) for cert in context.get_ca_certs())


CERTIFI = trusted(ssl.create_default_context(cafile=certifi.where()))
#: One certificate with the context, then ``SLICE`` at a time.
SLICES = 1 + -(-(len(CERTIFI) - 1) // _tls.SLICE)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A process that has not loaded the shared context yet, without the env overrides."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    shared = _tls._Shared()
    monkeypatch.setattr(_tls, "_shared", shared)
    return shared


def steps_of(monkeypatch: pytest.MonkeyPatch, shared: Any) -> list[int]:
    """Record, each time the loader gives the loop back, how many certificates are loaded."""
    loaded: list[int] = []
    give_way = _tls.give_way

    async def counting() -> None:
        context = shared.context
        loaded.append(0 if context is None else len(context.get_ca_certs()))
        await give_way()

    monkeypatch.setattr(_tls, "give_way", counting)
    return loaded


@pytest.mark.anyio
async def test_loads_certifi_a_slice_per_step(fresh: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = steps_of(monkeypatch, fresh)
    await _tls.load_shared_tls_context()
    assert fresh.pending == []
    assert trusted(_tls.shared_tls_context()) == CERTIFI
    # Nothing was loaded before the step that reads the bundle, in it, nor in the one that
    # sets OpenSSL up (a throwaway context); then one slice per step.
    counts = [*loaded, len(CERTIFI)]
    assert counts[:3] == [0, 0, 0]
    assert all(0 < b - a <= _tls.SLICE for a, b in itertools.pairwise(counts[2:]))
    assert len(loaded) == 2 + SLICES


@pytest.mark.anyio
async def test_concurrent_loaders_share_the_work(
    fresh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = steps_of(monkeypatch, fresh)
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(_tls.load_shared_tls_context)
    assert trusted(_tls.shared_tls_context()) == CERTIFI
    # Each slice was taken once: beside the slices, each of the three loaders takes at most
    # its step before reading the bundle and one last look.
    assert len(loaded) <= SLICES + 2 * 3


@pytest.mark.anyio
async def test_a_cancelled_load_is_completed_when_the_context_is_needed(
    fresh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = steps_of(monkeypatch, fresh)
    with anyio.CancelScope() as scope:
        give_way = _tls.give_way

        async def cancel_on_the_third() -> None:
            if len(loaded) == 2:
                scope.cancel()
            await give_way()

        monkeypatch.setattr(_tls, "give_way", cancel_on_the_third)
        await _tls.load_shared_tls_context()
    assert scope.cancelled_caught
    assert fresh.pending  # stopped part way
    assert trusted(_tls.shared_tls_context()) == CERTIFI
    assert fresh.pending == []


def test_the_context_without_a_loop_is_complete(fresh: Any) -> None:
    context = _tls.shared_tls_context()
    assert trusted(context) == CERTIFI
    assert _tls.shared_tls_context() is context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_ssl_cert_file_is_honoured_as_httpx_does(
    fresh: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    with open(certifi.where(), encoding="ascii") as bundle:
        first = bundle.read().split("-----END CERTIFICATE-----")[0]
    one = tmp_path / "one.pem"
    one.write_text(first + "-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(one))
    assert len(_tls.shared_tls_context().get_ca_certs()) == 1


@pytest.mark.parametrize(
    ("variable", "content"),
    [
        ("SSL_CERT_FILE", None),  # missing
        ("SSL_CERT_FILE", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
        ("SSL_CERT_FILE", "neither PEM nor anything else"),
        # (SSL_CERT_DIR is read by OpenSSL at each handshake, not here: a wrong directory
        # trusts nothing, and the handshake's certificate error says so.)
    ],
)
@pytest.mark.anyio
async def test_ca_certificates_that_cannot_be_loaded_are_a_usage_error_naming_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, content: str | None
) -> None:
    """DESIGN section 5: a typed error that says where, not a bare FileNotFoundError or
    ssl.SSLError from deep inside; and nothing half-loaded is kept for a later client."""
    monkeypatch.setattr(_tls, "_shared", _tls._Shared())
    path = tmp_path / "bundle.pem"
    if content is not None:
        path.write_text(content)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv(variable, str(path))
    named = rf"{variable}='.*bundle\.pem'"
    with pytest.raises(UsageError, match=named):
        await _tls.load_shared_tls_context()  # entering
    assert not _tls.shared_tls_context_loaded()
    with pytest.raises(UsageError, match=named):
        _tls.shared_tls_context()  # a client built without async with
    assert not _tls.shared_tls_context_loaded()
    monkeypatch.delenv(variable)
    await _tls.load_shared_tls_context()  # fixed: the next load starts afresh
    assert trusted(_tls.shared_tls_context()) == CERTIFI

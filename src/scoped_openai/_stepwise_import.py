"""Import a module graph one module per scheduler step, so no single import holds the loop.

The WebSocket engine (``_transports.ws_sansio``: the ``websockets`` protocol, h11 for the
handshake, anyio's TLS stream) imports about 60 modules, 13-35 ms in one step on this
project's 2-core machine when its first socket opens. Importing them leaves first, one per
step, leaves each step one module body (a package's ``__init__`` runs with its first
submodule). Threads are not an option (DESIGN.md section 3), and importing the engine with
``scoped_openai`` would put the import over its budget.

The HTTP transport (httpcore, which httpx imports when its first client is built, with h11
and h2) is imported the same way when ``import scoped_openai`` did not import it. Their
packages' ``__init__`` import every submodule, so such a package is put in ``sys.modules``
first and its ``__init__`` run last (``_deferred_import``). Two of its module bodies take
about 3 ms each alone (``INDIVISIBLE``): those are imported with ``scoped_openai`` instead.

A list that no longer matches the installed versions costs only speed: a name that does
not exist is skipped, and whatever the last import still needs is imported with it
(``tests/transports/test_stepwise_import.py`` checks the lists are complete).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

from ._deferred_import import complete, defer, defer_module, defer_until_used, is_deferred
from ._give_way import give_way

#: The HTTP transport's imports, leaves first, a package after its submodules: what the
#: first client (httpcore, with certifi's bundle lookup, h11 and, when installed, h2) and
#: the first connection (the host's IDNA encoding in ``getaddrinfo``) import.
HTTP_TRANSPORT = (
    "stringprep",
    "encodings.idna",
    "importlib.resources.abc",
    "importlib.resources._adapters",
    "importlib.resources._common",
    "importlib.resources._legacy",
    "importlib.resources._functional",
    "importlib.resources",
    "certifi.core",
    "certifi",
    "httpcore._exceptions",
    "httpcore._utils",
    "httpcore._models",
    "httpcore._backends.base",
    "httpcore._backends.sync",
    "httpcore._ssl",
    "httpcore._synchronization",
    "httpcore._trace",
    "h11._abnf",
    "h11._util",
    "h11._headers",
    "h11._events",
    "h11._receivebuffer",
    "h11._state",
    "h11._readers",
    "h11._writers",
    "h11._connection",
    "h11._version",
    "h11",
    "httpcore._sync.interfaces",
    "httpcore._sync.http11",
    "httpcore._sync.connection",
    "httpcore._sync.connection_pool",
    "httpcore._sync.http_proxy",
    "h2",
    "h2.config",
    "hpack.exceptions",
    "hpack.huffman",
    "hpack.huffman_constants",
    "hpack.huffman_table",
    "hpack.struct",
    "hpack.table",
    "hpack.hpack",
    "hpack",
    "hyperframe",
    "hyperframe.exceptions",
    "hyperframe.flags",
    "hyperframe.frame",
    "h2.errors",
    "h2.exceptions",
    "h2.settings",
    "h2.events",
    "h2.frame_buffer",
    "h2.utilities",
    "h2.windows",
    "h2.stream",
    "h2.connection",
    "httpcore._sync.http2",
    "socksio",
    "httpcore._sync.socks_proxy",
    "httpcore._sync",
    "httpcore._api",
    "httpcore._backends.auto",
    "httpcore._async.interfaces",
    "httpcore._async.http11",
    "httpcore._async.connection",
    "httpcore._async.connection_pool",
    "httpcore._async.http_proxy",
    "httpcore._async.http2",
    "httpcore._async.socks_proxy",
    "httpcore._async",
    "httpcore._backends.mock",
    "httpcore._backends.anyio",
    "httpcore._backends.trio",
    "httpcore._backends",
    "httpcore",
    "scoped_openai._transports.http11_body",
)

#: The engine's imports, leaves first (``python -X importtime`` shows the order they
#: complete in); a package's submodules that its ``__init__`` imports come with it; a cycle
#: in the order that runs each body alone (``CYCLES``).
WEBSOCKET_ENGINE = (
    "importlib.resources",
    "websockets",
    "hmac",
    "secrets",
    "websockets.typing",
    "websockets.speedups",
    "websockets.exceptions",
    "websockets.frames",
    "websockets.extensions.base",
    "websockets.extensions",
    "websockets.datastructures",
    "websockets.http11",
    "websockets.headers",
    "websockets.streams",
    "websockets.protocol",
    "websockets.uri",
    "websockets.utils",
    "websockets.client",
    "anyio._core._typedattr",
    "anyio.abc._resources",
    "anyio._core._resources",
    "anyio._core._tasks",
    "anyio.abc._tasks",
    "anyio.to_thread",
    "anyio.abc._streams",
    "anyio.streams",
    "anyio.streams.tls",
    "h11",
    "scoped_openai._compat",
    "scoped_openai._transports.ws_handshake",
    "scoped_openai._transports.ws_dial",
    "scoped_openai._transports.ws_frames",
    "scoped_openai._transports.ws_sansio",
)

#: Modules whose body ends by importing others that import it back (``websockets``:
#: exceptions imports frames and http11, frames imports extensions), six modules in one
#: step of about 3 ms. The others are deferred (``_deferred_import.defer_module``) before it
#: runs, so each body runs in its own step when its name comes.
CYCLES = {
    "websockets.exceptions": ("websockets.frames", "websockets.http11", "websockets.extensions"),
}

#: Module bodies of the HTTP transport that alone hold a step for about 3 ms here (h11's
#: and h2's events: nearly all of it dataclass creation), which no order of imports splits.
#: Imported with ``scoped_openai``, before any loop runs, whenever httpcore is not imported
#: yet (the usual case, either backend); their packages stay deferred until entering.
INDIVISIBLE = ("h11._events", "h2.events")

#: Packages a listed module imports but uses only where it never runs here, deferred until
#: used (``_deferred_import.defer_until_used``) before that module is imported: websockets'
#: version module reads ``importlib.metadata`` only in a development checkout, and that
#: package brought zipfile, csv and eight modules more (about 4 ms, steps of up to 1.6 ms).
UNUSED = {"websockets": ("importlib.metadata",)}

#: Names that did not import here.
_unavailable: set[str] = set()
#: The lists (tuples) ``import_stepwise`` walked to their end.
_walked: set[tuple[str, ...]] = set()


def import_indivisible() -> None:
    """Import ``INDIVISIBLE`` now: call it at import time, where no event loop runs. A
    package that ``HTTP_TRANSPORT`` lists after the module (its ``__init__`` imports the
    whole package) is deferred until entering completes it; one listed before it (h2: a
    version string) is imported. What is missing is skipped."""
    for name in INDIVISIBLE:
        if name in sys.modules or name in _unavailable:
            continue
        parts = name.split(".")
        try:
            for end in range(1, len(parts)):
                package = ".".join(parts[:end])
                if package in HTTP_TRANSPORT and (
                    HTTP_TRANSPORT.index(package) > HTTP_TRANSPORT.index(name)
                ):
                    defer(package)
            importlib.import_module(name)
        except ImportError:
            _unavailable.add(name)


async def import_stepwise(names: Iterable[str]) -> None:
    """Import each of ``names`` not imported yet, with a checkpoint before each. A package
    not imported yet when one of its submodules is listed is deferred (``_deferred_import``)
    until its own name comes, which runs its ``__init__``.

    A list walked to its end once is not walked again: every instance entered calls this,
    and checking each name (about 140) cost most of an idle instance's entering.

    Cancellation: the modules imported so far stay imported, and a package left deferred
    completes when first used; a later call (or the code that needs them) imports the rest.
    """
    if isinstance(names, tuple) and names in _walked:
        return
    for name in names:
        module = sys.modules.get(name)
        if (module is not None and not is_deferred(module)) or name in _unavailable:
            continue
        await give_way()
        try:
            if module is not None:
                complete(module)
            else:
                _defer_packages_of(name)
                for later in CYCLES.get(name, ()):
                    defer_module(later)
                for unused in UNUSED.get(name, ()):
                    defer_until_used(unused)
                importlib.import_module(name)
        except ImportError:
            # Another version's graph, or an extra not installed (httpcore's SOCKS proxy
            # without socksio): the module that needs it deals with it. Not tried again:
            # every instance entered would pay a step and the failed import.
            _unavailable.add(name)
    if isinstance(names, tuple):
        _walked.add(names)


def _defer_packages_of(name: str) -> None:
    """Defer the packages ``name`` is in that are not imported yet, outermost first."""
    parts = name.split(".")
    for end in range(1, len(parts)):
        defer(".".join(parts[:end]))

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

from ._compat import CYCLES, HTTP_TRANSPORT, INDIVISIBLE, UNUSED
from ._deferred_import import complete, defer, defer_module, defer_until_used, is_deferred
from ._give_way import give_way

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

"""Import a module graph one module per scheduler step, so no single import holds the loop.

The WebSocket engine (``_transports.ws_sansio``: the ``websockets`` protocol, h11 for the
handshake, anyio's TLS stream) imports about 60 modules, 13-35 ms in one step on this
project's 2-core machine when its first socket opens. Importing them leaves first, one per
step, leaves each step one module body (a package's ``__init__`` runs with its first
submodule). Threads are not an option (DESIGN.md section 3), and importing the engine with
``scoped_openai`` would put the import over its budget.

A list that no longer matches the installed versions costs only speed: a name that does
not exist is skipped, and whatever the last import still needs is imported with it
(``tests/transports/test_stepwise_import.py`` checks the list is complete).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

import anyio.lowlevel

#: The engine's imports, leaves first (``python -X importtime`` shows the order they
#: complete in); a package's submodules that its ``__init__`` imports come with it.
WEBSOCKET_ENGINE = (
    "_csv",
    "csv",
    "zipfile",
    "importlib.resources",
    "importlib.abc",
    "importlib.metadata",
    "websockets",
    "hmac",
    "secrets",
    "websockets.typing",
    "websockets.speedups",
    "websockets.datastructures",
    "websockets.http11",
    "websockets.exceptions",
    "websockets.frames",
    "websockets.extensions.base",
    "websockets.extensions",
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


async def import_stepwise(names: Iterable[str]) -> None:
    """Import each of ``names`` not imported yet, with a checkpoint before each.

    Cancellation: the modules imported so far stay imported; a later call (or the code
    that needs them) imports the rest.
    """
    for name in names:
        if name in sys.modules:
            continue
        await anyio.lowlevel.checkpoint()
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # another version's graph: the module that needs it imports it

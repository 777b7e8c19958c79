"""Which event loop is running: one ``OpenAILLM`` (and its owner) belongs to one loop."""

from __future__ import annotations

import sys

import sniffio


def current_loop() -> object:
    """An object that is the same for every task of one event loop: the asyncio loop or the
    trio run's token; None outside any."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None
    if library == "trio":
        import trio

        return trio.lowlevel.current_trio_token()
    import asyncio

    return asyncio.get_running_loop()


def running_asyncio_loop() -> object:
    """The asyncio loop running in this thread, or None (under trio, or outside any loop).

    One C call where ``current_loop`` makes three Python calls: every turn checks that its
    instance is used in the loop it belongs to. Looked up, not imported: a trio app never
    imports asyncio.
    """
    asyncio = sys.modules.get("asyncio")
    return None if asyncio is None else asyncio._get_running_loop()

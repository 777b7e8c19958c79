"""Which event loop is running: one ``OpenAILLM`` (and its owner) belongs to one loop."""

from __future__ import annotations

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

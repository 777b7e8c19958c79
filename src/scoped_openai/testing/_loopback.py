"""Run the fake on a real loopback socket (hypercorn), on whichever backend is running.

``LoopbackServer`` is a class-based async context manager (not an ``@asynccontextmanager``
generator) because it holds a task group open across the ``async with`` body: a generator
must never yield inside a task group.
"""

from __future__ import annotations

import os
import socket
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import sniffio


class LoopbackServer:
    """Serves an ASGI app on ``127.0.0.1`` at a free port until the block ends."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._task_group: anyio.abc.TaskGroup | None = None
        self._stop = anyio.Event()
        self._sock: socket.socket | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass it as ``OpenAILLM(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> LoopbackServer:
        """Bind a free loopback port and start serving on it.

        Cancellation: nothing is served yet; the socket is closed on exit.
        """
        # Bind before serving, so the port is known and connections queue in the backlog
        # until hypercorn accepts them: no readiness race.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        from hypercorn.config import Config  # imported late: only servers need it

        config = Config()
        # hypercorn closes the fd it is given: give it a duplicate and keep ours.
        config.bind = [f"fd://{os.dup(sock.fileno())}"]
        config.graceful_timeout = 0.2
        # Short: hypercorn (asyncio) holds a connection the client closed after a full body
        # until this expires, which would read as a leak in soaks.
        config.keep_alive_timeout = 5.0
        config.errorlog = None
        config.accesslog = None
        config.websocket_ping_interval = None
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._serve, config)
        return self

    async def _serve(self, config: Any) -> None:
        if sniffio.current_async_library() == "trio":
            from hypercorn.trio import serve as trio_serve

            await trio_serve(self._app, config, shutdown_trigger=self._stop.wait)
        else:
            from hypercorn.asyncio import serve as asyncio_serve

            await asyncio_serve(self._app, config, shutdown_trigger=self._stop.wait)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Stop serving: hypercorn finishes open requests within its ``graceful_timeout``.

        Cancellation: the server's tasks are cancelled with the block.
        """
        self._stop.set()
        task_group, self._task_group = self._task_group, None
        try:
            # hypercorn's graceful_timeout bounds how long this takes.
            if task_group is not None:
                return await task_group.__aexit__(exc_type, exc, tb)
            return None
        finally:
            if self._sock is not None:
                self._sock.close()

"""Reading the command line's input lines without a thread, and its Ctrl-C.

``sys.stdin.readline()`` after ``wait_readable(sys.stdin)`` misses lines already sitting in
Python's buffer (piped input arrives in one read), so the lines are read from the file
descriptor with a buffer of our own. SIGINT is received as a signal for the whole run, so
Ctrl-C is an orderly cancellation (or a barge-in) instead of a ``KeyboardInterrupt`` thrown
into whatever task happens to be running.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc

_READ_SIZE = 65536


class StdinLines:
    """Lines of a file descriptor (stdin by default), read as they become readable."""

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._eof = False
        # A regular file (``< file``) is always readable, and epoll refuses to watch one.
        self._pollable = not stat.S_ISREG(os.fstat(fd).st_mode)

    async def readline(self) -> str:
        """The next line with its newline; the rest at end of input; ``""`` after that.

        Cancellation: nothing is lost; bytes already read stay buffered for the next call.
        """
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line.decode(errors="replace")
            if self._eof:
                rest = bytes(self._buffer)
                self._buffer.clear()
                return rest.decode(errors="replace")
            if self._pollable:
                await anyio.wait_readable(self._fd)
            else:
                await anyio.lowlevel.checkpoint()
            chunk = os.read(self._fd, _READ_SIZE)
            if chunk:
                self._buffer += chunk
            else:
                self._eof = True


class Interrupts:
    """Ctrl-C for the whole run: a barge-in while ``barge_in`` is set, else the end.

    The end cancels the innermost scope opened with ``cancellable()`` (the work against a
    server), so what encloses it, such as the embedded fake server, still shuts down
    gracefully: hypercorn's asyncio server fails with a traceback when it is cancelled.

    Attributes:
        barge_in: What Ctrl-C does while a reply streams (``chat``), or None.
        interrupted: True once Ctrl-C ended the run.
    """

    def __init__(self) -> None:
        self.barge_in: Callable[[], Awaitable[None]] | None = None
        self.interrupted = False
        self._scopes: list[anyio.CancelScope] = []
        self._deferred = False

    def defer(self) -> None:
        """From now on Ctrl-C never cancels the whole run, only a ``cancellable()`` scope,
        made later if need be: call it before starting something that must stop gracefully
        (the embedded fake server), so a Ctrl-C while it starts ends the work at once
        instead of cancelling the server's start."""
        self._deferred = True

    def cancellable(self) -> anyio.CancelScope:
        """A scope Ctrl-C cancels (enter it with ``with``; the latest one counts). After an
        earlier, deferred Ctrl-C it comes already cancelled."""
        scope = anyio.CancelScope()
        self._scopes.append(scope)
        if self.interrupted:
            scope.cancel()
        return scope

    def interrupt(self, run_scope: anyio.CancelScope) -> None:
        """Ctrl-C outside a reply: mark the run interrupted and cancel what it should."""
        self.interrupted = True
        if self._scopes:
            self._scopes[-1].cancel()
        elif not self._deferred:
            run_scope.cancel()

    async def watch(
        self,
        run_scope: anyio.CancelScope,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Receive SIGINT until the run ends (started with ``task_group.start``: the
        handler is installed before the command runs).

        Cancellation: the default handler comes back when it is cancelled.
        """
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            task_status.started()
            async for _ in signals:
                if self.barge_in is not None:
                    await self.barge_in()
                    continue
                self.interrupt(run_scope)
                return

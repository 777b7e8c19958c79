"""``LLMOwner``: enters an ``OpenAILLM`` for code that cannot hold an ``async with`` block.

Voice-agent frameworks (VideoSDK Agents, LiveKit Agents, Pipecat) construct their LLM plugin
synchronously, call ``chat()`` from whatever task runs the pipeline, and close it with an
``aclose()`` from yet another task. None of them enters a context manager, so nothing would
own the task group in which the library keeps its sockets, its warm spare and its deadline
watchdog. An ``LLMOwner`` is that owner: on first use it starts one task, with the running
backend's own means (an asyncio task; a trio system task), which enters ``async with llm:``
and waits; ``aclose()``, from any task, stops every reply, closes the sockets and lets that
task leave the block. This is the one place the library starts a task that no ``async with``
of the caller owns (DESIGN section 3 allows it in ``integrations/`` only).

Example (an asyncio app that cannot restructure around ``async with``)::

    owner = LLMOwner(OpenAILLM(streaming=True))

    async def answer(ctx):
        llm = await owner.get()          # the first call enters the LLM in the owner's task
        async for item in llm.chat(ctx):
            ...

    async def shutdown():
        await owner.aclose()             # from any task; idempotent
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.lowlevel

from .._llm import CLOSE_WAIT, OpenAILLM
from .._loops import current_loop

__all__ = ["LLMOwner"]

logger = logging.getLogger("scoped_openai")

#: The owner task's name, as asyncio and trio show it.
OWNER_TASK_NAME = "scoped_openai.LLMOwner"


class LLMOwner:
    """Owns the ``async with`` block of one ``OpenAILLM`` on behalf of code that cannot.

    Args:
        llm: The LLM to own. It must not be entered elsewhere.

    One owner belongs to one event loop: the loop of the first ``get()``. Using it from
    another loop is a ``RuntimeError`` (the LLM's sockets live on the first one).
    """

    def __init__(self, llm: OpenAILLM) -> None:
        self._llm = llm
        self._loop_token: object | None = None
        self._entered: anyio.Event | None = None
        self._stop: anyio.Event | None = None
        self._done: anyio.Event | None = None
        self._error: BaseException | None = None
        self._task: Any = None  # an asyncio task must be referenced, or it may be collected
        self._open = False
        self._closed = False

    @property
    def llm(self) -> OpenAILLM:
        """The owned LLM (entered only after ``get()`` has returned it)."""
        return self._llm

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` was called (or the owner task ended)."""
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._open else "not started"
        return f"LLMOwner({self._llm!r}, {state})"

    async def get(self) -> OpenAILLM:
        """The LLM, entered by the owner task (started on the first call).

        Concurrent first calls start one owner task and all wait for it. Later calls
        return at once.

        Raises:
            RuntimeError: The owner is closed, or is used from another event loop than
                the one of its first call.
            Exception: Whatever entering the LLM raised (the next call raises it again).

        Cancellation: a cancelled first call leaves the owner task starting; the next call
        waits for it. Nothing leaks: ``aclose()`` ends the task.
        """
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("this LLMOwner is closed")
        self._check_loop()
        if self._open:
            return self._llm
        if self._entered is None:
            self._start()
        assert self._entered is not None
        await self._entered.wait()
        if self._error is not None:
            raise self._error
        if not self._open:
            raise RuntimeError("this LLMOwner is closed")
        return self._llm

    async def aclose(self) -> None:
        """Stop every reply, close the LLM and end the owner task. Idempotent; any task.

        Cancellation: shielded and bounded (the LLM's own close bounds); a cancelled call
        still closes everything, and the cancellation arrives at the caller's next
        checkpoint.
        """
        if self._closed and self._done is None:
            return
        self._closed = True
        with anyio.move_on_after(CLOSE_WAIT * 2, shield=True):
            # In the caller's task: replies stop and sockets close now, whatever the
            # owner task is doing; then the owner leaves the block (which waits for the
            # sockets' bounded polite closes).
            await self._llm.aclose()
            if self._stop is not None:
                self._stop.set()
            if self._done is not None:
                await self._done.wait()
        await anyio.lowlevel.checkpoint()

    # -- the owner task ---------------------------------------------------------------

    def _check_loop(self) -> None:
        token = current_loop()
        if self._loop_token is None:
            self._loop_token = token
        elif token is not self._loop_token:
            raise RuntimeError(
                "this LLMOwner belongs to another event loop: its sockets live there. "
                "Make one OpenAILLM (and owner) per event loop."
            )

    def _start(self) -> None:
        entered, stop, done = anyio.Event(), anyio.Event(), anyio.Event()
        self._entered, self._stop, self._done = entered, stop, done
        import sniffio

        if sniffio.current_async_library() == "trio":
            import trio

            # A system task: trio cancels it when the run ends, and it never receives
            # KeyboardInterrupt (that goes to the main task).
            trio.lowlevel.spawn_system_task(self._run, entered, stop, done, name=OWNER_TASK_NAME)
        else:
            import asyncio

            self._task = asyncio.get_running_loop().create_task(
                self._run(entered, stop, done), name=OWNER_TASK_NAME
            )

    async def _run(self, entered: anyio.Event, stop: anyio.Event, done: anyio.Event) -> None:
        try:
            async with self._llm:
                self._open = True
                entered.set()
                await stop.wait()
        except anyio.get_cancelled_exc_class():
            # The event loop is shutting down (asyncio.run's end, trio's run ending):
            # leaving the block above already closed everything.
            raise
        except Exception as exc:
            # Nobody awaits this task: what it raises goes to the callers of get().
            if not self._open:
                self._error = exc
            else:
                logger.error("closing the owned OpenAILLM failed", exc_info=exc)
        finally:
            self._open = False
            self._closed = True
            entered.set()
            done.set()

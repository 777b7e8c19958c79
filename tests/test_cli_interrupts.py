"""Ctrl-C's decision in the command line, without a signal: what ``Interrupts`` cancels."""

from __future__ import annotations

import anyio
import pytest

from scoped_openai._cli_input import Interrupts


@pytest.mark.anyio
async def test_ctrl_c_before_any_work_cancels_the_run() -> None:
    interrupts = Interrupts()
    with anyio.CancelScope() as run_scope:
        interrupts.interrupt(run_scope)
        await anyio.sleep_forever()  # ended by the cancel
    assert run_scope.cancelled_caught
    assert interrupts.interrupted


@pytest.mark.anyio
async def test_ctrl_c_during_work_cancels_the_work_only() -> None:
    interrupts = Interrupts()
    with anyio.CancelScope() as run_scope, interrupts.cancellable() as work:
        interrupts.interrupt(run_scope)
        await anyio.sleep_forever()  # ended by the cancel
    assert work.cancelled_caught
    assert not run_scope.cancel_called


@pytest.mark.anyio
async def test_ctrl_c_while_the_fake_server_starts_ends_the_work_as_it_begins() -> None:
    interrupts = Interrupts()
    with anyio.CancelScope() as run_scope:
        interrupts.defer()  # the embedded fake server is starting
        interrupts.interrupt(run_scope)
        assert not run_scope.cancel_called  # its start is not cancelled
        with interrupts.cancellable() as work:  # the work then ends at once
            await anyio.sleep_forever()
    assert work.cancelled_caught
    assert interrupts.interrupted

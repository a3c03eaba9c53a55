"""Deadlines and stopping hold although Python 3.11's ``asyncio.wait_for`` can lose a cancellation.

The loops below wait for "work or a second", as the gateway's claimers do. Woken
in the same moment they are cancelled, a loop on ``asyncio.wait_for`` goes on
(CPython gh-86296; redis-py waits that way for every command it sends).
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable

import pytest

from bot.cancellation import cancel_and_wait, within

Wait = Callable[[float, Awaitable[bool]], Awaitable[bool]]


def _wait_for(seconds: float, awaitable: Awaitable[bool]) -> Awaitable[bool]:
    return asyncio.wait_for(awaitable, seconds)


async def _loop(wait: Wait, woken: asyncio.Event, rounds: list[int]) -> None:
    while True:
        rounds.append(1)
        try:
            await wait(1.0, woken.wait())
        except TimeoutError:
            pass
        woken.clear()


async def _woken_and_cancelled(wait: Wait) -> asyncio.Task[None]:
    """A task running ``_loop`` on ``wait``, woken and cancelled in the same moment."""
    woken, rounds = asyncio.Event(), []
    task = asyncio.create_task(_loop(wait, woken, rounds))
    await asyncio.sleep(0.01)
    woken.set()
    task.cancel()
    await asyncio.sleep(0.05)
    return task


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the flaw is Python 3.11's")
async def test_the_flaw_is_real_here():
    """Without this, the tests below would prove nothing on this Python."""
    task = await _woken_and_cancelled(_wait_for)
    assert not task.done()  # the cancellation was lost: it goes on
    await cancel_and_wait([task])
    assert task.cancelled()


async def test_within_lets_the_cancellation_through():
    task = await _woken_and_cancelled(within)
    assert task.cancelled()


async def test_within_times_out():
    with pytest.raises(TimeoutError):
        await within(0.05, asyncio.Event().wait())
    assert await within(1, asyncio.sleep(0, result="done")) == "done"


async def test_cancel_and_wait_stops_a_task_that_lost_its_cancellation():
    woken, rounds = asyncio.Event(), []
    task = asyncio.create_task(_loop(_wait_for, woken, rounds))
    await asyncio.sleep(0.01)
    woken.set()
    await asyncio.wait_for(cancel_and_wait([task]), 5)
    assert task.done()


async def test_cancel_and_wait_gives_up_on_a_task_that_will_not_stop(caplog):
    stubborn = True

    async def refuses() -> None:
        while True:
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                if not stubborn:
                    raise

    task = asyncio.create_task(refuses())
    await asyncio.sleep(0)
    await cancel_and_wait([task], seconds=0.3)
    assert not task.done() and "did not stop" in caplog.text
    stubborn = False
    await cancel_and_wait([task])
    assert task.cancelled()


async def test_a_helper_is_stopped_although_its_owner_is_cancelled_while_stopping_it():
    """A task stopping its helper as it is itself stopped (a conversation's work and its
    lease renewer): the helper ends too, and the owner still ends cancelled."""
    woken, rounds = asyncio.Event(), []
    helpers: list[asyncio.Task[None]] = []

    async def owner() -> None:
        helpers.append(asyncio.create_task(_loop(_wait_for, woken, rounds)))
        try:
            await asyncio.Event().wait()
        finally:
            woken.set()  # woken as it is cancelled: on 3.11 the helper goes on
            await cancel_and_wait(helpers)

    task = asyncio.create_task(owner())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(cancel_and_wait([task]), 5)
    assert task.cancelled() and helpers[0].done()


async def test_cancel_and_wait_retrieves_errors_and_ignores_finished_tasks():
    async def fails() -> None:
        raise RuntimeError("boom")

    loop = asyncio.get_running_loop()
    unretrieved: list[dict] = []
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    failed, finished = asyncio.create_task(fails()), asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait([failed, finished])
    assert failed.done() and finished.done()
    del failed  # collected: asyncio reports an error nobody retrieved to the handler
    gc.collect()
    loop.set_exception_handler(None)
    assert unretrieved == []

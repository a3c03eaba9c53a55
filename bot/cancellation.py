"""Deadlines and stopping that hold although Python 3.11 can lose a cancellation.

Python 3.11's ``asyncio.wait_for`` returns the awaited result when the thing it
waits for finishes in the same moment its caller is cancelled (CPython
gh-86296, fixed in 3.12), and redis-py sends every command through it. A
cancelled loop then goes on: ``Gateway.close`` waited for its claimers forever
(test runs hung on it), and a sweeper told to stop kept sweeping after the app
had closed its stores. So the app's own deadlines use ``within``, which lets a
cancellation through, and whatever stops a background task uses
``cancel_and_wait``, which cancels again until the task has really ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

STOP_SECONDS = 10.0  # a task still running after this is left, and logged
RECANCEL_SECONDS = 0.1  # how often a task that went on after a cancel is cancelled again


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``seconds``."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], seconds: float = STOP_SECONDS) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again those that went on.

    Their errors are not raised (they were being stopped), only retrieved. A task
    still running after ``seconds`` is logged and left, so that a shutdown ends.
    When the caller is cancelled meanwhile (a task stopping its own helpers while
    it is being stopped), the tasks are still stopped first and the caller's
    cancellation is raised afterwards: given up half-way, a helper that went on
    would be nobody's to stop.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    deadline = asyncio.get_running_loop().time() + seconds
    interrupted: asyncio.CancelledError | None = None
    while pending:
        if asyncio.get_running_loop().time() > deadline:
            logger.error("%d background task(s) did not stop", len(pending))
            break
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        except asyncio.CancelledError as cancelled:
            interrupted = interrupted or cancelled
            pending = {task for task in pending if not task.done()}
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: asyncio does not log it as never retrieved
    if interrupted is not None:
        raise interrupted

"""Sends under way in a delivery worker, and the results that finished but are not recorded yet.

A worker keeps a steady flow of sends instead of working batch after batch: a batch waits for its
slowest delivery before it can be recorded, so one target that times out would hold back every
other delivery. Each send is a task; when it finishes its result is put aside for the next write.
A send cancelled by ``interrupt`` (shutdown, docs/shutdown.md) leaves its item aside instead, so
its lease can be given back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger("callout.worker")
Item = TypeVar("Item")
Result = TypeVar("Result")


class InFlight(Generic[Item, Result]):
    """Running sends (each with the item it sends) and their finished results; ``changed`` is set whenever one ends."""

    def __init__(self) -> None:
        self.tasks: dict[asyncio.Task[Result], Item] = {}
        self.finished: list[Result] = []
        self.interrupted: list[Item] = []
        self.changed = asyncio.Event()

    def start(self, coroutine: Coroutine[Any, Any, Result], item: Item) -> None:
        """Run one send of ``item`` as a task."""
        task = asyncio.create_task(coroutine)
        self.tasks[task] = item
        task.add_done_callback(self._finish)

    def _finish(self, task: asyncio.Task[Result]) -> None:
        item = self.tasks.pop(task)
        if task.cancelled():
            self.interrupted.append(item)
        else:
            error = task.exception()
            if error is None:
                self.finished.append(task.result())
            else:  # a bug, not a delivery failure: the lease expires and the delivery is sent again
                log.error("worker.attempt_crashed", error=repr(error))
        self.changed.set()

    def take(self) -> list[Result]:
        """Hand over the finished results, oldest first, and forget them."""
        taken, self.finished = self.finished, []
        return taken

    def give_back(self, results: list[Result]) -> None:
        """Put results that could not be recorded back in front of the newer ones."""
        self.finished[:0] = results

    def interrupt(self) -> None:
        """Cancel the sends under way; their items arrive in ``interrupted`` as the cancellations land."""
        for task in list(self.tasks):
            task.cancel()

    def take_interrupted(self) -> list[Item]:
        """Hand over the items whose sends were cancelled, and forget them."""
        taken, self.interrupted = self.interrupted, []
        return taken

    def abandon(self) -> None:
        """Cancel the sends under way and drop every result (their leases will expire)."""
        self.interrupt()
        self.finished.clear()
        self.interrupted.clear()

    @property
    def idle(self) -> bool:
        """Nothing is being sent, and nothing waits to be recorded or given back."""
        return not self.tasks and not self.finished and not self.interrupted

    async def wait_for_change(self, seconds: float) -> None:
        """Wait until a send finishes, or ``seconds`` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), seconds)
        self.changed.clear()

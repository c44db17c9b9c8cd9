"""One event loop on a dedicated thread, so synchronous code (WSGI workers) can use the async DispatchClient.

Every worker thread submits its coroutines to the same loop: the client's aiohttp session and its
routing snapshot's long poll live there and keep running between requests (docs/host-middleware.md).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """A daemon thread running an event loop until ``close()``."""

    def __init__(self, name: str = "callout-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def running(self) -> bool:
        """The loop still takes work."""
        return self._thread.is_alive() and not self.loop.is_closed()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (its exception is raised here)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def call(self, function: Callable[[], T]) -> T:
        """Call ``function`` inside the loop (e.g. one that needs a running loop) and return its result."""

        async def called() -> T:
            return function()

        return self.run(called())

    def close(self, last: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run ``last`` (e.g. closing the client), cancel what still runs, stop the loop and join the thread."""
        if not self.running:
            return
        if last is not None:
            self.run(_awaited(last))
        self.run(_cancel_others())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


async def _awaited(last: Callable[[], Awaitable[None]]) -> None:
    await last()


async def _cancel_others() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

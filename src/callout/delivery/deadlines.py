"""Per-call deadlines on shared timers: one event-loop timer per tick of deadlines, not one per call.

asyncio keeps its timers in a heap ordered by a Python-level ``__lt__``: a timer per target call,
cancelled when the answer comes, costs a push, a cancellation and — as a target's timeout is usually
the earliest timer — a pop with a dozen Python comparisons on the very next loop turn. Calls made
within one tick (``resolution`` seconds) with the same timeout share a timer here instead; a deadline
fires at most one tick late.

Expiry works like ``asyncio.timeout``: the task is cancelled and the ``CancelledError`` becomes a
``TimeoutError`` when it leaves the scope, unless somebody else cancelled the task too.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType

DEFAULT_RESOLUTION = 0.05


class _Scope:
    """One task's stay under a deadline; entered with ``with``, expired by its tick's timer."""

    __slots__ = ("_bucket", "_task", "expired")

    def __init__(self, task: asyncio.Task[object], bucket: set[_Scope]) -> None:
        self._task = task
        self._bucket = bucket
        self.expired = False

    def __enter__(self) -> None:
        self._bucket.add(self)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._bucket.discard(self)
        if self.expired and self._task.uncancel() == 0 and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def expire(self) -> None:
        self.expired = True
        self._task.cancel()


class _Unlimited:
    """The scope of a call without a deadline."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_UNLIMITED = _Unlimited()


class Deadlines:
    """Hands out deadline scopes for the running task; one instance per sender, any event loop."""

    def __init__(self, resolution: float = DEFAULT_RESOLUTION) -> None:
        self._resolution = resolution
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buckets: dict[int, set[_Scope]] = {}

    def within(self, seconds: float | None) -> _Scope | _Unlimited:
        """A context manager raising TimeoutError in the current task if it stays ``seconds`` or longer."""
        if seconds is None or seconds <= 0:
            return _UNLIMITED
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        loop = task.get_loop()
        if loop is not self._loop:  # tests run one loop after another; timers of a closed loop never fire
            self._loop, self._buckets = loop, {}
        tick = math.ceil((loop.time() + seconds) / self._resolution)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = set()
            loop.call_at(tick * self._resolution, self._expire, tick, bucket)
        return _Scope(task, bucket)

    def _expire(self, tick: int, bucket: set[_Scope]) -> None:
        if self._buckets.get(tick) is bucket:
            del self._buckets[tick]
        for scope in tuple(bucket):
            scope.expire()

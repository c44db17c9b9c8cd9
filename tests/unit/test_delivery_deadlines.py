"""Deadlines on shared timers: expiry as TimeoutError, no effect after leaving in time, outside cancels kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from callout.delivery.deadlines import Deadlines


def _count_timers(loop: asyncio.AbstractEventLoop) -> list[float]:
    """Record the time of every timer the loop is asked for from now on."""
    scheduled: list[float] = []
    call_at = loop.call_at

    def counting_call_at(when: float, callback: Callable[..., object], *args: Any, **kwargs: Any) -> Any:
        scheduled.append(when)
        return call_at(when, callback, *args, **kwargs)

    loop.call_at = counting_call_at  # type: ignore[method-assign]
    return scheduled


class TestExpiry:
    async def test_staying_past_the_deadline_raises_timeout_error(self) -> None:
        """A task still inside its scope when the deadline passes gets TimeoutError, about on time."""
        deadlines = Deadlines(resolution=0.01)
        started = time.perf_counter()
        with pytest.raises(TimeoutError), deadlines.within(0.1):
            await asyncio.sleep(5)
        assert 0.09 <= time.perf_counter() - started < 1.0

    async def test_leaving_in_time_changes_nothing_later(self) -> None:
        """A scope left before its deadline neither raises nor cancels what the task awaits afterwards."""
        deadlines = Deadlines(resolution=0.01)
        with deadlines.within(0.05):
            await asyncio.sleep(0)
        await asyncio.sleep(0.15)  # past the deadline: no CancelledError arrives here

    async def test_deadline_fires_at_most_one_tick_late(self) -> None:
        """With a coarse resolution the timeout still comes within one tick of the deadline."""
        deadlines = Deadlines(resolution=0.2)
        started = time.perf_counter()
        with pytest.raises(TimeoutError), deadlines.within(0.1):
            await asyncio.sleep(5)
        assert 0.09 <= time.perf_counter() - started < 0.2 + 0.1 + 0.5

    async def test_outside_cancellation_stays_a_cancellation(self) -> None:
        """A task cancelled by someone else inside a scope gets CancelledError, not TimeoutError."""
        deadlines = Deadlines(resolution=0.01)

        async def wait_long() -> None:
            with deadlines.within(5):
                await asyncio.sleep(5)

        task = asyncio.create_task(wait_long())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_only_the_expired_task_times_out(self) -> None:
        """Of two tasks in one tick, the one that already left is untouched while the other times out."""
        deadlines = Deadlines(resolution=0.05)

        async def stay(seconds: float) -> str:
            with deadlines.within(0.1):
                await asyncio.sleep(seconds)
            await asyncio.sleep(0.2)
            return "done"

        quick, slow = asyncio.create_task(stay(0.0)), asyncio.create_task(stay(5))
        results = await asyncio.gather(quick, slow, return_exceptions=True)
        assert results == ["done", results[1]]
        assert isinstance(results[1], TimeoutError)


class TestSharing:
    async def test_scopes_in_one_tick_share_one_timer(self) -> None:
        """Fifty scopes opened at once with one timeout ask the loop for a single timer."""
        deadlines = Deadlines(resolution=10.0)
        scheduled = _count_timers(asyncio.get_running_loop())

        async def enter() -> None:
            with deadlines.within(5):
                await asyncio.sleep(0)

        await asyncio.gather(*(enter() for _ in range(50)))
        assert len(scheduled) == 1

    def test_one_instance_serves_one_event_loop_after_another(self) -> None:
        """A Deadlines object used in a second event loop still times out there."""
        deadlines = Deadlines(resolution=0.01)

        async def overstay() -> None:
            with deadlines.within(0.05):
                await asyncio.sleep(5)

        for _ in range(2):
            with pytest.raises(TimeoutError):
                asyncio.run(overstay())

    async def test_no_timeout_means_no_timer(self) -> None:
        """A scope without a positive timeout never expires and schedules nothing."""
        deadlines = Deadlines(resolution=0.01)
        scheduled = _count_timers(asyncio.get_running_loop())
        for seconds in (None, 0.0):
            with deadlines.within(seconds):
                await asyncio.sleep(0)  # a zero sleep asks for no timer of its own
        assert scheduled == []

"""The pruner's pause between batches: short when deliveries are idle, longer while they flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from callout.services.context import ServiceContext
from callout.services.retention import BUSY_PAUSE_SECONDS, PAUSE_SECONDS, Pruner


def _pruner(activity: list[int] | None) -> Pruner:
    context = cast(ServiceContext, object())  # the pause never touches the context
    source: Any = None if activity is None else (lambda: activity[0])
    return Pruner(context, timedelta(days=30), 60.0, source)


def test_no_deliveries_since_the_last_batch_is_the_short_pause() -> None:
    """While no attempt is recorded, batches follow each other after the short pause."""
    pruner = _pruner([5])
    assert (pruner._pause(), pruner._pause()) == (PAUSE_SECONDS, PAUSE_SECONDS)


def test_deliveries_since_the_last_batch_make_the_pause_longer() -> None:
    """Attempts recorded since the previous batch make the pruner wait longer, once per change."""
    activity = [5]
    pruner = _pruner(activity)
    activity[0] = 9
    assert (pruner._pause(), pruner._pause()) == (BUSY_PAUSE_SECONDS, PAUSE_SECONDS)


def test_a_pruner_without_activity_always_takes_the_short_pause() -> None:
    """`callout prune` (no workers to watch) never slows down."""
    assert _pruner(None)._pause() == PAUSE_SECONDS

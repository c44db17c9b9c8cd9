"""The stop-signal counter of ``callout/shutdown.py``: the first signal drains, any later one forces."""

from __future__ import annotations

import signal

from callout.shutdown import StopSignals


def _recording() -> tuple[StopSignals, list[str]]:
    calls: list[str] = []
    return StopSignals(lambda: calls.append("graceful"), lambda: calls.append("forced")), calls


class TestStopSignals:
    def test_first_signal_asks_for_a_graceful_stop(self) -> None:
        """One SIGTERM calls the graceful stop only."""
        signals, calls = _recording()
        signals(signal.SIGTERM)
        assert (calls, signals.received) == (["graceful"], ["SIGTERM"])

    def test_later_signals_force(self) -> None:
        """SIGTERM then SIGINT then SIGTERM: graceful once, then forced for each later signal."""
        signals, calls = _recording()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
            signals(signum)
        assert (calls, signals.received) == (["graceful", "forced", "forced"], ["SIGTERM", "SIGINT", "SIGTERM"])

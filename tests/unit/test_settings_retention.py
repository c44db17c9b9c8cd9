"""The retention settings: CALLOUT_RETENTION and CALLOUT_PRUNE_INTERVAL reach the worker pool (docs/retention.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from callout.services.retention import retention_enabled
from callout.settings import Settings


class TestRetentionSettings:
    def test_environment_sets_the_period(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``CALLOUT_RETENTION=7d`` gives workers a 7-day retention."""
        monkeypatch.setenv("CALLOUT_RETENTION", "7d")
        assert Settings().worker_settings().retention == timedelta(days=7)

    def test_zero_means_keep_forever(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``CALLOUT_RETENTION=0`` turns automatic pruning off."""
        monkeypatch.setenv("CALLOUT_RETENTION", "0")
        assert retention_enabled(Settings().worker_settings().retention) is False

    def test_prune_interval_reaches_the_workers_in_seconds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``CALLOUT_PRUNE_INTERVAL=5m`` makes the pool prune every 300 seconds."""
        monkeypatch.setenv("CALLOUT_PRUNE_INTERVAL", "5m")
        assert Settings().worker_settings().prune_interval == 300.0

    @pytest.mark.parametrize("text", ["0", "1ms", "999ms"])
    def test_prune_interval_must_be_at_least_a_second(self, text: str) -> None:
        """A prune interval under a second (which would keep the database busy) is refused, naming the minimum."""
        with pytest.raises(ValidationError, match="must be at least 1s"):
            Settings(prune_interval=text)  # type: ignore[arg-type]

    @pytest.mark.parametrize("text", ["99999999999d", "999999999999999999s"])
    def test_too_long_a_retention_is_a_validation_error(self, text: str) -> None:
        """A retention beyond what a duration can hold is refused as invalid, not a crash."""
        with pytest.raises(ValidationError, match="too long a duration"):
            Settings(retention=text)  # type: ignore[arg-type]

"""The console's session settings: CALLOUT_CONSOLE_IDLE_TIMEOUT and _SESSION_LIFETIME (docs/console.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from callout.settings import Settings


class TestConsoleSettings:
    def test_defaults_are_thirty_minutes_and_twelve_hours(self) -> None:
        """With nothing set, sessions end after 30 minutes idle or 12 hours."""
        settings = Settings()
        assert (settings.console_idle_timeout, settings.console_session_lifetime) == (
            timedelta(minutes=30),
            timedelta(hours=12),
        )

    def test_environment_sets_the_idle_timeout(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``CALLOUT_CONSOLE_IDLE_TIMEOUT=5m`` gives a five-minute idle timeout."""
        monkeypatch.setenv("CALLOUT_CONSOLE_IDLE_TIMEOUT", "5m")
        assert Settings().console_idle_timeout == timedelta(minutes=5)

    @pytest.mark.parametrize("field", ["console_idle_timeout", "console_session_lifetime"])
    def test_under_a_second_is_refused(self, field: str) -> None:
        """A session time under a second is refused, naming the minimum."""
        with pytest.raises(ValidationError, match="must be at least 1s"):
            Settings(**{field: "500ms"})

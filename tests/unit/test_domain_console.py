"""Console session rules: when a session is live, when a request is recorded, CSRF tokens (docs/console.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callout.domain.console import SessionLimits, csrf_matches, csrf_token_for, hash_session_id, new_session_id

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LIMITS = SessionLimits(idle_timeout=timedelta(minutes=30), lifetime=timedelta(hours=12))


class TestSessionLimits:
    def test_recently_used_session_is_live(self) -> None:
        """A session used a minute ago, created an hour ago, is live."""
        assert LIMITS.is_live(T0, T0 + timedelta(minutes=59), T0 + timedelta(hours=1))

    def test_idle_session_is_over(self) -> None:
        """A session unused for the idle timeout is over."""
        assert not LIMITS.is_live(T0, T0, T0 + timedelta(minutes=30))

    def test_busy_session_ends_at_its_lifetime(self) -> None:
        """A session used a second ago is over once its absolute lifetime has passed."""
        now = T0 + timedelta(hours=12)
        assert not LIMITS.is_live(T0, now - timedelta(seconds=1), now)

    def test_requests_close_together_are_not_recorded(self) -> None:
        """A request 10 s after the last recorded one does not rewrite the row."""
        assert not LIMITS.touch_due(T0, T0 + timedelta(seconds=10))

    def test_short_idle_timeout_records_often(self) -> None:
        """With a 2 s idle timeout, a request 0.3 s later is recorded (a tenth of the timeout)."""
        short = SessionLimits(idle_timeout=timedelta(seconds=2))
        assert short.touch_due(T0, T0 + timedelta(milliseconds=300))


class TestIdsAndCsrf:
    def test_session_ids_are_random_and_stored_hashed(self) -> None:
        """Two new ids differ, and the stored form is not the id."""
        first, second = new_session_id(), new_session_id()
        assert first != second
        assert hash_session_id(first) != first

    def test_own_csrf_token_matches(self) -> None:
        """The token derived from the session id matches it."""
        session_id = new_session_id()
        assert csrf_matches(session_id, csrf_token_for(session_id))

    def test_other_sessions_csrf_token_does_not_match(self) -> None:
        """Another session's token, a missing one or an empty one does not match."""
        session_id = new_session_id()
        assert not csrf_matches(session_id, csrf_token_for(new_session_id()))
        assert not csrf_matches(session_id, None)
        assert not csrf_matches(session_id, "")

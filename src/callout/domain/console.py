"""Web console sessions: ids, their hashes, CSRF tokens and when a session has expired (docs/console.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from callout.domain.auth import Principal

DEFAULT_IDLE_TIMEOUT = timedelta(minutes=30)
DEFAULT_SESSION_LIFETIME = timedelta(hours=12)
# A page load within this long of the last one does not rewrite last_seen_at: a write per page would
# compete with the delivery workers for SQLite's single writer for no gain in precision.
TOUCH_GRANULARITY = timedelta(seconds=30)


@dataclass(frozen=True)
class SessionLimits:
    """How long a session lives: since the last request (idle) and since sign-in (absolute)."""

    idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT
    lifetime: timedelta = DEFAULT_SESSION_LIFETIME

    def is_live(self, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        """Tell whether a session with these times may still be used at ``now``."""
        return now - last_seen_at < self.idle_timeout and now - created_at < self.lifetime

    def touch_due(self, last_seen_at: datetime, now: datetime) -> bool:
        """Tell whether a request at ``now`` should record itself as the session's last activity."""
        return now - last_seen_at >= min(TOUCH_GRANULARITY, self.idle_timeout / 10)


@dataclass(frozen=True)
class ConsoleSession:
    """A stored session: which instance and token it belongs to, and its times."""

    id_hash: str
    instance_id: str
    token_id: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """A live session found from its cookie: the session, the token's principal and the CSRF token."""

    session: ConsoleSession
    principal: Principal
    csrf_token: str


def new_session_id() -> str:
    """A random session id for the cookie (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_session_id(session_id: str) -> str:
    """The stored form of a session id: a leaked database row cannot be turned into a cookie."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token_for(session_id: str) -> str:
    """The session's CSRF token: derived from the secret id, so nothing more is stored."""
    return hmac.new(session_id.encode(), b"callout-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_id: str, sent: str | None) -> bool:
    """Compare a submitted CSRF token with the session's in constant time."""
    return sent is not None and hmac.compare_digest(csrf_token_for(session_id).encode(), sent.encode())

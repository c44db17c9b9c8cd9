"""Database URLs as people write them, mapped onto the async drivers callout runs on.

``postgres://`` (Heroku, libpq tools), ``postgresql://`` and ``postgresql+psycopg://`` all mean
PostgreSQL through psycopg's async driver; ``sqlite://`` and ``sqlite+aiosqlite://`` mean SQLite
through aiosqlite. Anything else is refused in one sentence rather than deep inside SQLAlchemy.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

POSTGRES_DRIVER = "postgresql+psycopg"
SQLITE_DRIVER = "sqlite+aiosqlite"
_DRIVERS = {
    "postgres": POSTGRES_DRIVER,
    "postgresql": POSTGRES_DRIVER,
    "postgresql+psycopg": POSTGRES_DRIVER,
    "postgresql+psycopg_async": POSTGRES_DRIVER,
    "sqlite": SQLITE_DRIVER,
    "sqlite+aiosqlite": SQLITE_DRIVER,
}
EXAMPLES = "postgresql://user:password@host:5432/dbname or sqlite:////absolute/path/callout.db"


def parse_database_url(url: str) -> URL:
    """The URL with its scheme mapped to callout's driver; a ValueError says what is wrong in one line."""
    scheme = url.partition("://")[0].strip().lower() if "://" in url else ""
    if scheme not in _DRIVERS:
        shown = f"scheme {scheme!r}" if scheme else "a URL without a scheme"
        raise ValueError(f"unsupported database URL ({shown}); use {EXAMPLES}")
    try:
        parsed = make_url(url.strip())
    except (sa.exc.ArgumentError, ValueError) as error:
        raise ValueError(f"malformed database URL; use {EXAMPLES}") from error
    return parsed.set(drivername=_DRIVERS[scheme])


def normalize_database_url(url: str) -> str:
    """The URL as text with callout's driver in its scheme (the password kept, for connecting)."""
    return parse_database_url(url).render_as_string(hide_password=False)

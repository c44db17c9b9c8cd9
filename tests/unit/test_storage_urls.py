"""Database URLs as people write them: the schemes callout maps to its drivers, and the ones it refuses."""

from __future__ import annotations

import pytest

from callout.storage.database import PoolSettings, connect_arguments
from callout.storage.urls import normalize_database_url, parse_database_url

MAPPED = [
    ("postgres://u:pw@db.example:5432/callout", "postgresql+psycopg://u:pw@db.example:5432/callout"),
    ("postgresql://u@db.example/callout", "postgresql+psycopg://u@db.example/callout"),
    ("postgresql+psycopg://u@db.example/callout", "postgresql+psycopg://u@db.example/callout"),
    ("sqlite:////var/lib/callout/callout.db", "sqlite+aiosqlite:////var/lib/callout/callout.db"),
    ("sqlite+aiosqlite:////var/lib/callout/callout.db", "sqlite+aiosqlite:////var/lib/callout/callout.db"),
]


class TestNormalizeDatabaseUrl:
    @pytest.mark.parametrize(("given", "used"), MAPPED)
    def test_scheme_maps_to_the_async_driver(self, given: str, used: str) -> None:
        """postgres://, postgresql:// and sqlite:// URLs are used with psycopg's and aiosqlite's async drivers."""
        assert normalize_database_url(given) == used

    def test_query_parameters_are_kept(self) -> None:
        """TLS settings in the query (sslmode, sslrootcert) reach the driver unchanged."""
        url = "postgres://u@db.example/callout?sslmode=verify-full&sslrootcert=/etc/ca.pem"
        assert parse_database_url(url).query == {"sslmode": "verify-full", "sslrootcert": "/etc/ca.pem"}

    @pytest.mark.parametrize("url", ["mysql://u:pw@db.example/x", "http://db.example", "callout.db"])
    def test_unknown_scheme_is_one_clear_line(self, url: str) -> None:
        """Any other scheme (or none) is a one-line ValueError naming it and showing working examples."""
        with pytest.raises(ValueError, match="unsupported database URL") as raised:
            parse_database_url(url)
        assert "\n" not in str(raised.value)
        assert "postgresql://" in str(raised.value)

    def test_malformed_url_does_not_echo_the_password(self) -> None:
        """A URL SQLAlchemy cannot parse is refused without repeating it (it may hold a password)."""
        with pytest.raises(ValueError, match="malformed") as raised:
            parse_database_url("postgres://u:s3cret@db.example:port/x")
        assert "s3cret" not in str(raised.value)


class TestConnectArguments:
    def test_connect_timeout_is_set_by_default(self) -> None:
        """Without connect_timeout in the URL psycopg gets the configured one: a dead host cannot hang a start."""
        url = parse_database_url("postgresql://u@db.example/x")
        assert connect_arguments(url, PoolSettings(connect_timeout_seconds=7)) == {"connect_timeout": 7}

    def test_url_connect_timeout_wins(self) -> None:
        """A connect_timeout given in the URL is left to the driver."""
        url = parse_database_url("postgresql://u@db.example/x?connect_timeout=3")
        assert connect_arguments(url, PoolSettings()) == {}

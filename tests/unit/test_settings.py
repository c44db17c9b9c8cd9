"""Settings of listeners, public URL and connection limits: parsing and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from callout.settings import Settings, split_address
from callout.storage.database import PoolSettings


class TestSplitAddress:
    @given(host=st.ip_addresses().map(str), port=st.integers(0, 65535))
    def test_host_and_port_come_back_whole(self, host: str, port: int) -> None:
        """Any IPv4 ``host:port`` or bracketed IPv6 ``[host]:port`` splits into that host and port."""
        text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        assert split_address(text) == (host, port)

    @pytest.mark.parametrize("text", ["9464", "127.0.0.1", ":9464", "127.0.0.1:", "host:port", "h:70000", "h:-1"])
    def test_malformed_address_is_refused(self, text: str) -> None:
        """Anything but host:port with a port from 0 to 65535 is a ValueError."""
        with pytest.raises(ValueError, match="host:port"):
            split_address(text)


class TestListenerSettings:
    def test_defaults_listen_on_loopback_with_bounded_connections(self) -> None:
        """By default metrics are on 127.0.0.1:9464, no proxy is trusted, and every limit is set."""
        settings = Settings()
        assert settings.metrics_listener == ("127.0.0.1", 9464)
        assert (settings.external_url, settings.forwarded_allow_ips) == (None, "")
        limits = (settings.header_timeout_seconds, settings.body_timeout_seconds, settings.keep_alive_seconds)
        assert (limits, settings.max_connections) == ((10.0, 30.0, 5), 1000)

    def test_empty_metrics_address_turns_the_listener_off(self) -> None:
        """An empty metrics address means no metrics listener."""
        assert Settings(metrics_address="").metrics_listener is None

    def test_environment_sets_the_metrics_address(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """CALLOUT_METRICS_ADDRESS chooses the metrics listener."""
        monkeypatch.setenv("CALLOUT_METRICS_ADDRESS", "[::1]:9000")
        assert Settings().metrics_listener == ("::1", 9000)

    def test_external_url_loses_its_trailing_slash(self) -> None:
        """An external URL ending in / is stored without it."""
        assert Settings(external_url="https://callout.example/base/").external_url == "https://callout.example/base"

    @pytest.mark.parametrize(
        "url", ["callout.example", "ftp://callout.example", "https://", "https://x/?q=1", "https://x/#f"]
    )
    def test_external_url_must_be_a_plain_http_url(self, url: str) -> None:
        """An external URL without http(s) scheme or host, or with a query or fragment, is refused."""
        with pytest.raises(ValidationError):
            Settings(external_url=url)

    def test_forwarded_allow_ips_accepts_addresses_networks_and_star(self) -> None:
        """Proxy entries may be addresses, CIDR networks or *, separated by commas and spaces."""
        settings = Settings(forwarded_allow_ips=" 10.0.0.1, 192.168.0.0/16 ,::1,*")
        assert settings.forwarded_allow_ips == "10.0.0.1,192.168.0.0/16,::1,*"

    def test_forwarded_allow_ips_refuses_host_names(self) -> None:
        """A proxy given by name is refused: only addresses can be matched against the peer."""
        with pytest.raises(ValidationError):
            Settings(forwarded_allow_ips="proxy.internal")

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("header_timeout_seconds", 0),
            ("body_timeout_seconds", -1),
            ("keep_alive_seconds", 0),
            ("max_connections", 0),
        ],
    )
    def test_limits_must_be_positive(self, field: str, value: float) -> None:
        """Zero or negative timeouts and connection caps are refused."""
        with pytest.raises(ValidationError):
            Settings(**{field: value})


class TestDatabaseSettings:
    def test_postgres_url_is_mapped_to_psycopg(self) -> None:
        """CALLOUT_DATABASE_URL=postgres://... is used with psycopg's async driver."""
        settings = Settings(database_url="postgres://callout@db.example:5432/callout")
        assert settings.resolved_database_url == "postgresql+psycopg://callout@db.example:5432/callout"

    def test_unknown_scheme_is_a_validation_error(self) -> None:
        """A database URL with an unknown scheme fails validation, naming the scheme."""
        with pytest.raises(ValidationError, match="unsupported database URL"):
            Settings(database_url="mysql://callout@db.example/callout")

    def test_pool_settings_come_from_the_settings(self) -> None:
        """Pool size, overflow and connect timeout reach the database's pool settings."""
        settings = Settings(database_pool_size=3, database_max_overflow=1, database_connect_timeout_seconds=4)
        assert settings.pool_settings() == PoolSettings(3, 1, 4.0)


class TestLogLevel:
    def test_level_is_read_in_any_case(self) -> None:
        """`WARNING` from an environment variable is the level `warning`."""
        assert Settings(log_level="WARNING").log_level == "warning"

    def test_unknown_level_is_refused(self) -> None:
        """A level logging does not know is a setting error, not a traceback when logging starts."""
        with pytest.raises(ValidationError, match="must be one of debug, info, warning, error"):
            Settings(log_level="verbose")

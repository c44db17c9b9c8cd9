"""Configuration from command-line options and ``CALLOUT_*`` environment variables."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callout.domain.catalog import CatalogLimits
from callout.domain.durations import Duration, DurationWithUnit
from callout.domain.limits import DEFAULT_MAX_BODY_BYTES

if TYPE_CHECKING:
    from callout.services.worker import WorkerSettings
    from callout.storage.database import PoolSettings

DEFAULT_PORT = 8080
DEFAULT_METRICS_ADDRESS = "127.0.0.1:9464"
LOG_LEVELS = ("debug", "info", "warning", "error")


class Settings(BaseSettings):
    """Everything a callout process can be told; the defaults run with no configuration at all."""

    model_config = SettingsConfigDict(env_prefix="CALLOUT_", extra="ignore")

    data_dir: Path = Path("callout-data")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    dev: bool = False
    catalog_file: Path | None = None
    workers: int = Field(default=1, ge=0, le=64)
    delivery_max_attempts: int = Field(default=12, ge=1)
    delivery_max_age_seconds: float = Field(default=86_400, gt=0)
    delivery_base_delay_seconds: float = Field(default=1.0, gt=0)
    delivery_max_delay_seconds: float = Field(default=3_600, gt=0)
    delivery_lease_seconds: float = Field(default=60, gt=0)
    delivery_batch_size: int = Field(default=100, ge=1, le=1000)
    delivery_poll_seconds: float = Field(default=1.0, gt=0)
    egress_allow: list[str] = Field(default_factory=list)
    egress_deny: list[str] = Field(default_factory=list)
    # Pinned addresses per host name (like curl --resolve); "static" resolves only these, never DNS.
    egress_resolve: dict[str, list[str]] = Field(default_factory=dict)
    egress_resolver: str = Field(default="system", pattern="^(system|static)$")
    master_key: SecretStr | None = None
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    # Host-registered catalog entries per instance and kind (docs/limits.md).
    catalog_max_methods: int = Field(default=CatalogLimits.methods, ge=0)
    catalog_max_functions: int = Field(default=CatalogLimits.functions, ge=0)
    catalog_max_events: int = Field(default=CatalogLimits.events, ge=0)
    # The most of a target's answer read; a larger answer is a failure of that target (docs/target-answers.md).
    max_answer_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "info"
    # Listeners, connection limits and the public URL: docs/operations.md.
    metrics_address: str = DEFAULT_METRICS_ADDRESS
    external_url: str | None = None
    forwarded_allow_ips: str = ""
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    keep_alive_seconds: int = Field(default=5, ge=1, le=3600)
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    # How long finished deliveries and their events are kept (docs/retention.md).
    retention: DurationWithUnit = timedelta(days=30)
    # How long API calls and deliveries under way may finish after SIGTERM/SIGINT (docs/shutdown.md).
    shutdown_grace: Duration = timedelta(seconds=10)
    # Retention: how often each process that delivers prunes (docs/retention.md).
    prune_interval: Duration = timedelta(minutes=1)

    @field_validator("prune_interval")
    @classmethod
    def _check_prune_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):  # more often would keep the database busy pruning nothing
            raise ValueError("must be at least 1s, e.g. 1m")
        return value

    # PostgreSQL connections per process and how long a connect may take (docs/operations.md#postgresql).
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    database_max_overflow: int = Field(default=10, ge=0, le=1000)
    database_connect_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Web console sessions end this long after their last request, and this long after sign-in (docs/console.md).
    console_idle_timeout: Duration = timedelta(minutes=30)
    console_session_lifetime: Duration = timedelta(hours=12)

    @field_validator("console_idle_timeout", "console_session_lifetime")
    @classmethod
    def _check_console_duration(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s, e.g. 30m")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        # postgres:// and postgresql:// mean psycopg's async driver; other schemes fail here in one line.
        from callout.storage.urls import normalize_database_url

        return normalize_database_url(value) if value and value.strip() else None

    @field_validator("metrics_address")
    @classmethod
    def _check_metrics_address(cls, value: str) -> str:
        if value.strip():
            split_address(value)
        return value.strip()

    @field_validator("external_url")
    @classmethod
    def _check_external_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                "must be an http(s) URL with a host and no query or fragment, e.g. https://callout.example"
            )
        return value.strip().rstrip("/")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_forwarded_allow_ips(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry != "*":
                ipaddress.ip_network(entry, strict=False)  # a ValueError names the bad entry
        return ",".join(entries)

    @field_validator("master_key")
    @classmethod
    def _check_master_key(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked with the other settings so that a bad key is one line naming its source, never its value.
        if value is not None and len(_base64_or_empty(value.get_secret_value())) != 32:
            raise ValueError("must be 32 random bytes in base64, e.g. from: head -c 32 /dev/urandom | base64")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        # An unknown level would reach logging.getLevelName and fail at start with a traceback.
        if value.strip().lower() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.strip().lower()

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'callout.db').resolve()}"

    @property
    def metrics_listener(self) -> tuple[str, int] | None:
        """The metrics listener's host and port, or None when it is turned off."""
        return split_address(self.metrics_address) if self.metrics_address else None

    def pool_settings(self) -> PoolSettings:
        """The PostgreSQL connection pool of one process."""
        from callout.storage.database import PoolSettings

        return PoolSettings(self.database_pool_size, self.database_max_overflow, self.database_connect_timeout_seconds)

    def catalog_limits(self) -> CatalogLimits:
        """The caps on what host applications register per instance."""
        return CatalogLimits(self.catalog_max_methods, self.catalog_max_functions, self.catalog_max_events)

    def worker_settings(self) -> WorkerSettings:
        """The delivery workers' schedule and limits."""
        from callout.domain.retry import RetryPolicy
        from callout.services.worker import WorkerSettings

        policy = RetryPolicy(
            max_attempts=self.delivery_max_attempts,
            max_age=timedelta(seconds=self.delivery_max_age_seconds),
            base_delay=timedelta(seconds=self.delivery_base_delay_seconds),
            max_delay=timedelta(seconds=self.delivery_max_delay_seconds),
        )
        return WorkerSettings(
            policy=policy,
            batch_size=self.delivery_batch_size,
            lease=timedelta(seconds=self.delivery_lease_seconds),
            poll_interval=self.delivery_poll_seconds,
            retention=self.retention,
            prune_interval=self.prune_interval.total_seconds(),
        )


def _base64_or_empty(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b""


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) as a pair; a ValueError says what is wrong."""
    host, separator, port = address.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not separator or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r} is not host:port (e.g. 127.0.0.1:9464 or [::1]:9464)")
    return host, int(port)

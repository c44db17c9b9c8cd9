"""Configuration from command-line options and ``CALLOUT_*`` environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from callout.services.worker import WorkerSettings

DEFAULT_PORT = 8080


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
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The most of a target's answer read; a larger answer is a failure of that target (SPEC §4).
    max_answer_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "info"

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'callout.db').resolve()}"

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
        )

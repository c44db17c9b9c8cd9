"""Configuration from command-line options and ``CALLOUT_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    egress_allow: list[str] = Field(default_factory=list)
    egress_deny: list[str] = Field(default_factory=list)
    # Pinned addresses per host name (like curl --resolve); "static" resolves only these, never DNS.
    egress_resolve: dict[str, list[str]] = Field(default_factory=dict)
    egress_resolver: str = Field(default="system", pattern="^(system|static)$")
    master_key: SecretStr | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "info"

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, else a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'callout.db').resolve()}"

"""``callout config show``: the effective settings and where each came from, secrets redacted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from callout.config import ConfigError, LoadedSettings, load_settings
from callout.storage.database import redact_url

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
REDACTED = "***"


def register(main: click.Group, storage_options: Decorator, print_table: Callable[..., None]) -> None:
    """Add the ``config`` group to the main command."""

    @main.group()
    def config() -> None:
        """Inspect the configuration (flags > CALLOUT_* variables > callout.toml > defaults)."""

    @config.command("show")
    @storage_options
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
    def show(as_json: bool, **options: Any) -> None:
        """Print every setting's effective value and its source (flag, env, file or default); secrets hidden."""
        try:
            loaded = load_settings(options)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        if as_json:
            click.echo(json.dumps(as_document(loaded), indent=2))
            return
        click.echo(f"config file: {describe_file(loaded)}", err=True)
        rows = [[name, render(value), source] for name, (value, source) in shown_values(loaded).items()]
        print_table(["setting", "value", "source"], rows)


def shown_values(loaded: LoadedSettings) -> dict[str, tuple[Any, str]]:
    """Each setting's value as JSON would show it, secrets redacted, with its source."""
    values = loaded.settings.model_dump(mode="json")
    values["master_key"] = REDACTED if values["master_key"] is not None else None
    url = loaded.settings.database_url
    values["database_url"] = redact_url(url) if url is not None else None
    return {name: (value, loaded.sources[name]) for name, value in values.items()}


def render(value: Any) -> str:
    """A value as one table cell: text as it is, nothing as empty, the rest as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def describe_file(loaded: LoadedSettings) -> str:
    """Which config file was read, or that none was there to read."""
    if loaded.file_found:
        return str(loaded.file.path)
    return f"none ({loaded.file.path} does not exist)"


def as_document(loaded: LoadedSettings) -> dict[str, Any]:
    """The ``--json`` form: the file read and every setting's value and source."""
    settings = {name: {"value": value, "source": source} for name, (value, source) in shown_values(loaded).items()}
    return {"config_file": str(loaded.file.path) if loaded.file_found else None, "settings": settings}

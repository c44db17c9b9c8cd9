"""The ``callout`` command: serve the API, migrate, administer instances and tokens."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog
from rich.console import Console
from rich.table import Table

from callout import cli_backup, cli_config, cli_deliveries, cli_maintenance
from callout.config import ConfigError, load_settings
from callout.domain.auth import Role
from callout.domain.instances import Instance
from callout.errors import CalloutError
from callout.logs import configure_logging
from callout.services import instances as admin
from callout.services.context import ServiceContext
from callout.services.runtime import open_context
from callout.services.secrets import MasterKeyError
from callout.services.webkeys import rotate_web_key
from callout.settings import Settings
from callout.storage.database import redact_url

_F = TypeVar("_F", bound=Callable[..., Any])
log = structlog.get_logger("callout")
INSTANCE_HELP = "The instance to act in; default the only one (with several, the error lists them)."


def storage_options(command: _F) -> _F:
    """Options every command needs to find its data (each also read from CALLOUT_* variables)."""
    command = click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML file of settings; default callout.toml in the data dir, if there (env CALLOUT_CONFIG).",
    )(command)
    command = click.option(
        "--database-url",
        help="postgresql://user:pass@host:5432/db (also postgres://) or sqlite:///path; default SQLite in the data "
        "dir (env CALLOUT_DATABASE_URL).",
    )(command)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory for the SQLite database, master key and admin token; default ./callout-data, relative to "
        "the current directory (env CALLOUT_DATA_DIR). Only serve, worker and migrate create it.",
    )(command)


def metrics_option(command: _F) -> _F:
    """Where a long-running process serves its metrics."""
    return click.option(
        "--metrics-address",
        help="host:port of the Prometheus metrics listener; default 127.0.0.1:9464, empty turns it off "
        "(env CALLOUT_METRICS_ADDRESS).",
    )(command)


def shutdown_grace_option(command: _F) -> _F:
    """How long a long-running process lets work under way finish after SIGTERM or SIGINT."""
    return click.option(
        "--shutdown-grace",
        metavar="DURATION",
        help="After SIGTERM/SIGINT, how long API calls and deliveries under way may finish (e.g. 10s, 500ms); "
        "default 10s (env CALLOUT_SHUTDOWN_GRACE). See docs/shutdown.md.",
    )(command)


def _settings(**given: Any) -> Settings:
    # Only options actually given override the environment, the config file and the defaults.
    try:
        return load_settings(given).settings
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn callout's errors (missing data, an unusable database, a bad master key) into one line and exit 1."""
    try:
        yield
    except CalloutError as error:
        raise click.ClickException(error.message) from error
    except MasterKeyError as error:
        raise click.ClickException(f"master key: {error}") from error


def _run_with_context(
    settings: Settings, action: Callable[[ServiceContext], Coroutine[Any, Any, Any]], *, create: bool = False
) -> Any:
    # Only `migrate` (and serve/worker, which open their own) may create the data (docs/operations.md).
    # Log lines go to stderr at the configured level: stdout carries only the command's output.
    configure_logging(settings.log_format, settings.log_level, short_lived=True)

    async def run() -> Any:
        context = await open_context(settings, create=create)
        try:
            return await action(context)
        finally:
            await context.close()

    with one_line_errors():
        return asyncio.run(run())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="callout")
def main() -> None:
    """callout: ZITADEL-compatible Actions (targets, executions, signed calls)."""


@main.command()
@storage_options
@click.option("--host", help="Interface to listen on; default 127.0.0.1 (env CALLOUT_HOST).")
@click.option("--port", type=int, help="Port to listen on; default 8080 (env CALLOUT_PORT).")
@click.option(
    "--dev",
    is_flag=True,
    default=None,
    help="Development mode: targets on loopback and plain http allowed (env CALLOUT_DEV).",
)
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help='Host catalog, JSON {"methods":[...],"functions":[...],"events":[...]} (env CALLOUT_CATALOG_FILE).',
)
@click.option(
    "--workers", type=click.IntRange(0, 64), help="Delivery workers in this process; default 1 (env CALLOUT_WORKERS)."
)
@metrics_option
@click.option(
    "--external-url",
    help="Public URL of this server, the issuer of the discovery document; default the listener's address "
    "(env CALLOUT_EXTERNAL_URL).",
)
@click.option(
    "--forwarded-allow-ips",
    help="Comma-separated proxy addresses/CIDRs whose X-Forwarded-For/-Proto are believed; default none "
    "(env CALLOUT_FORWARDED_ALLOW_IPS).",
)
@click.option(
    "--header-timeout",
    "header_timeout_seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client has to send the request headers; default 10 (env CALLOUT_HEADER_TIMEOUT_SECONDS).",
)
@click.option(
    "--body-timeout",
    "body_timeout_seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a client has to send the request body; default 30 (env CALLOUT_BODY_TIMEOUT_SECONDS).",
)
@click.option(
    "--keep-alive-timeout",
    "keep_alive_seconds",
    type=click.IntRange(min=1),
    help="Seconds an idle kept-alive connection stays open; default 5 (env CALLOUT_KEEP_ALIVE_SECONDS).",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    help="Connections served at once, more are answered 503; default 1000 (env CALLOUT_MAX_CONNECTIONS).",
)
@shutdown_grace_option
def serve(**options: Any) -> None:
    """Serve the API; the first start creates the default instance and its admin token file."""
    settings = _settings(**options)
    configure_logging(settings.log_format, settings.log_level)
    from callout.server import run_server

    with contextlib.suppress(KeyboardInterrupt), one_line_errors():
        asyncio.run(run_server(settings))


@main.command()
@storage_options
@metrics_option
@click.option(
    "--workers", "count", type=click.IntRange(1, 64), default=2, show_default=True, help="Concurrent worker loops."
)
@shutdown_grace_option
def worker(count: int, **options: Any) -> None:
    """Deliver queued events and async calls, without serving the API (PostgreSQL: run as many as you like)."""
    settings = _settings(**options)
    configure_logging(settings.log_format, settings.log_level)
    from callout.server import run_workers

    with one_line_errors():
        asyncio.run(run_workers(settings, count))


@main.command()
@storage_options
def migrate(**options: Any) -> None:
    """Create the data or apply pending database migrations, and exit."""
    settings = _settings(**options)
    _run_with_context(settings, _noop, create=True)
    click.echo(f"database at {redact_url(settings.resolved_database_url)} is up to date", err=True)


async def _noop(_context: ServiceContext) -> None:
    return None


@main.group()
def instances() -> None:
    """Create and list instances (tenants), switch their features."""


@instances.command("create")
@storage_options
@click.option("--name", required=True, help="A display name for the instance.")
def create_instance(name: str, **options: Any) -> None:
    """Create an instance with a default organization; prints its id."""
    instance = _run_with_context(_settings(**options), lambda ctx: admin.create_instance(ctx, name))
    click.echo(instance.id)


@instances.command("list")
@storage_options
def list_instances(**options: Any) -> None:
    """List every instance."""
    found = _run_with_context(_settings(**options), admin.list_instances)
    rows = [
        [instance.id, instance.name, instance.default_org_id, instance.creation_date.isoformat(), _features(instance)]
        for instance in found
    ]
    _print_table(["id", "name", "default org", "created", "features"], rows)


def _features(instance: Instance) -> str:
    return ", ".join(f"{name}={'on' if on else 'off'}" for name, on in sorted(instance.features.items()))


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    # Piped output is tab-separated so that ids reach scripts whole; a terminal gets a table that
    # folds long cells rather than cutting them.
    if not sys.stdout.isatty():
        for row in [headers, *rows]:
            click.echo("\t".join(row))
        return
    table = Table(*headers)
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@instances.command("set-feature")
@storage_options
@click.argument("instance_id")
@click.argument("feature", type=click.Choice(["actions"]))
@click.argument("state", type=click.Choice(["on", "off"]))
def set_feature(instance_id: str, feature: str, state: str, **options: Any) -> None:
    """Switch a feature of an instance on or off."""
    _run_with_context(_settings(**options), lambda ctx: admin.set_feature(ctx, instance_id, feature, state == "on"))
    click.echo(f"{feature} is {state} for instance {instance_id}", err=True)


@main.group()
def tokens() -> None:
    """Create, list and revoke personal access tokens."""


@tokens.command("create")
@storage_options
@click.option("--instance", "instance_id", help=INSTANCE_HELP)
@click.option("--role", type=click.Choice([role.value for role in Role]), default="IAM_OWNER", show_default=True)
def create_token(instance_id: str | None, role: str, **options: Any) -> None:
    """Create a token; prints the token (only now, it is stored hashed) on stdout."""

    async def create(ctx: ServiceContext) -> Any:
        return await admin.create_token(ctx, await admin.choose_instance(ctx, instance_id), Role(role))

    record, token = _run_with_context(_settings(**options), create)
    click.echo(f"token id {record.id} (role {record.role.value}, instance {record.instance_id})", err=True)
    click.echo(token)


@tokens.command("list")
@storage_options
@click.option("--instance", "instance_id", help="Only the tokens of this instance.")
def list_tokens(instance_id: str | None, **options: Any) -> None:
    """List tokens (their ids and roles, never the secrets)."""
    found = _run_with_context(_settings(**options), lambda ctx: admin.list_tokens(ctx, instance_id))
    rows = [
        [record.id, record.instance_id, record.role.value, record.creation_date.isoformat(), str(record.revoked)]
        for record in found
    ]
    _print_table(["id", "instance", "role", "created", "revoked"], rows)


@tokens.command("revoke")
@storage_options
@click.argument("token_id")
def revoke_token(token_id: str, **options: Any) -> None:
    """Revoke a token by its id."""
    _run_with_context(_settings(**options), lambda ctx: admin.revoke_token(ctx, token_id))
    click.echo(f"token {token_id} revoked", err=True)


@main.group()
def webkeys() -> None:
    """Rotate the keys JWT payloads are signed with."""


@webkeys.command("rotate")
@storage_options
@click.option("--instance", "instance_id", help=INSTANCE_HELP)
@click.option("--algorithm", type=click.Choice(["RS256", "ES256"]), default="RS256", show_default=True)
@click.option(
    "--retention-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="How long the previous public keys stay in the JWKS.",
)
def rotate_webkey(instance_id: str | None, algorithm: str, retention_hours: float, **options: Any) -> None:
    """Make a new web key active; prints its key id (kid)."""
    retention = timedelta(hours=retention_hours)

    async def rotate(ctx: ServiceContext) -> str:
        return await rotate_web_key(ctx, await admin.choose_instance(ctx, instance_id), algorithm, retention)

    kid = _run_with_context(_settings(**options), rotate)
    click.echo(kid)


cli_deliveries.register(main, storage_options, _run_with_context, _settings, _print_table)
cli_config.register(main, storage_options, _print_table)
cli_maintenance.register(main, storage_options, _run_with_context, _settings)
cli_backup.register(main, storage_options, _settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

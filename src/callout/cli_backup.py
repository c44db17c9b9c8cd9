"""``callout backup`` and ``callout rotate-master-key`` (docs/backups.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from callout.errors import CalloutError
from callout.services.backup import MasterKeyCopy, backup_data_dir
from callout.services.master_key import rotate_master_key
from callout.settings import Settings

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
Report = Callable[[int, int], None]

_KEY_NOTES = {
    MasterKeyCopy.COPIED: "master.key is in the backup (mode 0600): store the backup as safely as the data directory",
    MasterKeyCopy.FROM_ENVIRONMENT: "the master key comes from CALLOUT_MASTER_KEY and is NOT in the backup: keep it "
    "with the backup, without it the signing keys and web keys in the backup cannot be read",
    MasterKeyCopy.LEFT_OUT: "master.key was left out (--without-master-key): keep a copy of it apart from the "
    "backup, without it the signing keys and web keys in the backup cannot be read",
    MasterKeyCopy.MISSING: "warning: the data directory has no master.key; the secrets in this backup cannot be read",
}


def register(main: click.Group, storage_options: Decorator, settings: Callable[..., Settings]) -> None:
    """Add ``backup`` and ``rotate-master-key`` to the main command."""

    @main.command("backup")
    @storage_options
    @click.argument("destination", type=click.Path(path_type=Path))
    @click.option("--force", is_flag=True, help="Overwrite the files of an existing backup directory.")
    @click.option(
        "--without-master-key",
        is_flag=True,
        help="Leave master.key out of the backup (then keep it safe elsewhere: the backup is unreadable without it).",
    )
    def backup(destination: Path, force: bool, without_master_key: bool, **options: Any) -> None:
        """Copy a SQLite database while the server runs into the new directory DESTINATION.

        DESTINATION becomes a data directory of its own (callout.db, master.key, admin.pat): restore by
        serving it with --data-dir. For PostgreSQL use pg_dump (docs/backups.md).
        """
        chosen = settings(**options)
        with _progress("copying pages") as report:
            result = _cli_errors(
                lambda: backup_data_dir(
                    chosen, destination, force=force, with_master_key=not without_master_key, progress=report
                )
            )
        click.echo(f"backed up {result.size_bytes} bytes ({result.pages} pages) to {result.directory}", err=True)
        click.echo(_KEY_NOTES[result.master_key], err=True)

    @main.command("rotate-master-key")
    @storage_options
    def rotate(**options: Any) -> None:
        """Re-encrypt every stored secret under a new master key, in one transaction.

        Stop every `callout serve` and `callout worker` first. With master.key in the data directory
        the new key replaces it and the old one is kept as master.key.old; with CALLOUT_MASTER_KEY the
        new key is printed once on stdout and the environment must be updated before the next start.
        """
        chosen = settings(**options)
        announced: list[str] = []
        try:
            with _progress("re-encrypting secrets") as report:
                count = _cli_errors(lambda: asyncio.run(rotate_master_key(chosen, _announcer(announced), report)))
        except click.ClickException as error:
            if announced and "OutcomeUnknown" not in error.message:
                raise click.ClickException(f"{error.message}; nothing changed, the old key stays in use") from error
            raise
        click.echo(f"re-encrypted {count} secrets under the new master key", err=True)
        if chosen.master_key is not None:
            click.echo("set CALLOUT_MASTER_KEY to the key printed above before starting callout again", err=True)
        else:
            click.echo(f"new key in {chosen.data_dir / 'master.key'}; the old one is in master.key.old", err=True)


def _announcer(announced: list[str]) -> Callable[[str], None]:
    def announce(new_key: str) -> None:
        # On stdout before the commit, flushed: a crash after the commit must not lose the only copy.
        click.echo("new master key on stdout; set CALLOUT_MASTER_KEY to it once this command succeeds", err=True)
        click.echo(new_key)
        announced.append(new_key)

    return announce


def _cli_errors(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except CalloutError as error:
        raise click.ClickException(error.message) from error
    except OSError as error:
        raise click.ClickException(f"{error.strerror}: {error.filename}") from error


@contextmanager
def _progress(description: str) -> Iterator[Report]:
    console = Console(stderr=True)
    if not console.is_terminal:  # piped or logged: no bar to redraw, and errors stay one line
        yield lambda _done, _total: None
        return
    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)

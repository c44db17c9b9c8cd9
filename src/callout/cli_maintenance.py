"""``callout prune``: apply retention at once, also while a server runs on the same database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from callout.domain.durations import format_duration, parse_duration_with_unit
from callout.services.context import ServiceContext
from callout.services.retention import PruneCounts, prune, retention_enabled

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class DurationType(click.ParamType[timedelta]):
    """A duration with its unit, such as ``30d``, ``12h`` or ``90m`` (or 0)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        """Parse the text; a bad value is a one-line usage error."""
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration_with_unit(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


def register(
    main: click.Group,
    storage_options: Decorator,
    run: Callable[..., Any],
    settings: Callable[..., Any],
) -> None:
    """Add the ``prune`` command to the main command."""

    @main.command("prune")
    @storage_options
    @click.option(
        "--older-than",
        type=DurationType(),
        help="Prune what finished longer ago than this, e.g. 30d, 12h (default: the retention setting, "
        "env CALLOUT_RETENTION). 0 prunes every finished delivery.",
    )
    def prune_command(older_than: timedelta | None, **options: Any) -> None:
        """Delete finished deliveries, their attempts and unneeded events older than the retention period.

        Pending, retrying and in-flight deliveries are never deleted, nor the events they carry. Safe
        while a server or workers run on the same database: it deletes in small transactions. Progress
        goes to stderr.
        """
        configured = settings(**options)
        if older_than is None:
            if not retention_enabled(configured.retention):
                raise click.UsageError("retention is 0 (keep forever); give --older-than to prune anyway")
            older_than = configured.retention
        counts = run(configured, lambda ctx: _prune_with_progress(ctx, older_than))
        click.echo(f"pruned {_summary(counts)} (older than {format_duration(older_than)})", err=True)


async def _prune_with_progress(context: ServiceContext, older_than: timedelta) -> PruneCounts:
    console = Console(stderr=True)
    if not console.is_terminal:  # piped or logged (cron): no spinner frames, only the summary line
        return await prune(context, older_than)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True) as progress:
        task = progress.add_task("pruned 0 rows", total=None)
        return await prune(
            context, older_than, on_batch=lambda counts: progress.update(task, description=f"pruned {_summary(counts)}")
        )


def _summary(counts: PruneCounts) -> str:
    return f"{counts.deliveries} deliveries, {counts.attempts} attempts, {counts.events} events"

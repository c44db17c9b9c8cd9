"""``callout deliveries``: read the delivery log and redeliver, from the command line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from callout.domain.auth import Principal, Role
from callout.domain.deliveries import DeliveryQuery, DeliveryState
from callout.domain.queries import Pagination
from callout.services import deliveries as service
from callout.services.context import ServiceContext
from callout.services.instances import choose_instance


def operator(instance_id: str) -> Principal:
    """The CLI acts as a SYSTEM caller of one instance."""
    return Principal(user_id="cli", instance_id=instance_id, org_id="", role=Role.SYSTEM, token_id="cli")  # noqa: S106


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
INSTANCE_HELP = "The instance to act in; default the only one (with several, the error lists them)."


def as_operator(
    instance_id: str | None, action: Callable[[ServiceContext, Principal], Awaitable[Any]]
) -> Callable[[ServiceContext], Awaitable[Any]]:
    """Run ``action`` as the operator of the given instance, or of the only one when none is given."""

    async def run(context: ServiceContext) -> Any:
        return await action(context, operator(await choose_instance(context, instance_id)))

    return run


def register(
    main: click.Group,
    storage_options: Decorator,
    run: Callable[..., Any],
    settings: Callable[..., Any],
    print_table: Callable[..., None],
) -> None:
    """Add the ``deliveries`` group to the main command."""

    @main.group()
    def deliveries() -> None:
        """List, inspect and redeliver deliveries of events and async targets."""

    @deliveries.command("list")
    @storage_options
    @click.option("--instance", "instance_id", help=INSTANCE_HELP)
    @click.option(
        "--state", type=click.Choice([s.value for s in DeliveryState]), multiple=True, help="Only these states."
    )
    @click.option("--target", "target_id", help="Only deliveries to this target.")
    @click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
    def list_deliveries(
        instance_id: str | None, state: tuple[str, ...], target_id: str | None, limit: int, **options: Any
    ) -> None:
        """Newest deliveries first."""
        query = DeliveryQuery(Pagination(limit=limit), target_id, None, tuple(DeliveryState(s) for s in state))
        listing = as_operator(instance_id, lambda ctx, who: service.list_deliveries(ctx, who, query))
        page = run(settings(**options), listing)
        rows = [
            [
                d.id,
                d.target_id,
                d.execution_id,
                d.state.value,
                str(d.attempts),
                str(d.last_status or ""),
                d.created_at.isoformat(),
            ]
            for d in page.items
        ]
        print_table(["id", "target", "execution", "state", "attempts", "last status", "created"], rows)
        click.echo(f"{len(page.items)} of {page.total}", err=True)

    @deliveries.command("show")
    @storage_options
    @click.option("--instance", "instance_id", help=INSTANCE_HELP)
    @click.argument("delivery_id")
    def show(instance_id: str | None, delivery_id: str, **options: Any) -> None:
        """One delivery with all its attempts."""
        delivery, attempts = run(
            settings(**options), as_operator(instance_id, lambda ctx, who: service.get_delivery(ctx, who, delivery_id))
        )
        click.echo(
            f"{delivery.webhook_id}  {delivery.state.value}  target {delivery.target_id}  {delivery.execution_id}"
        )
        rows = [
            [
                str(a.number),
                a.started_at.isoformat(),
                str(a.status or ""),
                f"{a.latency.total_seconds() * 1000:.1f} ms",
                a.error or "",
            ]
            for a in attempts
        ]
        print_table(["#", "started", "status", "latency", "error"], rows)

    @deliveries.command("redeliver")
    @storage_options
    @click.option("--instance", "instance_id", help=INSTANCE_HELP)
    @click.option("--failed-since", type=click.DateTime(), help="Redeliver every failed delivery created since (UTC).")
    @click.argument("delivery_ids", nargs=-1)
    def redeliver(
        instance_id: str | None, failed_since: datetime | None, delivery_ids: tuple[str, ...], **options: Any
    ) -> None:
        """Queue deliveries again (same webhook-id), by id or all failed since a time."""
        if not delivery_ids and failed_since is None:
            raise click.UsageError("give delivery ids or --failed-since")
        if failed_since is not None:
            since = failed_since
            queue_failed = as_operator(instance_id, lambda ctx, who: _redeliver_failed(ctx, who, since))
            count = run(settings(**options), queue_failed)
            click.echo(f"{count} failed deliveries queued again", err=True)
        for delivery_id in delivery_ids:
            run(settings(**options), as_operator(instance_id, partial(_redeliver_one, delivery_id)))
            click.echo(f"{delivery_id} queued again", err=True)


async def _redeliver_one(delivery_id: str, context: ServiceContext, principal: Principal) -> None:
    await service.redeliver(context, principal, delivery_id)


async def _redeliver_failed(context: ServiceContext, principal: Principal, since: datetime) -> int:
    moment = since if since.tzinfo else since.replace(tzinfo=UTC)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=Console(stderr=True)) as progress:
        task = progress.add_task("queued 0", total=None)
        return await service.redeliver_failed(
            context, principal, moment, lambda done: progress.update(task, description=f"queued {done}")
        )

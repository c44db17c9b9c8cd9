"""Retention next to live delivery, on SQLite and PostgreSQL: the worker pool's pruner, its metric, and
pruning while workers deliver to a real receiver on 127.0.0.1 (docs/retention.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest

from callout.api.metrics import ApiMetrics
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.deliveries import Attempt, DeliveryState, NewDelivery
from callout.domain.egress import EgressPolicy
from callout.domain.executions import Condition, ConditionType
from callout.domain.targets import TargetSpec, TargetType
from callout.services import executions as execution_service
from callout.services import retention
from callout.services import targets as target_service
from callout.services.context import ServiceContext
from callout.services.worker import WorkerSettings
from callout.services.workers import WorkerPool
from callout.settings import Settings
from callout.storage import deliveries as delivery_store
from callout.testing import RecordingReceiver
from tests.conftest import MakePrincipal
from tests.integration.test_retention import Rows, count_rows

WAIT_SECONDS = 20.0
Dev = tuple[ServiceContext, Principal]
FAST = WorkerSettings(poll_interval=0.05)


@pytest.fixture
async def dev(
    context: ServiceContext, make_principal: MakePrincipal
) -> AsyncIterator[tuple[ServiceContext, Principal]]:
    """A development-mode context (loopback targets allowed) and an owner of a new instance."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    principal, _ = await make_principal(Role.IAM_OWNER)
    yield replace(context, egress=policy, sender=sender), principal
    await sender.close()


async def _bind(context: ServiceContext, principal: Principal, receiver: RecordingReceiver) -> None:
    """Send every target.* event of the instance to the receiver."""
    spec = TargetSpec("hook", TargetType.WEBHOOK, False, timedelta(seconds=5), receiver.url)
    target, _ = await target_service.create_target(context, principal, spec)
    condition = Condition(ConditionType.EVENT, group="target")
    await execution_service.set_execution(context, principal, condition, [target.id])


async def _emit(context: ServiceContext, principal: Principal, count: int) -> None:
    """Write ``count`` target.added events, one transaction each, with a pause for the workers."""
    for index in range(count):
        spec = TargetSpec(f"other-{index}", TargetType.WEBHOOK, False, timedelta(seconds=1), "https://example.com")
        await target_service.create_target(context, principal, spec)
        await asyncio.sleep(0.005)


async def _until(condition_met: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if await condition_met():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"not {what} after {WAIT_SECONDS}s")


async def _prune_repeatedly(context: ServiceContext, stop: asyncio.Event) -> int:
    """Prune every finished delivery over and over until stopped; the rows deleted."""
    deleted = 0
    while not stop.is_set():
        deleted += (await retention.prune(context, timedelta(0))).total
        await asyncio.sleep(0.01)
    return deleted


class TestPruningWhileDelivering:
    async def test_every_event_is_delivered_while_pruning_runs(self, dev: Dev) -> None:
        """With pruning of everything finished running throughout, each of 40 events reaches the receiver."""
        context, principal = dev
        with RecordingReceiver() as receiver:
            await _bind(context, principal, receiver)
            pool = WorkerPool(context, 2, FAST)
            pool.start()
            stop = asyncio.Event()
            pruner = asyncio.create_task(_prune_repeatedly(context, stop))
            await _emit(context, principal, 40)

            async def all_received() -> bool:
                return len({r.header("webhook-id") for r in receiver.requests}) >= 40

            await _until(all_received, "40 deliveries received")
            stop.set()
            deleted = await pruner
            await pool.stop()
        assert (len({r.header("webhook-id") for r in receiver.requests}), deleted > 0) == (40, True)


class TestPoolPruner:
    async def test_pool_prunes_old_deliveries_by_itself_and_counts_them(self, context: ServiceContext) -> None:
        """A pool with a retention prunes an old finished delivery without being asked; the metric counts it."""
        old = datetime.now(UTC) - timedelta(days=31)
        async with context.database.transaction() as conn:
            await delivery_store.enqueue(conn, [NewDelivery("d-old", "i-1", "t-1", "event/x", b"{}")], old)
        async with context.database.transaction() as conn:
            [claimed] = await delivery_store.claim_due(conn, old, timedelta(seconds=30), 1)
            attempt = Attempt(claimed.id, 1, old, timedelta(milliseconds=5), 200, None, None)
            await delivery_store.record_outcomes(
                conn, [delivery_store.Outcome(claimed, attempt, DeliveryState.SUCCEEDED)]
            )
        metrics = ApiMetrics()
        pool = WorkerPool(context, 1, replace(FAST, retention=timedelta(days=30), prune_interval=0.05))
        metrics.watch(context, pool)
        pool.start()

        async def pruned() -> bool:
            return await count_rows(context.database) == Rows(0, 0, 0)

        await _until(pruned, "the old delivery pruned")
        await pool.stop()
        assert 'callout_pruned_rows_total{kind="deliveries"} 1.0' in generate_latest(metrics.registry).decode()


class TestRetentionSetting:
    def test_zero_turns_automatic_pruning_off(self, context: ServiceContext) -> None:
        """``CALLOUT_RETENTION=0`` gives a worker pool that never prunes."""
        settings = Settings(retention="0")  # type: ignore[arg-type]
        assert WorkerPool(context, 1, settings.worker_settings()).prunes is False

    def test_default_retention_prunes_after_30_days(self, context: ServiceContext) -> None:
        """Without configuration the pool prunes what is older than 30 days."""
        pool = WorkerPool(context, 1, Settings().worker_settings())
        assert (pool.prunes, pool.pruner.retention) == (True, timedelta(days=30))

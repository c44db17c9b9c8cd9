"""Event delivery to hostile targets: the worker records each attempt and its outcome, and never crashes.

Real aiohttp receivers on 127.0.0.1; runs on SQLite and PostgreSQL (whose text columns refuse NUL
characters, so a response head holding one must still be recorded).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.delivery.sender import DEFAULT_MAX_RESPONSE_BYTES
from callout.domain.auth import Principal, Role
from callout.domain.deliveries import Attempt, Delivery, DeliveryQuery, DeliveryState
from callout.domain.egress import EgressPolicy
from callout.domain.executions import Condition, ConditionType
from callout.domain.retry import RetryPolicy
from callout.domain.targets import TargetSpec, TargetType
from callout.services import deliveries as delivery_service
from callout.services import executions as execution_service
from callout.services import targets as target_service
from callout.services.context import ServiceContext
from callout.services.worker import DeliveryWorker, WorkerSettings
from tests.conftest import MakePrincipal
from tests.delivery_receivers import ReceiverFactory, Reply
from tests.hostile_replies import deep_object, raw, reset_mid_answer, trickle

ONE_ATTEMPT = RetryPolicy(max_attempts=1)


@dataclass
class Delivering:
    """A development-mode context, an owner, and receivers to deliver events to."""

    context: ServiceContext
    principal: Principal
    receivers: ReceiverFactory

    async def deliver_one(self, reply: Reply) -> tuple[Delivery, list[Attempt]]:
        """Bind a webhook answering ``reply`` to target events, emit one, run a one-attempt worker."""
        receiver = await self.receivers.start(reply)
        spec = TargetSpec(f"hook-{receiver.port}", TargetType.WEBHOOK, False, timedelta(seconds=1), receiver.url())
        target, _ = await target_service.create_target(self.context, self.principal, spec)
        condition = Condition(ConditionType.EVENT, group="target")
        await execution_service.set_execution(self.context, self.principal, condition, [target.id])
        emitted = TargetSpec("emitted", TargetType.WEBHOOK, False, timedelta(seconds=1), "https://example.com")
        await target_service.create_target(self.context, self.principal, emitted)
        worker = DeliveryWorker(self.context, WorkerSettings(policy=ONE_ATTEMPT, poll_interval=0.05))
        assert await worker.run_once() == 1
        page = await delivery_service.list_deliveries(self.context, self.principal, DeliveryQuery())
        return await delivery_service.get_delivery(self.context, self.principal, page.items[0].id)


@pytest.fixture
async def delivering(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Delivering]:
    """A development-mode context (loopback targets allowed) with an IAM_OWNER and a receiver factory."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    principal, _ = await make_principal(Role.IAM_OWNER)
    async with ReceiverFactory() as receivers:
        yield Delivering(replace(context, egress=policy, sender=sender), principal, receivers)
    await sender.close()


class TestAnswersAreIgnored:
    async def test_deeply_nested_answer_is_a_success(self, delivering: Delivering) -> None:
        """A 200 answering 100,000 nesting levels is delivered: event answers are not read (docs/target-answers.md)."""
        delivery, attempts = await delivering.deliver_one(raw(deep_object(100_000)))
        assert (delivery.state, [attempt.status for attempt in attempts]) == (DeliveryState.SUCCEEDED, [200])

    async def test_answer_with_nul_and_invalid_utf8_is_recorded(self, delivering: Delivering) -> None:
        """A 200 answering NUL bytes and invalid UTF-8 is recorded with a readable response head."""
        delivery, attempts = await delivering.deliver_one(raw(b"ok\x00\xff\xfe done", content_type="text/plain"))
        head = attempts[0].response_head or ""
        assert (delivery.state, "\x00" in head, head.endswith("ok\ufffd\ufffd\ufffd done")) == (
            DeliveryState.SUCCEEDED,
            False,
            True,
        )

    async def test_failed_answer_with_nul_is_recorded(self, delivering: Delivering) -> None:
        """A 500 answering NUL bytes ends the one-attempt delivery as failed, with the attempt logged."""
        delivery, attempts = await delivering.deliver_one(raw(b"\x00" * 10, status=500))
        assert (delivery.state, [attempt.status for attempt in attempts]) == (DeliveryState.FAILED, [500])


class TestBrokenTransfers:
    @pytest.mark.parametrize(
        ("reply", "reason"),
        [
            (raw(b" " * (DEFAULT_MAX_RESPONSE_BYTES + 1)), "response_too_large"),
            (reset_mid_answer(), "connection"),
            (trickle(), "timeout"),
        ],
        ids=["too large", "reset", "trickle"],
    )
    async def test_broken_transfer_is_a_failed_attempt(self, delivering: Delivering, reply: Reply, reason: str) -> None:
        """Too large, reset and trickled answers are logged as failed attempts naming the cause (1 s timeout)."""
        delivery, attempts = await delivering.deliver_one(reply)
        assert (delivery.state, [(attempt.error or "").split(":")[0] for attempt in attempts]) == (
            DeliveryState.FAILED,
            [reason],
        )

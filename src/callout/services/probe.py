"""TestTarget: send a sample payload to a target now and report what happened, changing nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from callout.delivery.sender import DeliveryError
from callout.domain.auth import Principal
from callout.engine import payloads
from callout.errors import CalloutError, NotFound
from callout.services.context import ServiceContext
from callout.services.routing import load_routed_target
from callout.services.webkeys import active_web_key, ensure_web_key
from callout.services.worker import response_head


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one test call."""

    status: int | None
    latency: timedelta
    error: str | None = None
    response_head: str | None = None


def sample_body(principal: Principal, target_id: str) -> bytes:
    """An event payload of type ``callout.target.test`` that receivers can recognise and ignore."""
    return payloads.event_payload(
        target_id,
        "target",
        principal.instance_id,
        principal.instance_id,
        "v1",
        0,
        "callout.target.test",
        datetime.now(UTC),
        principal.user_id,
        {"test": True},
    )


async def test_target(context: ServiceContext, principal: Principal, target_id: str) -> ProbeResult:
    """Sign and send the sample payload as the target's payload type requires; nothing is stored."""
    routed = await load_routed_target(context, principal.instance_id, target_id)
    if routed is None:
        raise NotFound("Errors.Target.NotFound", "no target with this id")
    await ensure_web_key(context, principal.instance_id)
    async with context.database.read() as conn:
        web_key = await active_web_key(context, conn, principal.instance_id)
    started = time.perf_counter()
    try:
        response = await context.chains.send(routed, sample_body(principal, target_id), web_key)
    except (DeliveryError, CalloutError) as error:
        message = error.message if isinstance(error, CalloutError) else f"{error.reason}: {error}"
        return ProbeResult(None, timedelta(seconds=time.perf_counter() - started), message[:500])
    latency = timedelta(seconds=time.perf_counter() - started)
    failure = None if response.ok else f"HTTP {response.status}"
    return ProbeResult(response.status, latency, failure, response_head(response))

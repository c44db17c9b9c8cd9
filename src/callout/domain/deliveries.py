"""Durable deliveries: one payload for one target, attempted until it succeeds or fails for good."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callout.domain.queries import Pagination
from callout.domain.trace_context import TraceContext


class DeliveryState(enum.StrEnum):
    """Where a delivery stands; ``in_flight`` holds a lease that expires if its worker dies."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to enqueue: the payload is serialised once, here."""

    id: str
    instance_id: str
    target_id: str
    execution_id: str
    payload: bytes
    event_id: int | None = None
    # The trace context of the call that caused it, so that its attempts continue that trace.
    trace: TraceContext | None = None


@dataclass(frozen=True)
class Delivery:
    """A stored delivery."""

    id: str
    instance_id: str
    target_id: str
    execution_id: str
    event_id: int | None
    payload: bytes
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    created_at: datetime
    round_started_at: datetime
    updated_at: datetime
    last_status: int | None = None
    last_error: str | None = None
    trace: TraceContext | None = None

    @property
    def webhook_id(self) -> str:
        """Stable across retries, so receivers can drop duplicates (Standard Webhooks)."""
        return f"msg_{self.id}"


@dataclass(frozen=True)
class Attempt:
    """One try: when, what came back, how long it took."""

    delivery_id: str
    number: int
    started_at: datetime
    latency: timedelta
    status: int | None = None
    error: str | None = None
    response_head: str | None = None


@dataclass(frozen=True)
class DeliveryQuery:
    """A ListDeliveries query; filters are ANDed."""

    pagination: Pagination = field(default_factory=Pagination)
    target_id: str | None = None
    execution_id: str | None = None
    states: tuple[DeliveryState, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None

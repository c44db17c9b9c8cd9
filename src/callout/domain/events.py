"""Events: the immutable record of every change, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended to an aggregate's stream (the sequence is assigned on write)."""

    instance_id: str
    aggregate_type: str
    aggregate_id: str
    event_type: str
    creator: str
    resource_owner: str
    payload: dict[str, Any]
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Event:
    """A stored event."""

    id: int
    instance_id: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    event_type: str
    creator: str
    resource_owner: str
    created_at: datetime
    payload: dict[str, Any]

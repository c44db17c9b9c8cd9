"""What CalloutMiddleware does per request given the routing snapshot, and when callout cannot be reached.

The snapshot (``DispatchClient.routing``) says which executions apply to a method: a request that
none applies to reaches the app without any Dispatch call. When a Dispatch call fails because callout
is unreachable (or itself unavailable: 503, 504), ``on_unavailable`` decides (docs/host-middleware.md):

- ``by_execution`` (default): an execution with an interrupting target fails the request closed
  (503); a non-interrupting one is skipped (the request or response goes on unchanged), logged and
  counted in ``client.stats.executions_skipped``. Before the first snapshot nothing is known, so
  the request fails closed.
- ``fail_closed``: every request that needed callout answers 503 (the behaviour before snapshots).
- ``fail_open``: every such request goes on unchanged, logged and counted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import structlog

from callout.delivery.dispatch_errors import DispatchError
from callout.delivery.routing_watch import RoutingStats

log = structlog.get_logger("callout.integrations")
UNAVAILABLE_MESSAGE = (
    "the actions service is unreachable and an execution that must not be skipped applies to this call"
)


class OnUnavailable(enum.StrEnum):
    """The failure policy when callout cannot be reached."""

    BY_EXECUTION = "by_execution"
    FAIL_CLOSED = "fail_closed"
    FAIL_OPEN = "fail_open"


@dataclass(frozen=True)
class Plan:
    """Which executions apply to one request, and whether each interrupts; unknown before the first snapshot."""

    request: bool = True
    response: bool = True
    request_interrupts: bool = True
    response_interrupts: bool = True
    known: bool = False

    @property
    def calls_nothing(self) -> bool:
        """Nothing applies: the request needs no Dispatch call."""
        return not self.request and not self.response


def plan_for(client: Any, service: str, method: str) -> Plan:
    """The plan of ``method`` from the client's snapshot; a client keeping none makes every call (unknown)."""
    routing = getattr(client, "routing", None)
    return plan_of(routing(service) if callable(routing) else None, method)


def plan_of(snapshot: Any, method: str) -> Plan:
    """The plan of ``method`` from a routing snapshot; None (no snapshot yet) makes every call (unknown)."""
    if snapshot is None:
        return Plan()
    on_request, on_response = snapshot.applies("request", method), snapshot.applies("response", method)
    return Plan(on_request is not None, on_response is not None, bool(on_request), bool(on_response), known=True)


def nothing_configured(client: Any, service: str) -> bool:
    """The client's snapshot holds no execution concerning ``service`` at all (the common, cheapest case)."""
    routing = getattr(client, "routing", None)
    return nothing_in(routing(service) if callable(routing) else None)


def nothing_in(snapshot: Any) -> bool:
    """A snapshot holding no execution at all (None, no snapshot yet, is not known to hold nothing)."""
    return snapshot is not None and not snapshot.executions


def is_unreachable(error: DispatchError) -> bool:
    """callout could not be reached or is itself unavailable (not a target's failure, not a refusal)."""
    return not error.is_execution_error and error.status in (503, 504)


def may_skip(policy: OnUnavailable, plan: Plan, interrupts: bool) -> bool:
    """Whether an execution that could not run because callout is unreachable may be skipped."""
    if policy is OnUnavailable.FAIL_OPEN:
        return True
    return policy is OnUnavailable.BY_EXECUTION and plan.known and not interrupts


def count(client: Any, counter: str) -> None:
    """Add one to a counter of ``client.stats``, safely from any thread (a client without stats counts nothing)."""
    stats = getattr(client, "stats", None)
    if isinstance(stats, RoutingStats):
        stats.add(counter)
    elif stats is not None and hasattr(stats, counter):  # a host's own client and its own stats: not locked
        setattr(stats, counter, getattr(stats, counter) + 1)


def skipped(client: Any, method: str, kind: str, error: DispatchError) -> None:
    """Log and count an execution skipped because callout was unreachable."""
    log.warning("callout.execution_skipped", method=method, execution=kind, status=error.status, error=error.message)
    count(client, "executions_skipped")


def error_answer(error: DispatchError, method: str) -> tuple[int, str, str]:
    """The status, code and message answering ``error``: a target's error keeps its status, callout's own
    failures become a 5xx (a refusal of the host's call, e.g. a bad token, is no fault of the client's: 502)."""
    if error.is_execution_error:
        return error.status, error.code, error.detail or error.message
    log.warning("callout.dispatch_failed", method=method, status=error.status, error=error.message)
    if error.status >= 500:
        return error.status, error.code, error.message
    return 502, "unavailable", "the actions service failed"


def unavailable_answer(client: Any, error: DispatchError, method: str) -> tuple[int, str, str]:
    """The answer while callout is unreachable and the execution may not be skipped (503 or 504)."""
    count(client, "refused_unavailable")
    log.warning("callout.dispatch_failed", method=method, status=error.status, error=error.message)
    return error.status, error.code, f"{UNAVAILABLE_MESSAGE} ({error.message})"

"""What the Executions page shows, read through the API's own RPCs as the signed-in principal.

Executions, targets and the catalog's methods, services and functions come from ListExecutions,
ListTargets and the ListExecution* RPCs (``call_rpc``), so the page sees what the API would answer.
The API has no RPC listing event types; they are read from the same catalog the API checks
conditions against (``services/executions.catalog_for``), host-registered types included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from callout.console.api_calls import action, call_rpc
from callout.console.execution_forms import ConditionChoice, condition_from_api, event_groups
from callout.console.web import console_state
from callout.domain.console import SignedIn
from callout.services.executions import catalog_for
from callout.services.target_labels import target_labels

# The API's largest page: an instance with more is shown in part, and the page says so.
PAGE_LIMIT = 1000
SECTIONS = (("request", "Requests"), ("response", "Responses"), ("function", "Functions"), ("event", "Events"))


@dataclass(frozen=True)
class TargetInfo:
    """A target as the page names it: id, name, and whether its failure stops the chain."""

    id: str
    name: str
    interrupting: bool
    known: bool = True


@dataclass(frozen=True)
class ExecutionView:
    """One execution: its condition and its targets in order."""

    condition: ConditionChoice
    targets: tuple[TargetInfo, ...]

    @property
    def locks_out(self) -> bool:
        """An interrupting target in a call's chain can make every matching call fail."""
        return self.condition.kind != "event" and any(target.interrupting for target in self.targets)


@dataclass(frozen=True)
class Section:
    """The executions of one kind, under a heading."""

    kind: str
    heading: str
    executions: tuple[ExecutionView, ...]


@dataclass(frozen=True)
class CatalogView:
    """The picker's suggestions: every name a condition may use."""

    methods: list[str]
    services: list[str]
    functions: list[str]
    events: list[str]
    groups: list[str]


async def load_targets(request: Request, signed_in: SignedIn) -> dict[str, TargetInfo]:
    """The instance's targets by id, sorted by name (ListTargets)."""
    body = {"pagination": {"limit": PAGE_LIMIT, "asc": True}, "sortingColumn": "TARGET_FIELD_NAME_NAME"}
    answer = await call_rpc(request, signed_in, action("ListTargets"), body)
    return {target["id"]: _target_info(target) for target in answer.get("targets", [])}


def _target_info(target: Mapping[str, Any]) -> TargetInfo:
    kind: Mapping[str, Any] = next((target[key] for key in ("restCall", "restWebhook") if key in target), {})
    return TargetInfo(str(target["id"]), str(target["name"]), bool(kind.get("interruptOnError")))


def resolve(ids: list[str] | tuple[str, ...], targets: Mapping[str, TargetInfo]) -> tuple[TargetInfo, ...]:
    """The targets of a list; an id the instance no longer has is shown as unknown."""
    return tuple(targets.get(target_id, TargetInfo(target_id, target_id, False, known=False)) for target_id in ids)


async def load_sections(request: Request, signed_in: SignedIn) -> tuple[list[Section], int, int]:
    """The executions grouped by kind, how many are shown and how many there are (ListExecutions).

    Only the targets the executions name are read, by id, so the page's cost does not grow with the
    instance's count of targets (docs/console.md, Performance).
    """
    body = {"pagination": {"limit": PAGE_LIMIT, "asc": True}, "sortingColumn": "EXECUTION_FIELD_NAME_ID"}
    answer = await call_rpc(request, signed_in, action("ListExecutions"), body)
    found = answer.get("executions", [])
    targets = await load_named_targets(request, signed_in, [str(i) for item in found for i in item.get("targets", [])])
    views = [
        ExecutionView(condition_from_api(item["condition"]), resolve(item.get("targets", []), targets))
        for item in found
    ]
    sections = [
        Section(kind, heading, tuple(view for view in views if view.condition.kind == kind))
        for kind, heading in SECTIONS
    ]
    return sections, len(views), int(answer.get("pagination", {}).get("totalResult", 0))


async def load_named_targets(request: Request, signed_in: SignedIn, target_ids: list[str]) -> dict[str, TargetInfo]:
    """The instance's live targets among ``target_ids``, by id (``services/target_labels``)."""
    labels = await target_labels(console_state(request).context, signed_in.principal, target_ids)
    return {label.id: TargetInfo(label.id, label.name, label.interrupting) for label in labels.values()}


async def load_current(request: Request, signed_in: SignedIn, condition: ConditionChoice) -> list[str]:
    """The saved target ids of one condition; empty when it has no execution."""
    body = {"filters": [{"inConditionsFilter": {"conditions": [condition.body]}}]}
    answer = await call_rpc(request, signed_in, action("ListExecutions"), body)
    executions = answer.get("executions", [])
    return [str(target_id) for target_id in executions[0].get("targets", [])] if executions else []


async def load_catalog(request: Request, signed_in: SignedIn) -> CatalogView:
    """The catalog the instance sees, for the condition picker's suggestions."""
    lists = {}
    for rpc, key in (("Methods", "methods"), ("Services", "services"), ("Functions", "functions")):
        answer = await call_rpc(request, signed_in, action(f"ListExecution{rpc}"), {})
        lists[key] = [str(name) for name in answer.get(key, [])]
    catalog = await catalog_for(console_state(request).context, signed_in.principal)
    return CatalogView(
        lists["methods"], lists["services"], lists["functions"], sorted(catalog.event_types),
        event_groups(catalog.event_types),
    )  # fmt: skip

"""Executions and their conditions: ids, the reverse mapping, and list queries.

Stored ids follow ZITADEL (``internal/repository/execution/aggregate.go``): the condition type, then
``/`` and the value unless the value already starts with ``/``. Event groups get ``.*`` appended.

See docs/behaviour.md, Executions and conditions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from callout.domain.queries import Pagination
from callout.errors import InvalidArgument


class ConditionType(enum.StrEnum):
    """The four kinds of condition, named as the id prefixes."""

    REQUEST = "request"
    RESPONSE = "response"
    FUNCTION = "function"
    EVENT = "event"


class ExecutionType(enum.IntEnum):
    """ListExecutions' type filter, with ZITADEL's enum numbers."""

    UNSPECIFIED = 0
    REQUEST = 1
    RESPONSE = 2
    EVENT = 3
    FUNCTION = 4


class ExecutionSortField(enum.IntEnum):
    """Columns ListExecutions can sort by; UNSPECIFIED means creation date."""

    UNSPECIFIED = 0
    ID = 1
    CREATED_DATE = 2
    CHANGED_DATE = 3


@dataclass(frozen=True)
class Condition:
    """One condition: its type and exactly one of method/service/all (request, response),
    name (function) or event/group/all (event)."""

    type: ConditionType
    method: str = ""
    service: str = ""
    name: str = ""
    event: str = ""
    group: str = ""
    all: bool = False

    @property
    def execution_id(self) -> str:
        """The stored id of the execution bound to this condition."""
        value = self.method or self.service or self.name or self.event or _group_pattern(self.group)
        if not value:
            return self.type.value
        return f"{self.type.value}{value}" if value.startswith("/") else f"{self.type.value}/{value}"


def _group_pattern(group: str) -> str:
    if not group:
        return ""
    return group if group.endswith(".*") else group + ".*"


def condition_from_id(execution_id: str) -> Condition:
    """Rebuild the condition from a stored id (ZITADEL counts the slashes of the remainder)."""
    kind, _, rest = execution_id.partition("/")
    condition_type = ConditionType(kind)
    if not rest:
        return Condition(condition_type, all=True)
    if condition_type is ConditionType.FUNCTION:
        return Condition(condition_type, name=rest)
    if condition_type is ConditionType.EVENT:
        return (
            Condition(condition_type, group=rest[:-2]) if rest.endswith(".*") else Condition(condition_type, event=rest)
        )
    return Condition(condition_type, method="/" + rest) if "/" in rest else Condition(condition_type, service=rest)


def validate_condition(condition: Condition) -> None:
    """Exactly one member must be set, and ``all`` only as true."""
    members = [condition.method, condition.service, condition.name, condition.event, condition.group]
    count = sum(1 for member in members if member) + int(condition.all)
    if count != 1:
        raise InvalidArgument("Errors.Execution.ConditionInvalid", "the condition must set exactly one member")
    if condition.type is ConditionType.FUNCTION and not condition.name:
        raise InvalidArgument("Errors.Execution.ConditionInvalid", "a function condition needs a name")
    if any(len(member) > 1000 for member in members):
        raise InvalidArgument("Errors.Execution.ConditionInvalid", "condition values are at most 1000 characters")


def request_lookup_id(condition_type: ConditionType, full_method: str) -> str:
    """The id a request or response of ``/pkg.Service/Method`` is routed by."""
    return f"{condition_type.value}{full_method}"


def function_lookup_id(name: str) -> str:
    """The id a function is routed by."""
    return f"function/{name}"


def event_lookup_id(event_type: str) -> str:
    """The id an event type is routed by."""
    return f"event/{event_type}"


@dataclass(frozen=True)
class Execution:
    """An execution: a condition's id and its ordered target ids."""

    id: str
    instance_id: str
    targets: tuple[str, ...]
    creation_date: datetime
    change_date: datetime

    @property
    def condition(self) -> Condition:
        """The condition this execution is bound to."""
        return condition_from_id(self.id)


@dataclass(frozen=True)
class ExecutionQuery:
    """A ListExecutions query; filters are ANDed."""

    pagination: Pagination = field(default_factory=Pagination)
    sort: ExecutionSortField = ExecutionSortField.UNSPECIFIED
    id_filters: tuple[tuple[str, ...], ...] = ()
    type_filters: tuple[ExecutionType, ...] = ()
    target_filters: tuple[str, ...] = ()


def type_prefix(execution_type: ExecutionType) -> str | None:
    """The id prefix an execution type filter selects; None for UNSPECIFIED (all)."""
    if execution_type is ExecutionType.UNSPECIFIED:
        return None
    return execution_type.name.lower()

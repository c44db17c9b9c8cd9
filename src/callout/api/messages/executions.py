"""Execution messages of ActionService v2 and v2beta: conditions, SetExecution, ListExecutions, catalog lists."""

from __future__ import annotations

from typing import Any

from callout.api.messages.common import decode_pagination, encode_pagination
from callout.api.protojson import Fields, format_timestamp, invalid
from callout.domain.executions import (
    Condition,
    ConditionType,
    Execution,
    ExecutionQuery,
    ExecutionSortField,
    ExecutionType,
)
from callout.domain.queries import Page
from callout.errors import InvalidArgument

_ANY_TYPE = ExecutionType.UNSPECIFIED
_DEFAULT_SORT = ExecutionSortField.UNSPECIFIED
_MEMBERS = {
    ConditionType.REQUEST: ("method", "service", "all"),
    ConditionType.RESPONSE: ("method", "service", "all"),
    ConditionType.FUNCTION: ("name",),
    ConditionType.EVENT: ("event", "group", "all"),
}


def decode_condition(request: Fields | None) -> Condition:
    """Read a Condition; a missing or empty one is InvalidArgument ConditionInvalid."""
    if request is None:
        raise _condition_invalid("a condition is required")
    kind = _oneof(request, "request", "response", "function", "event")
    part = request.message(kind)
    assert part is not None
    condition_type = ConditionType(kind)
    if condition_type is ConditionType.FUNCTION:
        return Condition(condition_type, name=part.string("name", max_length=1000) or "")
    member = _oneof(part, *_MEMBERS[condition_type])
    if member == "all":
        if part.boolean("all") is not True:
            raise _condition_invalid("all must be true")
        return Condition(condition_type, all=True)
    value = part.string(member, max_length=1000) or ""
    return Condition(
        condition_type,
        method=value if member == "method" else "",
        service=value if member == "service" else "",
        event=value if member == "event" else "",
        group=value if member == "group" else "",
    )


def _oneof(request: Fields, *names: str) -> str:
    try:
        member = request.oneof(*names)
    except InvalidArgument as error:
        raise _condition_invalid(error.detail) from error
    assert member is not None
    return member


def _condition_invalid(detail: str) -> InvalidArgument:
    return InvalidArgument("Errors.Execution.ConditionInvalid", detail)


def encode_condition(condition: Condition) -> dict[str, Any]:
    """Write a Condition rebuilt from a stored id."""
    if condition.type is ConditionType.FUNCTION:
        return {"function": {"name": condition.name}}
    if condition.all:
        return {condition.type.value: {"all": True}}
    member = next(name for name in _MEMBERS[condition.type] if name != "all" and getattr(condition, name))
    value = condition.group.removesuffix(".*") if member == "group" else getattr(condition, member)
    return {condition.type.value: {member: value}}


def decode_set(request: Fields) -> tuple[Condition, list[str]]:
    """Read a SetExecutionRequest."""
    condition = decode_condition(request.message("condition"))
    return condition, [target.strip() for target in request.strings("targets")]


def decode_list(request: Fields) -> ExecutionQuery:
    """Read a ListExecutionsRequest."""
    id_filters: list[tuple[str, ...]] = []
    type_filters: list[ExecutionType] = []
    target_filters: list[str] = []
    for item in request.messages("filters"):
        kind = item.oneof("inConditionsFilter", "executionTypeFilter", "targetFilter", required=False)
        part = item.message(kind) if kind else None
        if kind is None or part is None:
            raise InvalidArgument("List.Query.Invalid", "a filter must set one of its members")
        if kind == "inConditionsFilter":
            id_filters.append(tuple(decode_condition(c).execution_id for c in part.messages("conditions")))
        elif kind == "executionTypeFilter":
            # An unknown number filters nothing, as executionTypeToQuery's default (UNSPECIFIED) in ZITADEL.
            execution_type = part.enum("executionType", ExecutionType, "EXECUTION_TYPE_", unknown_numbers_as=_ANY_TYPE)
            type_filters.append(execution_type or _ANY_TYPE)
        else:
            target_filters.append(_required(part, "targetId"))
    # Unknown numbers sort by creation date, as executionFieldNameToSortingColumn's default in ZITADEL.
    sort = request.enum("sortingColumn", ExecutionSortField, "EXECUTION_FIELD_NAME_", unknown_numbers_as=_DEFAULT_SORT)
    return ExecutionQuery(
        pagination=decode_pagination(request),
        sort=sort or ExecutionSortField.UNSPECIFIED,
        id_filters=tuple(id_filters),
        type_filters=tuple(type_filters),
        target_filters=tuple(target_filters),
    )


def _required(part: Fields, name: str) -> str:
    value = (part.string(name, max_length=200) or "").strip()
    if not value:
        raise invalid(name, "is required")
    return value


def encode_execution(execution: Execution) -> dict[str, Any]:
    """Write an Execution."""
    return {
        "condition": encode_condition(execution.condition),
        "creationDate": format_timestamp(execution.creation_date),
        "changeDate": format_timestamp(execution.change_date),
        "targets": list(execution.targets),
    }


def encode_list(page: Page[Execution]) -> dict[str, Any]:
    """Write a ListExecutionsResponse."""
    body: dict[str, Any] = {"pagination": encode_pagination(page.total, page.applied_limit)}
    if page.items:
        body["executions"] = [encode_execution(execution) for execution in page.items]
    return body


def encode_names(key: str, names: frozenset[str]) -> dict[str, Any]:
    """Write a ListExecutionFunctions/Methods/ServicesResponse, sorted as ZITADEL returns them."""
    return {key: sorted(names)} if names else {}

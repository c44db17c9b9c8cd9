"""The Dispatch use cases in plain Python: shared by the DispatchService RPCs and the embedded engine.

A host application runs executions around its own methods either remotely (``callout.v1.DispatchService``
over HTTP, api/dispatch_service.py) or in-process (integrations/embedded.py). Both go through these
functions, so that a call gives the same payload, signature and outcome whichever way it arrives
(docs/host-middleware.md, Two modes).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from callout.domain.auth import Principal
from callout.domain.catalog import validate_method_name
from callout.errors import InvalidArgument
from callout.services import function_results, host_routing, interception
from callout.services.context import ServiceContext

MAX_ID_LENGTH = 200


def invalid(path: str, problem: str) -> InvalidArgument:
    """The error for a field that cannot be read, as every transport reports one."""
    return InvalidArgument("Errors.Request.Invalid", f"{path}: {problem}")


def checked_method(method: str) -> str:
    """The full method name ``/package.Service/Method``, or ``invalid_argument``."""
    if not method:
        raise invalid("method", "is required")
    if len(method) > 1000 or not validate_method_name(method):
        raise invalid("method", "must look like /package.Service/Method")
    return method


def forwarded(headers: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The headers targets may see, from a name → value(s) mapping; anything but strings is refused."""
    pairs: list[tuple[str, str]] = []
    for name, value in (headers or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        if not all(isinstance(item, str) for item in values):
            raise invalid(f"headers.{name}", "must be a string or a list of strings")
        pairs.extend((name, item) for item in values)
    return interception.forwarded_headers(pairs)


def caller(principal: Principal, user_id: str | None, org_id: str | None) -> Principal:
    """The principal targets see: the token's, with the end user's ids where the host gives them."""
    _check_id("userId", user_id)
    _check_id("orgId", org_id)
    return replace(principal, user_id=user_id or principal.user_id, org_id=org_id or principal.org_id)


def checked_project(project_id: str | None) -> str:
    """The project id targets see (empty: none)."""
    _check_id("projectId", project_id)
    return project_id or ""


def _check_id(name: str, value: str | None) -> None:
    if value is not None and len(value) > MAX_ID_LENGTH:
        raise invalid(name, f"must be at most {MAX_ID_LENGTH} characters")


async def function_answer(
    context: ServiceContext,
    principal: Principal,
    name: str,
    function_context: dict[str, Any],
    claims: dict[str, Any] | None,
) -> dict[str, Any]:
    """The merged answers (``result``) and, for ZITADEL's functions, them applied (``applied``, docs/functions.md)."""
    result = await interception.run_function(context, principal, name, function_context)
    existing = function_results.existing_claims(claims, function_context)
    applied = function_results.applied_result(name, result, existing)
    return {"result": result} if applied is None else {"result": result, "applied": applied}


async def routing_answer(
    context: ServiceContext, principal: Principal, services: Collection[str], version: int | None, wait: float
) -> dict[str, Any]:
    """GetRouting's answer: the request/response executions concerning ``services``, with a version."""
    if not services:
        raise invalid("services", "name at least one service")
    snapshot = await host_routing.routing_snapshot(context, principal, services, version, wait)
    executions = [{"id": key, "interruptOnError": value} for key, value in sorted(snapshot.executions.items())]
    return {"version": str(snapshot.version), "executions": executions}

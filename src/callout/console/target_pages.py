"""What a target's pages show: the target, its executions, public keys and recent deliveries, via the API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from callout.console import target_forms
from callout.console.api_calls import action, call_rpc, delivery
from callout.console.web import render
from callout.domain.console import SignedIn
from callout.errors import CalloutError

RECENT_DELIVERIES = 20
LISTED_KEYS = 100
LISTED_EXECUTIONS = 1000


def tables() -> dict[str, Any]:
    """The names and helpers the Targets templates share."""
    return {
        "types": target_forms.TYPES,
        "payload_types": target_forms.PAYLOAD_TYPES,
        "type_label": target_forms.type_label,
        "interrupts": target_forms.interrupts,
        "when": target_forms.when,
        "seconds_of": target_forms.seconds_of,
        "condition_label": target_forms.condition_label,
    }


async def detail_values(
    request: Request, signed_in: SignedIn, target_id: str, with_extras: bool = True
) -> dict[str, Any]:
    """The target (a 404 page when there is none), the executions calling it, and its keys and deliveries."""
    target = (await call_rpc(request, signed_in, action("GetTarget"), {"id": target_id}))["target"]
    executions = await call_rpc(
        request, signed_in, action("ListExecutions"),
        {"filters": [{"targetFilter": {"targetId": target_id}}], "pagination": {"limit": LISTED_EXECUTIONS}},
    )  # fmt: skip
    values: dict[str, Any] = {
        "target": target,
        "executions": executions.get("executions", []),
        "executions_total": int(executions.get("pagination", {}).get("totalResult", 0)),
        **tables(),
    }
    if with_extras:
        values["public_keys"] = await _public_keys(request, signed_in, target_id)
        values["deliveries"] = await _recent_deliveries(request, signed_in, target_id)
    return values


async def _public_keys(request: Request, signed_in: SignedIn, target_id: str) -> list[dict[str, Any]]:
    body = {"targetId": target_id, "pagination": {"limit": LISTED_KEYS, "asc": True}}
    answer = await call_rpc(request, signed_in, action("ListPublicKeys"), body)
    keys: list[dict[str, Any]] = answer.get("publicKeys", [])
    return keys


async def _recent_deliveries(request: Request, signed_in: SignedIn, target_id: str) -> list[dict[str, Any]]:
    body = {"targetId": target_id, "pagination": {"limit": RECENT_DELIVERIES}}
    answer = await call_rpc(request, signed_in, delivery("ListDeliveries"), body)
    deliveries: list[dict[str, Any]] = answer.get("deliveries", [])
    return deliveries


async def render_target_page(
    request: Request,
    signed_in: SignedIn,
    target_id: str,
    status: int = 200,
    edit: target_forms.TargetForm | None = None,
    **messages: Any,
) -> Response:
    """The target's page; a refused form keeps what was typed and shows the API's message beside it."""
    values = await detail_values(request, signed_in, target_id)
    form = edit or target_forms.form_from_target(values["target"])
    shown = {"edit_error": None, "rotate_error": None, "key_error": None, "test_result": None, **messages}
    return render(request, "target.html", signed_in, status=status, values=form, **values, **shown)


def refusal_status(error: CalloutError) -> int:
    """The status a form refused by the API is shown again with; re-raises what is no form's fault.

    A value the reader can fix (400, 409, ...) is shown by the form; a missing target is the 404 page
    and a server failure the 500 page.
    """
    status = error.kind.http_status
    if status >= 500 or status == 404:
        raise error
    return status

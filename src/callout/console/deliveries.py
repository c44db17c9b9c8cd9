"""The Deliveries pages: the delivery log with filters and live rows, one delivery, redelivery (docs/console.md).

Every read and write goes through the DeliveryService's own RPCs (``call_rpc``), so the console has
the API's permissions, validation messages and executions.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from callout.api.protojson import format_timestamp
from callout.console.api_calls import call_rpc, delivery
from callout.console.delivery_views import (
    FINISHED,
    PAGE_SIZE,
    STATES,
    Filters,
    cursor_of,
    is_newer,
    parse_local,
    read_cursor,
    read_filters,
    rfc3339,
    row_view,
    show_payload,
    shown_time,
    state_of,
)
from callout.console.guards import require_form, require_session, require_write
from callout.console.web import PREFIX, PageError, console_state, redirect, render
from callout.domain.console import SignedIn
from callout.errors import CalloutError, NotFound
from callout.services.target_labels import find_target, target_labels

LIVE_BATCH = 100
MAX_ID_LENGTH = 200


def routes() -> list[BaseRoute]:
    """The list, its live rows, the bulk redelivery, one delivery and its redelivery."""
    return [
        Route("/deliveries", list_page, methods=["GET"]),
        Route("/deliveries/rows", new_rows, methods=["GET"]),
        Route("/deliveries/redeliver-failed", redeliver_failed_page, methods=["GET"]),
        Route("/deliveries/redeliver-failed", redeliver_failed_submit, methods=["POST"]),
        Route("/deliveries/{id}", detail_page, methods=["GET"]),
        Route("/deliveries/{id}/redeliver", redeliver_submit, methods=["POST"]),
    ]


async def target_names(request: Request, signed_in: SignedIn, target_ids: list[str]) -> dict[str, str]:
    """Target id → name for the live targets among ``target_ids``; empty when targets cannot be read."""
    try:
        labels = await target_labels(console_state(request).context, signed_in.principal, target_ids)
    except CalloutError:
        return {}
    return {label.id: label.name for label in labels.values()}


async def resolve_target(request: Request, signed_in: SignedIn, filters: Filters) -> tuple[Filters, str]:
    """The filters to query with (the target filter as an id) and the target filter's text to show.

    The filter takes a target's id or name (ignoring case); text naming no live target is kept as an
    id, so that the deliveries of a deleted target can still be found.
    """
    if not filters.target:
        return filters, ""
    try:
        found = await find_target(console_state(request).context, signed_in.principal, filters.target)
    except CalloutError:
        found = None
    return (filters, filters.target) if found is None else (replace(filters, target=found.id), found.name)


def _target_ids(found: list[dict[str, Any]]) -> list[str]:
    return [str(item["targetId"]) for item in found]


async def list_page(request: Request) -> Response:
    """One page of the delivery log, newest first, filtered by the query string."""
    signed_in = await require_session(request)
    filters = read_filters(request.query_params)
    query_filters, target_text = await resolve_target(request, signed_in, filters)
    # Taken before the query: a delivery created meanwhile is found by the script's first poll.
    listed_at = format_timestamp(console_state(request).context.clock.now())
    error, status, answer = None, 200, {}
    try:
        answer = await call_rpc(request, signed_in, delivery("ListDeliveries"), query_filters.rpc_body(), counted=False)
    except CalloutError as failure:
        error, status = failure.message, failure.kind.http_status
    found = answer.get("deliveries", [])
    names = await target_names(request, signed_in, _target_ids(found))
    # Uncounted: the total exceeds the page's end exactly when older deliveries follow.
    shown_up_to = filters.page * PAGE_SIZE
    return render(
        request,
        "deliveries.html",
        signed_in,
        status=status,
        filters=filters,
        states=STATES,
        target_text=target_text,
        rows=[row_view(found_one, names) for found_one in found],
        error=error,
        first=(filters.page - 1) * PAGE_SIZE + 1,
        older=int(answer.get("pagination", {}).get("totalResult", 0)) > shown_up_to,
        live=filters.page == 1 and not filters.until,
        after=cursor_of(found[0]) if found else f"{listed_at} ",
        requeued=_requeued(request),
    )


def _requeued(request: Request) -> int | None:
    text = request.query_params.get("requeued", "")
    return int(text) if text.isdigit() and len(text) < 10 else None


async def new_rows(request: Request) -> Response:
    """JSON for the list's script: the filtered deliveries created after the ``after`` cursor, oldest first."""
    signed_in = await require_session(request)
    try:
        filters = read_filters(request.query_params)
        moment, last_id = read_cursor(request.query_params.get("after", ""))
    except PageError as refused:
        return JSONResponse({"error": refused.message}, status_code=refused.status)
    query_filters, _ = await resolve_target(request, signed_in, filters)
    body = {**query_filters.rpc_filters(), "createdAfter": rfc3339(moment)}
    body["pagination"] = {"limit": LIVE_BATCH, "asc": True}
    try:
        answer = await call_rpc(request, signed_in, delivery("ListDeliveries"), body, counted=False)
    except CalloutError as failure:
        return JSONResponse({"error": failure.message}, status_code=failure.kind.http_status)
    newer = [found for found in answer.get("deliveries", []) if is_newer(found, moment, last_id)]
    names = await target_names(request, signed_in, _target_ids(newer)) if newer else {}
    rows = [{**row_view(found, names), "url": f"{PREFIX}/deliveries/{found['id']}"} for found in newer]
    after = cursor_of(newer[-1]) if newer else request.query_params["after"]
    return JSONResponse({"after": after, "rows": rows})


async def detail_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    """One delivery: its payload, the timeline of its attempts, the next attempt, and Redeliver."""
    signed_in = await require_session(request)
    delivery_id = _delivery_id(request)
    answer = await call_rpc(request, signed_in, delivery("GetDelivery"), {"id": delivery_id})
    found = answer["delivery"]
    names = await target_names(request, signed_in, [str(found["targetId"])])
    state = state_of(found)
    return render(
        request,
        "delivery.html",
        signed_in,
        status=status,
        delivery=found,
        row=row_view(found, names),
        payload=show_payload(answer.get("payload", "")),
        attempts=[_attempt_view(attempt) for attempt in answer.get("attempts", [])],
        next_attempt=None if state in FINISHED else shown_time(found.get("nextAttemptDate")),
        may_redeliver=state in FINISHED,
        redelivered=request.query_params.get("redelivered") == "1",
        error=error,
    )


def _delivery_id(request: Request) -> str:
    delivery_id = str(request.path_params["id"])
    if len(delivery_id) > MAX_ID_LENGTH:
        raise PageError(404, "Not found", "There is no delivery with this id.")
    return delivery_id


def _attempt_view(attempt: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": attempt["number"],
        "started": attempt["startDate"],
        "startedText": shown_time(attempt["startDate"]),
        "status": attempt.get("status"),
        "latency": _milliseconds(attempt.get("latency", "0s")),
        "error": attempt.get("error", ""),
        "responseHead": attempt.get("responseHead", ""),
    }


def _milliseconds(duration: str) -> str:
    return f"{float(duration.removesuffix('s')) * 1000:.0f} ms"


async def redeliver_submit(request: Request) -> Response:
    """Queue a finished delivery again; a refusal (say, it is queued already) shows on the detail page."""
    signed_in, _ = await require_form(request)
    require_write(signed_in)
    delivery_id = _delivery_id(request)
    try:
        await call_rpc(request, signed_in, delivery("RedeliverDelivery"), {"id": delivery_id})
    except NotFound:
        message = "This delivery is not finished (it is queued already) or no longer exists."
        return await detail_page(request, error=message, status=409)
    except CalloutError as failure:
        return await detail_page(request, error=failure.message, status=failure.kind.http_status)
    return redirect(f"{PREFIX}/deliveries/{delivery_id}?redelivered=1")


async def redeliver_failed_page(request: Request) -> Response:
    """The bulk redelivery's confirmation: how many failed deliveries were created since the time given."""
    signed_in = await require_session(request)
    since = request.query_params.get("since", "")
    moment = parse_local(since, "since")
    count = None
    if moment is not None:
        body = {"states": ["DELIVERY_STATE_FAILED"], "createdAfter": rfc3339(moment), "pagination": {"limit": 1}}
        answer = await call_rpc(request, signed_in, delivery("ListDeliveries"), body)
        count = int(answer.get("pagination", {}).get("totalResult", 0))
    return render(request, "deliveries_redeliver_failed.html", signed_in, since=since, count=count)


async def redeliver_failed_submit(request: Request) -> Response:
    """Queue again every failed delivery created since the confirmed time; the list says how many."""
    signed_in, form = await require_form(request)
    require_write(signed_in)
    moment = parse_local(form.get("since", ""), "since")
    if moment is None:
        raise PageError(400, "Bad request", "Choose the time since which failed deliveries are redelivered.")
    answer = await call_rpc(request, signed_in, delivery("RedeliverFailed"), {"since": rfc3339(moment)})
    return redirect(f"{PREFIX}/deliveries?requeued={int(answer.get('count', 0))}")

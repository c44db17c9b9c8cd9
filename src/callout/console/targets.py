"""The Targets pages: list with search, sorting and pages; create, edit, rotate the signing key, delete, test.

Every read and write is the API's own RPC (``call_rpc``), so a page is refused, validated and answered
exactly as the API is (docs/console.md, Targets). A new signing key is shown in the POST's answer only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callout.console import target_keys
from callout.console.api_calls import action, call_rpc, delivery
from callout.console.guards import require_form, require_session, require_write
from callout.console.target_forms import (
    PAGE_SIZE,
    SORTS,
    TargetForm,
    form_from_post,
    target_body,
)
from callout.console.target_pages import detail_values, refusal_status, render_target_page, tables
from callout.console.web import PREFIX, redirect, render
from callout.domain.console import SignedIn
from callout.errors import CalloutError


def routes() -> list[BaseRoute]:
    """The Targets pages and their forms."""
    return [
        Route("/targets", list_page, methods=["GET"]),
        Route("/targets", create_submit, methods=["POST"]),
        Route("/targets/new", new_page, methods=["GET"]),
        Route("/targets/{target_id}", detail_page, methods=["GET"]),
        Route("/targets/{target_id}", update_submit, methods=["POST"]),
        Route("/targets/{target_id}/rotate", rotate_submit, methods=["POST"]),
        Route("/targets/{target_id}/test", test_submit, methods=["POST"]),
        Route("/targets/{target_id}/delete", delete_page, methods=["GET"]),
        Route("/targets/{target_id}/delete", delete_submit, methods=["POST"]),
        *target_keys.routes(),
    ]


async def list_page(request: Request) -> Response:
    """One page of the instance's targets, searched by name and sorted as the query string asks."""
    signed_in = await require_session(request)
    query = ListQuery.of(request)
    answer = await call_rpc(request, signed_in, action("ListTargets"), query.body(), counted=False)
    # Uncounted: the total exceeds the page's end exactly when more targets follow.
    more = int(answer.get("pagination", {}).get("totalResult", 0)) > query.page * PAGE_SIZE
    return render(
        request, "targets.html", signed_in, targets=answer.get("targets", []), query=query,
        first=(query.page - 1) * PAGE_SIZE + 1, more=more, **tables(),
    )  # fmt: skip


@dataclass(frozen=True)
class ListQuery:
    """The list's query string: ``q`` (name contains, any case), ``sort``, ``order`` and ``page``."""

    search: str
    sort: str
    ascending: bool
    page: int

    @classmethod
    def of(cls, request: Request) -> ListQuery:
        """Read the query string; unknown values mean the defaults (newest first, page 1)."""
        params = request.query_params
        sort = params.get("sort", "created")
        page = params.get("page", "1")
        return cls(
            search=params.get("q", "")[:200],
            sort=sort if sort in SORTS else "created",
            ascending=params.get("order", "asc" if sort == "name" else "desc") == "asc",
            page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1,
        )

    def body(self) -> dict[str, Any]:
        """The ListTargets request."""
        pagination = {"offset": (self.page - 1) * PAGE_SIZE, "limit": PAGE_SIZE, "asc": self.ascending}
        body: dict[str, Any] = {"sortingColumn": SORTS[self.sort], "pagination": pagination}
        if self.search:
            name = {"targetName": self.search, "method": "TEXT_FILTER_METHOD_CONTAINS_IGNORE_CASE"}
            body["filters"] = [{"targetNameFilter": name}]
        return body

    def link(self, **changes: Any) -> str:
        """The list's URL with some parameters changed."""
        values = {"q": self.search, "sort": self.sort, "order": "asc" if self.ascending else "desc", "page": self.page}
        values.update(changes)
        return f"{PREFIX}/targets?{urlencode(values)}"


async def new_page(request: Request) -> Response:
    """The empty create form."""
    signed_in = await require_session(request)
    require_write(signed_in)
    return render_form(request, signed_in, TargetForm())


def render_form(
    request: Request, signed_in: SignedIn, values: TargetForm, error: str | None = None, status: int = 200
) -> Response:
    """The create form, with the API's refusal above it when there is one."""
    return render(request, "target_new.html", signed_in, status=status, values=values, error=error, **tables())


async def create_submit(request: Request) -> Response:
    """Create a target and show its signing key in this answer only; a refusal shows the form again."""
    signed_in, form = await require_form(request)
    require_write(signed_in)
    values = form_from_post(form)
    try:
        created = await call_rpc(request, signed_in, action("CreateTarget"), target_body(values))
    except CalloutError as error:
        return render_form(request, signed_in, values, error.message, refusal_status(error))
    return render_key(request, signed_in, created["id"], values.name, created["signingKey"], rotated=False)


def render_key(request: Request, signed_in: SignedIn, target_id: str, name: str, key: str, rotated: bool) -> Response:
    """The one-time reveal of a signing key (the guard marks every page ``no-store``)."""
    return render(request, "target_key.html", signed_in, target_id=target_id, name=name, key=key, rotated=rotated)


async def detail_page(request: Request) -> Response:
    """A target: its settings, edit form, signing key rotation, public keys, deliveries, test and delete."""
    signed_in = await require_session(request)
    return await render_target_page(request, signed_in, request.path_params["target_id"])


async def update_submit(request: Request) -> Response:
    """Apply the edit form; a refusal shows the page again with the message by the form."""
    signed_in, form = await require_form(request)
    require_write(signed_in)
    target_id = request.path_params["target_id"]
    values = form_from_post(form)
    try:
        await call_rpc(request, signed_in, action("UpdateTarget"), {"id": target_id, **target_body(values)})
    except CalloutError as error:
        return await render_target_page(
            request, signed_in, target_id, edit=values, edit_error=error.message, status=refusal_status(error)
        )
    return redirect(f"{PREFIX}/targets/{target_id}")


async def rotate_submit(request: Request) -> Response:
    """Give the target a new signing key; the old one stays valid for the grace period typed."""
    signed_in, form = await require_form(request)
    require_write(signed_in)
    target_id = request.path_params["target_id"]
    grace = form.get("grace", "").strip() or "0"
    try:
        target = await call_rpc(request, signed_in, action("GetTarget"), {"id": target_id})
        body = {"id": target_id, "expirationSigningKey": grace.removesuffix("s") + "s"}
        answer = await call_rpc(request, signed_in, action("UpdateTarget"), body)
    except CalloutError as error:
        status = refusal_status(error)
        return await render_target_page(request, signed_in, target_id, rotate_error=error.message, status=status)
    return render_key(request, signed_in, target_id, target["target"]["name"], answer["signingKey"], rotated=True)


async def test_submit(request: Request) -> Response:
    """Send the sample event now and show status, latency and error on the target's page."""
    signed_in, _ = await require_form(request)
    require_write(signed_in)
    target_id = request.path_params["target_id"]
    result = await call_rpc(request, signed_in, delivery("TestTarget"), {"targetId": target_id})
    return await render_target_page(request, signed_in, target_id, test_result=result)


async def delete_page(request: Request) -> Response:
    """Ask before deleting, naming the executions that call the target (they lose it)."""
    signed_in = await require_session(request)
    require_write(signed_in)
    values = await detail_values(request, signed_in, request.path_params["target_id"], with_extras=False)
    return render(request, "target_delete.html", signed_in, **values)


async def delete_submit(request: Request) -> Response:
    """Delete the target, then show the list."""
    signed_in, _ = await require_form(request)
    require_write(signed_in)
    await call_rpc(request, signed_in, action("DeleteTarget"), {"id": request.path_params["target_id"]})
    return redirect(f"{PREFIX}/targets")

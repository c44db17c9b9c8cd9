"""The Executions page: executions grouped by kind, a condition picker, and an ordered target-list editor.

Every read and write goes through the API's own RPCs (``call_rpc``): Save is SetExecution with the
edited list, Clear is SetExecution with an empty one, and the API's validation messages are shown in
the form with status 400. Editing the list (add, move up, move down, remove) re-renders the form
without saving, so it works without JavaScript (docs/console.md, Executions).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callout.console.api_calls import action, call_rpc
from callout.console.execution_forms import (
    CHOICE_LABELS,
    ConditionChoice,
    FormProblem,
    condition_from_fields,
    edit_list,
    focus_after,
    join_ids,
    parse_ids,
)
from callout.console.execution_views import (
    ExecutionView,
    load_catalog,
    load_current,
    load_sections,
    load_targets,
    resolve,
)
from callout.console.guards import require_form, require_session, require_write
from callout.console.web import PREFIX, PageError, redirect, render
from callout.domain.console import SignedIn
from callout.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from callout.services.console import may_write

PAGE_PATH = f"{PREFIX}/executions"
# The API's refusals of a bad condition or list: shown in the form; other errors are error pages.
_FORM_ERRORS = (InvalidArgument, FailedPrecondition, NotFound, AlreadyExists)


def routes() -> list[BaseRoute]:
    """The list of executions, the editor, and the editor's form."""
    return [
        Route("/executions", executions_page, methods=["GET"]),
        Route("/executions/edit", editor_page, methods=["GET"]),
        Route("/executions/edit", editor_submit, methods=["POST"]),
    ]


async def executions_page(request: Request) -> Response:
    """Show the executions grouped by request, response, function and event."""
    signed_in = await require_session(request)
    return await _list_page(request, signed_in)


async def _list_page(request: Request, signed_in: SignedIn, error: str = "", status: int = 200) -> Response:
    sections, shown, total = await load_sections(request, signed_in)
    return render(
        request,
        "executions.html",
        signed_in,
        status=status,
        sections=sections,
        shown=shown,
        total=total,
        # Only the picker uses the catalog, and only those who may write see the picker.
        catalog=await load_catalog(request, signed_in) if may_write(signed_in.principal) else None,
        choices=CHOICE_LABELS,
        picked=dict(request.query_params),
        error=error,
    )


async def editor_page(request: Request) -> Response:
    """Show one condition's target list, ready to edit; a bad condition re-shows the picker."""
    signed_in = await require_session(request)
    try:
        condition = condition_from_fields(request.query_params)
    except FormProblem as problem:
        return await _list_page(request, signed_in, str(problem), status=400)
    saved = await load_current(request, signed_in, condition)
    return await _editor(request, signed_in, condition, saved, saved=saved)


async def editor_submit(request: Request) -> Response:
    """Apply one button of the editor: an edit re-renders the list, Save and Clear call SetExecution."""
    signed_in, form = await require_form(request)
    require_write(signed_in)
    try:
        condition = condition_from_fields(form)
    except FormProblem as problem:
        raise PageError(400, "Bad request", str(problem)) from problem
    ids = parse_ids(form.get("targets", ""))
    operation = form.get("op", "")
    if operation in ("save", "clear-confirmed"):
        return await _set(request, signed_in, condition, ids if operation == "save" else [])
    if operation == "clear":
        return render(request, "execution_clear.html", signed_in, condition=condition)
    try:
        edited = edit_list(ids, operation, form.get("add_target", ""))
    except FormProblem as problem:
        return await _editor(request, signed_in, condition, ids, error=str(problem), status=400)
    return await _editor(request, signed_in, condition, edited, focus=focus_after(operation, edited))


async def _set(request: Request, signed_in: SignedIn, condition: ConditionChoice, ids: list[str]) -> Response:
    body = {"condition": condition.body, "targets": ids}
    try:
        await call_rpc(request, signed_in, action("SetExecution"), body)
    except _FORM_ERRORS as error:
        return await _editor(request, signed_in, condition, ids, error=error.message, status=400)
    return redirect(PAGE_PATH)


async def _editor(
    request: Request,
    signed_in: SignedIn,
    condition: ConditionChoice,
    ids: list[str],
    saved: list[str] | None = None,
    error: str = "",
    status: int = 200,
    focus: str = "",
) -> Response:
    targets = await load_targets(request, signed_in)
    if saved is None:
        saved = await load_current(request, signed_in, condition)
    values: dict[str, Any] = {
        "condition": condition,
        "choice_label": CHOICE_LABELS[condition.choice],
        "rows": resolve(ids, targets),
        "ids": join_ids(ids),
        "addable": [target for target in targets.values() if target.id not in ids],
        "unsaved": ids != saved,
        "exists": bool(saved),
        "locks_out": ExecutionView(condition, resolve(ids, targets)).locks_out,
        "error": error,
        "focus": focus,
    }
    return render(request, "execution_edit.html", signed_in, status=status, **values)

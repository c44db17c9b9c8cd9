"""A target's public keys on its page: add (paste a PEM, optional expiry), activate, deactivate, remove."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from callout.console.api_calls import action, call_rpc
from callout.console.guards import require_form, require_write
from callout.console.target_forms import expiry_timestamp
from callout.console.target_pages import refusal_status, render_target_page
from callout.console.web import PREFIX, PageError, redirect
from callout.errors import CalloutError

# What each key button does: the RPC it calls.
KEY_ACTIONS = {"activate": "ActivatePublicKey", "deactivate": "DeactivatePublicKey", "remove": "RemovePublicKey"}


def routes() -> list[BaseRoute]:
    """The public key forms of a target's page."""
    return [
        Route("/targets/{target_id}/keys", add_submit, methods=["POST"]),
        Route("/targets/{target_id}/keys/{key_id}/{verb}", key_action_submit, methods=["POST"]),
    ]


async def add_submit(request: Request) -> Response:
    """Add the pasted PEM; the API's refusal (not a key, too large, bad expiry) is shown by the form."""
    signed_in, form = await require_form(request)
    require_write(signed_in)
    target_id = request.path_params["target_id"]
    body: dict[str, Any] = {
        "targetId": target_id,
        "publicKey": base64.b64encode(form.get("public_key", "").strip().encode()).decode(),
    }
    expiry = expiry_timestamp(form.get("expiration", ""))
    if expiry is not None:
        body["expirationDate"] = expiry
    try:
        await call_rpc(request, signed_in, action("AddPublicKey"), body)
    except CalloutError as error:
        status = refusal_status(error)
        return await render_target_page(request, signed_in, target_id, status=status, key_error=error.message)
    return redirect(f"{PREFIX}/targets/{target_id}#public-keys")


async def key_action_submit(request: Request) -> Response:
    """Activate, deactivate or remove one key, then show the target's page again."""
    signed_in, _ = await require_form(request)
    require_write(signed_in)
    target_id, key_id = request.path_params["target_id"], request.path_params["key_id"]
    rpc = KEY_ACTIONS.get(request.path_params["verb"])
    if rpc is None:
        raise PageError(404, "Not found", "There is no such console page.")
    await call_rpc(request, signed_in, action(rpc), {"targetId": target_id, "keyId": key_id})
    return redirect(f"{PREFIX}/targets/{target_id}#public-keys")

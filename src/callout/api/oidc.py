"""Public key discovery for JWT payloads: the instance's JWKS and an OpenID discovery document.

Receivers verify JWT (and JWE-wrapped JWT) bodies against ``GET /oauth/v2/keys``, advertised as
``jwks_uri`` in ``GET /.well-known/openid-configuration`` as ZITADEL does. ZITADEL picks the
instance by Host; callout serves the default (oldest) instance, or the one named by ``?instance=``.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callout.api.errors import rest_error_body
from callout.api.transport import ApiState
from callout.errors import CalloutError
from callout.services import webkeys


async def _instance_id(request: Request) -> str:
    state: ApiState = request.app.state.api
    return await webkeys.discovery_instance(state.context, request.query_params.get("instance"))


async def jwks(request: Request) -> Response:
    """The instance's public web keys."""
    state: ApiState = request.app.state.api
    try:
        keys = await webkeys.jwks(state.context, await _instance_id(request))
    except CalloutError as error:
        return JSONResponse(rest_error_body(error), status_code=error.kind.http_status)
    return JSONResponse(keys, headers={"Cache-Control": "max-age=300"})


async def openid_configuration(request: Request) -> Response:
    """Where the keys are (the issuer is this server's base URL)."""
    try:
        instance = await _instance_id(request)
    except CalloutError as error:
        return JSONResponse(rest_error_body(error), status_code=error.kind.http_status)
    issuer = str(request.base_url).rstrip("/")
    suffix = f"?instance={instance}" if request.query_params.get("instance") else ""
    return JSONResponse({"issuer": issuer, "jwks_uri": f"{issuer}/oauth/v2/keys{suffix}"})


def mount_oidc(app: FastAPI) -> None:
    """Add the JWKS and discovery endpoints."""
    app.add_api_route("/oauth/v2/keys", jwks, methods=["GET"], tags=["keys"])
    app.add_api_route("/.well-known/openid-configuration", openid_configuration, methods=["GET"], tags=["keys"])

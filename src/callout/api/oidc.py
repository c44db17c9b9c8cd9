"""Public key discovery for JWT payloads: the instance's JWKS and an OpenID discovery document.

Receivers verify JWT (and JWE-wrapped JWT) bodies against ``GET /oauth/v2/keys``, advertised as
``jwks_uri`` in ``GET /.well-known/openid-configuration`` as ZITADEL does. ZITADEL picks the
instance by Host; callout serves the default (oldest) instance, or the one named by ``?instance=``.

The issuer is the configured external URL, never the request's Host or X-Forwarded-* headers, which
any caller can set (docs/operations.md). Without one it is the address of the listener the
connection arrived on, taken from the socket.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callout.api.errors import rest_error_body
from callout.api.transport import ApiState
from callout.errors import CalloutError
from callout.services import webkeys

KEYS_PATH = "/oauth/v2/keys"


async def jwks(request: Request) -> Response:
    """The instance's public web keys (an empty set for an instance without keys, or an unknown one)."""
    state: ApiState = request.app.state.api
    try:
        keys = await webkeys.jwks(state.context, request.query_params.get("instance") or None)
    except CalloutError as error:  # e.g. the database is unreachable
        return JSONResponse(rest_error_body(error), status_code=error.kind.http_status)
    # An empty set may soon get its first key: let receivers ask again instead of caching nothing.
    cache = "max-age=300" if keys["keys"] else "no-cache"
    return JSONResponse(keys, headers={"Cache-Control": cache})


def listener_url(request: Request) -> str:
    """``scheme://host:port`` of the local socket the request came in on (not of its Host header)."""
    host, port = request.scope.get("server") or ("127.0.0.1", None)
    host = f"[{host}]" if ":" in host else host
    return f"{request.scope.get('scheme', 'http')}://{host}" + (f":{port}" if port else "")


def mount_oidc(app: FastAPI, external_url: str | None = None) -> None:
    """Add the JWKS and discovery endpoints; the issuer is ``external_url`` when given."""

    async def openid_configuration(request: Request) -> Response:
        """Where the keys are: the issuer is the configured external URL."""
        issuer = external_url or listener_url(request)
        instance = request.query_params.get("instance")
        suffix = f"?{urlencode({'instance': instance})}" if instance else ""
        return JSONResponse({"issuer": issuer, "jwks_uri": f"{issuer}{KEYS_PATH}{suffix}"})

    app.add_api_route(KEYS_PATH, jwks, methods=["GET"], tags=["keys"])
    app.add_api_route("/.well-known/openid-configuration", openid_configuration, methods=["GET"], tags=["keys"])

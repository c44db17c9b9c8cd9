"""The users API of examples/asgi_app.py as a Flask (WSGI) app, its routes running callout's executions.

Its two endpoints are the methods ``/example.users.v1.UserService/CreateUser`` (``POST /users``)
and ``/example.users.v1.UserService/GetUser`` (``GET /users/<user_id>``), through
``CalloutWSGIMiddleware`` (``wrap_flask``); they are registered in callout's catalog on the first
request. Configuration: ``CALLOUT_URL`` (default ``http://127.0.0.1:8080``) and ``CALLOUT_TOKEN``
(default: the contents of ``callout-data/admin.pat``); ``CALLOUT_EMBEDDED=1`` runs the engine in this
process instead, as in examples/asgi_app.py.

Try it as in examples/asgi_app.py (``callout serve --dev``, its demo target with
``python examples/asgi_app.py --target``, the target bound to CreateUser), with this app instead::

    python examples/flask_app.py       # 127.0.0.1:8000, or any WSGI server: gunicorn examples.flask_app:app
    CALLOUT_EMBEDDED=1 CALLOUT_DEV=true python examples/flask_app.py    # the engine in this process
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from flask import Flask, abort, request

from callout.delivery.dispatch_client import DispatchClient
from callout.embedded import EmbeddedDispatch
from callout.integrations.flask_adapter import wrap_flask
from callout.integrations.wsgi import CalloutWSGIMiddleware

SERVICE = "example.users.v1.UserService"


def callout_token() -> str:
    """CALLOUT_TOKEN, else the admin token the first ``callout serve`` wrote, else empty."""
    token = os.environ.get("CALLOUT_TOKEN", "").strip()
    pat = Path(os.environ.get("CALLOUT_DATA_DIR", "callout-data")) / "admin.pat"
    if not token and pat.is_file():
        token = pat.read_text().strip()
    return token


def users_api() -> Flask:
    """The plain users API (an in-memory store)."""
    api = Flask("users_example")
    users: dict[str, dict[str, str]] = {}

    @api.post("/users")
    def create_user() -> dict[str, Any]:
        body = request.get_json(force=True, silent=True) or {}
        user = {"id": str(len(users) + 1), "name": str(body.get("name", "")), "email": str(body.get("email", ""))}
        users[user["id"]] = user
        return {"user": user}

    @api.get("/users/<user_id>")
    def get_user(user_id: str) -> dict[str, Any]:
        if user_id not in users:
            abort(404)
        return {"user": users[user_id]}

    @api.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True}

    return api


def client_from_environment() -> DispatchClient | EmbeddedDispatch:
    """The embedded engine with ``CALLOUT_EMBEDDED=1``, else a Dispatch client of ``CALLOUT_URL``."""
    if os.environ.get("CALLOUT_EMBEDDED", "") in ("1", "true"):
        return EmbeddedDispatch(callout_token())
    return DispatchClient(os.environ.get("CALLOUT_URL", "http://127.0.0.1:8080"), callout_token())


def build_app(client: DispatchClient | EmbeddedDispatch, **options: Any) -> tuple[Flask, CalloutWSGIMiddleware]:
    """The users API with the middleware in front; ``middleware.close()`` stops its loop and the client."""
    api = users_api()
    return api, wrap_flask(api, client=client, service=SERVICE, **options)


if __name__ == "__main__":
    if not callout_token():
        sys.exit("set CALLOUT_TOKEN or start callout once so that callout-data/admin.pat exists")
    app, middleware = build_app(client_from_environment())
    try:
        app.run(host="127.0.0.1", port=8000)
    finally:
        middleware.close()

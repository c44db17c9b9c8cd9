"""The users API of examples/asgi_app.py as a single-file Django project, its routes running callout's executions.

Its two URL patterns are the methods ``/example.users.v1.UserService/CreateUser`` (``POST /users``,
named ``create_user``) and ``/example.users.v1.UserService/GetUser`` (``GET /users/<user_id>``,
named ``get_user``), through ``CalloutWSGIMiddleware`` (``wrap_django``); they are registered in
callout's catalog on the first request. Configuration: ``CALLOUT_URL`` (default
``http://127.0.0.1:8080``) and ``CALLOUT_TOKEN`` (default: the contents of ``callout-data/admin.pat``).

Try it as in examples/asgi_app.py (``callout serve --dev``, its demo target with
``python examples/asgi_app.py --target``, the target bound to CreateUser), with this app instead::

    python examples/django_app.py      # 127.0.0.1:8000 (a threaded wsgiref server)

Any WSGI server serves ``build_app(DispatchClient(...))`` just as well (gunicorn, uWSGI).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import django
from django.conf import settings

if not settings.configured:  # one process has one Django configuration: this file is it
    settings.configure(
        DEBUG=False,
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "[::1]"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        SECRET_KEY=secrets.token_urlsafe(32),  # Django requires one; this app signs nothing that must last
    )
    django.setup()

# Django's modules below read the settings when imported, hence after settings.configure.
from django.core.handlers.wsgi import WSGIHandler
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, JsonResponse
from django.urls import path

from callout.delivery.dispatch_client import DispatchClient
from callout.integrations.django_adapter import wrap_django
from callout.integrations.wsgi import CalloutWSGIMiddleware

SERVICE = "example.users.v1.UserService"
USERS: dict[str, dict[str, str]] = {}  # the in-memory store


def create_user(request: HttpRequest) -> JsonResponse | HttpResponseNotAllowed:
    """POST /users: store a user from the JSON body."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    user = {"id": str(len(USERS) + 1), "name": str(body.get("name", "")), "email": str(body.get("email", ""))}
    USERS[user["id"]] = user
    return JsonResponse({"user": user})


def get_user(request: HttpRequest, user_id: str) -> JsonResponse:
    """GET /users/<user_id>: one stored user."""
    if user_id not in USERS:
        raise Http404("no such user")
    return JsonResponse({"user": USERS[user_id]})


def health(request: HttpRequest) -> JsonResponse:
    """GET /health."""
    return JsonResponse({"ok": True})


urlpatterns = [
    path("users", create_user, name="create_user"),
    path("users/<str:user_id>", get_user, name="get_user"),
    path("health", health, name="health"),
]


def build_app(client: DispatchClient, **options: Any) -> CalloutWSGIMiddleware:
    """Django's WSGI application with the middleware in front (serve this); ``close()`` stops it."""
    return wrap_django(WSGIHandler(), client=client, service=SERVICE, **options)


class ThreadingServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request (as Django's runserver does)."""

    daemon_threads = True


def callout_token() -> str:
    """CALLOUT_TOKEN, else the admin token the first ``callout serve`` wrote, else empty."""
    token = os.environ.get("CALLOUT_TOKEN", "").strip()
    pat = Path(os.environ.get("CALLOUT_DATA_DIR", "callout-data")) / "admin.pat"
    if not token and pat.is_file():
        token = pat.read_text().strip()
    return token


if __name__ == "__main__":
    if not callout_token():
        sys.exit("set CALLOUT_TOKEN or start callout once so that callout-data/admin.pat exists")
    application = build_app(DispatchClient(os.environ.get("CALLOUT_URL", "http://127.0.0.1:8080"), callout_token()))
    try:
        with make_server("127.0.0.1", 8000, application, server_class=ThreadingServer) as server:
            print("serving on http://127.0.0.1:8000", file=sys.stderr)
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        application.close()

"""Flask routes for CalloutWSGIMiddleware: a route's name is its endpoint (``create_user`` → ``CreateUser``).

Wrap a Flask app (Flask itself is not a dependency of callout; the app is used through its url_map)::

    middleware = wrap_flask(app, client=DispatchClient(url, token), service="example.users.v1.UserService")

A blueprint's endpoint ``users.create_user`` becomes ``UsersCreateUser``; the static files route
and Flask's automatic OPTIONS answers pass through untouched (docs/host-middleware.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from callout.integrations.wsgi import CalloutWSGIMiddleware, Environ

__all__ = ["flask_route_names", "flask_route_of", "wrap_flask"]

UNTOUCHED_ENDPOINTS = frozenset({"static"})


def flask_route_of(app: Any) -> Callable[[Environ], str | None]:
    """The endpoint of the rule a request matches in ``app.url_map``; None for no match (or a redirect)."""

    def route_of(environ: Environ) -> str | None:
        try:
            rule, _ = app.url_map.bind_to_environ(environ).match(return_rule=True)
        except Exception:  # werkzeug's NotFound, MethodNotAllowed, RequestRedirect: the app answers itself
            return None
        if environ.get("REQUEST_METHOD") == "OPTIONS" and getattr(rule, "provide_automatic_options", False):
            return None  # Flask's own answer (the Allow header), not the view: no operation of the app
        endpoint = str(rule.endpoint)
        return None if endpoint in UNTOUCHED_ENDPOINTS else endpoint

    return route_of


def flask_route_names(app: Any) -> Callable[[], Iterator[str]]:
    """Every endpoint of ``app`` (but the static files), for the catalog."""

    def route_names() -> Iterator[str]:
        endpoints = {str(rule.endpoint) for rule in app.url_map.iter_rules()}
        yield from sorted(endpoints - UNTOUCHED_ENDPOINTS)

    return route_names


def wrap_flask(app: Any, **options: Any) -> CalloutWSGIMiddleware:
    """Put the middleware in front of ``app.wsgi_app`` (the app stays the WSGI entry point) and return it."""
    middleware = CalloutWSGIMiddleware(
        app.wsgi_app, route_of=flask_route_of(app), route_names=flask_route_names(app), **options
    )
    app.wsgi_app = middleware
    return middleware

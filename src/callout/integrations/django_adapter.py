"""Django routes for CalloutWSGIMiddleware: a route's name is its URL name, with its namespaces.

Wrap Django's WSGI application (Django itself is not a dependency of callout, and is imported only
when a request is resolved or the routes are listed, never when callout is imported)::

    application = wrap_django(get_wsgi_application(), client=DispatchClient(url, token),
                              service="example.users.v1.UserService")

``path("users", create_user, name="create_user")`` is ``create_user`` → ``CreateUser``; inside
``include(..., namespace="users")`` (or a urls module with ``app_name = "users"``) it is
``users:create_user`` → ``UsersCreateUser``. A pattern without a name is named after its view
(a function's name, a class-based view's class). Paths Django does not resolve pass through, and so do
the views of ``django.views.static.serve`` (docs/host-middleware.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from callout.integrations.wsgi import CalloutWSGIMiddleware, Environ
from callout.integrations.wsgi_response import WSGIApp

__all__ = ["django_route_names", "django_route_of", "route_name", "wrap_django"]

# Static files served by a URL pattern (``django.conf.urls.static.static``) are no operation of the app.
UNTOUCHED_VIEWS = frozenset({"django.views.static.serve"})


def view_name(view: Any) -> str:
    """The name of a view: a function's own, a class-based view's class (``as_view()`` keeps it in view_class)."""
    view = getattr(view, "view_class", view)
    return str(getattr(view, "__name__", type(view).__name__))


def _is_untouched(view: Any) -> bool:
    view = getattr(view, "view_class", view)
    return f"{getattr(view, '__module__', '')}.{getattr(view, '__name__', '')}" in UNTOUCHED_VIEWS


def route_name(namespaces: list[str], url_name: str | None, view: Any) -> str | None:
    """``namespace:…:url_name`` (the view's name when the pattern has none), as ``reverse`` spells it."""
    if _is_untouched(view):
        return None
    return ":".join([*(space for space in namespaces if space), url_name or view_name(view)])


def django_route_of(urlconf: Any = None) -> Callable[[Environ], str | None]:
    """The route name of the URL pattern ``PATH_INFO`` resolves to (in ``urlconf``, default ROOT_URLCONF).

    Django resolves paths whatever the HTTP method (a view refuses a wrong one itself), so every method
    of a resolved path is that route; a path that does not resolve (404, or a slash-appending
    redirect of CommonMiddleware) is None: the app answers it untouched.
    """

    def route_of(environ: Environ) -> str | None:
        from django.core.handlers.wsgi import get_path_info
        from django.urls import Resolver404, resolve

        try:
            match = resolve(get_path_info(environ), urlconf)
        except Resolver404:
            return None
        return route_name(match.namespaces, match.url_name, match.func)

    return route_of


def django_route_names(urlconf: Any = None) -> Callable[[], Iterator[str]]:
    """Every route name of ``urlconf`` (default ROOT_URLCONF), looking into includes, for the catalog."""

    def route_names() -> Iterator[str]:
        from django.urls import get_resolver

        yield from sorted(set(_names(get_resolver(urlconf).url_patterns, [])))

    return route_names


def _names(patterns: Any, namespaces: list[str]) -> Iterator[str]:
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):  # an include(): its namespace prefixes its patterns' names
            yield from _names(pattern.url_patterns, [*namespaces, pattern.namespace or ""])
            continue
        name = route_name(namespaces, pattern.name, pattern.callback)
        if name is not None:
            yield name


def wrap_django(application: WSGIApp, **options: Any) -> CalloutWSGIMiddleware:
    """The middleware in front of Django's WSGI ``application``: serve what this returns.

    ``urlconf`` (optional) names the URL configuration to resolve with; the other options are
    CalloutWSGIMiddleware's (``client`` and ``service`` at least).
    """
    urlconf = options.pop("urlconf", None)
    return CalloutWSGIMiddleware(
        application, route_of=django_route_of(urlconf), route_names=django_route_names(urlconf), **options
    )

"""Routes of a host app as CalloutMiddleware names them: ``create_user`` → ``/<service>/CreateUser``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from callout.integrations.bodies import Scope


def operation_name(route_name: str) -> str:
    """A route name in UpperCamelCase: ``create_user`` → ``CreateUser``, ``get-user`` → ``GetUser``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", route_name) if part)


def routes_of(app: Any) -> list[Any]:
    """The routes of an app (or of its router); none for an app without any."""
    routes = getattr(getattr(app, "router", app), "routes", None)
    return list(routes) if isinstance(routes, list | tuple) else []


def _is_endpoint(route: Any) -> bool:
    return hasattr(route, "methods") and bool(getattr(route, "include_in_schema", True) and getattr(route, "name", ""))


def matching_route_name(routes: Iterable[Any], scope: Scope) -> str | None:
    """The name of the route that fully matches the request (looking into mounts), or None."""
    for route in routes:
        match, child_scope = route.matches(scope)
        if getattr(match, "name", "") != "FULL":
            continue
        if not hasattr(route, "methods") and hasattr(route, "routes"):
            return matching_route_name(route.routes, {**scope, **child_scope})
        return str(route.name) if _is_endpoint(route) else None
    return None


def route_names(routes: Iterable[Any]) -> Iterator[str]:
    """The names of every HTTP route shown in the schema, looking into mounts."""
    for route in routes:
        if not hasattr(route, "methods") and hasattr(route, "routes"):
            yield from route_names(route.routes)
        elif _is_endpoint(route):
            yield str(route.name)

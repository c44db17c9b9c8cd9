"""The Django adapter of CalloutWSGIMiddleware: route names from URL patterns, and the wrapped example.

Route names are checked against a URL configuration with namespaces, includes, unnamed function and
class-based views and a static files pattern; the middleware wraps the real Django example
(examples/django_app.py), driven by werkzeug's WSGI test client, its DispatchClient pointing at a
closed loopback port (callout unreachable).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from django.conf.urls.static import static
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import include, path
from django.views import View
from examples.django_app import SERVICE, build_app
from werkzeug.test import Client, EnvironBuilder

from callout.delivery.dispatch_client import DispatchClient
from callout.integrations.django_adapter import django_route_names, django_route_of
from callout.integrations.wsgi import CalloutWSGIMiddleware

UNREACHABLE = "http://127.0.0.1:9"


def create_user(request: HttpRequest) -> JsonResponse:
    """A function view."""
    return JsonResponse({})


class ListUsers(View):
    """A class-based view."""


def urlconf() -> ModuleType:
    """A URL configuration: a top-level name, app namespace ``users`` (named and unnamed views), a nested one."""
    users = [
        path("create", create_user, name="create_user"),
        path("new", create_user),
        path("list", ListUsers.as_view()),
        path("admin/", include(([path("ban", create_user, name="ban_user")], "admin"))),
    ]
    module = ModuleType("callout_test_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("health", create_user, name="health"),
        path("users/", include((users, "users"))),
    ]
    return module


URLCONF = urlconf()


def route_of(path_info: str, method: str = "GET") -> str | None:
    """The route name the adapter gives a request for ``path_info``."""
    return django_route_of(URLCONF)(EnvironBuilder(method=method, path=path_info).get_environ())


class TestRouteOf:
    def test_url_name_without_namespace(self) -> None:
        """A named pattern at the top is its name: ``health``."""
        assert route_of("/health") == "health"

    def test_namespaced_url_name(self) -> None:
        """A named pattern in app ``users`` is ``users:create_user`` (operation ``UsersCreateUser``)."""
        assert route_of("/users/create", "POST") == "users:create_user"

    def test_unnamed_function_view_is_named_after_the_function(self) -> None:
        """An unnamed pattern of function ``create_user`` in app ``users`` is ``users:create_user`` too."""
        assert route_of("/users/new", "POST") == "users:create_user"

    def test_unnamed_class_based_view_is_named_after_the_class(self) -> None:
        """An unnamed ``ListUsers.as_view()`` is ``users:ListUsers``."""
        assert route_of("/users/list") == "users:ListUsers"

    def test_nested_namespaces_are_joined(self) -> None:
        """A pattern in namespace ``admin`` inside ``users`` is ``users:admin:ban_user``."""
        assert route_of("/users/admin/ban", "POST") == "users:admin:ban_user"

    def test_unresolved_path_is_no_route(self) -> None:
        """A path Django does not resolve (here: missing its trailing part) passes through."""
        assert route_of("/users/") is None

    @override_settings(DEBUG=True)  # static() adds its pattern in DEBUG only
    def test_static_files_pass_through(self) -> None:
        """``django.views.static.serve`` is no operation of the app."""
        module = ModuleType("callout_test_static_urls")
        module.urlpatterns = static("/static/", document_root="/nonexistent")  # type: ignore[attr-defined]
        assert django_route_of(module)(EnvironBuilder(path="/static/app.js").get_environ()) is None


class TestRouteNames:
    def test_names_look_into_includes(self) -> None:
        """Every pattern's name is listed once, with its namespaces, for the catalog."""
        assert list(django_route_names(URLCONF)()) == [
            "health",
            "users:ListUsers",
            "users:admin:ban_user",
            "users:create_user",
        ]

    @override_settings(DEBUG=True)
    def test_static_files_are_not_listed(self) -> None:
        """The static files pattern is left out of the catalog."""
        module = ModuleType("callout_test_static_names")
        module.urlpatterns = [  # type: ignore[attr-defined]
            path("health", create_user, name="health"),
            *static("/static/", document_root="/nonexistent"),
        ]
        assert list(django_route_names(module)()) == ["health"]

    def test_operations_are_camel_case(self) -> None:
        """The catalog's methods are ``/<service>/UsersCreateUser`` and the like."""
        middleware = CalloutWSGIMiddleware(
            lambda *_: [],
            client=DispatchClient(UNREACHABLE, "t"),
            service=SERVICE,
            route_of=django_route_of(URLCONF),
            route_names=django_route_names(URLCONF),
        )
        try:
            assert middleware.methods() == [
                f"/{SERVICE}/{name}" for name in ("Health", "UsersAdminBanUser", "UsersCreateUser", "UsersListUsers")
            ]
        finally:
            middleware.close()


@pytest.fixture
def make_client() -> Iterator[Any]:
    """Factory: werkzeug's test client for the Django example behind the middleware (callout unreachable)."""
    middlewares: list[CalloutWSGIMiddleware] = []

    def make(**options: Any) -> Client:
        middleware = build_app(
            DispatchClient(UNREACHABLE, "t", retries=0, keep_routing=False), register=False, **options
        )
        middlewares.append(middleware)
        return Client(middleware)

    yield make
    for middleware in middlewares:
        middleware.close()


class TestWrapDjango:
    def test_example_methods_are_its_url_names(self) -> None:
        """The example's URL names are the methods CreateUser, GetUser and Health."""
        middleware = build_app(DispatchClient(UNREACHABLE, "t"), register=False)
        try:
            assert middleware.methods() == [f"/{SERVICE}/{name}" for name in ("CreateUser", "GetUser", "Health")]
        finally:
            middleware.close()

    def test_unresolved_path_gets_djangos_404(self, make_client: Any) -> None:
        """A path Django does not resolve passes through to Django's own 404, callout unreachable."""
        assert make_client().get("/nowhere").status_code == 404

    def test_route_fails_closed_before_the_first_snapshot(self, make_client: Any) -> None:
        """A JSON request to a route answers 503 while callout is unreachable and nothing is known."""
        response = make_client().post("/users", json={"name": "ada"})
        assert (response.status_code, response.json["code"]) == (503, "unavailable")

    def test_fail_open_reaches_the_view(self, make_client: Any) -> None:
        """With ``fail_open`` the Django view gets the request as sent."""
        response = make_client(on_unavailable="fail_open").post("/users", json={"name": "ada"})
        assert (response.status_code, response.json["user"]["name"]) == (200, "ada")


class TestLazyImport:
    def test_callout_does_not_import_django(self) -> None:
        """Importing callout and its WSGI and Django adapters leaves Django unimported."""
        code = (
            "import sys, callout.integrations.wsgi, callout.integrations.django_adapter, callout.cli; "
            "print('django' in sys.modules)"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "False"

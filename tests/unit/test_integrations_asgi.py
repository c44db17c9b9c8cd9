"""The pieces of CalloutMiddleware: operation names, route matching on a real FastAPI app, bodies, errors."""

from __future__ import annotations

from typing import Any

import pytest

from callout.delivery.dispatch_client import DispatchClient, DispatchError
from callout.integrations.asgi import (
    CalloutMiddleware,
    forwarded_headers,
    matching_route_name,
    operation_name,
    route_names,
    send_error,
)
from callout.integrations.bodies import parse_json_object, replaced_request, with_content_length
from tests.dispatch_support import host_app

SERVICE = "example.users.v1.UserService"


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    """An ASGI HTTP scope as a server would build it."""
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers or []}


def middleware(**options: Any) -> CalloutMiddleware:
    """The middleware around the test host app (its client is never called here)."""
    return CalloutMiddleware(host_app(), client=DispatchClient("http://127.0.0.1:9", "t"), service=SERVICE, **options)


class TestOperationName:
    @pytest.mark.parametrize(
        ("route_name", "operation"),
        [
            ("create_user", "CreateUser"),
            ("get-user", "GetUser"),
            ("getUser", "GetUser"),
            ("list_users_v2", "ListUsersV2"),
            ("ping", "Ping"),
            ("__private__", "Private"),
        ],
    )
    def test_route_name_becomes_upper_camel_case(self, route_name: str, operation: str) -> None:
        """Separators are dropped and each word starts upper case."""
        assert operation_name(route_name) == operation

    def test_name_without_letters_is_empty(self) -> None:
        """A name of separators only gives no operation."""
        assert operation_name("__") == ""


class TestRouteMatching:
    def test_matching_route_is_found(self) -> None:
        """POST /users matches the create_user route."""
        assert matching_route_name(host_app().router.routes, http_scope("POST", "/users")) == "create_user"

    def test_path_parameters_match(self) -> None:
        """GET /users/7 matches the get_user route."""
        assert matching_route_name(host_app().router.routes, http_scope("GET", "/users/7")) == "get_user"

    def test_wrong_http_method_matches_nothing(self) -> None:
        """A route matched only by its path is no match."""
        assert matching_route_name(host_app().router.routes, http_scope("DELETE", "/users")) is None

    def test_unknown_path_matches_nothing(self) -> None:
        """A path no route serves is no match."""
        assert matching_route_name(host_app().router.routes, http_scope("GET", "/nowhere")) is None

    def test_route_of_a_mounted_app_is_found(self) -> None:
        """A mount is searched with the path below it."""
        assert matching_route_name(host_app().router.routes, http_scope("POST", "/admin/ping")) == "ping_admin"

    def test_route_hidden_from_the_schema_matches_nothing(self) -> None:
        """FastAPI's openapi route is not an operation."""
        assert matching_route_name(host_app().router.routes, http_scope("GET", "/openapi.json")) is None


class TestRouteNames:
    def test_every_schema_route_is_named(self) -> None:
        """Route names cover plain routes and routes of mounted apps, and no docs routes."""
        assert sorted(route_names(host_app().router.routes)) == [
            "create_user",
            "echo_bytes",
            "get_ratio",
            "get_user",
            "ping_admin",
            "say_text",
            "stream_user",
        ]


class TestMethodFor:
    def test_method_is_service_and_operation(self) -> None:
        """The full method is ``/<service>/<Operation>``."""
        assert middleware().method_for(http_scope("POST", "/users")) == f"/{SERVICE}/CreateUser"

    def test_unmatched_request_has_no_method(self) -> None:
        """A request no route matches has no method."""
        assert middleware().method_for(http_scope("GET", "/nowhere")) is None

    def test_custom_operation_wins(self) -> None:
        """An operation_for hook decides the operation."""
        custom = middleware(operation_for=lambda scope: "Op" + scope["method"].title())
        assert custom.method_for(http_scope("GET", "/anything")) == f"/{SERVICE}/OpGet"

    def test_custom_operation_may_pass_through(self) -> None:
        """An operation_for hook returning None lets the request pass through."""
        assert middleware(operation_for=lambda _scope: None).method_for(http_scope("POST", "/users")) is None

    def test_routes_come_from_the_scope_app_when_the_wrapped_app_has_none(self) -> None:
        """Added with add_middleware, the middleware finds the routes through ``scope["app"]``."""

        async def bare(_scope: Any, _receive: Any, _send: Any) -> None:
            return None

        wrapped = CalloutMiddleware(bare, client=DispatchClient("http://127.0.0.1:9", "t"), service=SERVICE)
        scope = {**http_scope("GET", "/users/1"), "app": host_app()}
        assert wrapped.method_for(scope) == f"/{SERVICE}/GetUser"

    def test_methods_are_registered_sorted(self) -> None:
        """The catalog methods are the operations of every schema route, sorted."""
        assert middleware().methods()[:2] == [f"/{SERVICE}/CreateUser", f"/{SERVICE}/EchoBytes"]

    def test_given_operations_are_the_methods(self) -> None:
        """Explicit operations replace the route names in the catalog."""
        assert middleware(operations=["B", "A"]).methods() == [f"/{SERVICE}/A", f"/{SERVICE}/B"]


class TestBodies:
    @pytest.mark.parametrize(
        ("body", "parsed"),
        [(b"", {}), (b"  ", {}), (b'{"a":1}', {"a": 1}), (b"[1]", None), (b"text", None), (b"1", None)],
    )
    def test_only_json_objects_are_requests(self, body: bytes, parsed: dict[str, Any] | None) -> None:
        """An empty body is ``{}``, a JSON object itself, anything else None."""
        assert parse_json_object(body) == parsed

    def test_content_length_is_replaced(self) -> None:
        """Every content-length header gives way to exactly one with the new length."""
        headers = [(b"Content-Length", b"3"), (b"content-type", b"application/json"), (b"content-length", b"3")]
        assert with_content_length(headers, 12) == [(b"content-type", b"application/json"), (b"content-length", b"12")]

    def test_unchanged_request_keeps_scope_and_bytes(self) -> None:
        """A request the targets did not change keeps its exact bytes and scope."""
        scope = http_scope("POST", "/users", [(b"content-length", b"9")])
        assert replaced_request(scope, b'{ "a":1 }', {"a": 1}, {"a": 1}) == (scope, b'{ "a":1 }')

    def test_replaced_request_fixes_the_length(self) -> None:
        """A replaced request is compact JSON with a matching content-length."""
        scope = http_scope("POST", "/users", [(b"content-type", b"application/json"), (b"content-length", b"2")])
        new_scope, body = replaced_request(scope, b"{}", {}, {"name": "ü"})
        assert (body, dict(new_scope["headers"])[b"content-length"]) == ('{"name":"ü"}'.encode(), b"13")

    def test_replaced_request_drops_chunked_transfer_encoding(self) -> None:
        """The replayed body has a length, so a chunked transfer-encoding header is removed."""
        scope = http_scope("POST", "/users", [(b"transfer-encoding", b"chunked")])
        new_scope, _ = replaced_request(scope, b"{}", {}, {"a": 1})
        assert b"transfer-encoding" not in dict(new_scope["headers"])

    def test_replaced_request_without_content_type_becomes_json(self) -> None:
        """A replaced request that had no content type is declared JSON."""
        new_scope, _ = replaced_request(http_scope("POST", "/users"), b"", {}, {"a": 1})
        assert dict(new_scope["headers"])[b"content-type"] == b"application/json"

    def test_forwarded_headers_are_canonical_and_filtered(self) -> None:
        """Only the five forwarded headers are kept, canonically cased, repeats in order."""
        raw = [
            (b"host", b"app.test"),
            (b"authorization", b"Bearer secret"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"X-Forwarded-For", b"10.0.0.2"),
            (b"cookie", b"a=b"),
        ]
        assert forwarded_headers(http_scope("GET", "/", raw)) == {
            "Host": ["app.test"],
            "X-Forwarded-For": ["10.0.0.1", "10.0.0.2"],
        }


async def _sent_error(error: DispatchError) -> tuple[int, bytes, dict[bytes, bytes]]:
    messages: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        messages.append(dict(message))

    await send_error(send, error, "/svc.S/Op")
    return messages[0]["status"], messages[1]["body"], dict(messages[0]["headers"])


class TestErrorMapping:
    async def test_forwarded_error_keeps_status_and_shows_the_forwarded_message(self) -> None:
        """A forwarded 403 answers 403 with the target's message."""
        error = DispatchError(
            403, "permission_denied", "Errors.Execution.Forwarded (nope)", "Errors.Execution.Forwarded", "nope"
        )
        status, body, _ = await _sent_error(error)
        assert (status, body) == (403, b'{"code":"permission_denied","message":"nope"}')

    async def test_failing_target_keeps_status(self) -> None:
        """A failing target's 400 failed_precondition reaches the client as is."""
        error = DispatchError(
            400, "failed_precondition", "m", "Errors.Execution.Failed", "the target answered HTTP 500"
        )
        assert (await _sent_error(error))[0] == 400

    async def test_callout_refusing_the_host_is_a_502(self) -> None:
        """callout's own 4xx (e.g. a bad host token) is a bad gateway for the client, without details."""
        error = DispatchError(401, "unauthenticated", "Errors.Token.Invalid", "Errors.Token.Invalid", "")
        status, body, _ = await _sent_error(error)
        assert (status, body) == (502, b'{"code":"unavailable","message":"the actions service failed"}')

    async def test_unreachable_callout_keeps_503(self) -> None:
        """A transport failure answers 503 unavailable."""
        status, body, _ = await _sent_error(DispatchError(503, "unavailable", "callout is unreachable"))
        assert (status, body) == (503, b'{"code":"unavailable","message":"callout is unreachable"}')

    async def test_error_response_is_json_with_its_length(self) -> None:
        """The error response declares JSON and its exact length."""
        _, body, headers = await _sent_error(DispatchError(503, "unavailable", "down"))
        assert (headers[b"content-type"], headers[b"content-length"]) == (b"application/json", str(len(body)).encode())

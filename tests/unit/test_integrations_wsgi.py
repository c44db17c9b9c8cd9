"""The pieces of CalloutWSGIMiddleware: the background loop, Flask routes, bodies, responses, failures.

The middleware wraps the real Flask example and is driven by werkzeug's WSGI test client; its
DispatchClient points at a closed loopback port, so every Dispatch call finds callout unreachable.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from examples.flask_app import SERVICE, build_app, users_api
from werkzeug.test import Client, EnvironBuilder

from callout.delivery.dispatch_client import DispatchClient
from callout.integrations.bodies import RefusedBody
from callout.integrations.flask_adapter import flask_route_names, flask_route_of
from callout.integrations.loop_thread import LoopThread
from callout.integrations.wsgi import CalloutWSGIMiddleware, forwarded_headers, read_body, with_body
from callout.integrations.wsgi_response import HeldResponse, StartResponse, status_line

UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def make_client() -> Iterator[Any]:
    """Factory: werkzeug's test client for the Flask example behind the middleware (callout unreachable)."""
    middlewares: list[CalloutWSGIMiddleware] = []

    def make(**options: Any) -> Client:
        client = DispatchClient(UNREACHABLE, "t", retries=0, keep_routing=False)
        app, middleware = build_app(client, register=False, **options)
        middlewares.append(middleware)
        return Client(app)

    yield make
    for middleware in middlewares:
        middleware.close()


def environ(method: str = "GET", path: str = "/", **options: Any) -> dict[str, Any]:
    """A WSGI environ as a server would build it."""
    return EnvironBuilder(method=method, path=path, **options).get_environ()


class TestLoopThread:
    def test_runs_a_coroutine_and_returns_its_result(self) -> None:
        """``run`` waits for the coroutine on the loop thread."""
        loop = LoopThread()

        async def answer() -> int:
            return 42

        try:
            assert loop.run(answer()) == 42
        finally:
            loop.close()

    def test_close_stops_the_loop(self) -> None:
        """After ``close`` the loop no longer runs, and a second close does nothing."""
        loop = LoopThread()
        loop.close()
        loop.close()
        assert not loop.running


class TestFlaskRoutes:
    def test_route_of_is_the_endpoint(self) -> None:
        """POST /users is the create_user endpoint."""
        assert flask_route_of(users_api())(environ("POST", "/users")) == "create_user"

    def test_path_parameters_match(self) -> None:
        """GET /users/7 is the get_user endpoint."""
        assert flask_route_of(users_api())(environ("GET", "/users/7")) == "get_user"

    def test_wrong_http_method_matches_nothing(self) -> None:
        """A rule matched only by its path is no route."""
        assert flask_route_of(users_api())(environ("DELETE", "/users")) is None

    def test_unknown_path_matches_nothing(self) -> None:
        """A path no rule serves is no route."""
        assert flask_route_of(users_api())(environ("GET", "/nowhere")) is None

    def test_static_files_pass_through(self) -> None:
        """Flask's static route is no operation."""
        assert flask_route_of(users_api())(environ("GET", "/static/app.js")) is None

    def test_automatic_options_pass_through(self) -> None:
        """Flask's automatic OPTIONS answer is no operation of the app."""
        assert flask_route_of(users_api())(environ("OPTIONS", "/users")) is None

    def test_route_names_leave_out_static(self) -> None:
        """Every endpoint but the static files is listed."""
        assert list(flask_route_names(users_api())()) == ["create_user", "get_user", "health"]

    def test_methods_name_the_service(self) -> None:
        """The catalog holds each endpoint as ``/<service>/<Operation>``."""
        _, middleware = build_app(DispatchClient(UNREACHABLE, "t"), register=False)
        try:
            assert middleware.methods() == [f"/{SERVICE}/{name}" for name in ("CreateUser", "GetUser", "Health")]
        finally:
            middleware.close()


class TestRegistration:
    def test_without_route_names_nothing_is_registered(self) -> None:
        """With no route names the middleware counts as registered without calling (unreachable) callout."""
        middleware = CalloutWSGIMiddleware(
            users_api().wsgi_app, client=DispatchClient(UNREACHABLE, "t"), service=SERVICE, route_of=lambda _: None
        )
        try:
            middleware.ensure_registered()
            assert middleware.registered
        finally:
            middleware.close()


class TestBodies:
    def test_declared_length_over_the_limit_is_refused(self) -> None:
        """A Content-Length over the limit is a 413 refusal before anything is read."""
        with pytest.raises(RefusedBody) as refusal:
            read_body(environ("POST", "/users", data=b"x" * 20), 10)
        assert refusal.value.status == 413

    def test_short_body_is_incomplete(self) -> None:
        """A body shorter than declared reports the client as gone."""
        env = {"CONTENT_LENGTH": "10", "wsgi.input": io.BytesIO(b"{}")}
        assert read_body(env, 100) == (b"{}", False)

    def test_terminated_input_without_length_is_read(self) -> None:
        """Without a Content-Length, a terminated input is read to its end."""
        env = {"wsgi.input": io.BytesIO(b'{"a":1}'), "wsgi.input_terminated": True}
        assert read_body(env, 100) == (b'{"a":1}', True)

    def test_with_body_fixes_the_length_and_type(self) -> None:
        """A replaced JSON body gets its own length and a JSON type where none was given."""
        replaced = with_body({"HTTP_TRANSFER_ENCODING": "chunked"}, b'{"b":2}', json=True)
        assert (replaced["CONTENT_LENGTH"], replaced["CONTENT_TYPE"], "HTTP_TRANSFER_ENCODING" in replaced) == (
            "7",
            "application/json",
            False,
        )

    def test_forwarded_headers_are_the_allowed_ones(self) -> None:
        """Content-Type, Host and X-Forwarded-For reach targets; Authorization does not."""
        env = environ(
            "POST", "/users", content_type="application/json", headers={"Authorization": "x", "X-Forwarded-For": "1"}
        )
        assert forwarded_headers(env) == {
            "Content-Type": ["application/json"],
            "Host": ["localhost"],
            "X-Forwarded-For": ["1"],
        }


def text_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI app answering plain text, started only once iterated."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"hello"


class TestResponses:
    def test_text_response_is_not_replaceable(self) -> None:
        """A plain text response passes through without the response execution."""
        held = HeldResponse.of(text_app, environ(), 100)
        assert (held.status, held.replaceable()) == ("200 OK", False)

    def test_passed_response_keeps_its_body(self) -> None:
        """A passed-through response yields the app's own chunks."""
        held = HeldResponse.of(text_app, environ(), 100)
        assert b"".join(held.deliver(lambda *_: print, lambda _: {})) == b"hello"

    def test_status_line_has_a_reason(self) -> None:
        """403 is ``403 Forbidden``; an unknown code gets a generic reason."""
        assert (status_line(403), status_line(499)) == ("403 Forbidden", "499 Error")


class TestMiddleware:
    def test_unmatched_route_passes_through(self, make_client: Any) -> None:
        """A path no route serves gets the app's 404, with callout unreachable."""
        assert make_client().get("/nowhere").status_code == 404

    def test_unreachable_callout_fails_closed_before_the_first_snapshot(self, make_client: Any) -> None:
        """Without a snapshot nothing is known, so a JSON request answers 503 when callout is unreachable."""
        response = make_client().post("/users", json={"name": "ada"})
        assert (response.status_code, response.json["code"]) == (503, "unavailable")

    def test_fail_open_serves_the_request_unchanged(self, make_client: Any) -> None:
        """With ``fail_open`` the request reaches the app as sent."""
        response = make_client(on_unavailable="fail_open").post("/users", json={"name": "ada"})
        assert (response.status_code, response.json["user"]["name"]) == (200, "ada")

    def test_too_large_body_is_refused_with_413(self, make_client: Any) -> None:
        """A body over ``max_body_bytes`` is answered 413 with callout's error shape."""
        response = make_client(max_body_bytes=16).post("/users", json={"name": "x" * 40})
        assert (response.status_code, response.json["code"]) == (413, "resource_exhausted")

    def test_too_deep_json_is_refused_with_400(self, make_client: Any) -> None:
        """JSON nesting deeper than callout carries is answered 400 before the app runs."""
        deep = "[" * 200 + "]" * 200
        response = make_client().post("/users", data=deep, content_type="application/json")
        assert (response.status_code, response.json["code"]) == (400, "invalid_argument")

    def test_nan_is_refused_with_400(self, make_client: Any) -> None:
        """A request body holding NaN is answered 400."""
        response = make_client().post("/users", data='{"n": NaN}', content_type="application/json")
        assert response.status_code == 400

    def test_non_json_body_passes_through(self, make_client: Any) -> None:
        """A body that is not a JSON object reaches the app without any Dispatch call."""
        response = make_client().post("/users", data="plain words", content_type="text/plain")
        assert (response.status_code, json.loads(response.data)["user"]["name"]) == (200, "")

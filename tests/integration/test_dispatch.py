"""CalloutMiddleware and DispatchClient against an in-process callout served on a real loopback port.

The host application is driven through httpx's ASGI transport; the middleware's client talks real
HTTP to callout (uvicorn on 127.0.0.1), whose targets are real aiohttp receivers on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import structlog
from aiohttp import web

from callout.api.app import create_app
from callout.delivery.dispatch_client import DispatchClient, DispatchError
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Role
from callout.domain.egress import EgressPolicy
from callout.integrations.asgi import CalloutMiddleware, Identity
from callout.integrations.bodies import DISPATCHED_JSON_DEPTH
from callout.services.context import ServiceContext
from tests.conftest import MakePrincipal
from tests.delivery_receivers import Receiver, ReceiverFactory
from tests.dispatch_support import Actions, actions_client, host_app, run_lifespan, serve_on_loopback, unique_service
from tests.integration.engine_support import answer


@dataclass
class Host:
    """A host app wrapped with the middleware, its Dispatch client, and callout's admin API."""

    http: httpx.AsyncClient
    client: DispatchClient
    actions: Actions
    receivers: ReceiverFactory
    middleware: CalloutMiddleware
    service: str

    def method(self, operation: str) -> str:
        """The full method of an operation of the host's service."""
        return f"/{self.service}/{operation}"

    async def hook(self, condition: str, operation: str, reply: Any = None, **target: Any) -> Receiver:
        """A receiver bound as the only target of the request or response execution of an operation."""
        receiver = await self.receivers.start(reply or answer(200, {}))
        await self.client.register_catalog(methods=[self.method(operation)])
        await self.actions.bind(
            {condition: {"method": self.method(operation)}}, [await self.actions.target(receiver, **target)]
        )
        await self.client.refresh_routing()  # the middleware's snapshot sees the change at once
        return receiver

    async def hook_service(self, condition: str) -> Receiver:
        """A receiver bound to the request or response execution of the whole service."""
        receiver = await self.receivers.start()
        await self.client.register_catalog(methods=[self.method("CreateUser")])
        await self.actions.bind({condition: {"service": self.service}}, [await self.actions.target(receiver)])
        await self.client.refresh_routing()  # the middleware's snapshot sees the change at once
        return receiver


MakeHost = Callable[..., Awaitable[Host]]


def deep_object(depth: int) -> bytes:
    """A JSON object nested exactly ``depth`` levels, holding a float and a string at the bottom."""
    return b'{"a":' + b"[" * (depth - 2) + b'[1.5,"<&>"]' + b"]" * (depth - 2) + b"}"


async def echo_request(request: web.Request) -> web.StreamResponse:
    """A rest_call reply that answers with the request it was sent: no replacement."""
    payload = json.loads(await request.read())
    return web.json_response(payload["request"])


@pytest.fixture
async def make_host(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[MakeHost]:
    """Factory: a host app in front of a development-mode callout, with a token of a role (own instance)."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    app = create_app(replace(context, egress=policy, sender=sender))
    closers: list[Callable[[], Awaitable[None]]] = []
    async with serve_on_loopback(app) as base_url, ReceiverFactory() as receivers:

        async def make(role: Role = Role.IAM_OWNER, *, url: str | None = None, **options: Any) -> Host:
            principal, token = await make_principal(role)
            _, owner_token = await make_principal(Role.IAM_OWNER, principal.instance_id)
            client = DispatchClient(url or base_url, token, timeout_seconds=5)
            service = unique_service()
            middleware = CalloutMiddleware(host_app(), client=client, service=service, **options)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://host.test")
            actions = actions_client(base_url, owner_token)
            closers.extend([client.close, http.aclose, actions.http.aclose])
            return Host(http, client, actions, receivers, middleware, service)

        yield make
        for close in closers:
            await close()
        await app.state.api.context.chains.drain()
    await sender.close()


@pytest.fixture
async def host(make_host: MakeHost) -> Host:
    """A host app whose middleware holds an IAM_OWNER token."""
    return await make_host()


class TestRequestExecution:
    async def test_handler_sees_the_replaced_request(self, host: Host) -> None:
        """A rest_call target's answer is the body the route handler receives."""
        await host.hook("request", "CreateUser", answer(200, {"name": "replaced"}))
        response = await host.http.post("/users", json={"name": "original"})
        assert response.json()["user"] == {"name": "replaced"}

    async def test_replaced_request_carries_its_own_content_length(self, host: Host) -> None:
        """The handler sees a content-length equal to the replaced body's length."""
        await host.hook("request", "CreateUser", answer(200, {"name": "a much longer replaced name"}))
        response = await host.http.post("/users", json={"name": "x"})
        assert response.json()["contentLength"] == str(len(b'{"name":"a much longer replaced name"}'))

    async def test_unchanged_request_reaches_the_handler_byte_for_byte(self, host: Host) -> None:
        """Without a replacement the handler gets the original bytes and length."""
        body = b'{ "name" : "spaced" }'
        response = await host.http.post("/users", content=body, headers={"content-type": "application/json"})
        assert response.json()["contentLength"] == str(len(body))

    async def test_replacing_an_empty_body_sets_a_json_content_type(self, host: Host) -> None:
        """A request sent without a body or content type reaches the handler as the target's JSON."""
        await host.hook("request", "CreateUser", answer(200, {"name": "added"}))
        response = await host.http.post("/users")
        assert (response.json()["user"], response.json()["contentType"]) == ({"name": "added"}, "application/json")

    async def test_target_receives_the_host_method_request_and_headers(self, host: Host) -> None:
        """The target's payload names the host method and carries the body and forwarded headers."""
        receiver = await host.hook("request", "CreateUser", answer(200, {"name": "x"}))
        await host.http.post("/users", json={"name": "sent"}, headers={"origin": "http://app.test"})
        payload = json.loads(receiver.hits[0].body)
        assert (payload["fullMethod"], payload["request"], payload["headers"]) == (
            host.method("CreateUser"),
            {"name": "sent"},
            {"Content-Type": ["application/json"], "Host": ["host.test"], "Origin": ["http://app.test"]},
        )

    async def test_identity_is_what_targets_see(self, make_host: MakeHost) -> None:
        """The identify hook's user and project replace the token's in the payload."""
        host = await make_host(identify=lambda _scope: Identity(user_id="end-user-7", project_id="project-1"))
        receiver = await host.hook("request", "CreateUser", answer(200, {}))
        await host.http.post("/users", json={})
        payload = json.loads(receiver.hits[0].body)
        assert (payload["userID"], payload["projectID"]) == ("end-user-7", "project-1")

    async def test_get_route_runs_with_an_empty_request(self, host: Host) -> None:
        """A GET route's request execution runs with an empty request."""
        receiver = await host.hook("request", "GetUser", answer(200, {}))
        response = await host.http.get("/users/7")
        assert (response.json(), json.loads(receiver.hits[0].body).get("request", {})) == ({"user": {"id": "7"}}, {})

    async def test_forwarded_error_becomes_its_http_status(self, host: Host) -> None:
        """A forwarded 403 answers 403 with the forwarded message; the handler never runs."""
        reply = answer(200, {"forwardedStatusCode": 403, "forwardedErrorMessage": "no new users"})
        await host.hook("request", "CreateUser", reply)
        response = await host.http.post("/users", json={"name": "x"})
        assert (response.status_code, response.json()) == (
            403,
            {"code": "permission_denied", "message": "no new users"},
        )

    async def test_interrupting_failing_target_answers_400(self, host: Host) -> None:
        """An interrupting target answering 500 fails the call with failed_precondition."""
        await host.hook("request", "CreateUser", answer(500))
        response = await host.http.post("/users", json={"name": "x"})
        assert (response.status_code, response.json()["code"]) == (400, "failed_precondition")

    async def test_slow_target_answers_504(self, host: Host) -> None:
        """An interrupting target slower than its timeout answers 504 deadline_exceeded."""
        await host.hook("request", "CreateUser", answer(200, {}, delay=2.0), target_timeout="0.2s")
        response = await host.http.post("/users", json={"name": "x"})
        assert (response.status_code, response.json()["code"]) == (504, "deadline_exceeded")


class TestAllExecutions:
    async def test_execution_on_all_requests_sees_only_the_host_method(self, make_host: MakeHost) -> None:
        """A request execution on all methods runs for the host method, not for the Dispatch RPC carrying it."""
        host = await make_host(register=False)
        receiver = await host.receivers.start(answer(200, {"name": "x"}))
        await host.actions.bind({"request": {"all": True}}, [await host.actions.target(receiver)])
        await host.http.post("/users", json={"name": "x"})
        assert [json.loads(hit.body)["fullMethod"] for hit in receiver.hits] == [host.method("CreateUser")]


class TestResponseExecution:
    async def test_client_gets_the_replaced_response(self, host: Host) -> None:
        """A response rest_call target's answer is the body the client receives."""
        await host.hook("response", "GetUser", answer(200, {"user": {"id": "masked"}}))
        response = await host.http.get("/users/7")
        assert response.json() == {"user": {"id": "masked"}}

    async def test_replaced_response_carries_its_own_content_length(self, host: Host) -> None:
        """The content-length header matches the replaced body."""
        await host.hook("response", "GetUser", answer(200, {"user": {"id": "a much longer id than before"}}))
        response = await host.http.get("/users/7")
        assert response.headers["content-length"] == str(len(b'{"user":{"id":"a much longer id than before"}}'))

    async def test_response_target_sees_the_request_the_handler_saw(self, host: Host) -> None:
        """The response payload holds the replaced request and the handler's response."""
        await host.hook("request", "CreateUser", answer(200, {"name": "replaced"}))
        receiver = await host.hook("response", "CreateUser", answer(200, {}))
        await host.http.post("/users", json={"name": "original"})
        payload = json.loads(receiver.hits[0].body)
        assert (payload["request"], payload["response"]["user"]) == ({"name": "replaced"}, {"name": "replaced"})

    async def test_streamed_json_response_is_replaced(self, host: Host) -> None:
        """A JSON body sent in several chunks is collected and replaced as a whole."""
        receiver = await host.hook("response", "StreamUser", answer(200, {"user": {"id": "replaced"}}))
        response = await host.http.get("/stream")
        assert (response.json(), json.loads(receiver.hits[0].body)["response"]) == (
            {"user": {"id": "replaced"}},
            {"user": {"id": "streamed"}},
        )

    async def test_forwarded_error_replaces_the_response(self, host: Host) -> None:
        """A forwarded 409 from a response target answers 409 instead of the handler's response."""
        reply = answer(200, {"forwardedStatusCode": 409, "forwardedErrorMessage": "taken"})
        await host.hook("response", "GetUser", reply)
        response = await host.http.get("/users/7")
        assert (response.status_code, response.json()) == (409, {"code": "already_exists", "message": "taken"})


class TestPassThrough:
    async def test_unknown_route_calls_no_target(self, host: Host) -> None:
        """A path no route matches gets the app's own 404 and no target is called."""
        receiver = await host.hook_service("request")
        response = await host.http.get("/nowhere")
        assert (response.status_code, receiver.hits) == (404, [])

    async def test_wrong_http_method_calls_no_target(self, host: Host) -> None:
        """A route matched only by path gets the app's own 405 and no target is called."""
        receiver = await host.hook_service("request")
        response = await host.http.delete("/users")
        assert (response.status_code, receiver.hits) == (405, [])

    async def test_non_json_request_reaches_the_handler_unchanged(self, host: Host) -> None:
        """A text body reaches the handler as sent and no request target is called."""
        receiver = await host.hook_service("request")
        response = await host.http.post("/echo", content=b"plain words", headers={"content-type": "text/plain"})
        assert (response.content, receiver.hits) == (b"plain words", [])

    async def test_json_object_declared_as_text_still_runs_the_request_execution(self, host: Host) -> None:
        """A JSON object sent as text/plain cannot dodge the request execution."""
        await host.hook("request", "CreateUser", answer(200, {"name": "checked"}))
        response = await host.http.post("/users", content=b'{"name":"sneaky"}', headers={"content-type": "text/plain"})
        assert response.json()["user"] == {"name": "checked"}

    async def test_multipart_upload_reaches_the_handler_unchanged(self, host: Host) -> None:
        """A multipart body is streamed through without executions."""
        receiver = await host.hook_service("request")
        body = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n{}\r\n--b--\r\n'
        response = await host.http.post(
            "/echo", content=body, headers={"content-type": "multipart/form-data; boundary=b"}
        )
        assert (response.content, receiver.hits) == (body, [])

    async def test_json_array_request_reaches_the_handler_unchanged(self, host: Host) -> None:
        """A JSON body that is not an object passes through without executions."""
        receiver = await host.hook_service("request")
        response = await host.http.post("/users", json=[1, 2])
        assert (response.json()["user"], receiver.hits) == ([1, 2], [])

    async def test_non_json_response_is_not_sent_to_targets(self, host: Host) -> None:
        """A plain-text response reaches the client unchanged and no response target is called."""
        receiver = await host.hook_service("response")
        response = await host.http.get("/text")
        assert (response.text, receiver.hits) == ("hello", [])

    async def test_error_response_is_not_sent_to_targets(self, host: Host) -> None:
        """A non-2xx response reaches the client unchanged and no response target is called."""
        receiver = await host.hook_service("response")
        response = await host.http.get("/users/missing")
        assert (response.status_code, receiver.hits) == (404, [])

    async def test_docs_route_calls_no_target(self, host: Host) -> None:
        """FastAPI's schema route is hidden from the schema and passes through."""
        receiver = await host.hook_service("request")
        response = await host.http.get("/openapi.json")
        assert (response.status_code, receiver.hits) == (200, [])

    async def test_held_response_start_is_released_before_another_message(self, host: Host) -> None:
        """A JSON response continued by a message other than a body (such as pathsend) is passed on in order."""

        async def file_app(_scope: Any, _receive: Any, send: Any) -> None:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.pathsend", "path": "/tmp/user.json"})

        wrapped = CalloutMiddleware(
            file_app, client=host.client, service=host.service, operation_for=lambda _scope: "GetFile", register=False
        )
        sent: list[str] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message["type"])

        await wrapped({"type": "http", "method": "GET", "path": "/file", "headers": []}, receive, send)
        assert sent == ["http.response.start", "http.response.pathsend"]

    async def test_mounted_route_is_an_operation(self, host: Host) -> None:
        """A route of a mounted app is intercepted under its own name."""
        await host.hook("response", "PingAdmin", answer(200, {"pong": "replaced"}))
        response = await host.http.post("/admin/ping")
        assert response.json() == {"pong": "replaced"}


class TestMiddlewareAtTheLimits:
    async def test_request_at_the_dispatched_depth_runs_end_to_end(self, host: Host) -> None:
        """A request of 99 levels goes through its request target and reaches the handler unchanged."""
        body = deep_object(DISPATCHED_JSON_DEPTH - 1)  # the handler's answer wraps it once more
        receiver = await host.hook("request", "CreateUser", echo_request)
        response = await host.http.post("/users", content=body, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["user"]) == (200, json.loads(body))
        assert json.loads(receiver.hits[0].body)["request"] == json.loads(body)

    async def test_request_of_the_full_dispatched_depth_reaches_the_target(self, host: Host) -> None:
        """A request of exactly DISPATCHED_JSON_DEPTH levels is accepted and sent to the request target."""
        body = deep_object(DISPATCHED_JSON_DEPTH)
        receiver = await host.hook("request", "CreateUser", answer(200, {"name": "replaced"}))
        response = await host.http.post("/users", content=body, headers={"content-type": "application/json"})
        assert (response.status_code, len(receiver.hits)) == (200, 1)

    async def test_body_of_exactly_the_size_limit_reaches_the_handler(self, make_host: MakeHost) -> None:
        """With max_body_bytes=4096 a body of exactly 4096 bytes runs the request execution and the handler."""
        host = await make_host(max_body_bytes=4096)
        receiver = await host.hook("request", "CreateUser", echo_request)
        body = b'{"name":"' + b"a" * (4096 - 11) + b'"}'
        response = await host.http.post("/users", content=body, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["contentLength"], len(receiver.hits)) == (200, "4096", 1)

    async def test_response_too_deep_for_callout_passes_through_unchanged(self, host: Host) -> None:
        """A handler's answer nested deeper than callout accepts skips the response execution, with one warning."""
        receiver = await host.hook("response", "CreateUser", answer(200, {"replaced": True}))
        body = deep_object(DISPATCHED_JSON_DEPTH)  # the handler wraps it: its answer is one level deeper
        with structlog.testing.capture_logs() as logs:
            response = await host.http.post("/users", content=body, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["user"], receiver.hits) == (200, json.loads(body), [])
        assert [entry["event"] for entry in logs if entry["log_level"] != "info"] == ["callout.response_too_deep"]

    async def test_response_over_the_size_limit_passes_through_unchanged(self, make_host: MakeHost) -> None:
        """A handler's answer larger than max_body_bytes skips the response execution, with one warning."""
        host = await make_host(max_body_bytes=4096)
        receiver = await host.hook("response", "CreateUser", answer(200, {"replaced": True}))
        body = b'{"name":"' + b"a" * 4050 + b'"}'  # under the limit; the handler's answer adds ~60 bytes to it
        with structlog.testing.capture_logs() as logs:
            response = await host.http.post("/users", content=body, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["user"], receiver.hits) == (200, json.loads(body), [])
        assert [entry["event"] for entry in logs if entry["log_level"] != "info"] == ["callout.response_too_large"]

    async def test_response_with_nan_passes_through_unchanged(self, host: Host) -> None:
        """A handler's JSON answer holding NaN skips the response execution with one warning and reaches the client."""
        receiver = await host.hook("response", "GetRatio", answer(200, {"replaced": True}))
        with structlog.testing.capture_logs() as logs:
            response = await host.http.get("/ratio")
        assert (response.status_code, response.content, receiver.hits) == (200, b'{"ratio": NaN}', [])
        assert [entry["event"] for entry in logs if entry["log_level"] != "info"] == ["callout.response_not_finite"]

    async def test_request_with_nan_is_refused_before_any_target(self, host: Host) -> None:
        """A client's JSON body holding NaN is a 400 invalid_argument; neither the request target nor the app runs."""
        receiver = await host.hook("request", "CreateUser", answer(200, {"name": "replaced"}))
        headers = {"content-type": "application/json"}
        response = await host.http.post("/users", content=b'{"name": NaN}', headers=headers)
        assert (response.status_code, response.json()["code"], receiver.hits) == (400, "invalid_argument", [])


class TestRegistration:
    async def test_first_request_registers_every_route(self, host: Host) -> None:
        """The first request registers each schema route of the app (mounts included) as a method."""
        await host.http.get("/text")
        methods = await host.actions.listed("ListExecutionMethods", "methods")
        ops = ("CreateUser", "GetUser", "SayText", "EchoBytes", "StreamUser", "PingAdmin")
        assert {host.method(op) for op in ops} <= set(methods)

    async def test_docs_routes_are_not_registered(self, host: Host) -> None:
        """Routes hidden from the schema are not methods."""
        await host.http.get("/text")
        methods = await host.actions.listed("ListExecutionMethods", "methods")
        assert [method for method in methods if method.startswith(f"/{host.service}/Openapi")] == []

    async def test_lifespan_startup_registers_the_routes(self, host: Host) -> None:
        """The app's lifespan startup registers its methods before any request."""
        await run_lifespan(host.middleware)
        assert host.method("GetUser") in await host.actions.listed("ListExecutionMethods", "methods")

    async def test_lifespan_messages_still_reach_the_server(self, host: Host) -> None:
        """The app's startup and shutdown completions pass through the middleware."""
        assert await run_lifespan(host.middleware) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    async def test_given_operations_are_registered(self, make_host: MakeHost) -> None:
        """With explicit operations, exactly those become methods."""
        host = await make_host(operations=["Custom"])
        await host.http.get("/text")
        methods = await host.actions.listed("ListExecutionMethods", "methods")
        assert [method for method in methods if method.startswith(f"/{host.service}/")] == [host.method("Custom")]

    async def test_no_registration_when_disabled(self, make_host: MakeHost) -> None:
        """With register=False the app's methods stay unknown to callout."""
        host = await make_host(register=False)
        await host.http.get("/text")
        assert host.method("SayText") not in await host.actions.listed("ListExecutionMethods", "methods")

    async def test_registered_service_is_listed(self, host: Host) -> None:
        """The host's service appears in ListExecutionServices after registration."""
        await host.http.get("/text")
        assert host.service in await host.actions.listed("ListExecutionServices", "services")


class TestCalloutFailures:
    async def test_token_without_dispatch_permission_answers_502(self, make_host: MakeHost) -> None:
        """A host token callout refuses is the host's fault, not the client's: 502, not 403."""
        host = await make_host(Role.ORG_OWNER)
        response = await host.http.post("/users", json={})
        assert (response.status_code, response.json()["code"]) == (502, "unavailable")

    async def test_unreachable_callout_answers_503(self, make_host: MakeHost) -> None:
        """When callout cannot be reached the client gets 503 unavailable."""
        host = await make_host(url=f"http://127.0.0.1:{_closed_port()}")
        response = await host.http.post("/users", json={})
        assert (response.status_code, response.json()["code"]) == (503, "unavailable")


class TestDispatchClient:
    async def test_run_request_without_execution_returns_the_request(self, host: Host) -> None:
        """With no execution the request comes back as sent."""
        assert await host.client.run_request(host.method("CreateUser"), {"name": "x"}) == {"name": "x"}

    async def test_run_response_without_execution_returns_the_response(self, host: Host) -> None:
        """With no execution the response comes back as sent."""
        result = await host.client.run_response(host.method("CreateUser"), {}, {"user": {"id": "1"}})
        assert result == {"user": {"id": "1"}}

    async def test_run_function_without_targets_returns_an_empty_result(self, host: Host) -> None:
        """A function without an execution merges nothing."""
        assert await host.client.run_function("preuserinfo", {"user": {"id": "1"}}) == {}

    async def test_apply_function_returns_the_claims_as_zitadel_applies_them(self, host: Host) -> None:
        """apply_function returns the claims after ZITADEL's rules (internal/api/oidc/userinfo.go)."""
        reply = answer(200, {"append_claims": [{"key": "a", "value": 1}, {"key": "b", "value": 2}]})
        receiver = await host.receivers.start(reply)
        await host.actions.bind({"function": {"name": "preuserinfo"}}, [await host.actions.target(receiver)])
        applied = await host.client.apply_function("preuserinfo", {}, claims={"b": 0})
        log = ['key "b" already exists']
        assert applied["claims"] == {"b": 0, "a": 1, "urn:zitadel:iam:action:function/preuserinfo:log": log}

    async def test_forwarded_error_carries_code_status_id_and_detail(self, host: Host) -> None:
        """A forwarded error is a DispatchError with the status, code, message id and forwarded message."""
        reply = answer(200, {"forwardedStatusCode": 404, "forwardedErrorMessage": "gone"})
        await host.hook("request", "CreateUser", reply)
        with pytest.raises(DispatchError) as caught:
            await host.client.run_request(host.method("CreateUser"), {})
        error = caught.value
        assert (error.status, error.code, error.message_id, error.detail, error.message) == (
            404,
            "not_found",
            "Errors.Execution.Forwarded",
            "gone",
            "gone",
        )

    async def test_invalid_method_is_invalid_argument(self, host: Host) -> None:
        """A method without a service part is refused with 400 invalid_argument."""
        with pytest.raises(DispatchError) as caught:
            await host.client.run_request("CreateUser", {})
        assert (caught.value.status, caught.value.code) == (400, "invalid_argument")

    async def test_unknown_token_is_unauthenticated(self, host: Host) -> None:
        """A token callout does not know raises 401 unauthenticated."""
        async with DispatchClient(str(host.actions.http.base_url), "not-a-token") as client:
            with pytest.raises(DispatchError) as caught:
                await client.register_catalog(methods=[host.method("X")])
        assert (caught.value.status, caught.value.code) == (401, "unauthenticated")

    async def test_client_works_again_after_close(self, host: Host) -> None:
        """A call after close() opens a new session."""
        await host.client.run_request(host.method("CreateUser"), {})
        await host.client.close()
        assert await host.client.run_request(host.method("CreateUser"), {"a": 1}) == {"a": 1}

    async def test_system_token_skips_executions(self, make_host: MakeHost) -> None:
        """A SYSTEM token's request comes back unchanged and the bound target is never called."""
        host = await make_host(Role.SYSTEM)
        receiver = await host.hook("request", "CreateUser", answer(200, {"name": "replaced"}))
        result = await host.client.run_request(host.method("CreateUser"), {"name": "kept"})
        assert (result, receiver.hits) == ({"name": "kept"}, [])


def _closed_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

"""Operability: health and readiness, metrics, the OpenAPI document, request ids, unknown routes."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from callout.api.app import create_app
from callout.api.metrics import metrics_app
from callout.domain.auth import Role
from callout.services.context import ServiceContext
from callout.services.secrets import SecretBox
from callout.storage.database import Database
from tests.api_client import TRANSPORTS, call_rpc
from tests.conftest import MakeClient, MakePrincipal

UNREACHABLE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/x"
VALID_CREATE: dict[str, Any] = {
    "name": "hook",
    "restWebhook": {},
    "timeout": "10s",
    "endpoint": "https://example.com/hook",
}
CONNECT_RPCS = [
    f"/zitadel.action.{version}.ActionService/{rpc}"
    for version in ("v2", "v2beta")
    for rpc in ("CreateTarget", "UpdateTarget", "DeleteTarget", "GetTarget", "ListTargets")
]
REST_PATHS = {
    f"/{version}/actions/targets{suffix}" for version in ("v2", "v2beta") for suffix in ("", "/search", "/{id}")
}
OfflineClient = Callable[[str], Awaitable[httpx.AsyncClient]]
MetricsClient = Callable[[str | None], tuple[httpx.AsyncClient, httpx.AsyncClient]]


@pytest.fixture
async def make_metered_client(context: ServiceContext) -> AsyncIterator[MetricsClient]:
    """Factory: a client of an in-process app (with a token if given) and a client of its metrics listener app."""
    app = create_app(context)
    scraper = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=metrics_app(app.state.api.metrics.registry)), base_url="http://metrics.test"
    )
    clients = [scraper]

    def make(token: str | None) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callout.test", headers=headers
        )
        clients.append(client)
        return client, scraper

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def make_offline_client() -> AsyncIterator[OfflineClient]:
    """Factory: a client of an app whose database lives at the given (possibly unreachable) URL."""
    opened: list[tuple[Database, httpx.AsyncClient]] = []

    async def make(url: str) -> httpx.AsyncClient:
        database = Database(url)
        context = ServiceContext(database=database, secret_box=SecretBox(secrets.token_bytes(32)))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(context)), base_url="http://callout.test"
        )
        opened.append((database, client))
        return client

    yield make
    for database, client in opened:
        await client.aclose()
        await database.close()


def _samples(exposition: str, metric: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of one metric family: (sample name, labels, value)."""
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(exposition)
        if family.name == metric
        for sample in family.samples
    ]


def _assert_connect_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["code"], str)
    assert isinstance(body["message"], str)
    assert isinstance(body["details"], list)


def _assert_rest_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["code"], int)
    assert isinstance(body["message"], str)
    assert isinstance(body["details"], list)


class TestHealth:
    async def test_healthz_answers_ok(self, make_client: MakeClient) -> None:
        """/healthz answers 200 while the process runs, without a token."""
        response = await make_client(None).get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})

    async def test_readyz_answers_ok_with_a_working_database(self, make_client: MakeClient) -> None:
        """/readyz answers 200 when the database answers."""
        response = await make_client(None).get("/readyz")
        assert (response.status_code, response.json()["status"]) == (200, "ok")

    async def test_readyz_answers_503_when_the_database_is_unreachable(
        self, make_offline_client: OfflineClient
    ) -> None:
        """/readyz answers 503 with a JSON body when the database cannot be reached."""
        client = await make_offline_client(UNREACHABLE_POSTGRES)
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["status"] != "ok"

    async def test_healthz_stays_ok_when_the_database_is_unreachable(self, make_offline_client: OfflineClient) -> None:
        """Liveness does not depend on the database."""
        client = await make_offline_client(UNREACHABLE_POSTGRES)
        assert (await client.get("/healthz")).status_code == 200

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_rpc_with_unreachable_database_is_unavailable_not_internal(
        self, transport: str, make_offline_client: OfflineClient
    ) -> None:
        """An RPC that cannot reach the database answers 503 in the transport's shape, never 500."""
        client = await make_offline_client(UNREACHABLE_POSTGRES)
        client.headers["Authorization"] = "Bearer co_anything"
        result = await call_rpc(client, transport, "ListTargets", {})
        assert result.status == 503, result.body
        assert result.body["code"] == ("unavailable" if transport == "connect" else 14)

    async def test_readyz_answers_503_after_the_database_is_closed(
        self, context: ServiceContext, make_client: MakeClient
    ) -> None:
        """Once the database handle is closed (e.g. during shutdown) /readyz answers 503 with a JSON body."""
        client = make_client(None)
        await context.database.close()
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] != "ok"


class TestMetrics:
    async def test_api_port_does_not_serve_metrics(self, make_client: MakeClient) -> None:
        """/metrics on the API app answers 404: metrics are served by their own listener only."""
        assert (await make_client(None).get("/metrics")).status_code == 404

    async def test_rpc_counter_has_rpc_transport_and_code_labels(
        self, make_principal: MakePrincipal, make_metered_client: MetricsClient
    ) -> None:
        """Each finished RPC increments callout_rpc_requests_total for its rpc, transport and code."""
        _, token = await make_principal(Role.IAM_OWNER)
        client, scraper = make_metered_client(token)
        await call_rpc(client, "connect", "CreateTarget", VALID_CREATE)
        await call_rpc(client, "rest", "GetTarget", {"id": "404"})
        await call_rpc(client, "rest", "GetTarget", {"id": "405"})
        exposition = (await scraper.get("/metrics")).text
        counts = {
            (labels["rpc"], labels["transport"], labels["code"]): value
            for name, labels, value in _samples(exposition, "callout_rpc_requests")
            if name == "callout_rpc_requests_total"
        }
        assert counts == {
            ("/zitadel.action.v2.ActionService/CreateTarget", "connect", "ok"): 1.0,
            ("/zitadel.action.v2.ActionService/GetTarget", "rest", "not_found"): 2.0,
        }

    async def test_unauthenticated_calls_are_counted(self, make_metered_client: MetricsClient) -> None:
        """A call refused for lack of a token is counted with code unauthenticated."""
        client, scraper = make_metered_client(None)
        await call_rpc(client, "connect", "ListTargets", {})
        exposition = (await scraper.get("/metrics")).text
        labels = [labels for name, labels, _ in _samples(exposition, "callout_rpc_requests") if name.endswith("_total")]
        assert labels == [
            {"rpc": "/zitadel.action.v2.ActionService/ListTargets", "transport": "connect", "code": "unauthenticated"}
        ]

    async def test_rpc_latency_is_a_histogram(
        self, make_principal: MakePrincipal, make_metered_client: MetricsClient
    ) -> None:
        """RPC latency is exposed as a histogram with buckets, a count and a sum per rpc and transport."""
        _, token = await make_principal(Role.IAM_OWNER)
        client, scraper = make_metered_client(token)
        await call_rpc(client, "rest", "ListTargets", {})
        exposition = (await scraper.get("/metrics")).text
        families = {family.name: family.type for family in text_string_to_metric_families(exposition)}
        samples = [
            (name, labels, value)
            for name, labels, value in _samples(exposition, "callout_rpc_duration_seconds")
            if labels.get("rpc") == "/zitadel.action.v2.ActionService/ListTargets" and labels["transport"] == "rest"
        ]
        buckets = {labels["le"]: value for name, labels, value in samples if name.endswith("_bucket")}
        count = [value for name, _, value in samples if name.endswith("_count")]
        assert (families["callout_rpc_duration_seconds"], buckets["+Inf"], count) == ("histogram", 1.0, [1.0])
        assert len(buckets) > 1

    async def test_metrics_use_the_prometheus_text_format(self, make_metered_client: MetricsClient) -> None:
        """The metrics listener answers /metrics in the Prometheus text exposition format."""
        response = await make_metered_client(None)[1].get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert any(family.name == "callout_target_calls" for family in text_string_to_metric_families(response.text))

    async def test_metrics_listener_serves_nothing_else(self, make_metered_client: MetricsClient) -> None:
        """Any other path on the metrics listener, e.g. an API route, answers 404."""
        scraper = make_metered_client(None)[1]
        for path in ["/", "/healthz", "/v2/actions/targets/search", "/metrics/x"]:
            assert (await scraper.get(path)).status_code == 404, path


class TestOpenApi:
    async def test_openapi_lists_every_connect_method(self, make_client: MakeClient) -> None:
        """/openapi.json has a POST operation for each Connect RPC path of v2 and v2beta."""
        paths = (await make_client(None).get("/openapi.json")).json()["paths"]
        assert {path for path in CONNECT_RPCS if "post" in paths.get(path, {})} == set(CONNECT_RPCS)

    async def test_openapi_lists_every_rest_binding(self, make_client: MakeClient) -> None:
        """/openapi.json has the REST target paths with their HTTP methods for v2 and v2beta."""
        paths = (await make_client(None).get("/openapi.json")).json()["paths"]
        assert set(paths) >= REST_PATHS
        for version in ("v2", "v2beta"):
            assert set(paths[f"/{version}/actions/targets/{{id}}"]) >= {"get", "post", "delete"}
            assert "post" in paths[f"/{version}/actions/targets"]
            assert "post" in paths[f"/{version}/actions/targets/search"]


class TestRequestIds:
    async def test_every_response_carries_a_request_id(self, make_client: MakeClient) -> None:
        """Operational endpoints and unknown paths answer with an X-Request-Id header."""
        client = make_client(None)
        for path in ["/healthz", "/readyz", "/openapi.json", "/no/such/path", "/v2/no/such/path"]:
            response = await client.get(path)
            assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", response.headers["x-request-id"]), path

    @pytest.mark.parametrize("transport", TRANSPORTS)
    async def test_rpc_responses_carry_a_request_id(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Successful and failed RPCs both answer with an X-Request-Id header."""
        _, token = await make_principal(Role.IAM_OWNER)
        client = make_client(token)
        path = "/zitadel.action.v2.ActionService/GetTarget" if transport == "connect" else "/v2/actions/targets/1"
        method = "POST" if transport == "connect" else "GET"
        failed = await client.request(method, path, json={"id": "1"} if transport == "connect" else None)
        ok = await client.post(
            "/zitadel.action.v2.ActionService/ListTargets" if transport == "connect" else "/v2/actions/targets/search",
            json={},
        )
        assert (failed.status_code, ok.status_code) == (404, 200)
        assert failed.headers["x-request-id"]
        assert ok.headers["x-request-id"]

    async def test_generated_request_ids_differ(self, make_client: MakeClient) -> None:
        """Two requests without an incoming id get different ids."""
        client = make_client(None)
        first, second = await client.get("/healthz"), await client.get("/healthz")
        assert first.headers["x-request-id"] != second.headers["x-request-id"]

    async def test_sane_incoming_request_id_is_echoed(self, make_client: MakeClient) -> None:
        """A well-formed incoming X-Request-Id comes back unchanged."""
        response = await make_client(None).get("/healthz", headers={"X-Request-Id": "abc-123_DEF.4"})
        assert response.headers["x-request-id"] == "abc-123_DEF.4"

    async def test_incoming_request_id_is_echoed_on_rpc_errors(self, make_client: MakeClient) -> None:
        """An RPC error response echoes the incoming request id too."""
        response = await make_client(None).post(
            "/zitadel.action.v2.ActionService/ListTargets", json={}, headers={"X-Request-Id": "trace-42"}
        )
        assert (response.status_code, response.headers["x-request-id"]) == (401, "trace-42")

    async def test_insane_incoming_request_id_is_replaced(self, make_client: MakeClient) -> None:
        """An X-Request-Id with odd characters, over 64 characters or empty is replaced by a fresh id."""
        client = make_client(None)
        for incoming in ["has space", "x" * 65, "semi;colon", "<script>", "new\tline", ""]:
            response = await client.get("/healthz", headers={"X-Request-Id": incoming})
            returned = response.headers.get_list("x-request-id")
            assert len(returned) == 1, incoming
            assert returned[0] != incoming
            assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", returned[0]), incoming


class TestUnknownRoutes:
    async def test_unknown_rest_path_is_404_in_rest_shape(self, make_client: MakeClient) -> None:
        """An unknown path under /v2/ or /v2beta/ answers 404 in the REST shape (numeric code 5)."""
        client = make_client(None)
        for path in [
            "/v2/nothing",
            "/v2/actions/nothing/here",
            "/v2beta/actions/targets/1/x",
            "/v2/actions/nothing",
        ]:
            response = await client.get(path)
            _assert_rest_error(response, 404)
            assert response.json()["code"] == 5, path

    async def test_wrong_rest_method_is_405_in_rest_shape(self, make_client: MakeClient) -> None:
        """A known REST path with an unsupported HTTP method answers 405 in the REST shape."""
        client = make_client(None)
        for method, path in [
            ("PUT", "/v2/actions/targets"),
            ("PUT", "/v2/actions/targets/1"),
            ("PATCH", "/v2/actions/targets/1"),
            ("DELETE", "/v2beta/actions/targets"),
        ]:
            _assert_rest_error(await client.request(method, path), 405)

    async def test_unknown_connect_path_is_404_in_connect_shape(self, make_client: MakeClient) -> None:
        """An unknown RPC or a path outside the REST prefixes answers 404 in the Connect shape."""
        client = make_client(None)
        for path in [
            "/zitadel.action.v2.ActionService/NoSuchRpc",
            "/zitadel.action.v3.ActionService/GetTarget",
            "/zitadel.action.v2beta.ActionService/AddPublicKey",
            "/nothing",
        ]:
            response = await client.post(path, json={})
            _assert_connect_error(response, 404)
            assert response.json()["code"] == "not_found", path

    async def test_wrong_connect_method_is_405_in_connect_shape(self, make_client: MakeClient) -> None:
        """A Connect RPC path called with another method than POST answers 405 in the Connect shape."""
        client = make_client(None)
        for method in ["GET", "PUT", "DELETE"]:
            _assert_connect_error(await client.request(method, "/zitadel.action.v2.ActionService/GetTarget"), 405)

    async def test_wrong_method_names_the_allowed_methods(self, make_client: MakeClient) -> None:
        """A 405 answer carries an Allow header naming the methods the path supports."""
        response = await make_client(None).put("/v2/actions/targets/1")
        assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST", "DELETE"}

    @pytest.mark.parametrize(
        ("path", "shape"),
        [("/v2/actions/targets/", "rest"), ("/zitadel.action.v2.ActionService/ListTargets/", "connect")],
        ids=["rest", "connect"],
    )
    async def test_path_with_trailing_slash_is_404_in_transport_shape(
        self, path: str, shape: str, make_client: MakeClient
    ) -> None:
        """An RPC path with a trailing slash is unknown: 404 in the transport's shape, not a redirect."""
        response = await make_client(None).post(path, json={})
        if shape == "rest":
            _assert_rest_error(response, 404)
        else:
            _assert_connect_error(response, 404)

    async def test_unknown_route_never_leaks_a_trace(self, make_client: MakeClient) -> None:
        """Unknown routes answer JSON without Python internals."""
        response = await make_client(None).post("/v2/actions/targets/1/2/3/4", content=b"\xff\xfe")
        assert response.status_code in (404, 405)
        assert "Traceback" not in response.text
        assert response.headers["content-type"].startswith("application/json")

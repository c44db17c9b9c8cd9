"""Executions through a real ``callout serve --dev`` process and real receivers on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from callout.testing import RecordingReceiver
from tests.e2e.conftest import Server, StartServer

pytestmark = pytest.mark.e2e
ACTION = "/zitadel.action.v2.ActionService"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dev_server(request: pytest.FixtureRequest, start_server: StartServer) -> Server:
    """A server in development mode, so that targets on 127.0.0.1 over plain http are allowed."""
    return start_server(str(request.param), extra_args=("--dev",))


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """A recording receiver on 127.0.0.1."""
    with RecordingReceiver() as running:
        yield running


def _rpc(server: Server, name: str, body: dict[str, object]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    return httpx.post(f"{server.base_url}{ACTION}/{name}", json=body, headers=headers, timeout=10)


def _target(server: Server, receiver: RecordingReceiver, name: str, kind: str = "restCall") -> dict[str, str]:
    body = {"name": name, kind: {"interruptOnError": True}, "timeout": "5s", "endpoint": receiver.url}
    response = _rpc(server, "CreateTarget", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _bind(server: Server, condition: dict[str, object], targets: list[str]) -> None:
    response = _rpc(server, "SetExecution", {"condition": condition, "targets": targets})
    assert response.status_code == 200, response.text


class TestExecutionsThroughTheServer:
    def test_request_target_gets_a_signed_body_and_replaces_the_request(
        self, dev_server: Server, receiver: RecordingReceiver
    ) -> None:
        """A rest_call target on ListTargets receives a verifiable body and its answer filters the list."""
        created = _target(dev_server, receiver, f"e2e-filter-{receiver.port}")
        receiver.respond(json={"filters": [{"inTargetIdsFilter": {"targetIds": [created["id"]]}}]})
        _bind(dev_server, {"request": {"method": f"{ACTION}/ListTargets"}}, [created["id"]])
        try:
            listed = _rpc(dev_server, "ListTargets", {}).json()
            hit = receiver.requests[-1]
            hit.verify_signature(created["signingKey"])
            assert ([t["id"] for t in listed["targets"]], json.loads(hit.body)["fullMethod"]) == (
                [created["id"]],
                f"{ACTION}/ListTargets",
            )
        finally:
            _bind(dev_server, {"request": {"method": f"{ACTION}/ListTargets"}}, [])

    def test_interrupting_target_answering_500_fails_the_call(
        self, dev_server: Server, receiver: RecordingReceiver
    ) -> None:
        """An interrupting request target answering 500 makes the RPC fail with Errors.Execution.Failed."""
        created = _target(dev_server, receiver, f"e2e-fail-{receiver.port}")
        receiver.respond(status=500)
        _bind(dev_server, {"request": {"method": f"{ACTION}/GetTarget"}}, [created["id"]])
        try:
            response = _rpc(dev_server, "GetTarget", {"id": created["id"]})
            assert (response.status_code, response.json()["details"][0]["debug"]["id"]) == (
                400,
                "Errors.Execution.Failed",
            )
        finally:
            _bind(dev_server, {"request": {"method": f"{ACTION}/GetTarget"}}, [])

    def test_loopback_target_is_refused_without_dev_mode(self, server: Server, receiver: RecordingReceiver) -> None:
        """Without --dev a target on 127.0.0.1 is rejected at create time with Errors.Target.DeniedURL."""
        body = {"name": "loopback", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url}
        response = _rpc(server, "CreateTarget", body)
        assert (response.status_code, response.json()["details"][0]["debug"]["id"]) == (400, "Errors.Target.DeniedURL")

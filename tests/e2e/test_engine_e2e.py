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


def _rsa_key_pair() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


class TestTokenPayloadsThroughTheServer:
    def test_jwt_body_verifies_against_the_served_jwks(self, dev_server: Server, receiver: RecordingReceiver) -> None:
        """A JWT target's body verifies against the JWKS fetched over HTTP from the running server."""
        body = {"name": f"e2e-jwt-{receiver.port}", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url}
        created = _rpc(dev_server, "CreateTarget", {**body, "payloadType": "PAYLOAD_TYPE_JWT"}).json()
        _bind(dev_server, {"request": {"method": f"{ACTION}/ListExecutionFunctions"}}, [created["id"]])
        try:
            _rpc(dev_server, "ListExecutionFunctions", {})
            payload = receiver.requests[-1].verify_jwt(f"{dev_server.base_url}/oauth/v2/keys")
            assert json.loads(payload)["fullMethod"] == f"{ACTION}/ListExecutionFunctions"
        finally:
            _bind(dev_server, {"request": {"method": f"{ACTION}/ListExecutionFunctions"}}, [])

    def test_jwe_body_decrypts_and_verifies(self, dev_server: Server, receiver: RecordingReceiver) -> None:
        """A JWE target's body decrypts with the target's private key and verifies against the served JWKS."""
        import base64

        private_pem, public_pem = _rsa_key_pair()
        body = {"name": f"e2e-jwe-{receiver.port}", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url}
        created = _rpc(dev_server, "CreateTarget", {**body, "payloadType": "PAYLOAD_TYPE_JWE"}).json()
        key = _rpc(
            dev_server, "AddPublicKey", {"targetId": created["id"], "publicKey": base64.b64encode(public_pem).decode()}
        ).json()
        _rpc(dev_server, "ActivatePublicKey", {"targetId": created["id"], "keyId": key["keyId"]})
        _bind(dev_server, {"request": {"method": f"{ACTION}/ListExecutionServices"}}, [created["id"]])
        try:
            _rpc(dev_server, "ListExecutionServices", {})
            payload = receiver.requests[-1].decrypt_jwe(private_pem, f"{dev_server.base_url}/oauth/v2/keys")
            assert json.loads(payload)["fullMethod"] == f"{ACTION}/ListExecutionServices"
        finally:
            _bind(dev_server, {"request": {"method": f"{ACTION}/ListExecutionServices"}}, [])

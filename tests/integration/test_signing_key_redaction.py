"""A signing key reaches only the caller of CreateTarget or of a rotation, never a target (docs/target-answers.md).

Response targets of CreateTarget and UpdateTarget (bound to the method or to all, called or queued)
get the response without ``signingKey``; the caller still gets it; a ``rest_call`` answer can neither
replace nor add one (docs/target-answers.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callout.services.context import ServiceContext
from callout.verify import verify_signature
from tests.conftest import MakePrincipal
from tests.delivery_receivers import Receiver
from tests.integration.engine_support import ACTION, Engine, answer
from tests.integration.hostile_support import running_engine

CREATE = f"{ACTION}/CreateTarget"
UPDATE = f"{ACTION}/UpdateTarget"
V2BETA_CREATE = "/zitadel.action.v2beta.ActionService/CreateTarget"


@pytest.fixture
async def engine(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Engine]:
    """An IAM_OWNER's in-process callout in development mode (loopback targets allowed)."""
    async with running_engine(context, make_principal) as running:
        yield running


async def _recorder(engine: Engine, condition: dict[str, Any], kind: str = "restWebhook") -> Receiver:
    """A receiver bound as a target of ``kind`` to ``condition``."""
    receiver = await engine.receivers.start()
    await engine.bind(condition, [await engine.target(receiver, kind, interrupt=False)])
    return receiver


async def _create(engine: Engine, name: str, endpoint: str = "http://127.0.0.1:9/x") -> dict[str, Any]:
    response = await engine.rpc(
        "CreateTarget", {"name": name, "restWebhook": {}, "timeout": "5s", "endpoint": endpoint}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _seen_response(receiver: Receiver) -> dict[str, Any]:
    return dict(json.loads(receiver.hits[-1].body)["response"])


class TestResponseTargets:
    async def test_create_target_response_reaches_targets_without_the_key(self, engine: Engine) -> None:
        """A webhook on CreateTarget's response gets id and creationDate but no signingKey; the caller gets it."""
        receiver = await _recorder(engine, {"response": {"method": CREATE}})
        created = await _create(engine, "new")
        assert (sorted(_seen_response(receiver)), bool(created["signingKey"])) == (["creationDate", "id"], True)

    async def test_target_on_all_never_sees_a_key(self, engine: Engine) -> None:
        """A webhook on response/all sees CreateTarget's response without the key."""
        receiver = await _recorder(engine, {"response": {"all": True}})
        await _create(engine, "new")
        assert "signingKey" not in _seen_response(receiver)

    async def test_v2beta_create_is_redacted_too(self, engine: Engine) -> None:
        """The v2beta CreateTarget response reaches its targets without the key as well."""
        receiver = await _recorder(engine, {"response": {"all": True}})
        body = {"name": "beta", "restWebhook": {}, "timeout": "5s", "endpoint": "http://127.0.0.1:9/x"}
        created = await engine.client.post(V2BETA_CREATE, json=body)
        assert ("signingKey" in created.json(), "signingKey" in _seen_response(receiver)) == (True, False)

    async def test_rotation_response_reaches_targets_without_the_key(self, engine: Engine) -> None:
        """UpdateTarget rotating the key answers the caller with it, and its response targets without it."""
        target_id = (await _create(engine, "rotated"))["id"]
        receiver = await _recorder(engine, {"response": {"method": UPDATE}})
        updated = await engine.rpc("UpdateTarget", {"id": target_id, "expirationSigningKey": "0s"})
        assert (bool(updated.json()["signingKey"]), sorted(_seen_response(receiver))) == (True, ["changeDate"])

    async def test_queued_async_target_never_gets_the_key(self, engine: Engine) -> None:
        """A rest_async target on response/all, delivered by a worker from the queue, gets no key."""
        receiver = await _recorder(engine, {"response": {"all": True}}, "restAsync")
        await _create(engine, "queued")
        await engine.drain()
        bodies = [json.loads(hit.body) for hit in receiver.hits]
        assert [body["fullMethod"] for body in bodies if "signingKey" in body["response"]] == []


class TestRestCallAnswers:
    async def test_answer_cannot_replace_the_key(self, engine: Engine) -> None:
        """A rest_call answer with its own signingKey changes the response, but the caller gets callout's key."""
        forged = answer(200, {"id": "renamed", "signingKey": "forged"})
        await engine.bind({"response": {"method": CREATE}}, [await engine.target(await engine.receivers.start(forged))])
        created = await _create(engine, "victim")
        assert (created["id"], created["signingKey"] != "forged", len(created["signingKey"]) > 16) == (
            "renamed",
            True,
            True,
        )

    async def test_key_the_caller_gets_signs_the_targets_calls(self, engine: Engine) -> None:
        """Behind a forging rest_call, the key the caller got verifies the calls callout makes to the new target."""
        forged = answer(200, {"signingKey": "forged"})
        await engine.bind({"response": {"method": CREATE}}, [await engine.target(await engine.receivers.start(forged))])
        receiver = await engine.receivers.start()
        created = await engine.rpc(
            "CreateTarget", {"name": "signed", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url()}
        )
        await engine.bind({"request": {"method": f"{ACTION}/GetTarget"}}, [await _only_target(engine, "signed")])
        await engine.rpc("GetTarget", {"id": "x"})
        hit = receiver.hits[0]
        verify_signature(hit.body, hit.header_values("ZITADEL-Signature")[0].decode(), created.json()["signingKey"])

    async def test_answer_cannot_add_a_key(self, engine: Engine) -> None:
        """An UpdateTarget without rotation answers no key, even when a rest_call answer adds one."""
        target_id = (await _create(engine, "plain"))["id"]
        forged = answer(200, {"changeDate": "2020-01-01T00:00:00Z", "signingKey": "forged"})
        await engine.bind({"response": {"method": UPDATE}}, [await engine.target(await engine.receivers.start(forged))])
        updated = await engine.rpc("UpdateTarget", {"id": target_id, "timeout": "7s"})
        assert updated.json() == {"changeDate": "2020-01-01T00:00:00Z"}

    async def test_other_methods_keep_what_the_answer_says(self, engine: Engine) -> None:
        """Only CreateTarget and UpdateTarget guard the field: a ListTargets response target may set anything."""
        await engine.bind(
            {"response": {"method": f"{ACTION}/ListTargets"}},
            [await engine.target(await engine.receivers.start(answer(200, {"targets": [{"signingKey": "any"}]})))],
        )
        listed = await engine.rpc("ListTargets", {})
        assert listed.json() == {"targets": [{"signingKey": "any"}]}


async def _only_target(engine: Engine, name: str) -> str:
    listed = await engine.rpc("ListTargets", {"filters": [{"targetNameFilter": {"targetName": name}}]})
    return str(next(target["id"] for target in listed.json()["targets"] if target["name"] == name))

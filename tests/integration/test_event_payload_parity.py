"""callout's own events reach event targets with ZITADEL's event payloads (issue 11 item 5).

Each expected ``event_payload`` is the JSON ZITADEL's event struct marshals to: field names, order,
``omitempty`` and types (a Go ``time.Duration`` is nanoseconds, ``[]byte`` standard base64, enums
numbers). Only the encrypted signing key ZITADEL keeps in ``target.added``/``target.changed`` is left
out (docs/differences.md). Events come from real RPCs; a webhook target on loopback receives them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from callout.verify import SIGNATURE_HEADER
from tests.integration.engine_support import Engine
from tests.jose_support import ec_pair

GROUP_TARGET = {"event": {"group": "target"}}
GROUP_EXECUTION = {"event": {"group": "execution"}}


async def listen(engine: Engine, condition: dict[str, Any]) -> Any:
    """A receiver bound, through a non-interrupting webhook target, to the events of a condition."""
    receiver = await engine.receivers.start()
    hook = await engine.target(receiver, "restWebhook", interrupt=False)
    await engine.bind(condition, [hook])
    return receiver


async def payload_of(engine: Engine, receiver: Any, event_type: str, aggregate_id: str) -> bytes:
    """Deliver what is queued; return the raw ``event_payload`` of the one event of that type and aggregate."""
    await engine.drain()
    bodies = [hit.body for hit in receiver.hits if hit.header_values(SIGNATURE_HEADER)]
    events = [body for body in bodies if _matches(json.loads(body), event_type, aggregate_id)]
    assert len(events) == 1, [json.loads(body)["event_type"] for body in bodies]
    raw = events[0]
    start = raw.index(b'"event_payload":') + len(b'"event_payload":')
    return raw[start:-1]


def _matches(body: dict[str, Any], event_type: str, aggregate_id: str) -> bool:
    return bool(body["event_type"] == event_type and body["aggregateID"] == aggregate_id)


async def create_target(engine: Engine, endpoint: str, **fields: Any) -> str:
    """Create a rest_call target with a 1.5 s timeout; returns its id."""
    body = {"name": "parity", "restCall": {"interruptOnError": True}, "timeout": "1.5s", "endpoint": endpoint}
    response = await engine.rpc("CreateTarget", {**body, **fields})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


class TestTargetEvents:
    async def test_added_is_zitadels_added_event(self, dev_engine: Engine) -> None:
        """target.added carries AddedEvent of internal/repository/target/target.go: timeout in nanoseconds."""
        receiver = await listen(dev_engine, GROUP_TARGET)
        target_id = await create_target(dev_engine, receiver.url("/x"), payloadType="PAYLOAD_TYPE_JWT")
        expected = (
            f'{{"name":"parity","targetType":1,"endpoint":"{receiver.url("/x")}","timeout":1500000000,'
            '"interruptOnError":true,"payloadType":2}'
        )
        assert await payload_of(dev_engine, receiver, "target.added", target_id) == expected.encode()

    async def test_changed_lists_only_the_changed_fields(self, dev_engine: Engine) -> None:
        """target.changed carries ChangedEvent of internal/repository/target/target.go: set fields only."""
        receiver = await listen(dev_engine, GROUP_TARGET)
        target_id = await create_target(dev_engine, receiver.url("/x"))
        changes = {"id": target_id, "timeout": "2s", "restWebhook": {"interruptOnError": False}}
        assert (await dev_engine.rpc("UpdateTarget", changes)).status_code == 200
        expected = b'{"targetType":0,"timeout":2000000000,"interruptOnError":false}'
        assert await payload_of(dev_engine, receiver, "target.changed", target_id) == expected

    async def test_rotation_is_marked_without_the_key(self, dev_engine: Engine) -> None:
        """A rotation's target.changed names no key where ChangedEvent (target.go) has the encrypted signingKey."""
        receiver = await listen(dev_engine, GROUP_TARGET)
        target_id = await create_target(dev_engine, receiver.url("/x"))
        rotate = {"id": target_id, "expirationSigningKey": "0s"}
        assert (await dev_engine.rpc("UpdateTarget", rotate)).status_code == 200
        assert await payload_of(dev_engine, receiver, "target.changed", target_id) == b'{"signingKeyRotated":true}'

    async def test_removed_is_an_empty_object(self, dev_engine: Engine) -> None:
        """target.removed is {} as RemovedEvent of internal/repository/target/target.go has no exported field."""
        receiver = await listen(dev_engine, GROUP_TARGET)
        target_id = await create_target(dev_engine, receiver.url("/x"))
        assert (await dev_engine.rpc("DeleteTarget", {"id": target_id})).status_code == 200
        assert await payload_of(dev_engine, receiver, "target.removed", target_id) == b"{}"


class TestKeyEvents:
    async def test_key_added_is_zitadels_key_added_event(self, dev_engine: Engine) -> None:
        """target.key.added is KeyAddedEvent of internal/repository/target/key.go; no expiry is Go's zero time."""
        receiver = await listen(dev_engine, GROUP_TARGET)
        target_id = await create_target(dev_engine, receiver.url("/x"))
        pem = ec_pair().public_pem
        added = await dev_engine.rpc(
            "AddPublicKey", {"targetId": target_id, "publicKey": base64.b64encode(pem).decode()}
        )
        assert added.status_code == 200, added.text
        key_id = added.json()["keyId"]
        payload = json.loads(await payload_of(dev_engine, receiver, "target.key.added", target_id))
        assert list(payload.items()) == [
            ("keyId", key_id),
            ("publicKey", base64.b64encode(pem).decode()),
            ("fingerprint", payload["fingerprint"]),
            ("expirationDate", "0001-01-01T00:00:00Z"),
        ]

    async def test_key_activated_names_the_key(self, dev_engine: Engine) -> None:
        """target.key.activated is KeyActivatedEvent of internal/repository/target/key.go: the key id only."""
        receiver = await listen(dev_engine, GROUP_TARGET)
        target_id = await create_target(dev_engine, receiver.url("/x"))
        pem = base64.b64encode(ec_pair().public_pem).decode()
        key_id = (await dev_engine.rpc("AddPublicKey", {"targetId": target_id, "publicKey": pem})).json()["keyId"]
        activated = await dev_engine.rpc("ActivatePublicKey", {"targetId": target_id, "keyId": key_id})
        assert activated.status_code == 200, activated.text
        expected = f'{{"keyId":"{key_id}"}}'.encode()
        assert await payload_of(dev_engine, receiver, "target.key.activated", target_id) == expected


class TestExecutionEvents:
    async def test_set_lists_typed_targets(self, dev_engine: Engine) -> None:
        """execution.v2.set is SetEventV2 of internal/repository/execution/execution.go: type 2 is a target."""
        receiver = await listen(dev_engine, GROUP_EXECUTION)
        target_id = await create_target(dev_engine, receiver.url("/x"))
        await dev_engine.bind({"function": {"name": "preuserinfo"}}, [target_id])
        expected = f'{{"targets":[{{"type":2,"target":"{target_id}"}}]}}'.encode()
        assert await payload_of(dev_engine, receiver, "execution.v2.set", "function/preuserinfo") == expected

    async def test_removed_is_an_empty_object(self, dev_engine: Engine) -> None:
        """execution.removed is {} as RemovedEvent of internal/repository/execution/execution.go has no field."""
        receiver = await listen(dev_engine, GROUP_EXECUTION)
        target_id = await create_target(dev_engine, receiver.url("/x"))
        await dev_engine.bind({"function": {"name": "preuserinfo"}}, [target_id])
        await dev_engine.bind({"function": {"name": "preuserinfo"}}, [])
        assert await payload_of(dev_engine, receiver, "execution.removed", "function/preuserinfo") == b"{}"

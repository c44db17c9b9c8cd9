"""CreateTarget, UpdateTarget and DeleteTarget over Connect and REST, each case in v2 and v2beta.

Ports the cases of ZITADEL's TestServer_CreateTarget, TestServer_UpdateTarget and
TestServer_DeleteTarget (inputs and expected outcomes only), adjusted where callout differs (docs/differences.md). The
transport is a fixture parameter; both API versions are checked inside each test, because a fresh
database per version would double the runtime.
"""

from __future__ import annotations

from datetime import UTC, datetime

from callout.domain.auth import Role
from tests.api_client import VERSIONS, RpcResult
from tests.integration.target_rpc_support import (
    ENDPOINT,
    KINDS,
    MAX_ENDPOINT,
    SIGNING_KEY,
    Api,
    MakeApi,
    expect_error,
    long_endpoint,
    parse_timestamp,
    target_body,
)

NO_WRITE_ROLES = [Role.ORG_OWNER, Role.IAM_OWNER_VIEWER]


class TestCreateTarget:
    async def test_roles_without_write_permission_are_denied(self, owner: Api, make_api: MakeApi) -> None:
        """ORG_OWNER and IAM_OWNER_VIEWER get PermissionDenied, reported before validating the body."""
        for role in NO_WRITE_ROLES:
            caller = await make_api(role, owner.instance_id)
            for version in VERSIONS:
                expect_error(
                    await caller.call("CreateTarget", {"name": "x"}, version), owner.transport, "permission_denied"
                )

    async def test_name_outside_1_to_1000_characters_is_invalid(self, owner: Api) -> None:
        """An empty name or one of 1001 characters is InvalidArgument."""
        for version in VERSIONS:
            for name in ["", "n" * 1001]:
                result = await owner.call("CreateTarget", target_body(name=name), version)
                expect_error(result, owner.transport, "invalid_argument")

    async def test_target_type_other_than_exactly_one_is_invalid(self, owner: Api) -> None:
        """No target type, or two of restWebhook/restCall/restAsync, is InvalidArgument."""
        for version in VERSIONS:
            for body in [target_body(restWebhook=None), target_body(restCall={})]:
                expect_error(await owner.call("CreateTarget", body, version), owner.transport, "invalid_argument")

    async def test_missing_or_unparsable_endpoint_is_invalid_url(self, owner: Api) -> None:
        """A webhook or call without endpoint, or with a non-URL one, is InvalidArgument Errors.Target.InvalidURL."""
        bodies = [
            target_body("webhook", endpoint=None, timeout="10s"),
            target_body("call", endpoint=None, timeout="10s"),
            target_body(endpoint="not a url"),
        ]
        for version in VERSIONS:
            for body in bodies:
                result = await owner.call("CreateTarget", body, version)
                expect_error(result, owner.transport, "invalid_argument", "Errors.Target.InvalidURL")

    async def test_endpoint_with_a_password_is_invalid_url(self, owner: Api) -> None:
        """An endpoint with userinfo is InvalidArgument Errors.Target.InvalidURL, and no target is stored."""
        for version in VERSIONS:
            body = target_body(endpoint="https://hook:s3cret@example.com/hook")
            result = await owner.call("CreateTarget", body, version)
            expect_error(result, owner.transport, "invalid_argument", "Errors.Target.InvalidURL")
            assert "s3cret" not in str(result.body)
        listed = await owner.call("ListTargets", {})
        assert "s3cret" not in str(listed.body)

    async def test_endpoint_length_limit_depends_on_the_version(self, owner: Api) -> None:
        """Endpoints may have up to 2048 characters in v2 and up to 1000 in v2beta; one more is invalid."""
        for version, limit in MAX_ENDPOINT.items():
            assert (await owner.call("CreateTarget", target_body(endpoint=long_endpoint(limit)), version)).ok
            result = await owner.call("CreateTarget", target_body(endpoint=long_endpoint(limit + 1)), version)
            expect_error(result, owner.transport, "invalid_argument")

    async def test_missing_or_zero_timeout_is_no_timeout(self, owner: Api) -> None:
        """A missing timeout or 0s is InvalidArgument Errors.Target.NoTimeout."""
        for version in VERSIONS:
            for timeout in [None, "0s"]:
                result = await owner.call("CreateTarget", target_body(timeout=timeout), version)
                expect_error(result, owner.transport, "invalid_argument", "Errors.Target.NoTimeout")

    async def test_timeout_outside_0_to_270_seconds_is_invalid(self, owner: Api) -> None:
        """A negative timeout or one above 270s is InvalidArgument."""
        for version in VERSIONS:
            for timeout in ["-1s", "271s", "270.000001s"]:
                result = await owner.call("CreateTarget", target_body(timeout=timeout), version)
                expect_error(result, owner.transport, "invalid_argument")

    async def test_timeout_of_270_seconds_is_accepted(self, owner: Api) -> None:
        """The maximum timeout of 270s is accepted."""
        for version in VERSIONS:
            assert (await owner.call("CreateTarget", target_body(timeout="270s"), version)).ok

    async def test_timeout_a_nanosecond_above_270_seconds_is_invalid(self, owner: Api) -> None:
        """A timeout of 270.000000001s exceeds the maximum and is InvalidArgument."""
        for version in VERSIONS:
            result = await owner.call("CreateTarget", target_body(timeout="270.000000001s"), version)
            expect_error(result, owner.transport, "invalid_argument")

    async def test_existing_name_in_any_case_is_already_exists(self, owner: Api) -> None:
        """Reusing an existing target's name, also in another case, is AlreadyExists Errors.Target.AlreadyExists."""
        await owner.create("async", name="Payments Hook")
        for version in VERSIONS:
            for name in ["Payments Hook", "PAYMENTS hook"]:
                result = await owner.call("CreateTarget", target_body("async", name=name, timeout="10s"), version)
                expect_error(result, owner.transport, "already_exists", "Errors.Target.AlreadyExists")

    async def test_valid_target_returns_new_id_creation_date_and_signing_key(self, owner: Api) -> None:
        """Each valid target type yields exactly a fresh numeric id, the creation time and a new 36-char key."""
        ids, keys = set(), set()
        for version in VERSIONS:
            for kind in KINDS:
                before = datetime.now(UTC)
                result = await owner.call("CreateTarget", target_body(kind, timeout="10s"), version)
                after = datetime.now(UTC)
                assert result.ok, result.body
                assert set(result.body) == {"id", "creationDate", "signingKey"}
                assert result.body["id"].isdigit()
                assert SIGNING_KEY.match(result.body["signingKey"])
                assert before <= parse_timestamp(result.body["creationDate"]) <= after
                ids.add(result.body["id"])
                keys.add(result.body["signingKey"])
        assert len(ids) == len(keys) == 2 * len(KINDS)

    async def test_snake_case_keys_are_accepted(self, owner: Api) -> None:
        """snake_case input keys are read like their lowerCamelCase forms."""
        for version in VERSIONS:
            body = {"name": f"snake-{version}", "rest_call": {"interrupt_on_error": True}, "timeout": "7s"}
            created = await owner.call("CreateTarget", {**body, "endpoint": ENDPOINT}, version)
            assert created.ok, created.body
            target = await owner.get(created.body["id"], version)
            assert (target["restCall"], target["timeout"]) == ({"interruptOnError": True}, "7s")

    async def test_v2_stores_payload_type(self, owner: Api) -> None:
        """A payloadType sent to v2 is stored and reported."""
        created = await owner.create(version="v2", payloadType="PAYLOAD_TYPE_JWE")
        assert (await owner.get(created.id))["payloadType"] == "PAYLOAD_TYPE_JWE"

    async def test_v2beta_ignores_payload_type(self, owner: Api) -> None:
        """v2beta has no payloadType field, so a sent one is ignored and none is stored."""
        created = await owner.create(version="v2beta", payloadType="PAYLOAD_TYPE_JWE")
        assert "payloadType" not in await owner.get(created.id)

    async def test_endpoint_denied_by_egress_policy_is_denied_url(self, owner: Api) -> None:
        """A non-global IP literal in any spelling, or localhost, is InvalidArgument Errors.Target.DeniedURL."""
        for version in VERSIONS:
            for endpoint in [
                "https://10.0.0.1/hook",
                "https://localhost/hook",
                "https://１２７.０.０.１/hook",
                "https://[::ffff:0:127.0.0.1]/hook",
            ]:
                result = await owner.call("CreateTarget", target_body(endpoint=endpoint), version)
                expect_error(result, owner.transport, "invalid_argument", "Errors.Target.DeniedURL")

    async def test_plain_http_endpoint_is_invalid(self, owner: Api) -> None:
        """An http:// endpoint is InvalidArgument when the egress policy does not allow its host."""
        for version in VERSIONS:
            result = await owner.call("CreateTarget", target_body(endpoint="http://example.com/hook"), version)
            expect_error(result, owner.transport, "invalid_argument")


class TestUpdateTarget:
    async def test_roles_without_write_permission_are_denied(self, owner: Api, make_api: MakeApi) -> None:
        """ORG_OWNER and IAM_OWNER_VIEWER get PermissionDenied."""
        created = await owner.create()
        for role in NO_WRITE_ROLES:
            caller = await make_api(role, owner.instance_id)
            for version in VERSIONS:
                result = await caller.call("UpdateTarget", {"id": created.id, "name": "renamed"}, version)
                expect_error(result, owner.transport, "permission_denied")

    async def test_unknown_or_deleted_target_is_not_found(self, owner: Api) -> None:
        """Updating an id that never existed or was deleted is NotFound Errors.Target.NotFound."""
        deleted = await owner.create()
        assert (await owner.call("DeleteTarget", {"id": deleted.id})).ok
        for version in VERSIONS:
            for target_id in ["notexisting", deleted.id]:
                result = await owner.call("UpdateTarget", {"id": target_id, "name": "renamed"}, version)
                expect_error(result, owner.transport, "not_found", "Errors.Target.NotFound")

    async def test_target_of_another_instance_is_not_found(self, owner: Api, make_api: MakeApi) -> None:
        """A target of another instance is invisible to UpdateTarget."""
        foreign = await (await make_api()).create()
        for version in VERSIONS:
            result = await owner.call("UpdateTarget", {"id": foreign.id, "name": "renamed"}, version)
            expect_error(result, owner.transport, "not_found", "Errors.Target.NotFound")

    async def test_unchanged_input_keeps_the_previous_change_date(self, owner: Api) -> None:
        """Sending the current endpoint succeeds with exactly the creation date as changeDate and no key."""
        created = await owner.create()
        for version in VERSIONS:
            result = await owner.call("UpdateTarget", {"id": created.id, "endpoint": ENDPOINT}, version)
            assert (result.status, result.body) == (200, {"changeDate": created.creation_date})
        assert (await owner.get(created.id))["changeDate"] == created.creation_date

    async def test_new_name_is_stored_with_a_new_change_date(self, owner: Api) -> None:
        """A rename returns only a fresh changeDate, which Get then reports with the new name."""
        for version in VERSIONS:
            created = await owner.create()
            before = datetime.now(UTC)
            result = await owner.call("UpdateTarget", {"id": created.id, "name": f"renamed-{version}"}, version)
            after = datetime.now(UTC)
            assert result.ok, result.body
            assert set(result.body) == {"changeDate"}
            assert before <= parse_timestamp(result.body["changeDate"]) <= after
            target = await owner.get(created.id, version)
            assert (target["name"], target["creationDate"], target["changeDate"]) == (
                f"renamed-{version}",
                created.creation_date,
                result.body["changeDate"],
            )

    async def test_own_name_in_other_case_is_accepted(self, owner: Api) -> None:
        """Renaming a target to its own name in another case succeeds."""
        for version in VERSIONS:
            created = await owner.create(name=f"hook-{version}")
            assert (await owner.call("UpdateTarget", {"id": created.id, "name": f"HOOK-{version}"}, version)).ok
            assert (await owner.get(created.id))["name"] == f"HOOK-{version}"

    async def test_name_of_another_target_is_already_exists(self, owner: Api) -> None:
        """Renaming onto another target's name, in any case, is AlreadyExists Errors.Target.AlreadyExists."""
        await owner.create(name="taken")
        created = await owner.create()
        for version in VERSIONS:
            result = await owner.call("UpdateTarget", {"id": created.id, "name": "TAKEN"}, version)
            expect_error(result, owner.transport, "already_exists", "Errors.Target.AlreadyExists")

    async def test_expiration_signing_key_returns_a_new_key(self, owner: Api) -> None:
        """expirationSigningKey, 0s or a positive grace period, returns a new 36-character signing key."""
        for version in VERSIONS:
            for expiration in ["0s", "3600s"]:
                created = await owner.create()
                body = {"id": created.id, "expirationSigningKey": expiration}
                result = await owner.call("UpdateTarget", body, version)
                assert result.ok, result.body
                assert set(result.body) == {"changeDate", "signingKey"}
                assert SIGNING_KEY.match(result.body["signingKey"])
                assert result.body["signingKey"] != created.signing_key

    async def test_negative_expiration_signing_key_is_invalid(self, owner: Api) -> None:
        """A negative expirationSigningKey is InvalidArgument."""
        created = await owner.create()
        for version in VERSIONS:
            result = await owner.call("UpdateTarget", {"id": created.id, "expirationSigningKey": "-1s"}, version)
            expect_error(result, owner.transport, "invalid_argument")

    async def test_new_target_type_is_stored(self, owner: Api) -> None:
        """Switching a webhook to restCall with interruptOnError is stored."""
        for version in VERSIONS:
            created = await owner.create()
            body = {"id": created.id, "restCall": {"interruptOnError": True}}
            result = await owner.call("UpdateTarget", body, version)
            assert result.ok, result.body
            assert set(result.body) == {"changeDate"}
            target = await owner.get(created.id)
            assert (target["restCall"], "restWebhook" in target) == ({"interruptOnError": True}, False)

    async def test_switch_to_async_drops_interrupt_on_error(self, owner: Api) -> None:
        """Switching an interrupting call target to restAsync forces interruptOnError off."""
        for version in VERSIONS:
            created = await owner.create("call-interrupt")
            assert (await owner.call("UpdateTarget", {"id": created.id, "restAsync": {}}, version)).ok
            target = await owner.get(created.id)
            assert (target["restAsync"], "restCall" in target) == ({}, False)

    async def test_new_endpoint_and_timeout_are_stored(self, owner: Api) -> None:
        """A new endpoint and a new timeout of 20s are stored."""
        for version in VERSIONS:
            created = await owner.create()
            endpoint = f"https://example.com/hooks/{version}"
            body = {"id": created.id, "endpoint": endpoint, "timeout": "20s"}
            assert (await owner.call("UpdateTarget", body, version)).ok
            target = await owner.get(created.id)
            assert (target["endpoint"], target["timeout"]) == (endpoint, "20s")

    async def test_invalid_field_values_are_rejected(self, owner: Api) -> None:
        """Update validates like Create: empty name, 0s timeout, non-URL or overlong endpoint are invalid."""
        created = await owner.create()
        for version in VERSIONS:
            cases = [
                ({"name": ""}, None),
                ({"timeout": "0s"}, "Errors.Target.NoTimeout"),
                ({"timeout": "271s"}, None),
                ({"endpoint": "not a url"}, "Errors.Target.InvalidURL"),
                ({"endpoint": "https://hook:s3cret@example.com/hook"}, "Errors.Target.InvalidURL"),
                ({"endpoint": long_endpoint(MAX_ENDPOINT[version] + 1)}, None),
            ]
            for change, error_id in cases:
                result = await owner.call("UpdateTarget", {"id": created.id, **change}, version)
                expect_error(result, owner.transport, "invalid_argument", error_id)

    async def test_v2_changes_payload_type(self, owner: Api) -> None:
        """In v2 the payloadType changes from JSON to JWT."""
        created = await owner.create(payloadType="PAYLOAD_TYPE_JSON")
        assert (await owner.call("UpdateTarget", {"id": created.id, "payloadType": "PAYLOAD_TYPE_JWT"})).ok
        assert (await owner.get(created.id))["payloadType"] == "PAYLOAD_TYPE_JWT"

    async def test_v2beta_ignores_payload_type(self, owner: Api) -> None:
        """In v2beta a sent payloadType is ignored, so the update is a no-op keeping the change date."""
        created = await owner.create(payloadType="PAYLOAD_TYPE_JSON")
        body = {"id": created.id, "payloadType": "PAYLOAD_TYPE_JWT"}
        assert await owner.call("UpdateTarget", body, "v2beta") == RpcResult(200, {"changeDate": created.creation_date})
        assert (await owner.get(created.id))["payloadType"] == "PAYLOAD_TYPE_JSON"


class TestDeleteTarget:
    async def test_roles_without_delete_permission_are_denied(self, owner: Api, make_api: MakeApi) -> None:
        """ORG_OWNER and IAM_OWNER_VIEWER get PermissionDenied and the target stays."""
        created = await owner.create()
        for role in NO_WRITE_ROLES:
            caller = await make_api(role, owner.instance_id)
            for version in VERSIONS:
                expect_error(
                    await caller.call("DeleteTarget", {"id": created.id}, version), owner.transport, "permission_denied"
                )
        assert (await owner.get(created.id))["id"] == created.id

    async def test_empty_id_is_invalid(self, owner: Api) -> None:
        """An empty id (sent as a blank path segment over REST) is InvalidArgument."""
        for version in VERSIONS:
            expect_error(await owner.call("DeleteTarget", {"id": ""}, version), owner.transport, "invalid_argument")

    async def test_unknown_id_succeeds_without_deletion_date(self, owner: Api) -> None:
        """Deleting an id that never existed succeeds with an empty response."""
        for version in VERSIONS:
            assert await owner.call("DeleteTarget", {"id": "notexisting"}, version) == RpcResult(200, {})

    async def test_existing_target_returns_the_deletion_date(self, owner: Api) -> None:
        """Deleting a target returns exactly its deletion date, taken during the call."""
        for version in VERSIONS:
            created = await owner.create()
            before = datetime.now(UTC)
            result = await owner.call("DeleteTarget", {"id": created.id}, version)
            after = datetime.now(UTC)
            assert result.ok, result.body
            assert set(result.body) == {"deletionDate"}
            assert before <= parse_timestamp(result.body["deletionDate"]) <= after

    async def test_repeated_delete_returns_the_first_deletion_date(self, owner: Api) -> None:
        """Deleting an already deleted target succeeds with the date of the first deletion."""
        created = await owner.create()
        first = await owner.call("DeleteTarget", {"id": created.id})
        assert set(first.body) == {"deletionDate"}
        for version in VERSIONS:
            assert await owner.call("DeleteTarget", {"id": created.id}, version) == first

    async def test_deleted_target_is_not_found(self, owner: Api) -> None:
        """After deletion GetTarget is NotFound Errors.Target.NotFound."""
        for version in VERSIONS:
            created = await owner.create()
            assert (await owner.call("DeleteTarget", {"id": created.id}, version)).ok
            result = await owner.call("GetTarget", {"id": created.id}, version)
            expect_error(result, owner.transport, "not_found", "Errors.Target.NotFound")

    async def test_target_of_another_instance_is_left_alone(self, owner: Api, make_api: MakeApi) -> None:
        """Deleting another instance's target id succeeds without a date and deletes nothing."""
        other = await make_api()
        foreign = await other.create()
        for version in VERSIONS:
            assert await owner.call("DeleteTarget", {"id": foreign.id}, version) == RpcResult(200, {})
        assert (await other.get(foreign.id))["id"] == foreign.id

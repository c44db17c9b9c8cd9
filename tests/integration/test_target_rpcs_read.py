"""GetTarget and ListTargets over Connect and REST, each case in v2 and v2beta.

Ports the cases of ZITADEL's TestServer_GetTarget and TestServer_ListTargets (inputs and expected
outcomes only) and adds the filters, sort columns and pagination rules of docs/behaviour.md (Targets). Unlike
ZITADEL, Get/List never return the signing key (docs/differences.md). The transport is a fixture parameter;
both API versions are checked inside each test, because a fresh database per version would double
the runtime.
"""

from __future__ import annotations

from typing import Any

from callout.domain.auth import Role
from tests.api_client import VERSIONS, call_rpc
from tests.conftest import MakeClient
from tests.integration.target_rpc_support import KINDS, TYPE_KEYS, Api, MakeApi, expect_error

EMPTY_PAGE = {"pagination": {"appliedLimit": "100"}}
TEXT_FILTER_NAMES = ["Hook-Alpha", "hook-beta", "Beta-HOOK", "plain-BETA"]


def ids_filter(*target_ids: str) -> dict[str, object]:
    """A TargetSearchFilter selecting these ids."""
    return {"inTargetIdsFilter": {"targetIds": list(target_ids)}}


def name_filter(name: str, method: str | None = None) -> dict[str, object]:
    """A TargetSearchFilter on the name; without a method it is EQUALS."""
    part: dict[str, object] = {"targetName": name}
    if method is not None:
        part["method"] = f"TEXT_FILTER_METHOD_{method}"
    return {"targetNameFilter": part}


def page(total: int, *targets: dict[str, object], limit: int = 100) -> dict[str, object]:
    """The exact ListTargetsResponse for these targets."""
    body: dict[str, object] = {"pagination": {"totalResult": str(total), "appliedLimit": str(limit)}}
    if targets:
        body["targets"] = list(targets)
    return body


def names(body: dict[str, Any]) -> list[str]:
    """The names of a ListTargetsResponse's targets, in response order."""
    return [target["name"] for target in body.get("targets", [])]


async def matching_names(owner: Api, value: str, method: str, version: str) -> list[str]:
    """The sorted names a single name filter selects."""
    return sorted(names(await owner.list({"filters": [name_filter(value, method)]}, version)))


def interrupts(target: dict[str, Any]) -> bool:
    """Whether a Target message has interruptOnError set in its type part."""
    return any(target.get(key, {}).get("interruptOnError", False) for key in TYPE_KEYS)


class TestGetTarget:
    async def test_org_owner_is_permission_denied(self, owner: Api, make_api: MakeApi) -> None:
        """An ORG_OWNER cannot read targets."""
        created = await owner.create()
        org_owner = await make_api(Role.ORG_OWNER, owner.instance_id)
        for version in VERSIONS:
            expect_error(
                await org_owner.call("GetTarget", {"id": created.id}, version), owner.transport, "permission_denied"
            )

    async def test_missing_or_unknown_token_is_unauthenticated(self, owner: Api, make_client: MakeClient) -> None:
        """A request without a bearer token, or with an unknown one, is Unauthenticated."""
        created = await owner.create()
        for token in [None, "co_unknown"]:
            client = make_client(token)
            for version in VERSIONS:
                result = await call_rpc(client, owner.transport, "GetTarget", {"id": created.id}, version)
                expect_error(result, owner.transport, "unauthenticated")

    async def test_viewer_reads_like_the_owner(self, owner: Api, make_api: MakeApi) -> None:
        """An IAM_OWNER_VIEWER gets the same target as the owner."""
        created = await owner.create()
        viewer = await make_api(Role.IAM_OWNER_VIEWER, owner.instance_id)
        for version in VERSIONS:
            assert await viewer.get(created.id, version) == created.expected(version)

    async def test_unknown_id_is_not_found(self, owner: Api) -> None:
        """Getting an id that does not exist is NotFound Errors.Target.NotFound."""
        for version in VERSIONS:
            result = await owner.call("GetTarget", {"id": "notexisting"}, version)
            expect_error(result, owner.transport, "not_found", "Errors.Target.NotFound")

    async def test_target_of_another_instance_is_not_found(self, owner: Api, make_api: MakeApi) -> None:
        """A target of another instance is invisible to GetTarget."""
        foreign = await (await make_api()).create()
        for version in VERSIONS:
            result = await owner.call("GetTarget", {"id": foreign.id}, version)
            expect_error(result, owner.transport, "not_found", "Errors.Target.NotFound")

    async def test_each_target_type_is_returned_exactly(self, owner: Api) -> None:
        """Each target type comes back as exact protojson with changeDate equal to creationDate and no key."""
        for version in VERSIONS:
            for kind, type_part in KINDS.items():
                created = await owner.create(kind, version)
                result = await owner.call("GetTarget", {"id": created.id}, version)
                assert (result.status, result.body) == (
                    200,
                    {
                        "target": {
                            "id": created.id,
                            "creationDate": created.creation_date,
                            "changeDate": created.creation_date,
                            "name": created.request["name"],
                            **type_part,
                            "timeout": "5s",
                            "endpoint": "https://example.com",
                        }
                    },
                )

    async def test_payload_type_is_reported_in_v2_only(self, owner: Api) -> None:
        """A set payloadType appears in v2 output and never in v2beta output."""
        for payload_type in ["PAYLOAD_TYPE_JSON", "PAYLOAD_TYPE_JWT", "PAYLOAD_TYPE_JWE"]:
            created = await owner.create(payloadType=payload_type)
            assert (await owner.get(created.id, "v2"))["payloadType"] == payload_type
            assert "payloadType" not in await owner.get(created.id, "v2beta")

    async def test_fractional_timeout_is_returned_as_protojson_duration(self, owner: Api) -> None:
        """Timeouts keep their fraction with 3 or 6 digits, as protojson writes durations."""
        for version in VERSIONS:
            for timeout in ["1.500s", "0.000250s"]:
                created = await owner.create(version=version, timeout=timeout)
                assert (await owner.get(created.id, version))["timeout"] == timeout

    async def test_signing_key_is_never_returned(self, owner: Api) -> None:
        """Neither the created nor a rotated signing key is part of GetTarget's output."""
        created = await owner.create()
        assert (await owner.call("UpdateTarget", {"id": created.id, "expirationSigningKey": "0s"})).ok
        for version in VERSIONS:
            assert "signingKey" not in await owner.get(created.id, version)


class TestListTargets:
    async def test_org_owner_is_permission_denied(self, owner: Api, make_api: MakeApi) -> None:
        """An ORG_OWNER cannot list targets."""
        org_owner = await make_api(Role.ORG_OWNER, owner.instance_id)
        for version in VERSIONS:
            expect_error(await org_owner.call("ListTargets", {}, version), owner.transport, "permission_denied")

    async def test_viewer_lists_like_the_owner(self, owner: Api, make_api: MakeApi) -> None:
        """An IAM_OWNER_VIEWER gets the same list as the owner."""
        created = await owner.create()
        viewer = await make_api(Role.IAM_OWNER_VIEWER, owner.instance_id)
        for version in VERSIONS:
            assert await viewer.list({}, version) == page(1, created.expected(version))

    async def test_unknown_id_gives_an_empty_page(self, owner: Api) -> None:
        """Filtering on an unknown id returns only the pagination with appliedLimit 100 (zero total omitted)."""
        await owner.create()
        for version in VERSIONS:
            assert await owner.list({"filters": [ids_filter("notfound")]}, version) == EMPTY_PAGE

    async def test_single_id_returns_that_target(self, owner: Api) -> None:
        """Filtering on one id returns exactly that target."""
        created = await owner.create()
        await owner.create()
        for version in VERSIONS:
            body = await owner.list({"filters": [ids_filter(created.id)]}, version)
            assert body == page(1, created.expected(version))

    async def test_single_name_returns_that_target(self, owner: Api) -> None:
        """Filtering on one name without a method (EQUALS) returns exactly that target."""
        created = await owner.create()
        await owner.create()
        for version in VERSIONS:
            body = await owner.list({"filters": [name_filter(created.request["name"])]}, version)
            assert body == page(1, created.expected(version))

    async def test_multiple_ids_return_newest_first(self, owner: Api) -> None:
        """Three targets of different types and payload types come back newest first."""
        first = await owner.create("webhook", payloadType="PAYLOAD_TYPE_JSON")
        second = await owner.create("call-interrupt", payloadType="PAYLOAD_TYPE_JWT")
        third = await owner.create("async", payloadType="PAYLOAD_TYPE_JWE")
        for version in VERSIONS:
            body = await owner.list({"filters": [ids_filter(first.id, second.id, third.id)]}, version)
            assert body == page(3, third.expected(version), second.expected(version), first.expected(version))

    async def test_ids_filter_returns_only_the_listed_ids(self, owner: Api) -> None:
        """inTargetIdsFilter returns the existing listed targets and ignores unknown ids."""
        first, _, third = [await owner.create() for _ in range(3)]
        for version in VERSIONS:
            body = await owner.list({"filters": [ids_filter(first.id, "notfound", third.id)]}, version)
            assert [target["id"] for target in body["targets"]] == [third.id, first.id]

    async def test_case_sensitive_text_filter_methods_respect_case(self, owner: Api) -> None:
        """EQUALS, STARTS_WITH, CONTAINS and ENDS_WITH match only the exact case."""
        for name in TEXT_FILTER_NAMES:
            await owner.create(name=name)
        cases = [
            ("EQUALS", "hook-beta", ["hook-beta"]),
            ("EQUALS", "HOOK-BETA", []),
            ("STARTS_WITH", "hook", ["hook-beta"]),
            ("CONTAINS", "HOOK", ["Beta-HOOK"]),
            ("ENDS_WITH", "beta", ["hook-beta"]),
        ]
        for version in VERSIONS:
            assert [(m, v, await matching_names(owner, v, m, version)) for m, v, _ in cases] == cases

    async def test_ignore_case_text_filter_methods_ignore_case(self, owner: Api) -> None:
        """The _IGNORE_CASE variants of each TextFilterMethod match regardless of case."""
        for name in TEXT_FILTER_NAMES:
            await owner.create(name=name)
        cases = [
            ("EQUALS_IGNORE_CASE", "HOOK-BETA", ["hook-beta"]),
            ("STARTS_WITH_IGNORE_CASE", "hook", ["Hook-Alpha", "hook-beta"]),
            ("CONTAINS_IGNORE_CASE", "HOOK", ["Beta-HOOK", "Hook-Alpha", "hook-beta"]),
            ("ENDS_WITH_IGNORE_CASE", "beta", ["hook-beta", "plain-BETA"]),
        ]
        for version in VERSIONS:
            assert [(m, v, await matching_names(owner, v, m, version)) for m, v, _ in cases] == cases

    async def test_filters_are_combined_with_and(self, owner: Api) -> None:
        """Several filters, of the same or different kinds, must all match."""
        hook_a = await owner.create(name="hook-a-end")
        await owner.create(name="hook-b")
        other = await owner.create(name="other-end")
        for version in VERSIONS:
            by_name_and_id = [name_filter("hook", "STARTS_WITH"), ids_filter(hook_a.id, other.id)]
            assert names(await owner.list({"filters": by_name_and_id}, version)) == ["hook-a-end"]
            by_two_names = [name_filter("hook", "STARTS_WITH"), name_filter("end", "ENDS_WITH")]
            assert names(await owner.list({"filters": by_two_names}, version)) == ["hook-a-end"]

    async def test_malformed_filters_are_invalid(self, owner: Api) -> None:
        """An empty filter, a name over 200 characters or an unknown method is InvalidArgument."""
        cases = [
            ({}, "List.Query.Invalid"),
            (name_filter("n" * 201), None),
            ({"targetNameFilter": {"targetName": "x", "method": "TEXT_FILTER_METHOD_LIKE"}}, None),
        ]
        for version in VERSIONS:
            for search_filter, error_id in cases:
                result = await owner.call("ListTargets", {"filters": [search_filter]}, version)
                expect_error(result, owner.transport, "invalid_argument", error_id)

    async def test_each_sort_column_orders_both_ways(self, owner: Api) -> None:
        """Every TargetFieldName sorts ascending with asc and descending without; UNSPECIFIED is creation date."""
        bravo = await owner.create("call-interrupt", name="bravo", endpoint="https://a.example.com", timeout="30s")
        await owner.create("webhook", name="charlie", endpoint="https://c.example.com", timeout="20s")
        await owner.create("async", name="alpha", endpoint="https://b.example.com", timeout="10s")
        assert (await owner.call("UpdateTarget", {"id": bravo.id, "expirationSigningKey": "0s"})).ok
        creation = ["bravo", "charlie", "alpha"]
        ascending = {
            "UNSPECIFIED": creation,
            "ID": creation,
            "CREATED_DATE": creation,
            "CHANGED_DATE": ["charlie", "alpha", "bravo"],
            "NAME": ["alpha", "bravo", "charlie"],
            "TARGET_TYPE": ["charlie", "bravo", "alpha"],
            "URL": ["bravo", "alpha", "charlie"],
            "TIMEOUT": ["alpha", "charlie", "bravo"],
        }
        expected = {
            (column, asc): order if asc else order[::-1] for column, order in ascending.items() for asc in (True, False)
        }
        for version in VERSIONS:
            found = {}
            for column, asc in expected:
                request = {"sortingColumn": f"TARGET_FIELD_NAME_{column}", "pagination": {"asc": asc}}
                found[column, asc] = names(await owner.list(request, version))
            assert found == expected

    async def test_interrupt_on_error_sort_puts_interrupting_targets_last_ascending(self, owner: Api) -> None:
        """Sorting by INTERRUPT_ON_ERROR puts interrupting targets last ascending and first descending."""
        await owner.create("call-interrupt")
        await owner.create("webhook")
        await owner.create("async")
        for version in VERSIONS:
            flags = {}
            for asc in (True, False):
                request = {"sortingColumn": "TARGET_FIELD_NAME_INTERRUPT_ON_ERROR", "pagination": {"asc": asc}}
                flags[asc] = [interrupts(target) for target in (await owner.list(request, version))["targets"]]
            assert flags == {True: [False, False, True], False: [True, False, False]}

    async def test_unknown_sort_column_is_invalid(self, owner: Api) -> None:
        """A sortingColumn that is not a TargetFieldName is InvalidArgument."""
        for version in VERSIONS:
            result = await owner.call("ListTargets", {"sortingColumn": "TARGET_FIELD_NAME_COLOR"}, version)
            expect_error(result, owner.transport, "invalid_argument")

    async def test_offset_and_limit_select_a_window(self, owner: Api) -> None:
        """Offset and limit pick a window in either direction while totalResult counts every match."""
        for index in range(5):
            await owner.create(name=f"t{index}")
        for version in VERSIONS:
            ascending = await owner.list({"pagination": {"offset": 1, "limit": 2, "asc": True}}, version)
            descending = await owner.list({"pagination": {"offset": 1, "limit": 2}}, version)
            assert (names(ascending), ascending["pagination"]) == (
                ["t1", "t2"],
                {"totalResult": "5", "appliedLimit": "2"},
            )
            assert (names(descending), descending["pagination"]) == (
                ["t3", "t2"],
                {"totalResult": "5", "appliedLimit": "2"},
            )

    async def test_pagination_numbers_may_be_strings(self, owner: Api) -> None:
        """offset and limit are accepted as decimal strings, as protojson allows for integers."""
        for index in range(3):
            await owner.create(name=f"t{index}")
        for version in VERSIONS:
            body = await owner.list({"pagination": {"offset": "1", "limit": "1", "asc": True}}, version)
            assert (names(body), body["pagination"]) == (["t1"], {"totalResult": "3", "appliedLimit": "1"})

    async def test_offset_past_the_end_returns_no_targets(self, owner: Api) -> None:
        """An offset beyond the matches returns no targets but still the total."""
        await owner.create()
        await owner.create()
        for version in VERSIONS:
            assert await owner.list({"pagination": {"offset": 5}}, version) == page(2)

    async def test_applied_limit_is_100_for_0_and_the_request_up_to_1000(self, owner: Api) -> None:
        """A limit of 0 (or none) applies 100; limits up to 1000 apply as requested."""
        await owner.create()
        for version in VERSIONS:
            for limit, applied in [(None, "100"), (0, "100"), (1, "1"), (1000, "1000")]:
                request = {} if limit is None else {"pagination": {"limit": limit}}
                assert (await owner.list(request, version))["pagination"]["appliedLimit"] == applied

    async def test_limit_above_1000_is_limit_exceeded(self, owner: Api) -> None:
        """A limit of 1001 is InvalidArgument Errors.Query.LimitExceeded."""
        for version in VERSIONS:
            result = await owner.call("ListTargets", {"pagination": {"limit": 1001}}, version)
            expect_error(result, owner.transport, "invalid_argument", "Errors.Query.LimitExceeded")

    async def test_only_live_targets_of_the_callers_instance_are_listed(self, owner: Api, make_api: MakeApi) -> None:
        """Deleted targets and targets of other instances are not listed."""
        kept = await owner.create()
        deleted = await owner.create()
        assert (await owner.call("DeleteTarget", {"id": deleted.id})).ok
        await (await make_api()).create()
        for version in VERSIONS:
            assert await owner.list({}, version) == page(1, kept.expected(version))

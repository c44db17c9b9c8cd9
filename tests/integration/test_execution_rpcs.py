"""SetExecution, ListExecutions and the catalog lists over Connect and REST, in v2 and v2beta.

Ports the cases of ZITADEL's TestServer_SetExecution_{Request,Response,Event,Function} and
TestServer_ListExecutions (inputs and expected outcomes only) and adds the rules of
docs/behaviour.md (API surface, Executions and conditions). ZITADEL's tests bind executions to
`zitadel.session.v2.SessionService`, which callout does not serve; callout's own ActionService
methods play the "existing" method and service here, and the host-registration path
(`register_catalog`) supplies ZITADEL's `user.*` event types where needed.

Request/response executions wrap callout's own RPCs (docs/behaviour.md, Where executions run), and
the test app has no sender to call targets with. A test that binds such an execution to the methods
it goes on calling therefore acts through a SYSTEM token, whose calls skip executions (the
break-glass rule); every other test acts as an IAM_OWNER, as ZITADEL's tests do, on conditions its
later calls don't match.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callout.domain.auth import Principal, Role
from callout.domain.executions import Condition, ConditionType, ExecutionQuery
from callout.domain.targets import TargetSpec, TargetType
from callout.services.context import ServiceContext
from callout.services.executions import list_executions, register_catalog, set_execution
from callout.services.targets import create_target
from callout.storage.events import list_events
from tests.api_client import VERSIONS, RpcResult, call_rpc
from tests.conftest import MakeClient, MakePrincipal
from tests.integration.target_rpc_support import ENDPOINT, ERRORS, Api, MakeApi, expect_error, parse_timestamp

SERVICE = "zitadel.action.v2.ActionService"
METHOD = f"/{SERVICE}/GetTarget"
Json = dict[str, Any]
CONDITION_INVALID = "Errors.Execution.ConditionInvalid"
TARGET_NOT_FOUND = "Errors.Target.NotFound"
EMPTY_PAGE = {"pagination": {"appliedLimit": "100"}}

# A valid condition of every shape, with the stored id it maps to.
VALID_CONDITIONS: dict[str, tuple[Json, str]] = {
    "request-method": ({"request": {"method": METHOD}}, f"request{METHOD}"),
    "request-service": ({"request": {"service": SERVICE}}, f"request/{SERVICE}"),
    "request-all": ({"request": {"all": True}}, "request"),
    "response-method": ({"response": {"method": METHOD}}, f"response{METHOD}"),
    "response-service": ({"response": {"service": SERVICE}}, f"response/{SERVICE}"),
    "response-all": ({"response": {"all": True}}, "response"),
    "event-event": ({"event": {"event": "target.added"}}, "event/target.added"),
    "event-group": ({"event": {"group": "target"}}, "event/target.*"),
    "event-subgroup": ({"event": {"group": "target.key"}}, "event/target.key.*"),
    "event-all": ({"event": {"all": True}}, "event"),
    "function": ({"function": {"name": "presamlresponse"}}, "function/presamlresponse"),
}

# ZITADEL's ten mixed conditions, in the order they are set (so newest first is the reverse).
MIXED: list[Json] = [
    {"request": {"method": METHOD}},
    {"request": {"service": SERVICE}},
    {"request": {"all": True}},
    {"response": {"method": METHOD}},
    {"response": {"service": SERVICE}},
    {"response": {"all": True}},
    {"event": {"event": "target.added"}},
    {"event": {"group": "target"}},
    {"event": {"all": True}},
    {"function": {"name": "presamlresponse"}},
]
# The same ten, ordered by EXECUTION_FIELD_NAME_ID descending as in ZITADEL's test.
MIXED_BY_ID_DESC: list[Json] = [
    {"response": {"method": METHOD}},
    {"response": {"service": SERVICE}},
    {"response": {"all": True}},
    {"request": {"method": METHOD}},
    {"request": {"service": SERVICE}},
    {"request": {"all": True}},
    {"function": {"name": "presamlresponse"}},
    {"event": {"event": "target.added"}},
    {"event": {"group": "target"}},
    {"event": {"all": True}},
]

INCOMPLETE_CONDITIONS: dict[str, Json | None] = {
    "no-condition": None,
    "empty-condition": {},
    "empty-request": {"request": {}},
    "empty-response": {"response": {}},
    "empty-event": {"event": {}},
    "empty-function": {"function": {}},
    "empty-function-name": {"function": {"name": ""}},
    "request-all-false": {"request": {"all": False}},
    "response-all-false": {"response": {"all": False}},
    "event-all-false": {"event": {"all": False}},
    "two-kinds": {"request": {"all": True}, "event": {"all": True}},
    "two-members": {"request": {"method": METHOD, "service": SERVICE}},
}

UNKNOWN_CONDITIONS: dict[str, Json] = {
    "request-unknown-method": {"request": {"method": f"/{SERVICE}/NotExisting"}},
    "request-method-of-unknown-service": {"request": {"method": "/zitadel.session.v2.NotExistingService/List"}},
    "request-method-without-slash": {"request": {"method": METHOD.lstrip("/")}},
    "request-unknown-service": {"request": {"service": "NotExistingService"}},
    "response-unknown-method": {"response": {"method": f"/{SERVICE}/NotExisting"}},
    "response-unknown-service": {"response": {"service": "NotExistingService"}},
    "function-unknown": {"function": {"name": "xxx"}},
    "event-unknown": {"event": {"event": "target.notexisting"}},
    "event-unregistered": {"event": {"event": "user.human.added"}},
    "group-unknown": {"event": {"group": "target.notexisting"}},
    "group-unregistered": {"event": {"group": "user"}},
}

PREUSERINFO: Json = {"function": {"name": "preuserinfo"}}
EVENT_ALL: Json = {"event": {"all": True}}
HOST_METHOD = "/acme.shop.v1.OrderService/PlaceOrder"
HOST_SERVICE = "acme.shop.v1.OrderService"
# Conditions valid once the host registered HOST_METHOD, the function `prelogin` and `user.human.added`.
HOST_CONDITIONS: list[Json] = [
    {"request": {"method": HOST_METHOD}},
    {"response": {"service": HOST_SERVICE}},
    {"function": {"name": "prelogin"}},
    {"event": {"event": "user.human.added"}},
    {"event": {"group": "user"}},
    {"event": {"group": "user.human"}},
]
CATALOG_RPCS = ["ListExecutionFunctions", "ListExecutionMethods", "ListExecutionServices"]


def execution(condition: dict[str, Any], date: str, targets: list[str]) -> dict[str, Any]:
    """The exact protojson Execution set once at ``date``."""
    return {"condition": condition, "creationDate": date, "changeDate": date, "targets": targets}


def page(total: int, *executions: dict[str, Any], limit: int = 100) -> dict[str, Any]:
    """The exact ListExecutionsResponse for these executions."""
    body: dict[str, Any] = {"pagination": {"totalResult": str(total), "appliedLimit": str(limit)}}
    if executions:
        body["executions"] = list(executions)
    return body


def outcome(result: RpcResult) -> tuple[int, Any, str | None]:
    """Status, error code and message id of a call (code and id are None on success)."""
    if result.ok:
        return result.status, None, None
    return result.status, result.body.get("code"), result.error_id


def error_outcome(transport: str, code: str, error_id: str | None = None) -> tuple[int, Any, str | None]:
    """The outcome of an error of this Connect code name on this transport."""
    status, number = ERRORS[code]
    return status, code if transport == "connect" else number, error_id


def in_conditions(*conditions: dict[str, Any]) -> dict[str, Any]:
    """An ExecutionSearchFilter selecting these conditions."""
    return {"inConditionsFilter": {"conditions": list(conditions)}}


def conditions_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The conditions of a ListExecutionsResponse, in response order."""
    return [item["condition"] for item in body.get("executions", [])]


@dataclass(frozen=True)
class Executions:
    """The execution RPCs of one caller."""

    api: Api

    @property
    def transport(self) -> str:
        """The caller's transport."""
        return self.api.transport

    @property
    def instance_id(self) -> str:
        """The caller's instance."""
        return self.api.instance_id

    async def set(self, condition: dict[str, Any] | None, targets: list[str], version: str = "v2") -> RpcResult:
        """Call SetExecution; a None condition is left out of the request."""
        body: dict[str, Any] = {"targets": targets}
        if condition is not None:
            body["condition"] = condition
        return await self.api.call("SetExecution", body, version)

    async def set_ok(self, condition: dict[str, Any], targets: list[str], version: str = "v2") -> str:
        """Call SetExecution, which must answer exactly ``{"setDate": …}``; return the date."""
        result = await self.set(condition, targets, version)
        assert result.status == 200, result.body
        assert set(result.body) == {"setDate"}, result.body
        parse_timestamp(result.body["setDate"])
        return str(result.body["setDate"])

    async def list(self, body: dict[str, Any] | None = None, version: str = "v2") -> dict[str, Any]:
        """Call ListExecutions, which must succeed."""
        result = await self.api.call("ListExecutions", body or {}, version)
        assert result.status == 200, result.body
        return result.body

    async def catalog(self, rpc: str, version: str = "v2") -> dict[str, Any]:
        """Call one of the catalog lists, which must succeed."""
        result = await self.api.call(rpc, {}, version)
        assert result.status == 200, result.body
        return result.body


MakeExecutions = Callable[..., Awaitable[Executions]]
MakeTargets = Callable[..., Awaitable[list[str]]]
Register = Callable[..., Awaitable[None]]
EventTypes = Callable[[str, str], Awaitable[list[str]]]
MakeTargetIds = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def make_executions(make_api: MakeApi) -> MakeExecutions:
    """Factory: the execution RPCs of a role, in a new instance or a given one."""

    async def make(role: Role = Role.IAM_OWNER, instance_id: str | None = None) -> Executions:
        return Executions(await make_api(role, instance_id))

    return make


@pytest.fixture
def executions(owner: Api) -> Executions:
    """The execution RPCs of the IAM_OWNER of a fresh instance."""
    return Executions(owner)


@pytest.fixture
async def system(make_executions: MakeExecutions) -> Executions:
    """The execution RPCs of a SYSTEM token of a fresh instance: its calls skip executions."""
    return await make_executions(Role.SYSTEM)


@pytest.fixture
def make_targets(owner: Api) -> MakeTargets:
    """Factory: ``count`` new targets, of the owner's instance unless another caller is given."""

    async def make(count: int = 1, api: Api | None = None) -> list[str]:
        return [(await (api or owner).create()).id for _ in range(count)]

    return make


@pytest.fixture
def make_target_ids(context: ServiceContext) -> MakeTargetIds:
    """Factory: ids of new webhook targets created through the service layer for a principal."""

    async def make(principal: Principal, count: int = 1) -> list[str]:
        ids = []
        for _ in range(count):
            spec = TargetSpec(f"t-{secrets.token_hex(4)}", TargetType.WEBHOOK, False, timedelta(seconds=5), ENDPOINT)
            ids.append((await create_target(context, principal, spec))[0].id)
        return ids

    return make


@pytest.fixture
def register(context: ServiceContext, make_principal: MakePrincipal) -> Register:
    """Factory: register host-application methods, functions and event types for an instance."""

    async def do(
        instance_id: str, methods: tuple[str, ...] = (), functions: tuple[str, ...] = (), events: tuple[str, ...] = ()
    ) -> None:
        principal, _ = await make_principal(Role.IAM_OWNER, instance_id)
        await register_catalog(
            context, principal, methods=list(methods), functions=list(functions), events=list(events)
        )

    return do


@pytest.fixture
def event_types(context: ServiceContext) -> EventTypes:
    """Factory: the types of the events recorded for one aggregate, oldest first."""

    async def read(instance_id: str, aggregate_id: str) -> list[str]:
        async with context.database.read() as conn:
            return [event.event_type for event in await list_events(conn, instance_id, aggregate_id)]

    return read


class TestSetExecutionAuthorization:
    async def test_roles_without_write_permission_are_denied(
        self, executions: Executions, make_executions: MakeExecutions
    ) -> None:
        """An ORG_OWNER and an IAM_OWNER_VIEWER cannot set executions; permission is checked before the condition."""
        expected = error_outcome(executions.transport, "permission_denied", "Errors.Permission.Denied")
        for role in (Role.ORG_OWNER, Role.IAM_OWNER_VIEWER):
            caller = await make_executions(role, executions.instance_id)
            for version in VERSIONS:
                outcomes = [outcome(await caller.set(condition, [], version)) for condition in (PREUSERINFO, None)]
                assert outcomes == [expected, expected], role

    async def test_missing_token_is_unauthenticated(self, executions: Executions, make_client: MakeClient) -> None:
        """SetExecution without a bearer token is Unauthenticated."""
        for version in VERSIONS:
            body = {"condition": {"request": {"all": True}}, "targets": []}
            result = await call_rpc(make_client(None), executions.transport, "SetExecution", body, version)
            expect_error(result, executions.transport, "unauthenticated")


class TestSetExecutionValidation:
    async def test_incomplete_condition_is_invalid_argument(
        self, executions: Executions, make_targets: MakeTargets
    ) -> None:
        """A missing, empty, false-`all` or ambiguous condition is InvalidArgument ConditionInvalid."""
        targets = await make_targets()
        expected = error_outcome(executions.transport, "invalid_argument", CONDITION_INVALID)
        for version in VERSIONS:
            outcomes = {
                case: outcome(await executions.set(condition, targets, version))
                for case, condition in INCOMPLETE_CONDITIONS.items()
            }
            assert outcomes == dict.fromkeys(INCOMPLETE_CONDITIONS, expected)

    async def test_unknown_name_is_not_found(self, executions: Executions, make_targets: MakeTargets) -> None:
        """A method, service, function, event or group missing from the catalog is NotFound ConditionInvalid."""
        targets = await make_targets()
        expected = error_outcome(executions.transport, "not_found", CONDITION_INVALID)
        for version in VERSIONS:
            outcomes = {
                case: outcome(await executions.set(condition, targets, version))
                for case, condition in UNKNOWN_CONDITIONS.items()
            }
            assert outcomes == dict.fromkeys(UNKNOWN_CONDITIONS, expected)

    async def test_group_cut_inside_a_segment_is_not_found(
        self, executions: Executions, make_targets: MakeTargets
    ) -> None:
        """The group `targ` names no event type at a `.` boundary, so it is NotFound ConditionInvalid."""
        targets = await make_targets()
        for version in VERSIONS:
            result = await executions.set({"event": {"group": "targ"}}, targets, version)
            expect_error(result, executions.transport, "not_found", CONDITION_INVALID)

    async def test_unknown_target_is_not_found(self, executions: Executions, make_targets: MakeTargets) -> None:
        """A target id that does not exist is NotFound Errors.Target.NotFound."""
        targets = await make_targets()
        for version in VERSIONS:
            result = await executions.set({"request": {"all": True}}, [*targets, "notexisting"], version)
            expect_error(result, executions.transport, "not_found", TARGET_NOT_FOUND)

    async def test_duplicated_target_is_not_found(self, executions: Executions, make_targets: MakeTargets) -> None:
        """A target id listed twice is NotFound Errors.Target.NotFound, as in ZITADEL."""
        (target,) = await make_targets()
        for version in VERSIONS:
            result = await executions.set({"request": {"all": True}}, [target, target], version)
            expect_error(result, executions.transport, "not_found", TARGET_NOT_FOUND)

    async def test_deleted_target_is_not_found(
        self, executions: Executions, owner: Api, make_targets: MakeTargets
    ) -> None:
        """A deleted target can no longer be bound to an execution."""
        (target,) = await make_targets()
        assert (await owner.call("DeleteTarget", {"id": target})).ok
        for version in VERSIONS:
            result = await executions.set({"request": {"all": True}}, [target], version)
            expect_error(result, executions.transport, "not_found", TARGET_NOT_FOUND)

    async def test_failed_set_leaves_the_execution_unchanged(
        self, executions: Executions, make_targets: MakeTargets
    ) -> None:
        """A rejected SetExecution keeps the execution's previous targets and dates."""
        targets = await make_targets(2)
        date = await executions.set_ok(PREUSERINFO, targets)
        result = await executions.set(PREUSERINFO, [targets[0], "notexisting"])
        expect_error(result, executions.transport, "not_found", TARGET_NOT_FOUND)
        assert await executions.list() == page(1, execution(PREUSERINFO, date, targets))


class TestSetExecution:
    async def test_valid_condition_is_set(self, system: Executions, make_targets: MakeTargets) -> None:
        """Every existing method, service, event, group, function and `all` accepts targets and reports a setDate."""
        targets = await make_targets(1, system.api)
        for version in VERSIONS:
            for condition, _ in VALID_CONDITIONS.values():
                before = datetime.now(UTC)
                date = await system.set_ok(condition, targets, version)
                assert before <= parse_timestamp(date) <= datetime.now(UTC)
                assert await system.list(version=version) == page(1, execution(condition, date, targets))
                await system.set_ok(condition, [], version)

    async def test_identical_targets_again_are_a_no_op(
        self, executions: Executions, make_targets: MakeTargets, event_types: EventTypes
    ) -> None:
        """Setting the identical target list again returns the previous setDate and records no event."""
        targets = await make_targets(2)
        date = await executions.set_ok(PREUSERINFO, targets)
        for version in VERSIONS:
            assert await executions.set_ok(PREUSERINFO, targets, version) == date
        assert await event_types(executions.instance_id, "function/preuserinfo") == ["execution.v2.set"]

    async def test_reordered_targets_are_a_change(self, executions: Executions, make_targets: MakeTargets) -> None:
        """A new order of the same targets is stored with a new change date and the creation date kept."""
        targets = await make_targets(2)
        created = await executions.set_ok(EVENT_ALL, targets)
        changed = await executions.set_ok(EVENT_ALL, targets[::-1])
        assert parse_timestamp(changed) > parse_timestamp(created)
        expected = {"condition": EVENT_ALL, "creationDate": created, "changeDate": changed}
        assert await executions.list() == page(1, {**expected, "targets": targets[::-1]})

    async def test_set_and_removal_are_recorded_as_events(
        self, executions: Executions, make_targets: MakeTargets, context: ServiceContext
    ) -> None:
        """SetExecution records `execution.v2.set` with the targets in order, and a removal `execution.removed`."""
        targets = await make_targets(2)
        await executions.set_ok({"request": {"method": METHOD}}, targets)
        await executions.set_ok({"request": {"method": METHOD}}, [])
        async with context.database.read() as conn:
            recorded = await list_events(conn, executions.instance_id, f"request{METHOD}")
        assert [(event.aggregate_type, event.event_type, event.payload) for event in recorded] == [
            ("execution", "execution.v2.set", {"targets": [{"type": 2, "target": target} for target in targets]}),
            ("execution", "execution.removed", {}),
        ]

    async def test_empty_targets_remove_the_execution(self, executions: Executions, make_targets: MakeTargets) -> None:
        """Setting an empty target list removes the execution from the lists."""
        targets = await make_targets()
        await executions.set_ok({"event": {"all": True}}, targets)
        for version in VERSIONS:
            await executions.set_ok({"event": {"all": True}}, [], version)
            assert await executions.list(version=version) == EMPTY_PAGE

    async def test_empty_targets_on_a_missing_execution_succeed_without_event(
        self, executions: Executions, event_types: EventTypes
    ) -> None:
        """Removing an execution that does not exist succeeds with a setDate and records nothing."""
        for version in VERSIONS:
            await executions.set_ok({"response": {"all": True}}, [], version)
        assert await event_types(executions.instance_id, "response") == []

    async def test_versions_share_executions(self, executions: Executions, make_targets: MakeTargets) -> None:
        """An execution set through v2beta is listed by v2 and the other way round."""
        first, second = await make_targets(2)
        beta_date = await executions.set_ok(PREUSERINFO, [first], "v2beta")
        v2_date = await executions.set_ok(EVENT_ALL, [second], "v2")
        expected = page(2, execution(EVENT_ALL, v2_date, [second]), execution(PREUSERINFO, beta_date, [first]))
        for version in VERSIONS:
            assert await executions.list(version=version) == expected

    async def test_group_with_and_without_suffix_is_one_execution(
        self, executions: Executions, make_targets: MakeTargets
    ) -> None:
        """The groups `target` and `target.*` name the same execution."""
        targets = await make_targets()
        date = await executions.set_ok({"event": {"group": "target.*"}}, targets)
        assert await executions.set_ok({"event": {"group": "target"}}, targets) == date
        assert await executions.list() == page(1, execution({"event": {"group": "target"}}, date, targets))


class TestTargetDeletion:
    async def test_deleting_a_target_removes_it_from_every_execution(
        self, executions: Executions, owner: Api, make_targets: MakeTargets
    ) -> None:
        """A deleted target disappears from every execution's list; the other targets stay in order."""
        first, second, third = await make_targets(3)
        function_date = await executions.set_ok(PREUSERINFO, [first, second, third])
        event_date = await executions.set_ok(EVENT_ALL, [second, first])
        assert (await owner.call("DeleteTarget", {"id": second})).ok
        for version in VERSIONS:
            assert await executions.list(version=version) == page(
                2, execution(EVENT_ALL, event_date, [first]), execution(PREUSERINFO, function_date, [first, third])
            )

    async def test_execution_left_without_targets_is_not_listed(
        self, executions: Executions, owner: Api, make_targets: MakeTargets
    ) -> None:
        """An execution whose only target was deleted is no longer listed."""
        kept, deleted = await make_targets(2)
        kept_date = await executions.set_ok(EVENT_ALL, [kept])
        await executions.set_ok(PREUSERINFO, [deleted])
        assert (await owner.call("DeleteTarget", {"id": deleted})).ok
        for version in VERSIONS:
            assert await executions.list(version=version) == page(1, execution(EVENT_ALL, kept_date, [kept]))

    async def test_emptied_execution_can_be_set_again(
        self, executions: Executions, owner: Api, make_targets: MakeTargets
    ) -> None:
        """An execution emptied by a target deletion takes new targets and is listed again."""
        deleted, replacement = await make_targets(2)
        await executions.set_ok(PREUSERINFO, [deleted])
        assert (await owner.call("DeleteTarget", {"id": deleted})).ok
        await executions.set_ok(PREUSERINFO, [replacement])
        body = await executions.list()
        assert [item["targets"] for item in body["executions"]] == [[replacement]]


class TestListExecutions:
    async def test_org_owner_is_permission_denied(
        self, executions: Executions, make_executions: MakeExecutions
    ) -> None:
        """An ORG_OWNER cannot list executions."""
        org_owner = await make_executions(Role.ORG_OWNER, executions.instance_id)
        for version in VERSIONS:
            result = await org_owner.api.call("ListExecutions", {}, version)
            expect_error(result, executions.transport, "permission_denied")

    async def test_viewer_lists_like_the_owner(
        self, executions: Executions, make_executions: MakeExecutions, make_targets: MakeTargets
    ) -> None:
        """An IAM_OWNER_VIEWER sees the same executions as the owner."""
        await executions.set_ok(EVENT_ALL, await make_targets())
        viewer = await make_executions(Role.IAM_OWNER_VIEWER, executions.instance_id)
        for version in VERSIONS:
            assert await viewer.list(version=version) == await executions.list(version=version)

    async def test_no_executions_give_an_empty_page(self, executions: Executions) -> None:
        """A fresh instance lists no executions, with appliedLimit 100 and no total."""
        for version in VERSIONS:
            assert await executions.list(version=version) == EMPTY_PAGE

    async def test_single_condition_filter_returns_that_execution(
        self, system: Executions, make_targets: MakeTargets
    ) -> None:
        """A filter on one request method returns exactly that execution with dates equal to its setDate."""
        targets = await make_targets(2, system.api)
        date = await system.set_ok({"request": {"method": METHOD}}, targets)
        await system.set_ok({"request": {"service": SERVICE}}, targets)
        body = {"filters": [in_conditions({"request": {"method": METHOD}})]}
        for version in VERSIONS:
            expected = page(1, execution({"request": {"method": METHOD}}, date, targets))
            assert await system.list(body, version) == expected

    async def test_condition_filter_matches_any_of_its_conditions(
        self, system: Executions, make_targets: MakeTargets
    ) -> None:
        """A condition filter with several conditions returns each execution that exists among them."""
        targets = await make_targets(1, system.api)
        for condition in MIXED:
            await system.set_ok(condition, targets)
        wanted: list[Json] = [
            {"event": {"group": "target"}},
            {"function": {"name": "presamlresponse"}},
            {"request": {"all": True}},
        ]
        body = {"filters": [in_conditions(*wanted, {"function": {"name": "preuserinfo"}})]}  # the last one is unset
        for version in VERSIONS:
            assert conditions_of(await system.list(body, version)) == [
                {"function": {"name": "presamlresponse"}},
                {"event": {"group": "target"}},
                {"request": {"all": True}},
            ]

    async def test_target_filter_returns_executions_containing_the_target(
        self, system: Executions, make_targets: MakeTargets
    ) -> None:
        """A target filter returns only the executions that include that target."""
        shared, other = await make_targets(2, system.api)
        with_shared = await system.set_ok({"request": {"method": METHOD}}, [other, shared])
        await system.set_ok({"request": {"service": SERVICE}}, [other])
        body = {"filters": [{"targetFilter": {"targetId": shared}}]}
        for version in VERSIONS:
            expected = page(1, execution({"request": {"method": METHOD}}, with_shared, [other, shared]))
            assert await system.list(body, version) == expected

    async def test_unknown_target_filter_gives_an_empty_page(
        self, executions: Executions, make_targets: MakeTargets
    ) -> None:
        """A target filter on an unknown id lists nothing."""
        await executions.set_ok(PREUSERINFO, await make_targets())
        body = {"filters": [{"targetFilter": {"targetId": "notexisting"}}]}
        for version in VERSIONS:
            assert await executions.list(body, version) == EMPTY_PAGE

    async def test_execution_type_filter_selects_one_kind(self, system: Executions, make_targets: MakeTargets) -> None:
        """The execution type filter returns only executions of that kind; UNSPECIFIED returns all."""
        targets = await make_targets(1, system.api)
        for condition in MIXED:
            await system.set_ok(condition, targets)
        expected = {  # newest first
            "EXECUTION_TYPE_REQUEST": MIXED[2::-1],
            "EXECUTION_TYPE_RESPONSE": MIXED[5:2:-1],
            "EXECUTION_TYPE_EVENT": MIXED[8:5:-1],
            "EXECUTION_TYPE_FUNCTION": MIXED[9:8:-1],
            "EXECUTION_TYPE_UNSPECIFIED": MIXED[::-1],
        }
        for version in VERSIONS:
            listed = {}
            for execution_type in expected:
                body = {"filters": [{"executionTypeFilter": {"executionType": execution_type}}]}
                listed[execution_type] = conditions_of(await system.list(body, version))
            assert listed == expected

    async def test_filters_are_combined_with_and(self, system: Executions, make_targets: MakeTargets) -> None:
        """A type filter and a target filter together select only executions matching both."""
        shared, other = await make_targets(2, system.api)
        await system.set_ok({"request": {"all": True}}, [shared])
        await system.set_ok({"response": {"all": True}}, [shared])
        await system.set_ok({"request": {"service": SERVICE}}, [other])
        body = {
            "filters": [
                {"executionTypeFilter": {"executionType": "EXECUTION_TYPE_REQUEST"}},
                {"targetFilter": {"targetId": shared}},
            ]
        }
        for version in VERSIONS:
            assert conditions_of(await system.list(body, version)) == [{"request": {"all": True}}]

    async def test_three_methods_are_listed_newest_first(self, system: Executions, make_targets: MakeTargets) -> None:
        """Three request-method executions come back newest first with their own targets and dates."""
        methods = [f"/{SERVICE}/GetTarget", f"/{SERVICE}/CreateTarget", f"/{SERVICE}/ListTargets"]
        expected = []
        for method in methods:
            targets = await make_targets(1, system.api)
            date = await system.set_ok({"request": {"method": method}}, targets)
            expected.append(execution({"request": {"method": method}}, date, targets))
        for version in VERSIONS:
            assert await system.list(version=version) == page(3, *expected[::-1])

    async def test_mixed_conditions_are_listed_newest_first(
        self, system: Executions, make_targets: MakeTargets
    ) -> None:
        """ZITADEL's ten mixed conditions come back newest first, each with its setDate and targets."""
        expected = []
        for condition in MIXED:
            targets = await make_targets(1, system.api)
            expected.append(execution(condition, await system.set_ok(condition, targets), targets))
        for version in VERSIONS:
            assert await system.list(version=version) == page(10, *expected[::-1])

    async def test_mixed_conditions_sort_by_id_descending(self, system: Executions, make_targets: MakeTargets) -> None:
        """Sorting by EXECUTION_FIELD_NAME_ID orders ZITADEL's ten mixed conditions by id descending."""
        targets = await make_targets(1, system.api)
        for condition in MIXED:
            await system.set_ok(condition, targets)
        body = {"sortingColumn": "EXECUTION_FIELD_NAME_ID"}
        for version in VERSIONS:
            assert conditions_of(await system.list(body, version)) == MIXED_BY_ID_DESC

    async def test_ascending_reverses_the_order(self, system: Executions, make_targets: MakeTargets) -> None:
        """`asc` lists oldest first by default and by id ascending when sorting by id."""
        targets = await make_targets(1, system.api)
        for condition in MIXED:
            await system.set_ok(condition, targets)
        for version in VERSIONS:
            by_date = await system.list({"pagination": {"asc": True}}, version)
            by_id = await system.list(
                {"pagination": {"asc": True}, "sortingColumn": "EXECUTION_FIELD_NAME_ID"}, version
            )
            assert (conditions_of(by_date), conditions_of(by_id)) == (MIXED, MIXED_BY_ID_DESC[::-1])

    async def test_change_date_sort_puts_the_last_changed_first(
        self, system: Executions, make_targets: MakeTargets
    ) -> None:
        """Sorting by EXECUTION_FIELD_NAME_CHANGED_DATE lists a re-set older execution first."""
        first, second = await make_targets(2, system.api)
        await system.set_ok({"request": {"all": True}}, [first])
        await system.set_ok({"response": {"all": True}}, [first])
        await system.set_ok({"request": {"all": True}}, [second])
        by_change = {"sortingColumn": "EXECUTION_FIELD_NAME_CHANGED_DATE"}
        for version in VERSIONS:
            assert conditions_of(await system.list(by_change, version)) == [
                {"request": {"all": True}},
                {"response": {"all": True}},
            ]
            assert conditions_of(await system.list({}, version)) == [
                {"response": {"all": True}},
                {"request": {"all": True}},
            ]

    async def test_targets_keep_their_order(self, system: Executions, make_targets: MakeTargets) -> None:
        """An execution's targets are listed in the order they were set."""
        targets = await make_targets(4, system.api)
        order = [targets[2], targets[0], targets[3], targets[1]]
        await system.set_ok({"request": {"all": True}}, order)
        for version in VERSIONS:
            assert (await system.list(version=version))["executions"][0]["targets"] == order

    async def test_offset_and_limit_select_a_window(self, system: Executions, make_targets: MakeTargets) -> None:
        """Offset and limit select a window of the sorted list; the total counts every match."""
        targets = await make_targets(1, system.api)
        for condition in MIXED:
            await system.set_ok(condition, targets)
        body = {"pagination": {"offset": "2", "limit": 3}, "sortingColumn": "EXECUTION_FIELD_NAME_ID"}
        for version in VERSIONS:
            result = await system.list(body, version)
            assert result["pagination"] == {"totalResult": "10", "appliedLimit": "3"}
            assert conditions_of(result) == MIXED_BY_ID_DESC[2:5]

    async def test_limit_zero_applies_the_default_and_1000_is_kept(
        self, executions: Executions, make_targets: MakeTargets
    ) -> None:
        """A limit of 0 applies the default of 100, and the maximum of 1000 is applied as given."""
        await executions.set_ok(PREUSERINFO, await make_targets())
        for version in VERSIONS:
            applied = [
                (await executions.list({"pagination": {"limit": limit}}, version))["pagination"] for limit in (0, 1000)
            ]
            assert applied == [
                {"totalResult": "1", "appliedLimit": "100"},
                {"totalResult": "1", "appliedLimit": "1000"},
            ]

    async def test_limit_above_1000_is_limit_exceeded(self, executions: Executions) -> None:
        """A limit above 1000 is InvalidArgument Errors.Query.LimitExceeded."""
        for version in VERSIONS:
            result = await executions.api.call("ListExecutions", {"pagination": {"limit": 1001}}, version)
            expect_error(result, executions.transport, "invalid_argument", "Errors.Query.LimitExceeded")

    async def test_condition_round_trips(self, system: Executions, make_targets: MakeTargets) -> None:
        """Each condition is listed exactly as it was set, and filtering by it finds only it."""
        targets = await make_targets(1, system.api)
        for condition, _ in VALID_CONDITIONS.values():
            await system.set_ok(condition, targets)
        for version in VERSIONS:
            found = {
                execution_id: conditions_of(await system.list({"filters": [in_conditions(condition)]}, version))
                for condition, execution_id in VALID_CONDITIONS.values()
            }
            assert found == {execution_id: [condition] for condition, execution_id in VALID_CONDITIONS.values()}


class TestCatalogLists:
    async def test_functions_are_the_three_zitadel_functions(self, executions: Executions) -> None:
        """ListExecutionFunctions returns ZITADEL's three functions, sorted."""
        for version in VERSIONS:
            assert await executions.catalog("ListExecutionFunctions", version) == {
                "functions": ["preaccesstoken", "presamlresponse", "preuserinfo"]
            }

    async def test_methods_include_callouts_own_sorted(self, executions: Executions) -> None:
        """ListExecutionMethods returns callout's own methods with a leading slash, sorted."""
        for version in VERSIONS:
            methods = (await executions.catalog("ListExecutionMethods", version))["methods"]
            assert methods == sorted(methods)
            assert {
                METHOD,
                f"/{SERVICE}/SetExecution",
                f"/{SERVICE}/ListExecutionServices",
                "/zitadel.action.v2beta.ActionService/GetTarget",
            } <= set(methods)
            assert all(method.startswith("/") and method.count("/") == 2 for method in methods)

    async def test_services_include_callouts_own_sorted(self, executions: Executions) -> None:
        """ListExecutionServices returns callout's own services without slashes, sorted."""
        for version in VERSIONS:
            services = (await executions.catalog("ListExecutionServices", version))["services"]
            assert services == sorted(services)
            assert {SERVICE, "zitadel.action.v2beta.ActionService"} <= set(services)
            assert not any("/" in service for service in services)

    async def test_every_listed_method_and_service_is_accepted(
        self, system: Executions, make_targets: MakeTargets
    ) -> None:
        """Each listed method and service is a valid SetExecution condition."""
        targets = await make_targets(1, system.api)
        methods = (await system.catalog("ListExecutionMethods"))["methods"]
        services = (await system.catalog("ListExecutionServices"))["services"]
        conditions = [{"request": {"method": method}} for method in methods]
        conditions += [{"response": {"service": service}} for service in services]
        for condition in conditions:
            await system.set_ok(condition, targets)
        listed = await system.list({"pagination": {"limit": 1000}})
        assert listed["pagination"]["totalResult"] == str(len(conditions))

    async def test_org_owner_may_list_the_catalog(
        self, executions: Executions, make_executions: MakeExecutions
    ) -> None:
        """The catalog lists need only authentication, so an ORG_OWNER gets the owner's answers."""
        org_owner = await make_executions(Role.ORG_OWNER, executions.instance_id)
        for version in VERSIONS:
            for rpc in CATALOG_RPCS:
                assert await org_owner.catalog(rpc, version) == await executions.catalog(rpc, version)

    async def test_missing_token_is_unauthenticated(self, executions: Executions, make_client: MakeClient) -> None:
        """The catalog lists without a bearer token are Unauthenticated."""
        client = make_client(None)
        expected = error_outcome(executions.transport, "unauthenticated", "Errors.Token.Missing")
        for version in VERSIONS:
            outcomes = {
                rpc: outcome(await call_rpc(client, executions.transport, rpc, {}, version)) for rpc in CATALOG_RPCS
            }
            assert outcomes == dict.fromkeys(CATALOG_RPCS, expected)

    async def test_registered_host_entries_are_listed(self, executions: Executions, register: Register) -> None:
        """Host-registered methods, their services and functions appear, sorted, in the catalog lists."""
        await register(executions.instance_id, methods=(HOST_METHOD,), functions=("prelogin",))
        for version in VERSIONS:
            methods = (await executions.catalog("ListExecutionMethods", version))["methods"]
            services = (await executions.catalog("ListExecutionServices", version))["services"]
            functions = (await executions.catalog("ListExecutionFunctions", version))["functions"]
            assert (methods[0], services[0]) == (HOST_METHOD, HOST_SERVICE)
            assert functions == ["preaccesstoken", "prelogin", "presamlresponse", "preuserinfo"]

    async def test_registered_host_entries_are_valid_conditions(
        self, executions: Executions, register: Register, make_targets: MakeTargets
    ) -> None:
        """After registration a host method, service, function, event and its groups accept executions."""
        await register(
            executions.instance_id, methods=(HOST_METHOD,), functions=("prelogin",), events=("user.human.added",)
        )
        targets = await make_targets()
        for version in VERSIONS:
            for condition in HOST_CONDITIONS:
                date = await executions.set_ok(condition, targets, version)
                assert await executions.list(version=version) == page(1, execution(condition, date, targets))
                await executions.set_ok(condition, [], version)


class TestIsolation:
    async def test_other_instances_executions_are_invisible(
        self, executions: Executions, make_executions: MakeExecutions, make_targets: MakeTargets
    ) -> None:
        """ListExecutions never shows another instance's executions."""
        stranger = await make_executions()
        await stranger.set_ok({"request": {"all": True}}, await make_targets(1, stranger.api))
        for version in VERSIONS:
            assert await executions.list(version=version) == EMPTY_PAGE

    async def test_other_instances_target_is_not_found(
        self, executions: Executions, make_executions: MakeExecutions, make_targets: MakeTargets
    ) -> None:
        """SetExecution with another instance's target id is NotFound Errors.Target.NotFound."""
        stranger = await make_executions()
        foreign = await make_targets(1, stranger.api)
        for version in VERSIONS:
            result = await executions.set({"request": {"all": True}}, foreign, version)
            expect_error(result, executions.transport, "not_found", TARGET_NOT_FOUND)

    async def test_same_condition_is_independent_per_instance(
        self, executions: Executions, make_executions: MakeExecutions, make_targets: MakeTargets
    ) -> None:
        """The same condition in two instances holds each instance's own targets, and removing one keeps the other."""
        stranger = await make_executions()
        mine = await make_targets()
        theirs = await make_targets(1, stranger.api)
        my_date = await executions.set_ok({"event": {"all": True}}, mine)
        await stranger.set_ok({"event": {"all": True}}, theirs)
        await stranger.set_ok({"event": {"all": True}}, [])
        assert await executions.list() == page(1, execution({"event": {"all": True}}, my_date, mine))

    async def test_registered_entries_are_per_instance(
        self, executions: Executions, make_executions: MakeExecutions, register: Register, make_targets: MakeTargets
    ) -> None:
        """A method registered by one instance is unknown to another."""
        stranger = await make_executions()
        await register(stranger.instance_id, methods=(HOST_METHOD,))
        assert HOST_METHOD not in (await executions.catalog("ListExecutionMethods"))["methods"]
        result = await executions.set({"request": {"method": HOST_METHOD}}, await make_targets())
        expect_error(result, executions.transport, "not_found", CONDITION_INVALID)


class TestLongExecutionIds:
    """Service-level (transport-independent): ids longer than 200 characters must be storable."""

    async def test_long_registered_method_can_be_bound(
        self, context: ServiceContext, make_principal: MakePrincipal, make_target_ids: MakeTargetIds
    ) -> None:
        """A registered method of 300 characters accepts an execution, which is then listed."""
        principal, _ = await make_principal()
        method = f"/acme.{'x' * 270}.OrderService/PlaceOrder"
        await register_catalog(context, principal, methods=[method], functions=[], events=[])
        targets = await make_target_ids(principal)
        await set_execution(context, principal, Condition(ConditionType.REQUEST, method=method), targets)
        listed = await list_executions(context, principal, ExecutionQuery())
        assert [(item.id, list(item.targets)) for item in listed.items] == [(f"request{method}", targets)]

    async def test_long_registered_event_can_be_bound(
        self, context: ServiceContext, make_principal: MakePrincipal, make_target_ids: MakeTargetIds
    ) -> None:
        """A registered event type of 200 characters accepts an execution, which is then listed."""
        principal, _ = await make_principal()
        event = "acme." + "e" * 195
        await register_catalog(context, principal, methods=[], functions=[], events=[event])
        targets = await make_target_ids(principal)
        await set_execution(context, principal, Condition(ConditionType.EVENT, event=event), targets)
        listed = await list_executions(context, principal, ExecutionQuery())
        assert [(item.id, list(item.targets)) for item in listed.items] == [(f"event/{event}", targets)]

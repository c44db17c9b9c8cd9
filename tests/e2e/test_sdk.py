"""ZITADEL's official Python SDK (Connect JSON, PAT auth) against a real ``callout serve`` process.

The SDK returns None instead of raising when a 2xx body has a wrong type, so every result is checked
to be not None before its fields are.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from zitadel_client import (
    ActionServiceCreateTargetRequest,
    ActionServiceCreateTargetResponse,
    ActionServiceDeleteTargetRequest,
    ActionServiceGetTargetRequest,
    ActionServiceListTargetsRequest,
    ActionServicePaginationRequest,
    ActionServicePayloadType,
    ActionServiceRESTCall,
    ActionServiceRESTWebhook,
    ActionServiceTarget,
    ActionServiceTargetNameFilter,
    ActionServiceTargetSearchFilter,
    ActionServiceTextFilterMethod,
    ActionServiceUpdateTargetRequest,
    ApiError,
    BetaActionServiceCreateTargetRequest,
    BetaActionServiceDeleteTargetRequest,
    BetaActionServiceGetTargetRequest,
    BetaActionServiceListTargetsRequest,
    BetaActionServiceRESTCall,
    BetaActionServiceRESTWebhook,
    BetaActionServiceTargetNameFilter,
    BetaActionServiceTargetSearchFilter,
    BetaActionServiceTextFilterMethod,
    BetaActionServiceUpdateTargetRequest,
    Zitadel,
)

from tests.e2e.conftest import Server, StartServer

pytestmark = pytest.mark.e2e

SIGNING_KEY = re.compile(r"^[A-Za-z0-9]{36}$")
TARGET_ID = re.compile(r"^[0-9]+$")
KINDS = ("webhook", "call", "async")
PAYLOADS = (
    ActionServicePayloadType.PAYLOAD_TYPE_JSON,
    ActionServicePayloadType.PAYLOAD_TYPE_JWT,
    ActionServicePayloadType.PAYLOAD_TYPE_JWE,
)


def unique_name(label: str = "target") -> str:
    """A target name no other test uses."""
    return f"e2e-{label}-{secrets.token_hex(5)}"


def v2_kind(kind: str, interrupt: bool | None = True) -> dict[str, Any]:
    """The oneof member of a v2 request for a target type."""
    if kind == "webhook":
        return {"rest_webhook": ActionServiceRESTWebhook(interrupt_on_error=interrupt)}
    if kind == "call":
        return {"rest_call": ActionServiceRESTCall(interrupt_on_error=interrupt)}
    return {"rest_async": {}}


def beta_kind(kind: str, interrupt: bool | None = True) -> dict[str, Any]:
    """The oneof member of a v2beta request for a target type."""
    if kind == "webhook":
        return {"rest_webhook": BetaActionServiceRESTWebhook(interrupt_on_error=interrupt)}
    if kind == "call":
        return {"rest_call": BetaActionServiceRESTCall(interrupt_on_error=interrupt)}
    return {"rest_async": {}}


def kind_of(target: Any) -> str:
    """Which oneof member a returned target carries; exactly one must be set."""
    present = [
        name
        for name, value in (("webhook", target.rest_webhook), ("call", target.rest_call), ("async", target.rest_async))
        if value is not None
    ]
    assert len(present) == 1, f"expected exactly one target type, got {present}"
    return present[0]


def interrupts(target: Any) -> bool:
    """The interruptOnError flag of a returned target (always False for async)."""
    part = target.rest_webhook or target.rest_call
    return bool(part.interrupt_on_error) if part is not None else False


def assert_recent(moment: datetime | None) -> None:
    """A timestamp the server just produced: present, timezone-aware, within a minute of now."""
    assert moment is not None
    assert moment.tzinfo is not None
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


def assert_api_error(error: ApiError, status: int, code: str, message_id: str) -> None:
    """The SDK saw a Connect error with this HTTP status, code name and message id."""
    assert error.code == status
    body = error.response_body
    assert isinstance(body, dict), body
    assert body["code"] == code
    assert body["message"].startswith(message_id), body["message"]


def count(value: Any) -> int:
    """A uint64 from a list response (a protojson string, or absent for 0)."""
    return 0 if value is None else int(value)


MakeSdk = Callable[..., Zitadel]
CreateTarget = Callable[..., tuple[ActionServiceCreateTargetRequest, ActionServiceCreateTargetResponse]]


@pytest.fixture
def make_sdk(server: Server) -> Iterator[MakeSdk]:
    """Factory: an SDK client for the module's server, with the admin token unless another is given."""
    clients: list[Zitadel] = []

    def make(token: str | None = None) -> Zitadel:
        client = Zitadel.with_access_token(server.base_url, token or server.admin_token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def create_target(make_sdk: MakeSdk) -> CreateTarget:
    """Factory: create a v2 target through the SDK (unique name, https endpoint, 10s timeout)."""

    def create(
        kind: str = "webhook",
        payload_type: ActionServicePayloadType | None = ActionServicePayloadType.PAYLOAD_TYPE_JSON,
        *,
        name: str | None = None,
        interrupt: bool | None = True,
        timeout: str = "10s",
    ) -> tuple[ActionServiceCreateTargetRequest, ActionServiceCreateTargetResponse]:
        request = ActionServiceCreateTargetRequest(
            name=name or unique_name(kind),
            endpoint=f"https://hooks.example.com/{kind}/{secrets.token_hex(3)}",
            timeout=timeout,
            payload_type=payload_type,
            **v2_kind(kind, interrupt),
        )
        response = make_sdk().actions.create_target(request)
        assert response is not None
        return request, response

    return create


class TestCreateTarget:
    """CreateTarget through ``client.actions``."""

    @pytest.mark.parametrize("payload_type", PAYLOADS, ids=lambda p: p.value)
    @pytest.mark.parametrize("kind", KINDS)
    def test_create_returns_id_date_and_signing_key(
        self, create_target: CreateTarget, kind: str, payload_type: ActionServicePayloadType
    ) -> None:
        """Creating a target of each type and payload type returns a numeric id, a fresh date and a 36-char key."""
        _, created = create_target(kind, payload_type)
        assert created.id is not None
        assert TARGET_ID.match(created.id)
        assert_recent(created.creation_date)
        assert created.signing_key is not None
        assert SIGNING_KEY.match(created.signing_key)

    def test_create_returns_distinct_ids_and_keys(self, create_target: CreateTarget) -> None:
        """Two creations return different ids and different signing keys."""
        _, first = create_target()
        _, second = create_target()
        assert first.id != second.id
        assert first.signing_key != second.signing_key

    def test_duplicate_name_is_already_exists(self, create_target: CreateTarget) -> None:
        """Creating a second target with a taken name answers 409 already_exists."""
        name = unique_name("dup")
        create_target(name=name)
        with pytest.raises(ApiError) as raised:
            create_target(name=name)
        assert_api_error(raised.value, 409, "already_exists", "Errors.Target.AlreadyExists")

    def test_duplicate_name_differing_in_case_is_already_exists(self, create_target: CreateTarget) -> None:
        """Target names are unique case-insensitively, so a differently cased name answers 409."""
        name = unique_name("case")
        create_target(name=name)
        with pytest.raises(ApiError) as raised:
            create_target(name=name.upper())
        assert_api_error(raised.value, 409, "already_exists", "Errors.Target.AlreadyExists")

    def test_missing_timeout_is_invalid_argument(self, make_sdk: MakeSdk) -> None:
        """A target without a timeout answers 400 invalid_argument Errors.Target.NoTimeout."""
        request = ActionServiceCreateTargetRequest(
            name=unique_name("notimeout"), endpoint="https://hooks.example.com/x", **v2_kind("webhook")
        )
        with pytest.raises(ApiError) as raised:
            make_sdk().actions.create_target(request)
        assert_api_error(raised.value, 400, "invalid_argument", "Errors.Target.NoTimeout")

    def test_ip_literal_endpoint_is_denied(self, make_sdk: MakeSdk) -> None:
        """An endpoint whose host is an IP literal answers 400 invalid_argument Errors.Target.DeniedURL."""
        request = ActionServiceCreateTargetRequest(
            name=unique_name("iplit"), endpoint="https://127.0.0.1:9/hook", timeout="10s", **v2_kind("webhook")
        )
        with pytest.raises(ApiError) as raised:
            make_sdk().actions.create_target(request)
        assert_api_error(raised.value, 400, "invalid_argument", "Errors.Target.DeniedURL")

    def test_plain_http_endpoint_is_denied_outside_dev_mode(self, make_sdk: MakeSdk) -> None:
        """Outside dev mode an http:// endpoint on a public name answers 400 Errors.Target.DeniedURL."""
        request = ActionServiceCreateTargetRequest(
            name=unique_name("http"), endpoint="http://hooks.example.com/hook", timeout="10s", **v2_kind("webhook")
        )
        with pytest.raises(ApiError) as raised:
            make_sdk().actions.create_target(request)
        assert_api_error(raised.value, 400, "invalid_argument", "Errors.Target.DeniedURL")

    def test_invalid_token_is_unauthenticated(self, make_sdk: MakeSdk) -> None:
        """A token the server does not know answers 401 unauthenticated."""
        request = ActionServiceCreateTargetRequest(
            name=unique_name("noauth"), endpoint="https://hooks.example.com/x", timeout="10s", **v2_kind("call")
        )
        with pytest.raises(ApiError) as raised:
            make_sdk("not-a-real-token").actions.create_target(request)
        assert raised.value.code == 401
        assert isinstance(raised.value.response_body, dict)
        assert raised.value.response_body["code"] == "unauthenticated"


class TestDevMode:
    """``callout serve --dev`` relaxes the egress policy for loopback."""

    def test_dev_server_accepts_a_loopback_http_endpoint(self, start_server: StartServer) -> None:
        """A server started with --dev accepts an http:// endpoint on 127.0.0.1."""
        dev = start_server("sqlite", extra_args=("--dev",))
        client = Zitadel.with_access_token(dev.base_url, dev.admin_token)
        created = client.actions.create_target(
            ActionServiceCreateTargetRequest(
                name=unique_name("dev"), endpoint="http://127.0.0.1:9/hook", timeout="10s", **v2_kind("webhook")
            )
        )
        assert created is not None
        assert created.id is not None
        dev.stop()


class TestGetTarget:
    """GetTarget through ``client.actions``."""

    @pytest.mark.parametrize("payload_type", PAYLOADS, ids=lambda p: p.value)
    @pytest.mark.parametrize("kind", KINDS)
    def test_get_returns_the_created_target(
        self,
        make_sdk: MakeSdk,
        create_target: CreateTarget,
        kind: str,
        payload_type: ActionServicePayloadType,
    ) -> None:
        """Getting a target of each type and payload type returns every field as it was created."""
        request, created = create_target(kind, payload_type)
        response = make_sdk().actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert response is not None
        target = response.target
        assert isinstance(target, ActionServiceTarget)
        assert target.id == created.id
        assert target.name == request.name
        assert target.endpoint == request.endpoint
        assert target.timeout == "10s"
        assert target.payload_type == payload_type
        assert kind_of(target) == kind
        assert interrupts(target) is (kind != "async")
        assert target.creation_date == created.creation_date
        assert target.change_date == created.creation_date

    def test_get_does_not_return_the_signing_key(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """GetTarget never returns the signing key (it is only shown on creation and rotation)."""
        _, created = create_target()
        response = make_sdk().actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert response is not None
        assert response.target is not None
        assert response.target.signing_key is None

    def test_webhook_without_interrupt_flag_does_not_interrupt(
        self, make_sdk: MakeSdk, create_target: CreateTarget
    ) -> None:
        """A webhook created with an empty restWebhook comes back as a webhook that does not interrupt."""
        _, created = create_target("webhook", interrupt=None)
        response = make_sdk().actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert response is not None
        assert response.target is not None
        assert kind_of(response.target) == "webhook"
        assert interrupts(response.target) is False

    def test_unset_payload_type_is_reported_unspecified(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A target created without a payload type reports none (unspecified, sent as JSON)."""
        _, created = create_target("call", None)
        response = make_sdk().actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert response is not None
        assert response.target is not None
        assert response.target.payload_type in (None, ActionServicePayloadType.PAYLOAD_TYPE_UNSPECIFIED)

    def test_fractional_timeout_round_trips_in_protojson_format(
        self, make_sdk: MakeSdk, create_target: CreateTarget
    ) -> None:
        """A 1.5s timeout comes back as protojson's "1.500s"."""
        _, created = create_target(timeout="1.5s")
        response = make_sdk().actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert response is not None
        assert response.target is not None
        assert response.target.timeout == "1.500s"

    def test_unknown_id_is_not_found(self, make_sdk: MakeSdk) -> None:
        """Getting an id that never existed answers 404 not_found Errors.Target.NotFound."""
        with pytest.raises(ApiError) as raised:
            make_sdk().actions.get_target(ActionServiceGetTargetRequest(id="1"))
        assert_api_error(raised.value, 404, "not_found", "Errors.Target.NotFound")


def name_filter(name: str, method: ActionServiceTextFilterMethod) -> ActionServiceListTargetsRequest:
    """A ListTargets request with one name filter."""
    return ActionServiceListTargetsRequest(
        filters=[
            ActionServiceTargetSearchFilter(
                target_name_filter=ActionServiceTargetNameFilter(target_name=name, method=method)
            )
        ]
    )


class TestListTargets:
    """ListTargets through ``client.actions``."""

    def test_equals_name_filter_finds_exactly_that_target(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A name filter with EQUALS returns only the target of that name, with its fields."""
        stem = unique_name("list")
        request, wanted = create_target("call", name=f"{stem}-a")
        create_target(name=f"{stem}-ab")
        response = make_sdk().actions.list_targets(
            name_filter(f"{stem}-a", ActionServiceTextFilterMethod.TEXT_FILTER_METHOD_EQUALS)
        )
        assert response is not None
        assert response.targets is not None
        assert [target.id for target in response.targets] == [wanted.id]
        assert response.targets[0].name == request.name
        assert response.targets[0].endpoint == request.endpoint
        assert kind_of(response.targets[0]) == "call"
        assert response.pagination is not None
        assert count(response.pagination.total_result) == 1

    def test_starts_with_filter_finds_every_match_newest_first(
        self, make_sdk: MakeSdk, create_target: CreateTarget
    ) -> None:
        """A STARTS_WITH name filter returns all matching targets, newest first by default."""
        stem = unique_name("prefix")
        _, first = create_target(name=f"{stem}-1")
        _, second = create_target(name=f"{stem}-2")
        response = make_sdk().actions.list_targets(
            name_filter(stem, ActionServiceTextFilterMethod.TEXT_FILTER_METHOD_STARTS_WITH)
        )
        assert response is not None
        assert response.targets is not None
        assert [target.id for target in response.targets] == [second.id, first.id]
        assert response.pagination is not None
        assert count(response.pagination.total_result) == 2
        assert count(response.pagination.applied_limit) == 100

    def test_ignore_case_filter_matches_other_casing(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A CONTAINS_IGNORE_CASE name filter matches a name written in another case."""
        stem = unique_name("mixed")
        _, created = create_target(name=f"{stem}-Upper")
        response = make_sdk().actions.list_targets(
            name_filter(f"{stem}-upper".upper(), ActionServiceTextFilterMethod.TEXT_FILTER_METHOD_CONTAINS_IGNORE_CASE)
        )
        assert response is not None
        assert response.targets is not None
        assert [target.id for target in response.targets] == [created.id]

    def test_listed_targets_carry_no_signing_key(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """ListTargets never returns signing keys."""
        stem = unique_name("nokey")
        create_target(name=stem)
        response = make_sdk().actions.list_targets(
            name_filter(stem, ActionServiceTextFilterMethod.TEXT_FILTER_METHOD_EQUALS)
        )
        assert response is not None
        assert response.targets is not None
        assert len(response.targets) == 1
        assert response.targets[0].signing_key is None

    def test_limit_returns_one_page_and_the_full_total(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A limit of 1 returns one target while totalResult counts every match."""
        stem = unique_name("page")
        _, first = create_target(name=f"{stem}-1")
        create_target(name=f"{stem}-2")
        request = name_filter(stem, ActionServiceTextFilterMethod.TEXT_FILTER_METHOD_STARTS_WITH)
        request.pagination = ActionServicePaginationRequest(offset="0", limit=1, asc=True)
        response = make_sdk().actions.list_targets(request)
        assert response is not None
        assert response.targets is not None
        assert [target.id for target in response.targets] == [first.id]
        assert response.pagination is not None
        assert count(response.pagination.total_result) == 2
        assert count(response.pagination.applied_limit) == 1

    def test_limit_above_1000_is_invalid_argument(self, make_sdk: MakeSdk) -> None:
        """A page limit above 1000 answers 400 invalid_argument Errors.Query.LimitExceeded."""
        request = ActionServiceListTargetsRequest(pagination=ActionServicePaginationRequest(limit=1001))
        with pytest.raises(ApiError) as raised:
            make_sdk().actions.list_targets(request)
        assert_api_error(raised.value, 400, "invalid_argument", "Errors.Query.LimitExceeded")

    def test_no_match_returns_an_empty_list(self, make_sdk: MakeSdk) -> None:
        """A filter nothing matches returns no targets and a total of zero."""
        response = make_sdk().actions.list_targets(
            name_filter(unique_name("none"), ActionServiceTextFilterMethod.TEXT_FILTER_METHOD_EQUALS)
        )
        assert response is not None
        assert not response.targets
        assert response.pagination is not None
        assert count(response.pagination.total_result) == 0


class TestUpdateTarget:
    """UpdateTarget (and key rotation) through ``client.actions``."""

    def test_update_returns_change_date_without_signing_key(
        self, make_sdk: MakeSdk, create_target: CreateTarget
    ) -> None:
        """An update without rotation returns a new change date and no signing key."""
        _, created = create_target()
        response = make_sdk().actions.update_target(
            ActionServiceUpdateTargetRequest(id=created.id, name=unique_name("renamed"))
        )
        assert response is not None
        assert_recent(response.change_date)
        assert created.creation_date is not None
        assert response.change_date is not None
        assert response.change_date >= created.creation_date
        assert response.signing_key is None

    def test_updated_fields_are_visible_in_get(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """Every changed field (name, endpoint, timeout, type, payload type) is returned by GetTarget."""
        _, created = create_target("webhook", ActionServicePayloadType.PAYLOAD_TYPE_JSON)
        client = make_sdk()
        new_name = unique_name("updated")
        update = client.actions.update_target(
            ActionServiceUpdateTargetRequest(
                id=created.id,
                name=new_name,
                endpoint="https://hooks.example.com/updated",
                timeout="20s",
                payload_type=ActionServicePayloadType.PAYLOAD_TYPE_JWE,
                rest_call=ActionServiceRESTCall(interrupt_on_error=True),
            )
        )
        assert update is not None
        response = client.actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert response is not None
        target = response.target
        assert target is not None
        assert target.name == new_name
        assert target.endpoint == "https://hooks.example.com/updated"
        assert target.timeout == "20s"
        assert target.payload_type == ActionServicePayloadType.PAYLOAD_TYPE_JWE
        assert kind_of(target) == "call"
        assert interrupts(target) is True
        assert target.change_date == update.change_date
        assert target.creation_date == created.creation_date

    def test_switching_to_async_clears_interrupt_on_error(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """Changing an interrupting webhook to restAsync leaves a non-interrupting async target."""
        _, created = create_target("webhook", interrupt=True)
        client = make_sdk()
        assert client.actions.update_target(ActionServiceUpdateTargetRequest(id=created.id, rest_async={})) is not None
        response = client.actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert response is not None
        assert response.target is not None
        assert kind_of(response.target) == "async"
        assert interrupts(response.target) is False

    def test_rotation_returns_a_new_signing_key(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """Updating with expirationSigningKey "0s" returns a new 36-character key different from the old one."""
        _, created = create_target()
        response = make_sdk().actions.update_target(
            ActionServiceUpdateTargetRequest(id=created.id, expiration_signing_key="0s")
        )
        assert response is not None
        assert response.signing_key is not None
        assert SIGNING_KEY.match(response.signing_key)
        assert response.signing_key != created.signing_key
        assert_recent(response.change_date)

    def test_unchanged_update_keeps_the_previous_change_date(
        self, make_sdk: MakeSdk, create_target: CreateTarget
    ) -> None:
        """An update that changes nothing succeeds with the target's previous change date."""
        request, created = create_target()
        response = make_sdk().actions.update_target(
            ActionServiceUpdateTargetRequest(id=created.id, name=request.name, timeout="10s")
        )
        assert response is not None
        assert response.change_date == created.creation_date
        assert response.signing_key is None

    def test_renaming_onto_a_taken_name_is_already_exists(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """Renaming a target to another target's name answers 409 already_exists."""
        taken, _ = create_target()
        _, created = create_target()
        with pytest.raises(ApiError) as raised:
            make_sdk().actions.update_target(ActionServiceUpdateTargetRequest(id=created.id, name=taken.name))
        assert_api_error(raised.value, 409, "already_exists", "Errors.Target.AlreadyExists")

    def test_update_of_unknown_target_is_not_found(self, make_sdk: MakeSdk) -> None:
        """Updating an id that never existed answers 404 not_found."""
        with pytest.raises(ApiError) as raised:
            make_sdk().actions.update_target(ActionServiceUpdateTargetRequest(id="1", name=unique_name()))
        assert_api_error(raised.value, 404, "not_found", "Errors.Target.NotFound")


class TestDeleteTarget:
    """DeleteTarget through ``client.actions``."""

    def test_delete_returns_a_deletion_date(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """Deleting a target returns its deletion date."""
        _, created = create_target()
        response = make_sdk().actions.delete_target(ActionServiceDeleteTargetRequest(id=created.id))
        assert response is not None
        assert_recent(response.deletion_date)

    def test_get_after_delete_is_not_found(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A deleted target answers 404 not_found on GetTarget."""
        _, created = create_target()
        client = make_sdk()
        assert client.actions.delete_target(ActionServiceDeleteTargetRequest(id=created.id)) is not None
        with pytest.raises(ApiError) as raised:
            client.actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert_api_error(raised.value, 404, "not_found", "Errors.Target.NotFound")

    def test_deleted_target_is_not_listed(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A deleted target no longer appears in ListTargets."""
        request, created = create_target()
        client = make_sdk()
        assert client.actions.delete_target(ActionServiceDeleteTargetRequest(id=created.id)) is not None
        response = client.actions.list_targets(
            name_filter(request.name or "", ActionServiceTextFilterMethod.TEXT_FILTER_METHOD_EQUALS)
        )
        assert response is not None
        assert not response.targets

    def test_delete_of_unknown_target_succeeds_without_date(self, make_sdk: MakeSdk) -> None:
        """Deleting an id that never existed succeeds and returns no deletion date."""
        response = make_sdk().actions.delete_target(ActionServiceDeleteTargetRequest(id="1"))
        assert response is not None
        assert response.deletion_date is None

    def test_second_delete_reports_the_first_date(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """Deleting a target twice returns the first deletion date again."""
        _, created = create_target()
        client = make_sdk()
        first = client.actions.delete_target(ActionServiceDeleteTargetRequest(id=created.id))
        second = client.actions.delete_target(ActionServiceDeleteTargetRequest(id=created.id))
        assert first is not None
        assert second is not None
        assert first.deletion_date is not None
        assert second.deletion_date == first.deletion_date


class TestBetaActions:
    """The same target RPCs through ``client.beta_actions`` (v2beta: no payloadType)."""

    @pytest.mark.parametrize("kind", KINDS)
    def test_create_and_get_each_target_type(self, make_sdk: MakeSdk, kind: str) -> None:
        """A v2beta target of each type is created with a key and read back with its fields."""
        client = make_sdk()
        request = BetaActionServiceCreateTargetRequest(
            name=unique_name(f"beta-{kind}"),
            endpoint="https://hooks.example.com/beta",
            timeout="5s",
            **beta_kind(kind),
        )
        created = client.beta_actions.create_target(request)
        assert created is not None
        assert created.id is not None
        assert created.signing_key is not None
        assert SIGNING_KEY.match(created.signing_key)
        assert_recent(created.creation_date)
        response = client.beta_actions.get_target(BetaActionServiceGetTargetRequest(id=created.id))
        assert response is not None
        target = response.target
        assert target is not None
        assert target.id == created.id
        assert target.name == request.name
        assert target.endpoint == request.endpoint
        assert target.timeout == "5s"
        assert kind_of(target) == kind
        assert interrupts(target) is (kind != "async")
        assert target.signing_key is None

    def test_name_filter_lists_the_target(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A v2beta ListTargets with an EQUALS name filter finds a target created through v2."""
        request, created = create_target("async", ActionServicePayloadType.PAYLOAD_TYPE_JWT)
        response = make_sdk().beta_actions.list_targets(
            BetaActionServiceListTargetsRequest(
                filters=[
                    BetaActionServiceTargetSearchFilter(
                        target_name_filter=BetaActionServiceTargetNameFilter(
                            target_name=request.name,
                            method=BetaActionServiceTextFilterMethod.TEXT_FILTER_METHOD_EQUALS,
                        )
                    )
                ]
            )
        )
        assert response is not None
        assert response.targets is not None
        assert [target.id for target in response.targets] == [created.id]
        assert kind_of(response.targets[0]) == "async"
        assert response.pagination is not None
        assert count(response.pagination.total_result) == 1

    def test_update_and_rotate(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A v2beta update with expirationSigningKey "0s" changes the fields and returns a new key."""
        _, created = create_target("call")
        client = make_sdk()
        new_name = unique_name("beta-upd")
        response = client.beta_actions.update_target(
            BetaActionServiceUpdateTargetRequest(id=created.id, name=new_name, expiration_signing_key="0s")
        )
        assert response is not None
        assert response.signing_key is not None
        assert SIGNING_KEY.match(response.signing_key)
        assert response.signing_key != created.signing_key
        got = client.beta_actions.get_target(BetaActionServiceGetTargetRequest(id=created.id))
        assert got is not None
        assert got.target is not None
        assert got.target.name == new_name

    def test_delete_then_get_is_not_found(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A target deleted through v2beta answers 404 on a v2beta GetTarget."""
        _, created = create_target()
        client = make_sdk()
        deleted = client.beta_actions.delete_target(BetaActionServiceDeleteTargetRequest(id=created.id))
        assert deleted is not None
        assert_recent(deleted.deletion_date)
        with pytest.raises(ApiError) as raised:
            client.beta_actions.get_target(BetaActionServiceGetTargetRequest(id=created.id))
        assert_api_error(raised.value, 404, "not_found", "Errors.Target.NotFound")

    def test_duplicate_name_is_already_exists(self, make_sdk: MakeSdk, create_target: CreateTarget) -> None:
        """A v2beta create with a name taken through v2 answers 409 already_exists."""
        request, _ = create_target()
        with pytest.raises(ApiError) as raised:
            make_sdk().beta_actions.create_target(
                BetaActionServiceCreateTargetRequest(
                    name=request.name, endpoint="https://hooks.example.com/b", timeout="5s", **beta_kind("webhook")
                )
            )
        assert_api_error(raised.value, 409, "already_exists", "Errors.Target.AlreadyExists")


class TestSecrets:
    """Tokens and signing keys stay out of the server log and out of the database in the clear."""

    def test_log_contains_neither_token_nor_signing_keys(
        self, server: Server, make_sdk: MakeSdk, create_target: CreateTarget
    ) -> None:
        """After creating and rotating, the server log holds neither the admin token nor any signing key."""
        _, created = create_target()
        rotated = make_sdk().actions.update_target(
            ActionServiceUpdateTargetRequest(id=created.id, expiration_signing_key="0s")
        )
        assert rotated is not None
        assert created.signing_key is not None
        assert rotated.signing_key is not None
        log = server.log_text()
        assert "CreateTarget" in log  # the requests were logged at all
        assert server.admin_token not in log
        assert created.signing_key not in log
        assert rotated.signing_key not in log

    def test_signing_key_is_not_stored_in_the_clear(self, server: Server, create_target: CreateTarget) -> None:
        """The database holds the signing key only encrypted."""
        _, created = create_target()
        assert created.signing_key is not None
        assert created.signing_key not in server.database.dump(server.data_dir)

    def test_admin_token_is_stored_hashed(self, server: Server) -> None:
        """The database holds no plaintext copy of the admin token."""
        dump = server.database.dump(server.data_dir)
        assert "default" in dump  # the dump does hold the default instance's rows
        assert server.admin_token not in dump

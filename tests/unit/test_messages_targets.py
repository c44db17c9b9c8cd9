"""Target messages of ActionService v2 and v2beta: decoding requests and encoding responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callout.api.messages.targets import (
    V2,
    V2BETA,
    ApiVersion,
    decode_create,
    decode_id,
    decode_list,
    decode_update,
    encode_created,
    encode_deleted,
    encode_list,
    encode_target,
    encode_updated,
)
from callout.api.protojson import Fields
from callout.domain.queries import Page, Pagination, TargetSortField, TextFilter, TextFilterMethod
from callout.domain.targets import PayloadType, Target, TargetType
from callout.errors import InvalidArgument

NOW = datetime(2024, 5, 6, 7, 8, 9, 500_000, tzinfo=UTC)
CREATE: dict[str, Any] = {
    "name": "hook",
    "restWebhook": {"interruptOnError": True},
    "timeout": "10s",
    "endpoint": "https://example.com/hook",
    "payloadType": "PAYLOAD_TYPE_JWT",
}


def _target(**overrides: Any) -> Target:
    values: dict[str, Any] = {
        "id": "42",
        "instance_id": "i",
        "name": "hook",
        "target_type": TargetType.CALL,
        "interrupt_on_error": False,
        "timeout": timedelta(seconds=10),
        "endpoint": "https://example.com/hook",
        "payload_type": PayloadType.UNSPECIFIED,
        "creation_date": NOW,
        "change_date": NOW,
    }
    return Target(**{**values, **overrides})


def _create(version: ApiVersion = V2, **overrides: Any) -> Any:
    body = {**CREATE, **overrides}
    return decode_create(Fields({key: value for key, value in body.items() if value is not None}), version)


class TestDecodeCreate:
    def test_v2_fields_are_read(self) -> None:
        """A v2 CreateTargetRequest is read into a spec with every field."""
        spec = _create()
        assert (
            spec.name,
            spec.target_type,
            spec.interrupt_on_error,
            spec.timeout,
            spec.endpoint,
            spec.payload_type,
        ) == (
            "hook",
            TargetType.WEBHOOK,
            True,
            timedelta(seconds=10),
            "https://example.com/hook",
            PayloadType.JWT,
        )

    def test_snake_case_keys_are_accepted(self) -> None:
        """snake_case keys are read like their camelCase forms."""
        request = {"name": "h", "rest_call": {"interrupt_on_error": True}, "timeout": "1s", "endpoint": "https://e.x"}
        spec = decode_create(Fields(request), V2)
        assert (spec.target_type, spec.interrupt_on_error) == (TargetType.CALL, True)

    def test_unknown_keys_are_ignored(self) -> None:
        """Unknown input keys do not cause an error."""
        assert _create(somethingNew={"x": 1}).name == "hook"

    def test_missing_payload_type_is_unspecified(self) -> None:
        """Without payloadType the spec's payload type is UNSPECIFIED."""
        assert _create(payloadType=None).payload_type is PayloadType.UNSPECIFIED

    def test_v2beta_ignores_payload_type(self) -> None:
        """v2beta has no payloadType, so a given one is ignored."""
        assert _create(V2BETA).payload_type is PayloadType.UNSPECIFIED

    def test_v2beta_ignores_invalid_payload_type(self) -> None:
        """On v2beta even an unknown payloadType value is ignored as an unknown key."""
        assert _create(V2BETA, payloadType="PAYLOAD_TYPE_XML").payload_type is PayloadType.UNSPECIFIED

    def test_v2_rejects_unknown_payload_type(self) -> None:
        """On v2 an unknown payloadType is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            _create(payloadType="PAYLOAD_TYPE_XML")

    def test_rest_async_ignores_interrupt_on_error(self) -> None:
        """restAsync{interruptOnError:true} decodes with interruptOnError off."""
        spec = _create(restWebhook=None, restAsync={"interruptOnError": True})
        assert (spec.target_type, spec.interrupt_on_error) == (TargetType.ASYNC, False)

    def test_rest_async_ignores_malformed_interrupt_on_error(self) -> None:
        """restAsync does not even read interruptOnError, so a wrong type is not an error."""
        assert _create(restWebhook=None, restAsync={"interruptOnError": "yes"}).interrupt_on_error is False

    def test_webhook_without_interrupt_is_false(self) -> None:
        """An empty restWebhook decodes with interruptOnError off."""
        assert _create(restWebhook={}).interrupt_on_error is False

    def test_missing_target_type_is_rejected(self) -> None:
        """A request without restWebhook, restCall or restAsync is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            _create(restWebhook=None)

    def test_two_target_types_are_rejected(self) -> None:
        """A request with two target types is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            _create(restCall={})

    def test_v2_endpoint_maximum_is_2048(self) -> None:
        """On v2 an endpoint of 2049 characters is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            _create(endpoint="https://example.com/" + "a" * 2029)

    def test_v2beta_endpoint_maximum_is_1000(self) -> None:
        """On v2beta an endpoint of 1001 characters is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            _create(V2BETA, endpoint="https://example.com/" + "a" * 981)

    def test_v2beta_accepts_1000_characters(self) -> None:
        """On v2beta an endpoint of exactly 1000 characters is read."""
        endpoint = "https://example.com/" + "a" * 980
        assert _create(V2BETA, endpoint=endpoint).endpoint == endpoint

    def test_missing_timeout_is_none(self) -> None:
        """A missing timeout is left for the NoTimeout validation rather than defaulted."""
        assert _create(timeout=None).timeout is None


class TestDecodeUpdate:
    def test_id_is_required(self) -> None:
        """An UpdateTargetRequest without id is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            decode_update(Fields({"name": "x"}), V2)

    def test_id_is_stripped(self) -> None:
        """Whitespace around the id is removed."""
        assert decode_update(Fields({"id": " 42 "}), V2)[0] == "42"

    def test_absent_fields_are_unchanged(self) -> None:
        """Fields not in the request are None (unchanged)."""
        _, changes = decode_update(Fields({"id": "42"}), V2)
        assert all(value is None for value in vars(changes).values())

    def test_given_fields_are_read(self) -> None:
        """Set fields, including expirationSigningKey, are read."""
        request = {"id": "42", "name": "n", "restCall": {"interruptOnError": True}, "expirationSigningKey": "0s"}
        _, changes = decode_update(Fields(request), V2)
        assert (changes.name, changes.target_type, changes.interrupt_on_error, changes.expiration_signing_key) == (
            "n",
            TargetType.CALL,
            True,
            timedelta(0),
        )

    def test_unspecified_payload_type_is_unchanged(self) -> None:
        """payloadType UNSPECIFIED leaves the payload type unchanged."""
        _, changes = decode_update(Fields({"id": "42", "payloadType": "PAYLOAD_TYPE_UNSPECIFIED"}), V2)
        assert changes.payload_type is None

    def test_v2beta_ignores_payload_type(self) -> None:
        """On v2beta a payloadType in an update is ignored."""
        _, changes = decode_update(Fields({"id": "42", "payloadType": "PAYLOAD_TYPE_JWE"}), V2BETA)
        assert changes.payload_type is None

    def test_rest_async_ignores_interrupt_on_error(self) -> None:
        """Switching to restAsync with interruptOnError true records it as off."""
        _, changes = decode_update(Fields({"id": "42", "restAsync": {"interruptOnError": True}}), V2)
        assert (changes.target_type, changes.interrupt_on_error) == (TargetType.ASYNC, False)

    def test_two_target_types_are_rejected(self) -> None:
        """An update with two target types is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            decode_update(Fields({"id": "42", "restAsync": {}, "restCall": {}}), V2)


class TestDecodeIdAndList:
    def test_id_is_read(self) -> None:
        """Get/Delete read the id, stripped."""
        assert decode_id(Fields({"id": "42\n"})) == "42"

    def test_missing_id_is_rejected(self) -> None:
        """Get/Delete without id are an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            decode_id(Fields({}))

    def test_empty_list_request_uses_defaults(self) -> None:
        """An empty ListTargetsRequest has default pagination, no filters and creation-date order."""
        query = decode_list(Fields({}))
        assert (query.pagination, query.sort, query.name_filters, query.id_filters) == (
            Pagination(),
            TargetSortField.UNSPECIFIED,
            (),
            (),
        )

    def test_filters_are_read(self) -> None:
        """Name and id filters are read in order."""
        request = {
            "filters": [
                {"targetNameFilter": {"targetName": "ho", "method": "TEXT_FILTER_METHOD_STARTS_WITH_IGNORE_CASE"}},
                {"inTargetIdsFilter": {"targetIds": ["1", "2"]}},
            ],
            "sortingColumn": "TARGET_FIELD_NAME_NAME",
        }
        query = decode_list(Fields(request))
        assert (query.name_filters, query.id_filters, query.sort) == (
            (TextFilter("ho", TextFilterMethod.STARTS_WITH_IGNORE_CASE),),
            (("1", "2"),),
            TargetSortField.NAME,
        )

    def test_name_filter_defaults_to_equals(self) -> None:
        """A name filter without method compares for equality."""
        query = decode_list(Fields({"filters": [{"targetNameFilter": {"targetName": "x"}}]}))
        assert query.name_filters == (TextFilter("x", TextFilterMethod.EQUALS),)

    def test_empty_filter_is_rejected(self) -> None:
        """A filter that sets none of its members is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            decode_list(Fields({"filters": [{}]}))

    def test_overlong_name_filter_is_rejected(self) -> None:
        """A targetName over 200 characters is an InvalidArgument."""
        with pytest.raises(InvalidArgument):
            decode_list(Fields({"filters": [{"targetNameFilter": {"targetName": "x" * 201}}]}))


class TestEncodeTarget:
    def test_v2_target_shape(self) -> None:
        """A v2 target is written with camelCase keys, Z timestamps, duration string and enum name."""
        body = encode_target(_target(payload_type=PayloadType.JWT, interrupt_on_error=True), V2)
        assert body == {
            "id": "42",
            "creationDate": "2024-05-06T07:08:09.500Z",
            "changeDate": "2024-05-06T07:08:09.500Z",
            "name": "hook",
            "restCall": {"interruptOnError": True},
            "timeout": "10s",
            "endpoint": "https://example.com/hook",
            "payloadType": "PAYLOAD_TYPE_JWT",
        }

    def test_unspecified_payload_type_is_omitted(self) -> None:
        """payloadType UNSPECIFIED is left out, as protojson omits defaults."""
        assert "payloadType" not in encode_target(_target(), V2)

    def test_v2beta_omits_payload_type(self) -> None:
        """v2beta never writes payloadType, even when one is set."""
        assert "payloadType" not in encode_target(_target(payload_type=PayloadType.JWE), V2BETA)

    def test_false_interrupt_is_omitted(self) -> None:
        """interruptOnError false leaves the target type message empty."""
        assert encode_target(_target(target_type=TargetType.WEBHOOK), V2)["restWebhook"] == {}

    def test_async_is_an_empty_message(self) -> None:
        """An async target is written as restAsync{}."""
        assert encode_target(_target(target_type=TargetType.ASYNC), V2)["restAsync"] == {}

    @pytest.mark.parametrize("version", [V2, V2BETA], ids=["v2", "v2beta"])
    def test_signing_key_is_never_written(self, version: ApiVersion) -> None:
        """A target message never includes a signing key."""
        assert not [key for key in encode_target(_target(), version) if "key" in key.lower()]


class TestEncodeResponses:
    def test_created_carries_the_signing_key(self) -> None:
        """CreateTargetResponse has id, creationDate and signingKey."""
        assert encode_created(_target(), "k" * 36) == {
            "id": "42",
            "creationDate": "2024-05-06T07:08:09.500Z",
            "signingKey": "k" * 36,
        }

    def test_updated_without_rotation_has_no_key(self) -> None:
        """UpdateTargetResponse without rotation has only changeDate."""
        assert encode_updated(NOW, None) == {"changeDate": "2024-05-06T07:08:09.500Z"}

    def test_updated_with_rotation_has_the_key(self) -> None:
        """UpdateTargetResponse after a rotation carries the new key."""
        assert encode_updated(NOW, "new")["signingKey"] == "new"

    def test_deleted_unknown_target_is_empty(self) -> None:
        """DeleteTargetResponse for an unknown target has no deletionDate."""
        assert encode_deleted(None) == {}

    def test_deleted_target_has_its_date(self) -> None:
        """DeleteTargetResponse carries the deletion date."""
        assert encode_deleted(NOW) == {"deletionDate": "2024-05-06T07:08:09.500Z"}


class TestEncodeList:
    def test_empty_page_omits_targets_and_total(self) -> None:
        """An empty page has no targets key and no totalResult."""
        assert encode_list(Page(items=(), total=0, applied_limit=100), V2) == {"pagination": {"appliedLimit": "100"}}

    def test_page_lists_targets_and_total(self) -> None:
        """A non-empty page lists the targets and the total as a string."""
        body = encode_list(Page(items=(_target(), _target(id="43")), total=5, applied_limit=2), V2)
        assert ([target["id"] for target in body["targets"]], body["pagination"]) == (
            ["42", "43"],
            {"totalResult": "5", "appliedLimit": "2"},
        )

    def test_list_uses_the_version(self) -> None:
        """Listed targets follow the version's shape (no payloadType on v2beta)."""
        body = encode_list(Page(items=(_target(payload_type=PayloadType.JWT),), total=1, applied_limit=100), V2BETA)
        assert "payloadType" not in body["targets"][0]

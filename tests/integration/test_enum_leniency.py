"""Enum fields read as ZITADEL reads them: protojson accepts unknown numbers, then ZITADEL's switch decides.

protojson (which ZITADEL decodes requests with) rejects unknown enum *names* and numbers beyond int32,
but accepts any other number. What an unknown number then means is the ``default`` branch of the
conversion in ZITADEL's ``internal/api/grpc/action/v2/query.go`` and ``target.go``; where that branch
fails (the filter methods, ``internal/api/grpc/filter/v2/converter.go``), callout fails too, with
InvalidArgument instead of ZITADEL's ``unknown`` (docs/differences.md). Every test runs over Connect
and REST, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.integration.target_rpc_support import Api, expect_error
from tests.jose_support import ec_pair

UNKNOWN = 99


async def target_names(owner: Api, body: dict[str, Any]) -> list[str]:
    """The names ListTargets returns for the request."""
    return [target["name"] for target in (await owner.list(body)).get("targets", [])]


async def execution_functions(owner: Api, body: dict[str, Any]) -> list[str]:
    """The function names of the executions ListExecutions returns for the request."""
    result = await owner.call("ListExecutions", body)
    assert result.ok, result.body
    return [execution["condition"]["function"]["name"] for execution in result.body.get("executions", [])]


async def bind_functions(owner: Api, *functions: str) -> None:
    """Bind one new target to each function, in the given order."""
    target_id = (await owner.create()).id
    for function in functions:
        result = await owner.call(
            "SetExecution", {"condition": {"function": {"name": function}}, "targets": [target_id]}
        )
        assert result.ok, result.body


async def add_keys(owner: Api, target_id: str, count: int) -> list[str]:
    """Add ``count`` public keys to the target; returns their ids in creation order."""
    key_ids = []
    for index in range(count):
        pem = base64.b64encode(ec_pair(key_id=f"lenient-{index}").public_pem).decode()
        result = await owner.call("AddPublicKey", {"targetId": target_id, "publicKey": pem})
        assert result.ok, result.body
        key_ids.append(str(result.body["keyId"]))
    return key_ids


class TestSortingColumns:
    async def test_unknown_target_column_number_sorts_by_creation_date(self, owner: Api) -> None:
        """ListTargets with sortingColumn 99 sorts by creation date (query.go targetFieldNameToSortingColumn)."""
        await owner.create(name="b-first")
        await owner.create(name="a-second")
        body = {"sortingColumn": UNKNOWN, "pagination": {"asc": True}}
        assert await target_names(owner, body) == ["b-first", "a-second"]

    async def test_negative_target_column_number_is_accepted(self, owner: Api) -> None:
        """A negative int32 column is an unknown number too (query.go targetFieldNameToSortingColumn default)."""
        await owner.create(name="only")
        assert await target_names(owner, {"sortingColumn": -7}) == ["only"]

    async def test_target_column_number_beyond_int32_is_invalid(self, owner: Api) -> None:
        """protojson reads enum numbers as int32, so 2^31 is InvalidArgument."""
        result = await owner.call("ListTargets", {"sortingColumn": 2**31})
        expect_error(result, owner.transport, "invalid_argument")

    async def test_unknown_execution_column_number_sorts_by_creation_date(self, owner: Api) -> None:
        """ListExecutions with sortingColumn 99 sorts by creation date (query.go executionFieldNameToSortingColumn)."""
        await bind_functions(owner, "preuserinfo", "preaccesstoken")
        body = {"sortingColumn": UNKNOWN, "pagination": {"asc": True}}
        assert await execution_functions(owner, body) == ["preuserinfo", "preaccesstoken"]

    async def test_unknown_execution_column_name_is_invalid(self, owner: Api) -> None:
        """An unknown ExecutionFieldName name is InvalidArgument, as protojson rejects it."""
        result = await owner.call("ListExecutions", {"sortingColumn": "EXECUTION_FIELD_NAME_COLOUR"})
        expect_error(result, owner.transport, "invalid_argument")

    async def test_unknown_public_key_column_number_sorts_by_creation_date(self, owner: Api) -> None:
        """ListPublicKeys with sortingColumn 99 lists by creation date (query.go ListPublicKeys ignores the column)."""
        target_id = (await owner.create()).id
        key_ids = await add_keys(owner, target_id, 2)
        body = {"targetId": target_id, "sortingColumn": UNKNOWN, "pagination": {"asc": True}}
        result = await owner.call("ListPublicKeys", body)
        assert result.ok, result.body
        assert [key["keyId"] for key in result.body["publicKeys"]] == key_ids

    async def test_unknown_public_key_column_name_is_invalid(self, owner: Api) -> None:
        """An unknown PublicKeyFieldName name is InvalidArgument, as protojson rejects it."""
        target_id = (await owner.create()).id
        body = {"targetId": target_id, "sortingColumn": "PUBLIC_KEY_FIELD_NAME_COLOUR"}
        expect_error(await owner.call("ListPublicKeys", body), owner.transport, "invalid_argument")


class TestOtherEnums:
    async def test_unknown_payload_type_number_creates_an_unspecified_target(self, owner: Api) -> None:
        """CreateTarget with payloadType 99 stores UNSPECIFIED (target.go payloadTypeToDomain default)."""
        created = await owner.create(payloadType=UNKNOWN)
        assert "payloadType" not in await owner.get(created.id)

    async def test_unknown_payload_type_number_leaves_an_update_unchanged(self, owner: Api) -> None:
        """UpdateTarget with payloadType 99 keeps the payload type (target.go payloadTypeToDomain default)."""
        created = await owner.create(payloadType="PAYLOAD_TYPE_JWT")
        result = await owner.call("UpdateTarget", {"id": created.id, "payloadType": UNKNOWN})
        assert result.ok, result.body
        assert (await owner.get(created.id))["payloadType"] == "PAYLOAD_TYPE_JWT"

    async def test_unknown_execution_type_number_filters_nothing(self, owner: Api) -> None:
        """An executionTypeFilter of 99 matches every execution (query.go executionTypeToQuery default)."""
        await bind_functions(owner, "preuserinfo")
        body = {"filters": [{"executionTypeFilter": {"executionType": UNKNOWN}}]}
        assert await execution_functions(owner, body) == ["preuserinfo"]

    async def test_unknown_text_filter_method_number_is_invalid(self, owner: Api) -> None:
        """A text filter method of 99 fails, as ZITADEL's TextMethodPbToQuery default makes an invalid compare."""
        body = {"filters": [{"targetNameFilter": {"targetName": "a", "method": UNKNOWN}}]}
        expect_error(await owner.call("ListTargets", body), owner.transport, "invalid_argument")

    async def test_unknown_timestamp_filter_method_number_is_invalid(self, owner: Api) -> None:
        """A timestamp filter method of 99 fails, as ZITADEL's TimestampMethodPbToQuery default is invalid."""
        target_id = (await owner.create()).id
        moment = "2030-01-01T00:00:00Z"
        body = {"targetId": target_id, "filters": [{"expirationDateFilter": {"timestamp": moment, "method": UNKNOWN}}]}
        expect_error(await owner.call("ListPublicKeys", body), owner.transport, "invalid_argument")

"""rest_call answers around callout's own RPCs must fit the message they replace, as protojson demands.

ZITADEL reads a request or response target's answer into the method's message with ``protojson``
(``Message.UnmarshalJSON`` in ``internal/api/grpc/server/connect_middleware/execution_interceptor.go``),
which rejects unknown fields, duplicate fields, two members of a oneof, mistyped values and unknown
enum names; ``CallTargets`` in ``internal/execution/execution.go`` then fails the call only when the
target interrupts on error. callout reports such an answer as FailedPrecondition
``Errors.Execution.ResponseIsNotValidJSON`` (ZITADEL: ``unknown`` with protojson's text;
docs/differences.md).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.engine_support import ACTION, Engine, answer

UNREADABLE = "Errors.Execution.ResponseIsNotValidJSON"


async def intercept(engine: Engine, condition: str, rpc: str, body: Any, *, interrupt: bool = True) -> None:
    """Bind a rest_call target answering ``body`` to the request or response of an ActionService v2 RPC."""
    target = await engine.target(await engine.receivers.start(answer(200, body)), interrupt=interrupt)
    await engine.bind({condition: {"method": f"{ACTION}/{rpc}"}}, [target])


def failure(response: httpx.Response) -> tuple[int, str]:
    """The status and message id of an error answer."""
    return response.status_code, str(response.json()["details"][0]["debug"]["id"])


class TestUnknownFields:
    async def test_unknown_request_field_fails_an_interrupting_target(self, dev_engine: Engine) -> None:
        """A request answer {"id", "bogus"} fails the call, as protojson in execution_interceptor.go rejects it."""
        await intercept(dev_engine, "request", "GetTarget", {"id": "x", "bogus": 1})
        response = await dev_engine.rpc("GetTarget", {"id": "x"})
        assert failure(response) == (400, UNREADABLE)
        assert "bogus" in response.json()["message"]

    async def test_unknown_request_field_of_a_non_interrupting_target_is_ignored(self, dev_engine: Engine) -> None:
        """A non-interrupting target's unfit answer leaves the request as it was (execution.go CallTargets)."""
        real = await dev_engine.target(await dev_engine.receivers.start())
        await intercept(dev_engine, "request", "GetTarget", {"id": "other", "bogus": 1}, interrupt=False)
        response = await dev_engine.rpc("GetTarget", {"id": real})
        assert (response.status_code, response.json()["target"]["id"]) == (200, real)

    async def test_unknown_nested_response_field_fails(self, dev_engine: Engine) -> None:
        """An unknown field inside a nested message of the response fails too (execution_interceptor.go)."""
        real = await dev_engine.target(await dev_engine.receivers.start())
        await intercept(dev_engine, "response", "GetTarget", {"target": {"id": real, "colour": "red"}})
        response = await dev_engine.rpc("GetTarget", {"id": real})
        assert failure(response) == (400, UNREADABLE)
        assert "target.colour" in response.json()["message"]

    async def test_field_of_v2_only_is_unknown_in_v2beta(self, dev_engine: Engine) -> None:
        """payloadType is not a field of v2beta's CreateTargetRequest, so a v2beta answer setting it fails."""
        receiver = await dev_engine.receivers.start(answer(200, {"name": "x", "payloadType": 1}))
        beta = "/zitadel.action.v2beta.ActionService/CreateTarget"
        await dev_engine.bind({"request": {"method": beta}}, [await dev_engine.target(receiver)])
        body = {"name": "n", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url()}
        assert failure(await dev_engine.client.post(beta, json=body)) == (400, UNREADABLE)


class TestOtherStrictness:
    async def test_mistyped_known_field_fails(self, dev_engine: Engine) -> None:
        """A number where GetTargetRequest.id is a string fails, as protojson in execution_interceptor.go rejects it."""
        await intercept(dev_engine, "request", "GetTarget", {"id": 5})
        assert failure(await dev_engine.rpc("GetTarget", {"id": "x"})) == (400, UNREADABLE)

    async def test_field_given_by_both_names_fails(self, dev_engine: Engine) -> None:
        """sortingColumn and sorting_column together are a duplicate field for protojson (execution_interceptor.go)."""
        await intercept(dev_engine, "request", "ListTargets", {"sortingColumn": 1, "sorting_column": 2})
        assert failure(await dev_engine.rpc("ListTargets", {})) == (400, UNREADABLE)

    async def test_two_members_of_a_oneof_fail(self, dev_engine: Engine) -> None:
        """restCall and restWebhook together set one oneof twice, which protojson rejects (execution_interceptor.go)."""
        replacement = {"name": "n", "restCall": {}, "restWebhook": {}, "timeout": "5s", "endpoint": "https://e.test"}
        await intercept(dev_engine, "request", "CreateTarget", replacement)
        body = {"name": "n", "restWebhook": {}, "timeout": "5s", "endpoint": "https://e.test"}
        assert failure(await dev_engine.rpc("CreateTarget", body)) == (400, UNREADABLE)

    async def test_unknown_enum_name_in_an_answer_fails(self, dev_engine: Engine) -> None:
        """An unknown enum name in an answer is a protojson error, not InvalidArgument (execution_interceptor.go)."""
        await intercept(dev_engine, "request", "ListTargets", {"sortingColumn": "TARGET_FIELD_NAME_COLOUR"})
        assert failure(await dev_engine.rpc("ListTargets", {})) == (400, UNREADABLE)

    async def test_unknown_enum_number_in_an_answer_is_read(self, dev_engine: Engine) -> None:
        """protojson reads an unknown enum number, so the answer replaces the request (execution_interceptor.go)."""
        await intercept(dev_engine, "request", "ListTargets", {"sortingColumn": 99})
        assert (await dev_engine.rpc("ListTargets", {})).status_code == 200

    async def test_proto_names_and_nulls_are_read(self, dev_engine: Engine) -> None:
        """snake_case field names and null values fit, as protojson reads both (execution_interceptor.go)."""
        await intercept(dev_engine, "request", "ListTargets", {"sorting_column": 4, "pagination": None})
        assert (await dev_engine.rpc("ListTargets", {})).status_code == 200

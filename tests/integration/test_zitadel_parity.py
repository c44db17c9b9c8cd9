"""Targets written for ZITADEL behave the same against callout (issue 11 items 1-4, docs/functions.md).

Each test names the ZITADEL source the behaviour comes from. Functions run through the Dispatch API
(RunFunction), request/response executions around callout's own RPCs and through Dispatch, with
real receivers on loopback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callout.services.context import ServiceContext
from tests.conftest import MakePrincipal
from tests.delivery_receivers import Receiver, Reply
from tests.hostile_replies import raw
from tests.integration.engine_support import Engine, answer
from tests.integration.hostile_support import bind_target, dispatch, error_id, running_engine

LIST_TARGETS = "/zitadel.action.v2.ActionService/ListTargets"
LOG_CLAIM = "urn:zitadel:iam:action:function/preuserinfo:log"
FORWARD_NOPE = {"forwardedStatusCode": 403, "forwardedErrorMessage": "nope"}


@pytest.fixture
async def engine(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Engine]:
    """An IAM_OWNER's in-process callout in development mode (loopback targets allowed)."""
    async with running_engine(context, make_principal) as running:
        yield running


async def _chain(engine: Engine, name: str, replies: list[Reply]) -> list[Receiver]:
    """Bind interrupting rest_call targets answering ``replies``, in that order, to function ``name``."""
    receivers = [await engine.receivers.start(reply) for reply in replies]
    targets = [await engine.target(receiver) for receiver in receivers]
    await engine.bind({"function": {"name": name}}, targets)
    return receivers


async def _run(engine: Engine, name: str, **extra: Any) -> Any:
    """Run a function through the Dispatch API; return the HTTP response."""
    return await dispatch(engine, "RunFunction", {"name": name, "context": {"user": {"id": "u1"}}, **extra})


async def _host_method(engine: Engine) -> str:
    """A host method registered in the catalog."""
    method = "/parity.users.v1.UserService/CreateUser"
    assert (await dispatch(engine, "RegisterCatalog", {"methods": [method]})).status_code == 200
    return method


class TestLaterFunctionTargetsSeeMergedAnswers:
    """internal/api/oidc/userinfo.go: ContextInfo.Response (``response,omitempty``) is re-sent to later targets."""

    async def test_second_target_gets_the_first_answer_as_response(self, engine: Engine) -> None:
        """After f1 answers append_claims, f2's payload ends with ``"response":{...}`` in ZITADEL's field order."""
        first = {"append_log_claims": ["l"], "append_claims": [{"key": "a", "value": 1}]}
        _, second = await _chain(engine, "preuserinfo", [answer(200, first), answer(200, {})])
        assert (await _run(engine, "preuserinfo")).status_code == 200
        expected = b',"response":{"append_claims":[{"key":"a","value":1}],"append_log_claims":["l"]}}'
        assert second.hits[0].body.endswith(expected)

    async def test_first_target_gets_no_response(self, engine: Engine) -> None:
        """Before any answer, ``response`` is a nil pointer, so Go's omitempty leaves it out."""
        (first,) = await _chain(engine, "preuserinfo", [answer(200, {})])
        await _run(engine, "preuserinfo")
        assert "response" not in json.loads(first.hits[0].body)

    async def test_null_answer_makes_an_empty_response(self, engine: Engine) -> None:
        """A ``null`` answer creates the (empty) response struct and merges nothing: f2 gets ``"response":{}``."""
        _, second = await _chain(engine, "preaccesstoken", [raw(b"null"), answer(200, {})])
        response = await _run(engine, "preaccesstoken")
        assert (response.json()["result"], json.loads(second.hits[0].body)["response"]) == ({}, {})

    async def test_empty_answer_leaves_response_out(self, engine: Engine) -> None:
        """An empty body is never read (internal/execution/execution.go: ``len(resp) > 0``), so no response yet."""
        _, second = await _chain(engine, "preuserinfo", [raw(b""), answer(200, {})])
        await _run(engine, "preuserinfo")
        assert "response" not in json.loads(second.hits[0].body)


class TestEmptyAnswers:
    """internal/execution/execution.go: CallTargets reads an answer only when ``len(resp) > 0``."""

    @pytest.mark.parametrize("body", [b"", b" \r\n\t "])
    async def test_function_target_answering_nothing_adds_nothing(self, engine: Engine, body: bytes) -> None:
        """An interrupting function target answering 200 with an empty or blank body adds nothing."""
        await _chain(engine, "preuserinfo", [raw(body)])
        response = await _run(engine, "preuserinfo")
        assert (response.status_code, response.json()["result"]) == (200, {})

    @pytest.mark.parametrize("body", [b"", b"  \n"])
    async def test_own_rpc_request_target_answering_nothing_keeps_the_request(
        self, engine: Engine, body: bytes
    ) -> None:
        """A request target of ListTargets answering an empty body leaves the request as it was: the call succeeds."""
        target = await bind_target(engine, {"request": {"method": LIST_TARGETS}}, raw(body))
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, [item["id"] for item in response.json()["targets"]]) == (200, [target])

    @pytest.mark.parametrize("body", [b"", b"  \n"])
    async def test_own_rpc_response_target_answering_nothing_keeps_the_response(
        self, engine: Engine, body: bytes
    ) -> None:
        """A response target of ListTargets answering an empty body leaves the response as the handler made it."""
        target = await bind_target(engine, {"response": {"method": LIST_TARGETS}}, raw(body))
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, [item["id"] for item in response.json()["targets"]]) == (200, [target])

    async def test_dispatched_request_target_answering_nothing_keeps_the_request(self, engine: Engine) -> None:
        """RunRequestExecution returns the request unchanged when the target answers 200 with no body."""
        method = await _host_method(engine)
        await bind_target(engine, {"request": {"method": method}}, raw(b""))
        response = await dispatch(engine, "RunRequestExecution", {"method": method, "request": {"name": "a"}})
        assert (response.status_code, response.json()) == (200, {"request": {"name": "a"}})

    async def test_dispatched_response_target_answering_nothing_keeps_the_response(self, engine: Engine) -> None:
        """RunResponseExecution returns the response unchanged when the target answers 200 with no body."""
        method = await _host_method(engine)
        await bind_target(engine, {"response": {"method": method}}, raw(b""))
        body = {"method": method, "request": {"name": "a"}, "response": {"id": "1"}}
        response = await dispatch(engine, "RunResponseExecution", body)
        assert (response.status_code, response.json()) == (200, {"response": {"id": "1"}})


class TestForwardedErrors:
    """internal/execution/execution.go: HandleResponse makes ``forwardedErrorMessage`` the error's message."""

    async def test_connect_message_is_the_targets_text(self, engine: Engine) -> None:
        """Over Connect, a forwarded 403 answers permission_denied with message ``nope``."""
        await bind_target(engine, {"request": {"method": LIST_TARGETS}}, answer(200, FORWARD_NOPE))
        response = await engine.rpc("ListTargets", {})
        body = response.json()
        assert (response.status_code, body["code"], body["message"]) == (403, "permission_denied", "nope")

    async def test_stable_id_stays_in_the_details(self, engine: Engine) -> None:
        """The id ``Errors.Execution.Forwarded`` and the text stay in the error details."""
        await bind_target(engine, {"request": {"method": LIST_TARGETS}}, answer(200, FORWARD_NOPE))
        response = await engine.rpc("ListTargets", {})
        debug = response.json()["details"][0]["debug"]
        assert (debug["id"], debug["message"]) == ("Errors.Execution.Forwarded", "nope")

    async def test_rest_message_is_the_targets_text(self, engine: Engine) -> None:
        """Over REST, the google.rpc.Status message is ``nope`` and the code 7 (PermissionDenied)."""
        await bind_target(engine, {"request": {"method": LIST_TARGETS}}, answer(200, FORWARD_NOPE))
        response = await engine.client.post("/v2/actions/targets/search", json={})
        assert (response.status_code, response.json()["code"], response.json()["message"]) == (403, 7, "nope")

    async def test_function_error_message_is_the_targets_text(self, engine: Engine) -> None:
        """RunFunction fails with the target's message, also for a status outside 4xx (FailedPrecondition)."""
        await _chain(engine, "preuserinfo", [answer(200, {"forwardedStatusCode": 500, "forwardedErrorMessage": "x"})])
        response = await _run(engine, "preuserinfo")
        assert (response.status_code, response.json()["message"], error_id(response)) == (
            400,
            "x",
            "Errors.Execution.Forwarded",
        )


class TestAppliedClaims:
    """internal/api/oidc/userinfo.go: applyContextInfoResponse and appendOrLogClaim."""

    async def test_reserved_and_existing_claims_are_not_overwritten(self, engine: Engine) -> None:
        """Reserved claims are skipped silently; an existing claim is kept and its conflict logged."""
        claims = [
            {"key": "urn:zitadel:iam:org:id", "value": "x"},
            {"key": "email", "value": "evil@example.com"},
            {"key": "team", "value": "blue"},
        ]
        await _chain(engine, "preuserinfo", [answer(200, {"append_claims": claims})])
        response = await _run(engine, "preuserinfo", claims={"email": "a@example.com"})
        expected = {"email": "a@example.com", "team": "blue", LOG_CLAIM: ['key "email" already exists']}
        assert response.json()["applied"]["claims"] == expected

    async def test_log_claim_lists_conflicts_then_log_lines(self, engine: Engine) -> None:
        """Conflicts come first, then ``append_log_claims``, under ``urn:zitadel:iam:action:function/<fn>:log``."""
        reply = {"append_claims": [{"key": "a", "value": 1}, {"key": "a", "value": 2}], "append_log_claims": ["hi"]}
        await _chain(engine, "preaccesstoken", [answer(200, reply)])
        applied = (await _run(engine, "preaccesstoken")).json()["applied"]
        log_claim = "urn:zitadel:iam:action:function/preaccesstoken:log"
        assert (applied["claims"], applied["logs"]) == (
            {"a": 1, log_claim: ['key "a" already exists', "hi"]},
            ['key "a" already exists', "hi"],
        )

    async def test_existing_claims_default_to_the_contexts_userinfo(self, engine: Engine) -> None:
        """Without ``claims`` in the request, the context's ``userinfo`` holds the existing claims."""
        await _chain(engine, "preuserinfo", [answer(200, {"append_claims": [{"key": "sub", "value": "other"}]})])
        body = {"name": "preuserinfo", "context": {"userinfo": {"sub": "u1"}}}
        applied = (await dispatch(engine, "RunFunction", body)).json()["applied"]
        assert applied["claims"] == {"sub": "u1", LOG_CLAIM: ['key "sub" already exists']}

    async def test_metadata_to_set_is_decoded(self, engine: Engine) -> None:
        """Metadata comes back with its base64 value and, when it is UTF-8, its text."""
        metadata = [{"key": "k", "value": "dmFsdWU="}, {"key": "bin", "value": "/w=="}]
        await _chain(engine, "preuserinfo", [answer(200, {"set_user_metadata": metadata})])
        applied = (await _run(engine, "preuserinfo")).json()["applied"]
        expected = [{"key": "k", "value": "dmFsdWU=", "text": "value"}, {"key": "bin", "value": "/w=="}]
        assert (applied["metadata"], applied["claims"]) == (expected, {})

    async def test_merged_answers_stay_in_result(self, engine: Engine) -> None:
        """``result`` keeps the raw merge, including the claims the rules skip, for hosts applying it themselves."""
        reply = {"append_claims": [{"key": "urn:zitadel:iam:x", "value": 1}]}
        await _chain(engine, "preuserinfo", [answer(200, reply)])
        body = (await _run(engine, "preuserinfo")).json()
        assert (body["result"], body["applied"]["claims"]) == (reply, {})

    async def test_claims_that_are_not_an_object_are_refused(self, engine: Engine) -> None:
        """``claims`` must be a JSON object: a list is 400 invalid_argument, before any target is called."""
        (receiver,) = await _chain(engine, "preuserinfo", [answer(200, {})])
        response = await _run(engine, "preuserinfo", claims=["email"])
        assert (response.status_code, response.json()["code"], receiver.hits) == (400, "invalid_argument", [])

    async def test_custom_function_has_no_applied_result(self, engine: Engine) -> None:
        """A custom function has no ZITADEL rules: only ``result`` comes back."""
        await dispatch(engine, "RegisterCatalog", {"functions": ["parity_custom"]})
        await _chain(engine, "parity_custom", [answer(200, {"a": 1})])
        assert (await _run(engine, "parity_custom")).json() == {"result": {"a": 1}}


class TestAppliedSamlAttributes:
    """internal/api/saml/storage.go: getCustomAttributes and appendCustomAttribute."""

    async def test_attributes_to_add_with_a_later_one_replacing_a_same_named_one(self, engine: Engine) -> None:
        """A later attribute of the same name replaces the earlier one; names keep their first place."""
        attributes = [
            {"name": "role", "name_format": "basic", "value": ["a"]},
            {"name": "team", "name_format": "uri", "value": ["t"]},
            {"name": "role", "name_format": "basic", "value": ["b", "c"]},
        ]
        await _chain(engine, "presamlresponse", [answer(200, {"append_attribute": attributes})])
        applied = (await _run(engine, "presamlresponse")).json()["applied"]
        assert applied == {
            "attributes": [
                {"name": "role", "nameFormat": "basic", "value": ["b", "c"]},
                {"name": "team", "nameFormat": "uri", "value": ["t"]},
            ],
            "metadata": [],
        }

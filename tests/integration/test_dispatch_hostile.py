"""The Dispatch API with real loopback targets: function answers in ZITADEL's shape, hostile answers cleanly.

RunFunction returns the merged answers of a function's rest_call targets as ZITADEL writes them
(metadata values as base64 text); malformed answers are a target failure (400 ResponseInvalid or
ResponseIsNotValidJSON when interrupting, no change otherwise). RunRequestExecution and
RunResponseExecution treat unreadable answers the same way (docs/target-answers.md).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callout.delivery.sender import DEFAULT_MAX_RESPONSE_BYTES
from callout.services.context import ServiceContext
from tests.conftest import MakePrincipal
from tests.delivery_receivers import Reply
from tests.hostile_replies import HOSTILE, raw, reset_mid_answer, trickle
from tests.integration.engine_support import Engine, answer
from tests.integration.hostile_support import bind_target, dispatch, error_id, running_engine

UNREADABLE = "Errors.Execution.ResponseIsNotValidJSON"
INVALID = "Errors.Execution.ResponseInvalid"
USERINFO_ANSWER = {
    "set_user_metadata": [{"key": "k", "value": "dg=="}, {"key": "empty", "value": ""}],
    "append_claims": [{"key": "c", "value": {"nested": [1, "two", None]}}, {"key": "n", "value": 3}],
    "append_log_claims": ["first line", "second line"],
}
SAML_ANSWER = {
    "set_user_metadata": [{"key": "k", "value": "dmFsdWU="}],
    "append_attribute": [{"name": "role", "name_format": "urn:oasis:basic", "value": ["a", "b"]}],
}
MALFORMED_USERINFO = {
    "bad base64": {"set_user_metadata": [{"key": "k", "value": "not base64!"}]},
    "unpadded base64": {"set_user_metadata": [{"key": "k", "value": "dg"}]},
    "non-ascii base64": {"set_user_metadata": [{"key": "k", "value": "dé=="}]},
    "number as metadata value": {"set_user_metadata": [{"key": "k", "value": 7}]},
    "number as metadata key": {"set_user_metadata": [{"key": 1, "value": "dg=="}]},
    "metadata not a list": {"set_user_metadata": {"key": "k", "value": "dg=="}},
    "claim not an object": {"append_claims": ["c"]},
    "number as claim key": {"append_claims": [{"key": 1, "value": "v"}]},
    "claims not a list": {"append_claims": {"c": "v"}},
    "log line not a string": {"append_log_claims": [1]},
    "answer not an object": ["append_claims"],
}
MALFORMED_SAML = {
    "attribute value not a list": {"append_attribute": [{"name": "n", "name_format": "f", "value": "v"}]},
    "attribute value of numbers": {"append_attribute": [{"name": "n", "name_format": "f", "value": [1]}]},
    "number as attribute name": {"append_attribute": [{"name": 1, "name_format": "f", "value": []}]},
    "number as name format": {"append_attribute": [{"name": "n", "name_format": 1, "value": []}]},
    "bad base64": {"set_user_metadata": [{"key": "k", "value": "***"}]},
}
TRANSFER_FAILURES = {
    "too large": (raw(b" " * (DEFAULT_MAX_RESPONSE_BYTES + 1)), 400, "Errors.Execution.Failed"),
    "reset": (reset_mid_answer(), 400, "Errors.Execution.Failed"),
    "trickle": (trickle(), 504, "Errors.Execution.Timeout"),
}


@pytest.fixture
async def engine(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Engine]:
    """An IAM_OWNER's in-process callout in development mode (loopback targets allowed)."""
    async with running_engine(context, make_principal) as running:
        yield running


async def _function(engine: Engine, name: str, reply: Reply, *, interrupt: bool = True) -> Any:
    """Bind one target answering ``reply`` to a function and run it; return the HTTP response."""
    await bind_target(engine, {"function": {"name": name}}, reply, interrupt=interrupt)
    return await dispatch(engine, "RunFunction", {"name": name, "context": {"user": {"id": "u1"}}})


async def _host_method(engine: Engine) -> str:
    """A method of a host service of this test only, registered in the catalog."""
    method = f"/test{secrets.token_hex(4)}.users.v1.UserService/CreateUser"
    registered = await dispatch(engine, "RegisterCatalog", {"methods": [method]})
    assert registered.status_code == 200, registered.text
    return method


async def _run_execution(engine: Engine, condition: str, reply: Reply, *, interrupt: bool = True) -> Any:
    """Bind one target answering ``reply`` to a host method's execution and run it through Dispatch."""
    method = await _host_method(engine)
    await bind_target(engine, {condition: {"method": method}}, reply, interrupt=interrupt, target_timeout="1s")
    rpc = "RunRequestExecution" if condition == "request" else "RunResponseExecution"
    return await dispatch(engine, rpc, {"method": method, "request": {"name": "a"}, "response": {"id": "1"}})


class TestFunctionAnswers:
    @pytest.mark.parametrize("name", ["preuserinfo", "preaccesstoken"])
    async def test_every_userinfo_field_comes_back_in_zitadels_shape(self, engine: Engine, name: str) -> None:
        """Metadata (base64 text), claims of any JSON value and log lines come back as the target wrote them."""
        response = await _function(engine, name, answer(200, USERINFO_ANSWER))
        assert (response.status_code, response.json()["result"]) == (200, USERINFO_ANSWER)

    async def test_every_saml_field_comes_back_in_zitadels_shape(self, engine: Engine) -> None:
        """presamlresponse returns metadata and attributes; the claims it does not know are left out."""
        response = await _function(engine, "presamlresponse", answer(200, {**SAML_ANSWER, "append_claims": []}))
        assert (response.status_code, response.json()["result"]) == (200, SAML_ANSWER)

    async def test_metadata_base64_comes_back_canonical(self, engine: Engine) -> None:
        """Base64 with line breaks (which Go's decoder skips) comes back in canonical form."""
        reply = answer(200, {"set_user_metadata": [{"key": "k", "value": "dmFs\r\ndWU="}]})
        response = await _function(engine, "preuserinfo", reply)
        assert response.json()["result"] == {"set_user_metadata": [{"key": "k", "value": "dmFsdWU="}]}

    async def test_ten_thousand_claims_come_back(self, engine: Engine) -> None:
        """A list of 10,000 claims is merged and returned whole."""
        claims = [{"key": f"c{index}", "value": index} for index in range(10_000)]
        response = await _function(engine, "preaccesstoken", answer(200, {"append_claims": claims}))
        assert (response.status_code, response.json()["result"]["append_claims"]) == (200, claims)

    async def test_empty_body_is_no_answer(self, engine: Engine) -> None:
        """A target answering 200 with no body adds nothing."""
        response = await _function(engine, "preuserinfo", raw(b""))
        assert (response.status_code, response.json()["result"]) == (200, {})

    @pytest.mark.parametrize("body", list(MALFORMED_USERINFO.values()), ids=list(MALFORMED_USERINFO))
    async def test_malformed_userinfo_answer_fails_an_interrupting_target(self, engine: Engine, body: Any) -> None:
        """A malformed preuserinfo answer of an interrupting target is 400 ResponseInvalid."""
        response = await _function(engine, "preuserinfo", answer(200, body))
        assert (response.status_code, error_id(response)) == (400, INVALID)

    @pytest.mark.parametrize("body", list(MALFORMED_SAML.values()), ids=list(MALFORMED_SAML))
    async def test_malformed_saml_answer_fails_an_interrupting_target(self, engine: Engine, body: Any) -> None:
        """A malformed presamlresponse answer of an interrupting target is 400 ResponseInvalid."""
        response = await _function(engine, "presamlresponse", answer(200, body))
        assert (response.status_code, error_id(response)) == (400, INVALID)

    @pytest.mark.parametrize("body", list(MALFORMED_USERINFO.values()), ids=list(MALFORMED_USERINFO))
    async def test_malformed_answer_of_a_non_interrupting_target_adds_nothing(self, engine: Engine, body: Any) -> None:
        """A malformed answer of a non-interrupting target is skipped: the result stays empty."""
        response = await _function(engine, "preaccesstoken", answer(200, body), interrupt=False)
        assert (response.status_code, response.json()["result"]) == (200, {})

    async def test_malformed_answer_keeps_earlier_answers(self, engine: Engine) -> None:
        """A non-interrupting target answering bad base64 after a good one leaves the good answer in the result."""
        good = await engine.target(await engine.receivers.start(answer(200, {"append_log_claims": ["kept"]})))
        bad_answer = answer(200, {"append_log_claims": ["lost"], "set_user_metadata": [{"key": "k", "value": "!"}]})
        bad = await engine.target(await engine.receivers.start(bad_answer), interrupt=False)
        await engine.bind({"function": {"name": "preuserinfo"}}, [good, bad])
        response = await dispatch(engine, "RunFunction", {"name": "preuserinfo", "context": {}})
        assert response.json()["result"] == {"append_log_claims": ["kept"]}


class TestHostileFunctionTargets:
    @pytest.mark.parametrize("reply", list(HOSTILE.values()), ids=list(HOSTILE))
    async def test_unreadable_answer_fails_an_interrupting_target(self, engine: Engine, reply: Reply) -> None:
        """RunFunction with an interrupting target answering unreadable JSON is 400 ResponseIsNotValidJSON."""
        response = await _function(engine, "preuserinfo", reply)
        assert (response.status_code, error_id(response)) == (400, UNREADABLE)

    @pytest.mark.parametrize("reply", list(HOSTILE.values()), ids=list(HOSTILE))
    async def test_unreadable_answer_of_a_non_interrupting_target_adds_nothing(
        self, engine: Engine, reply: Reply
    ) -> None:
        """RunFunction with a non-interrupting target answering unreadable JSON returns an empty result."""
        response = await _function(engine, "presamlresponse", reply, interrupt=False)
        assert (response.status_code, response.json()["result"]) == (200, {})


class TestHostileExecutionTargets:
    @pytest.mark.parametrize("reply", list(HOSTILE.values()), ids=list(HOSTILE))
    @pytest.mark.parametrize("condition", ["request", "response"])
    async def test_unreadable_answer_fails_an_interrupting_target(
        self, engine: Engine, condition: str, reply: Reply
    ) -> None:
        """Run*Execution with an interrupting target answering unreadable JSON is 400 ResponseIsNotValidJSON."""
        response = await _run_execution(engine, condition, reply)
        assert (response.status_code, error_id(response)) == (400, UNREADABLE)

    @pytest.mark.parametrize("reply", list(HOSTILE.values()), ids=list(HOSTILE))
    async def test_unreadable_answer_leaves_the_request_unchanged(self, engine: Engine, reply: Reply) -> None:
        """RunRequestExecution with a non-interrupting target answering unreadable JSON returns the request as sent."""
        response = await _run_execution(engine, "request", reply, interrupt=False)
        assert (response.status_code, response.json()) == (200, {"request": {"name": "a"}})

    @pytest.mark.parametrize("reply", list(HOSTILE.values()), ids=list(HOSTILE))
    async def test_unreadable_answer_leaves_the_response_unchanged(self, engine: Engine, reply: Reply) -> None:
        """RunResponseExecution with a non-interrupting target answering unreadable JSON returns the response."""
        response = await _run_execution(engine, "response", reply, interrupt=False)
        assert (response.status_code, response.json()) == (200, {"response": {"id": "1"}})

    @pytest.mark.parametrize("failure", list(TRANSFER_FAILURES.values()), ids=list(TRANSFER_FAILURES))
    async def test_failed_transfer_fails_an_interrupting_target(self, engine: Engine, failure: Any) -> None:
        """Too large, reset and trickled answers fail RunRequestExecution with their clean error (1 s timeout)."""
        reply, status, message_id = failure
        response = await _run_execution(engine, "request", reply)
        assert (response.status_code, error_id(response)) == (status, message_id)

    @pytest.mark.parametrize("failure", list(TRANSFER_FAILURES.values()), ids=list(TRANSFER_FAILURES))
    async def test_failed_transfer_leaves_the_response_unchanged(self, engine: Engine, failure: Any) -> None:
        """Too large, reset and trickled answers of a non-interrupting target leave the response as sent."""
        response = await _run_execution(engine, "response", failure[0], interrupt=False)
        assert (response.status_code, response.json()) == (200, {"response": {"id": "1"}})

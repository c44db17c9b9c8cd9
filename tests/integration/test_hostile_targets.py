"""Hostile target answers around callout's own RPCs: a target failure, never a 5xx from callout.

Real aiohttp receivers on 127.0.0.1 answer with deeply nested JSON, huge JSON, invalid UTF-8, text
under a JSON content type, a body trickled past the timeout and a reset connection. An interrupting
target fails the call with a clean Errors.Execution.* error; a non-interrupting one leaves the call
unchanged and logs one line (docs/target-answers.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from callout.delivery.sender import DEFAULT_MAX_RESPONSE_BYTES, OutboundRequest, ResponseTooLarge
from callout.services.context import ServiceContext
from callout.services.runtime import open_context
from callout.settings import Settings
from tests.conftest import MakePrincipal
from tests.delivery_receivers import ReceiverFactory, Reply
from tests.hostile_replies import HOSTILE, raw, reset_mid_answer, trickle
from tests.integration.engine_support import Engine
from tests.integration.hostile_support import bind_target, error_id, running_engine

UNREADABLE = "Errors.Execution.ResponseIsNotValidJSON"


@pytest.fixture
async def engine(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Engine]:
    """An IAM_OWNER's in-process callout in development mode (loopback targets allowed)."""
    async with running_engine(context, make_principal) as running:
        yield running


async def _bind_all(
    engine: Engine, condition: str, reply: Reply, *, interrupt: bool, target_timeout: str = "5s"
) -> str:
    """Bind one rest_call target answering ``reply`` to ``<condition>/all``; return its id."""
    return await bind_target(
        engine, {condition: {"all": True}}, reply, interrupt=interrupt, target_timeout=target_timeout
    )


def _failures(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in logs if line["event"] == "target.failed"]


HOSTILE_REPLIES = pytest.mark.parametrize("reply", list(HOSTILE.values()), ids=list(HOSTILE))
CONDITIONS = pytest.mark.parametrize("condition", ["request", "response"])


class TestInterruptingTarget:
    @HOSTILE_REPLIES
    @CONDITIONS
    async def test_unreadable_answer_fails_the_call_cleanly(self, engine: Engine, condition: str, reply: Reply) -> None:
        """An interrupting target on all answering unreadable JSON fails ListTargets with 400 ResponseIsNotValidJSON."""
        await _bind_all(engine, condition, reply, interrupt=True)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, error_id(response)) == (400, UNREADABLE)

    @CONDITIONS
    async def test_answer_over_the_size_limit_fails_the_call(self, engine: Engine, condition: str) -> None:
        """An answer larger than the read limit fails the call with 400 Errors.Execution.Failed."""
        await _bind_all(engine, condition, raw(b" " * (DEFAULT_MAX_RESPONSE_BYTES + 1)), interrupt=True)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, error_id(response)) == (400, "Errors.Execution.Failed")

    @CONDITIONS
    async def test_reset_mid_answer_fails_the_call(self, engine: Engine, condition: str) -> None:
        """A connection reset halfway through the answer fails the call with 400 Errors.Execution.Failed."""
        await _bind_all(engine, condition, reset_mid_answer(), interrupt=True)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, error_id(response)) == (400, "Errors.Execution.Failed")

    async def test_trickled_answer_ends_at_the_targets_timeout(self, engine: Engine) -> None:
        """A body trickled for a minute ends the call at the target's 1 s timeout with Errors.Execution.Timeout."""
        await _bind_all(engine, "request", trickle(), interrupt=True, target_timeout="1s")
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, error_id(response)) == (504, "Errors.Execution.Timeout")

    async def test_jwe_target_without_a_public_key_fails_the_call_with_400(self, engine: Engine) -> None:
        """An interrupting JWE target with no public key fails the call with 400 MissingEncryptionKey, not 500."""
        receiver = await engine.receivers.start()
        target = await engine.target(receiver, interrupt=True, payloadType="PAYLOAD_TYPE_JWE")
        await engine.bind({"request": {"all": True}}, [target])
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, error_id(response)) == (400, "Errors.Execution.MissingEncryptionKey")


class TestNonInterruptingTarget:
    @HOSTILE_REPLIES
    @CONDITIONS
    async def test_unreadable_answer_leaves_the_call_unchanged(
        self, engine: Engine, condition: str, reply: Reply
    ) -> None:
        """A non-interrupting target on all answering unreadable JSON leaves ListTargets' answer as it was."""
        target = await _bind_all(engine, condition, reply, interrupt=False)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, [found["id"] for found in response.json()["targets"]]) == (200, [target])

    @HOSTILE_REPLIES
    async def test_unreadable_answer_logs_one_line(self, engine: Engine, reply: Reply) -> None:
        """Each failing call of a non-interrupting target writes one warning line without a traceback."""
        target = await _bind_all(engine, "request", reply, interrupt=False)
        with structlog.testing.capture_logs() as logs:
            await engine.rpc("ListTargets", {})
        assert [(line["target"], line["error"], "exc_info" in line) for line in _failures(logs)] == [
            (target, UNREADABLE, False)
        ]

    async def test_target_on_all_can_still_be_unbound(self, engine: Engine) -> None:
        """With a target on request/all answering 100,000 levels, SetExecution still removes the execution."""
        await _bind_all(engine, "request", HOSTILE["deep-100000"], interrupt=False)
        removed = await engine.rpc("SetExecution", {"condition": {"request": {"all": True}}, "targets": []})
        listed = await engine.rpc("ListExecutions", {})
        assert (removed.status_code, listed.json().get("executions", [])) == (200, [])

    @CONDITIONS
    async def test_failed_transfers_leave_the_call_unchanged(self, engine: Engine, condition: str) -> None:
        """Over-large, reset and trickled answers of non-interrupting targets all leave ListTargets unchanged."""
        ids = []
        for reply in (raw(b" " * (DEFAULT_MAX_RESPONSE_BYTES + 1)), reset_mid_answer(), trickle()):
            ids.append(await engine.target(await engine.receivers.start(reply), interrupt=False, timeout="1s"))
        await engine.bind({condition: {"all": True}}, ids)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, len(response.json()["targets"])) == (200, 3)


class TestOddStrings:
    async def test_lone_surrogate_reaches_the_client_as_replacement_character(self, engine: Engine) -> None:
        """A response target answering a lone surrogate escape gives the client U+FFFD, not a 500."""
        await _bind_all(engine, "response", raw(b'{"targets":[{"name":"\\ud800"}]}'), interrupt=True)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, response.json()) == (200, {"targets": [{"name": "\ufffd"}]})

    async def test_forwarded_message_with_a_lone_surrogate_is_rendered(self, engine: Engine) -> None:
        """A forwarded error whose message holds a lone surrogate escape reaches the client as 403 with U+FFFD."""
        body = b'{"forwardedStatusCode":403,"forwardedErrorMessage":"no \\ud800 way"}'
        await _bind_all(engine, "request", raw(body), interrupt=True)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, response.json()["message"]) == (403, "no \ufffd way")


class TestLargeAnswers:
    async def test_several_megabytes_of_json_replace_the_request(self, engine: Engine) -> None:
        """A valid 5 MB ListTargetsResponse (below the limit) is a usable rest_call answer."""
        names = [f"t{index:07d}-" + "v" * 40 for index in range(5 * 1024 * 1024 // 60)]
        body = json.dumps({"targets": [{"name": name} for name in names]}).encode()
        await _bind_all(engine, "response", raw(body), interrupt=True)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, len(response.json()["targets"])) == (200, len(names))

    async def test_one_hundred_levels_are_still_read(self, engine: Engine) -> None:
        """An answer nesting exactly 100 levels is read: it fails only for not fitting the response message."""
        body = b'{"details":' + b"[" * 99 + b"]" * 99 + b"}"
        await _bind_all(engine, "response", raw(body), interrupt=True)
        response = await engine.rpc("ListTargets", {})
        assert (response.status_code, error_id(response)) == (400, UNREADABLE)
        assert "does not fit" in response.json()["message"]


class TestAnswerLimitSetting:
    async def test_configured_limit_applies_to_answers(self, database_url: str, tmp_path: Path) -> None:
        """With CALLOUT_MAX_ANSWER_BYTES=2048 a process's sender refuses a 4 KiB answer as too large."""
        settings = Settings(data_dir=tmp_path, database_url=database_url, dev=True, max_answer_bytes=2048)
        context = await open_context(settings, create=True)
        try:
            async with ReceiverFactory() as receivers:
                receiver = await receivers.start(raw(b" " * 4096))
                with pytest.raises(ResponseTooLarge):
                    await context.sender.send(OutboundRequest(receiver.url(), b"{}", {}, 5.0))
        finally:
            await context.close()

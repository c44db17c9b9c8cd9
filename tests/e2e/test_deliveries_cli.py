"""``callout deliveries list|show|redeliver`` as real processes against the data of a running ``--dev`` server.

One server (SQLite, development mode so that loopback targets are allowed, with its delivery worker).
Each test gets its own instance whose events go to its own ``RecordingReceiver`` answering 400, so the
deliveries fail; the CLI commands run as separate processes on the server's data directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from callout.testing import RecordingReceiver
from tests.e2e.conftest import Server, StartServer, post_ok

pytestmark = pytest.mark.e2e

ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"
DELIVERY = "/callout.v1.DeliveryService"
WAIT_SECONDS = 20.0


@dataclass
class Scenario:
    """An instance with failed (and optionally succeeded) deliveries to its receiver."""

    server: Server
    instance_id: str
    token: str
    receiver: RecordingReceiver
    failed_ids: list[str]

    def deliveries(self, *states: str) -> list[dict[str, object]]:
        """ListDeliveries over HTTP, optionally only in the given states (DELIVERY_STATE_*)."""
        with self.server.http(self.token) as client:
            response = client.post(f"{DELIVERY}/ListDeliveries", json={"states": list(states)})
        assert response.status_code == 200, response.text
        return list(response.json().get("deliveries", []))

    def wait_for(self, count: int, state: str) -> list[dict[str, object]]:
        """Poll until ``count`` deliveries are in ``state``; return them."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = self.deliveries(state)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        pytest.fail(f"not {count} deliveries in {state} after {WAIT_SECONDS}s: {self.deliveries()}")

    def cli(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        """Run ``callout deliveries <args> --instance <id>`` as a process; (exit code, stdout, stderr)."""
        result = self.server.cli("deliveries", *args, "--instance", self.instance_id, check=check)
        return result.returncode, result.stdout, result.stderr


MakeScenario = Callable[..., Scenario]


@pytest.fixture(scope="module")
def dev_server(start_server: StartServer) -> Server:
    """One ``callout serve --dev`` on SQLite for the module (each test uses its own instance)."""
    return start_server("sqlite", extra_args=("--dev",))


@pytest.fixture
def make_scenario(dev_server: Server) -> Iterator[MakeScenario]:
    """Factory: a new instance whose ``failed`` pushed events failed, then ``succeeded`` more that succeeded."""
    receivers: list[RecordingReceiver] = []

    def make(failed: int = 2, succeeded: int = 0) -> Scenario:
        receiver = RecordingReceiver().__enter__()
        receivers.append(receiver)
        instance_id = dev_server.create_instance()
        token, _ = dev_server.create_token(instance_id)
        scenario = Scenario(dev_server, instance_id, token, receiver, [])
        target = {"name": "hook", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url}
        event = {"aggregateType": "order", "aggregateId": "o-1", "eventType": "order.paid", "payload": {"n": 1}}
        with dev_server.http(token) as client:
            target_id = post_ok(client, f"{ACTION}/CreateTarget", target)["id"]
            post_ok(client, f"{DISPATCH}/RegisterCatalog", {"events": ["order.paid"]})
            bind = {"condition": {"event": {"event": "order.paid"}}, "targets": [target_id]}
            post_ok(client, f"{ACTION}/SetExecution", bind)
            receiver.respond(status=400, json={"problem": "rejected"})
            post_ok(client, f"{DISPATCH}/PushEvents", {"events": [event] * failed})
            scenario.failed_ids = [str(d["id"]) for d in scenario.wait_for(failed, "DELIVERY_STATE_FAILED")]
            if succeeded:
                receiver.respond(status=200)
                post_ok(client, f"{DISPATCH}/PushEvents", {"events": [event] * succeeded})
                scenario.wait_for(succeeded, "DELIVERY_STATE_SUCCEEDED")
        return scenario

    yield make
    for receiver in receivers:
        receiver.__exit__(None, None, None)


def _rows(stdout: str) -> list[list[str]]:
    """The tab-separated rows of a piped table, header first."""
    return [line.split("\t") for line in stdout.splitlines()]


class TestList:
    def test_prints_every_delivery_as_a_tab_separated_table(self, make_scenario: MakeScenario) -> None:
        """Piped ``list`` prints a header and one row per delivery, id first, with its state."""
        scenario = make_scenario(failed=2)
        _, stdout, stderr = scenario.cli("list")
        header, *rows = _rows(stdout)
        assert header[:4] == ["id", "target", "execution", "state"]
        assert sorted((row[0], row[3]) for row in rows) == sorted((i, "failed") for i in scenario.failed_ids)
        assert "2 of 2" in stderr

    def test_state_option_filters(self, make_scenario: MakeScenario) -> None:
        """``--state failed`` leaves out the succeeded delivery."""
        scenario = make_scenario(failed=2, succeeded=1)
        _, stdout, _ = scenario.cli("list", "--state", "failed")
        assert sorted(row[0] for row in _rows(stdout)[1:]) == sorted(scenario.failed_ids)


class TestShow:
    def test_shows_the_attempts(self, make_scenario: MakeScenario) -> None:
        """``show`` prints the webhook-id and state, then one attempt row with status 400 and a latency."""
        scenario = make_scenario(failed=1)
        [delivery_id] = scenario.failed_ids
        _, stdout, _ = scenario.cli("show", delivery_id)
        summary, header, *attempts = stdout.splitlines()
        assert (f"msg_{delivery_id}" in summary, "failed" in summary) == (True, True)
        assert header.split("\t") == ["#", "started", "status", "latency", "error"]
        [attempt] = [line.split("\t") for line in attempts]
        assert (attempt[0], attempt[2], attempt[3].endswith(" ms")) == ("1", "400", True)


class TestRedeliver:
    def test_failed_since_reports_the_count_and_the_server_delivers_them(self, make_scenario: MakeScenario) -> None:
        """``--failed-since`` queues every failed delivery, says how many on stderr, and the worker delivers them."""
        scenario = make_scenario(failed=2)
        scenario.receiver.respond(status=200)
        _, _, stderr = scenario.cli("redeliver", "--failed-since", "2000-01-01")
        assert "2 failed deliveries queued again" in stderr
        delivered = scenario.wait_for(2, "DELIVERY_STATE_SUCCEEDED")
        assert sorted(str(d["id"]) for d in delivered) == sorted(scenario.failed_ids)

    def test_redelivery_keeps_the_webhook_id(self, make_scenario: MakeScenario) -> None:
        """A delivery redelivered by id reaches the receiver again with its webhook-id."""
        scenario = make_scenario(failed=1)
        [delivery_id] = scenario.failed_ids
        scenario.receiver.respond(status=200)
        _, _, stderr = scenario.cli("redeliver", delivery_id)
        assert f"{delivery_id} queued again" in stderr
        scenario.wait_for(1, "DELIVERY_STATE_SUCCEEDED")
        ids = [request.header("webhook-id") for request in scenario.receiver.requests]
        assert ids == [f"msg_{delivery_id}"] * 2

    def test_without_ids_or_since_is_a_usage_error(self, dev_server: Server) -> None:
        """``redeliver`` with neither ids nor ``--failed-since`` exits 2 with a usage message."""
        result = dev_server.cli("deliveries", "redeliver", "--instance", "any", check=False)
        assert (result.returncode, "give delivery ids or --failed-since" in result.stderr) == (2, True)


class TestHelp:
    @pytest.mark.parametrize("command", ["list", "show", "redeliver"])
    def test_help_describes_the_command(self, dev_server: Server, command: str) -> None:
        """``--help`` exits 0 and shows the command's usage with its --instance option."""
        result = dev_server.cli("deliveries", command, "--help")
        assert (f"deliveries {command}" in result.stdout, "--instance" in result.stdout) == (True, True)

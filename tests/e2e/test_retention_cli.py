"""``callout prune`` as a real process against the data of a running ``--dev`` server on SQLite.

The server holds the data directory's process lock; ``prune`` needs only the database, so it runs
beside it (docs/retention.md).
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from callout.testing import RecordingReceiver
from tests.e2e.conftest import Server, StartServer, post_ok

pytestmark = pytest.mark.e2e

ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"
DELIVERY = "/callout.v1.DeliveryService"
WAIT_SECONDS = 20.0


@pytest.fixture(scope="module")
def dev_server(start_server: StartServer) -> Server:
    """One ``callout serve --dev`` on SQLite for the module."""
    return start_server("sqlite", extra_args=("--dev",))


def _deliveries(client: httpx.Client) -> list[dict[str, object]]:
    return list(post_ok(client, f"{DELIVERY}/ListDeliveries", {}).get("deliveries", []))  # type: ignore[call-overload]


def _delivered(server: Server, receiver: RecordingReceiver, count: int) -> str:
    """A new instance whose ``count`` pushed events reached the receiver and succeeded; its token."""
    token, _ = server.create_token(server.create_instance())
    target = {"name": "hook", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url}
    event = {"aggregateType": "order", "aggregateId": "o-1", "eventType": "order.paid", "payload": {"n": 1}}
    with server.http(token) as client:
        target_id = post_ok(client, f"{ACTION}/CreateTarget", target)["id"]
        post_ok(client, f"{DISPATCH}/RegisterCatalog", {"events": ["order.paid"]})
        post_ok(
            client, f"{ACTION}/SetExecution", {"condition": {"event": {"event": "order.paid"}}, "targets": [target_id]}
        )
        post_ok(client, f"{DISPATCH}/PushEvents", {"events": [event] * count})
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            states = [d.get("state") for d in _deliveries(client)]
            if states.count("DELIVERY_STATE_SUCCEEDED") == count:
                return token
            time.sleep(0.1)
    pytest.fail(f"{count} deliveries did not succeed within {WAIT_SECONDS}s")


class TestPrune:
    def test_prunes_finished_deliveries_beside_a_running_server(self, dev_server: Server) -> None:
        """``prune --older-than 0`` beside the server deletes the finished deliveries and prints a summary."""
        with RecordingReceiver() as receiver:
            token = _delivered(dev_server, receiver, 3)
            result = dev_server.cli("prune", "--older-than", "0")
            with dev_server.http(token) as client:
                left = _deliveries(client)
        summary = re.fullmatch(
            r"pruned (\d+) deliveries, (\d+) attempts, \d+ events \(older than 0s\)", result.stderr.splitlines()[-1]
        )
        assert summary is not None, result.stderr
        # Other tests' deliveries on this server may be pruned too: at least this instance's three.
        assert (left, int(summary[1]) >= 3, int(summary[2]) >= 3) == ([], True, True)

    def test_piped_output_is_the_summary_line_alone(self, dev_server: Server) -> None:
        """With stderr not a terminal (cron, a log file), prune writes no spinner frame, only its summary."""
        result = dev_server.admin("prune", "--older-than", "0")
        assert [line.startswith("pruned ") for line in result.stderr.splitlines()] == [True]

    def test_server_keeps_delivering_after_a_prune(self, dev_server: Server) -> None:
        """After a prune, events pushed to the running server are still delivered."""
        with RecordingReceiver() as receiver:
            dev_server.admin("prune", "--older-than", "0")
            _delivered(dev_server, receiver, 2)
            assert len(receiver.requests) == 2

    def test_bad_duration_is_a_usage_error(self, dev_server: Server) -> None:
        """An unreadable ``--older-than`` exits 2 with a usage message naming the accepted forms, no traceback."""
        result = dev_server.admin("prune", "--older-than", "soon", check=False)
        assert (result.returncode, "is not a duration" in result.stderr, "Traceback" in result.stderr) == (
            2,
            True,
            False,
        )

    def test_retention_zero_without_older_than_refuses(self, dev_server: Server) -> None:
        """With ``CALLOUT_RETENTION=0`` (keep forever) a bare ``prune`` exits 2 and deletes nothing."""
        result = dev_server.admin("prune", check=False, env={"CALLOUT_RETENTION": "0"})
        assert (result.returncode, "keep forever" in result.stderr) == (2, True)

    def test_help_explains_what_is_kept(self, dev_server: Server) -> None:
        """``prune --help`` names the option and says unfinished deliveries are never deleted."""
        result = dev_server.admin("prune", "--help")
        assert ("--older-than" in result.stdout, "never deleted" in result.stdout) == (True, True)

"""Delivery reliability with real processes: kill -9 mid-delivery, two replicas on PostgreSQL, 429 Retry-After.

The receiver (``tests/counting_receiver.py``) runs in a process of its own and counts deliveries by
``webhook-id``, which stays the same across retries, so "every event arrived" is "distinct ids == pushed".
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, StartServer, child_environment

pytestmark = pytest.mark.e2e

RECEIVER_SCRIPT = Path(__file__).resolve().parents[1] / "counting_receiver.py"
ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"
EVENT_TYPE = "order.paid"
FAST_RETRIES = {
    "CALLOUT_DELIVERY_POLL_SECONDS": "0.2",
    "CALLOUT_DELIVERY_BASE_DELAY_SECONDS": "0.1",
    "CALLOUT_DELIVERY_MAX_DELAY_SECONDS": "1",
}


class CountingReceiver:
    """The receiver process and its counters."""

    def __init__(self, mode: str = "ok", retry_after: str = "2", delay: float = 0.0) -> None:
        command = [sys.executable, str(RECEIVER_SCRIPT), "--mode", mode, "--retry-after", retry_after]
        command += ["--delay", str(delay)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, env=child_environment())
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", trust_env=False, timeout=5.0)

    @property
    def url(self) -> str:
        """Where targets deliver."""
        return f"http://127.0.0.1:{self.port}/hook"

    def stats(self) -> dict[str, Any]:
        """``{received, distinct, maxPerId, first, last}``."""
        return dict(self._http.get("/stats").json())

    def hits(self) -> list[tuple[str, float, int]]:
        """Every delivery as (webhook-id, arrival time, answered status), in arrival order."""
        return [tuple(hit) for hit in self._http.get("/log").json()["hits"]]  # type: ignore[misc]

    def wait_for(self, done: Callable[[dict[str, Any]], bool], timeout: float, poll: float = 0.05) -> dict[str, Any]:
        """Poll the counters until ``done`` holds; fail with the last counters after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if done(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(poll)

    def stop(self) -> None:
        """Kill the process."""
        self._http.close()
        self.process.kill()
        self.process.wait(timeout=5)


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., CountingReceiver]]:
    """Factory: start counting receivers; all are killed at the end of the test."""
    started: list[CountingReceiver] = []

    def start(mode: str = "ok", retry_after: str = "2") -> CountingReceiver:
        receiver = CountingReceiver(mode, retry_after)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def rpc(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call a Connect RPC with the admin token; fail on anything but 200."""
    with server.http(server.admin_token) as http:
        response = http.post(path, json=body, timeout=60.0)
    assert response.status_code == 200, response.text
    return dict(response.json())


def bind_webhook(server: Server, receiver: CountingReceiver) -> None:
    """Declare the event type and bind a rest_webhook target at the receiver to it."""
    rpc(server, f"{DISPATCH}/RegisterCatalog", {"events": [EVENT_TYPE]})
    target = {
        "name": f"t-{secrets.token_hex(5)}",
        "restWebhook": {},
        "timeout": "5s",
        "endpoint": receiver.url,
    }
    target_id = rpc(server, f"{ACTION}/CreateTarget", target)["id"]
    rpc(server, f"{ACTION}/SetExecution", {"condition": {"event": {"event": EVENT_TYPE}}, "targets": [target_id]})


def push(server: Server, count: int) -> None:
    """Push ``count`` events of the bound type in one call."""
    events = [
        {"aggregateType": "order", "aggregateId": f"o-{index}", "eventType": EVENT_TYPE, "payload": {"n": index}}
        for index in range(count)
    ]
    assert len(rpc(server, f"{DISPATCH}/PushEvents", {"events": events})["events"]) == count


class TestKillDuringDelivery:
    """SIGKILL while deliveries are in flight loses nothing."""

    @pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
    def test_every_event_arrives_after_kill_and_restart(
        self, backend: str, start_server: StartServer, receiver_factory: Callable[..., CountingReceiver]
    ) -> None:
        """After kill -9 and a restart every pushed event arrives, duplicates at most one batch in flight."""
        batch = 50
        env = {**FAST_RETRIES, "CALLOUT_DELIVERY_LEASE_SECONDS": "2", "CALLOUT_DELIVERY_BATCH_SIZE": str(batch)}
        first = start_server(backend, extra_args=("--dev",), env=env)
        receiver = receiver_factory()
        bind_webhook(first, receiver)
        push(first, 1000)
        push(first, 1000)
        at_kill = receiver.wait_for(lambda stats: stats["distinct"] >= 100, timeout=20, poll=0.01)
        first.process.kill()
        first.process.wait(timeout=5)
        assert 0 < at_kill["distinct"] < 2000, at_kill
        second = start_server(backend, data_dir=first.data_dir, database=first.database, extra_args=("--dev",), env=env)
        final = receiver.wait_for(lambda stats: stats["distinct"] >= 2000, timeout=45, poll=0.1)
        assert final["distinct"] == 2000, (final, second.log_text()[-2000:])
        assert final["received"] - final["distinct"] <= batch, final


class TestTwoReplicas:
    """Two servers on one PostgreSQL database share the queue."""

    def test_every_delivery_arrives_exactly_once(
        self, start_server: StartServer, receiver_factory: Callable[..., CountingReceiver]
    ) -> None:
        """With two `serve` replicas and leases that never expire, each of 1000 deliveries arrives exactly once."""
        env = {**FAST_RETRIES, "CALLOUT_DELIVERY_LEASE_SECONDS": "120", "CALLOUT_DELIVERY_BATCH_SIZE": "20"}
        first = start_server("postgresql", extra_args=("--dev", "--workers", "2"), env=env)
        second = start_server(
            "postgresql",
            data_dir=first.data_dir,
            database=first.database,
            extra_args=("--dev", "--workers", "2"),
            env=env,
        )
        receiver = receiver_factory()
        bind_webhook(first, receiver)
        push(first, 500)
        push(second, 500)
        final = receiver.wait_for(lambda stats: stats["distinct"] >= 1000, timeout=40, poll=0.1)
        time.sleep(0.5)  # let a late duplicate show up
        final = receiver.stats()
        assert final["distinct"] == 1000, final
        assert final["maxPerId"] == 1, final


class TestRetryAfter:
    """A 429 answer with Retry-After postpones the retry."""

    @pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
    def test_429_is_retried_after_retry_after(
        self, backend: str, start_server: StartServer, receiver_factory: Callable[..., CountingReceiver]
    ) -> None:
        """Each delivery answered 429 with `Retry-After: 2` is retried, and no sooner than about 2 s later."""
        server = start_server(backend, extra_args=("--dev",), env=FAST_RETRIES)
        receiver = receiver_factory(mode="429-once", retry_after="2")
        bind_webhook(server, receiver)
        push(server, 5)
        final = receiver.wait_for(lambda stats: stats["received"] >= 10, timeout=15, poll=0.1)
        assert final["distinct"] == 5, final
        assert final["received"] == 10, final
        arrivals: dict[str, list[tuple[float, int]]] = {}
        for webhook_id, moment, status in receiver.hits():
            arrivals.setdefault(webhook_id, []).append((moment, status))
        for webhook_id, (refused, accepted) in arrivals.items():
            assert (refused[1], accepted[1]) == (429, 200), json.dumps(arrivals)
            assert accepted[0] - refused[0] >= 1.9, (webhook_id, accepted[0] - refused[0])

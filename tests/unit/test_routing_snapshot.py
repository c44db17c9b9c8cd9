"""The client's routing snapshot (best match per method), its thread-safe counters, and the failure policy table."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from callout.delivery.routing_watch import RoutingSnapshot, RoutingStats, parse_snapshot
from callout.integrations.routing_policy import OnUnavailable, Plan, count, may_skip

METHOD = "/a.v1.Users/GetUser"
COUNTING_THREADS = 8
INCREMENTS_PER_THREAD = 20_000


class TestApplies:
    def test_method_beats_service_and_all(self) -> None:
        """The method's own execution decides, whatever the service and `all` ones say."""
        snapshot = RoutingSnapshot(1, {f"request{METHOD}": False, "request/a.v1.Users": True, "request": True})
        assert snapshot.applies("request", METHOD) is False

    def test_service_beats_all(self) -> None:
        """Without a method execution the service's one decides."""
        snapshot = RoutingSnapshot(1, {"response/a.v1.Users": True, "response": False})
        assert snapshot.applies("response", METHOD) is True

    def test_all_applies_to_any_method(self) -> None:
        """An `all` execution applies to a method of any service."""
        assert RoutingSnapshot(1, {"request": False}).applies("request", METHOD) is False

    def test_other_service_and_kind_do_not_apply(self) -> None:
        """A service with a longer name and the other kind's executions do not apply."""
        snapshot = RoutingSnapshot(1, {"request/a.v1.UsersX": True, f"response{METHOD}": True})
        assert snapshot.applies("request", METHOD) is None


class TestParse:
    def test_reads_version_and_executions(self) -> None:
        """A GetRouting answer becomes the version and the ids with their interrupt flags."""
        answer = {"version": "7", "executions": [{"id": "request", "interruptOnError": True}]}
        assert parse_snapshot(answer) == RoutingSnapshot(7, {"request": True})

    @pytest.mark.parametrize("answer", [{"executions": "x"}, {"executions": [{"interruptOnError": True}]}])
    def test_malformed_answer_is_refused(self, answer: dict[str, object]) -> None:
        """An answer without a list of ids is an error, not an empty snapshot."""
        with pytest.raises((KeyError, ValueError)):
            parse_snapshot(answer)


class TestMaySkip:
    @pytest.mark.parametrize(
        ("policy", "plan", "interrupts", "expected"),
        [
            (OnUnavailable.BY_EXECUTION, Plan(known=True), False, True),
            (OnUnavailable.BY_EXECUTION, Plan(known=True), True, False),
            (OnUnavailable.BY_EXECUTION, Plan(known=False), False, False),
            (OnUnavailable.FAIL_CLOSED, Plan(known=True), False, False),
            (OnUnavailable.FAIL_OPEN, Plan(known=True), True, True),
            (OnUnavailable.FAIL_OPEN, Plan(known=False), True, True),
        ],
    )
    def test_policy_table(self, policy: OnUnavailable, plan: Plan, interrupts: bool, expected: bool) -> None:
        """Each policy skips exactly the executions docs/host-middleware.md says it does."""
        assert may_skip(policy, plan, interrupts) is expected


class TestRoutingStats:
    @pytest.fixture
    def tight_thread_switching(self) -> Iterator[None]:
        """Threads switch every microsecond, so an unlocked read-then-write loses increments in this test."""
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        yield
        sys.setswitchinterval(interval)

    @pytest.mark.usefixtures("tight_thread_switching")
    def test_concurrent_counts_give_the_exact_total(self) -> None:
        """Eight threads counting through the middleware's ``count`` at once lose no increment."""
        client = SimpleNamespace(stats=RoutingStats())

        def count_many() -> None:
            for _ in range(INCREMENTS_PER_THREAD):
                count(client, "calls_avoided")

        threads = [threading.Thread(target=count_many) for _ in range(COUNTING_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert client.stats.calls_avoided == COUNTING_THREADS * INCREMENTS_PER_THREAD

    def test_add_takes_an_amount(self) -> None:
        """``add(name, amount)`` adds that amount to that counter only."""
        stats = RoutingStats()
        stats.add("snapshots", 3)
        assert (stats.snapshots, stats.poll_failures) == (3, 0)

    def test_asdict_gives_the_counters(self) -> None:
        """``dataclasses.asdict`` still reads the counters alone (the lock is no field)."""
        stats = RoutingStats()
        stats.add("calls_avoided")
        assert asdict(stats) == {
            "calls_avoided": 1,
            "executions_skipped": 0,
            "refused_unavailable": 0,
            "snapshots": 0,
            "poll_failures": 0,
        }

    def test_unknown_counter_is_refused(self) -> None:
        """A misspelt counter name is a ValueError, not a silent new attribute."""
        with pytest.raises(ValueError, match="calls_avoidd"):
            RoutingStats().add("calls_avoidd")

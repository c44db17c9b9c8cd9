"""Retention: database size over cycles of push → deliver, and delivery throughput with pruning running.

Four ``callout serve --dev`` runs on SQLite in one invocation (baseline, pruning, pruning, baseline:
drift of the shared machine cancels out), each with a fresh data directory and a fresh counting
receiver (``tests/counting_receiver.py``), run the same cycles: push N events (1000 per call) to one
``rest_webhook`` target and wait until the receiver has them all.

* baseline: ``CALLOUT_RETENTION=0`` — nothing is ever pruned;
* pruning: ``CALLOUT_RETENTION=1s`` and ``CALLOUT_PRUNE_INTERVAL=1s`` — the server's own pruner runs
  about every second, during the deliveries, and deletes what finished more than a second ago.

Per cycle it prints events/s (first push to last receipt), the rows left in deliveries, attempts and
events, and the size of the SQLite file plus its WAL; at the end the ratio of the pruning runs'
throughput to the baseline's (the goal: it falls by at most 10%), and the server's CPU time per event
in both, which a busy shared machine disturbs less than wall-clock throughput.

    .venv/bin/python bench/retention.py --events 1000 --cycles 4
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delivery_throughput import CALLOUT, Callout, Receiver, _environment, _free_port, cpu_seconds, receiver


@dataclass
class Cycle:
    """One push → deliver cycle."""

    events: int
    seconds: float
    rows: tuple[int, int, int]
    file_bytes: int

    @property
    def rate(self) -> float:
        """Events per second, first push to last receipt."""
        return self.events / self.seconds


@dataclass
class Run:
    """The cycles of one server."""

    name: str
    cycles: list[Cycle] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the server's user + system CPU time over all cycles

    @property
    def rate(self) -> float:
        """Events per second over all cycles."""
        return sum(c.events for c in self.cycles) / sum(c.seconds for c in self.cycles)


def serve(callout: Callout, extra_env: dict[str, str]) -> None:
    """Start ``callout serve --dev`` (1 worker) with extra settings and wait for /healthz."""
    port = _free_port()
    command = [str(CALLOUT), "serve", "--dev", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {**_environment(), **extra_env}
    callout.processes["serve"] = subprocess.Popen(command + callout.storage_args(), env=env)
    callout.base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{callout.base_url}/healthz", trust_env=False, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("callout serve did not start")


def rows(data_dir: Path) -> tuple[int, int, int]:
    """Rows in deliveries, delivery_attempts and events, read beside the server."""
    with sqlite3.connect(f"file:{data_dir / 'callout.db'}?mode=ro", uri=True, timeout=30) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("deliveries", "delivery_attempts", "events")
        )


def file_bytes(data_dir: Path) -> int:
    """The SQLite file and its WAL, in bytes."""
    return sum(path.stat().st_size for path in data_dir.glob("callout.db*") if not path.name.endswith("-shm"))


def run(name: str, extra_env: dict[str, str], events: int, cycles: int) -> Run:
    """Serve with ``extra_env`` and run the cycles; print each as it ends."""
    result = Run(name)
    with tempfile.TemporaryDirectory(prefix="callout-bench-") as data_dir, receiver() as target:
        callout = Callout(Path(data_dir), None)
        try:
            serve(callout, extra_env)
            callout.bind(target.url)
            cpu_before = cpu_seconds(callout.processes["serve"].pid)
            for number in range(1, cycles + 1):
                result.cycles.append(_cycle(callout, target, events, number))
                _report(name, number, result.cycles[-1])
            result.cpu_seconds = cpu_seconds(callout.processes["serve"].pid) - cpu_before
        finally:
            callout.stop()
    return result


def _cycle(callout: Callout, target: Receiver, events: int, number: int) -> Cycle:
    started = callout.push(events)
    stats = target.wait_for_distinct(events * number)
    return Cycle(events, stats["last"] - started, rows(callout.data_dir), file_bytes(callout.data_dir))


def _report(name: str, number: int, cycle: Cycle) -> None:
    deliveries, attempts, events = cycle.rows
    print(
        f"{name} cycle {number}: {cycle.rate:,.0f} events/s, rows {deliveries}/{attempts}/{events}, "
        f"file {cycle.file_bytes / 2**20:.1f} MiB",
        file=sys.stderr,
    )


def _print(runs: list[Run]) -> None:
    print("| run | cycle | events/s | rows deliveries/attempts/events | SQLite file + WAL MiB |")
    print("|---|---|---|---|---|")
    for result in runs:
        for number, cycle in enumerate(result.cycles, start=1):
            print(
                f"| {result.name} | {number} | {cycle.rate:,.0f} | {'/'.join(map(str, cycle.rows))} "
                f"| {cycle.file_bytes / 2**20:.1f} |"
            )
    baseline, base_cpu = _overall([r for r in runs if r.name.startswith("baseline")])
    pruning, pruning_cpu = _overall([r for r in runs if r.name.startswith("pruning")])
    print(
        f"\nthroughput: baseline {baseline:,.0f} events/s, pruning {pruning:,.0f} events/s, "
        f"ratio {pruning / baseline:.2f} (goal >= 0.90)\n"
        f"server CPU per event: baseline {base_cpu:.0f} µs, pruning {pruning_cpu:.0f} µs, "
        f"ratio {pruning_cpu / base_cpu:.2f}"
    )


def _overall(runs: list[Run]) -> tuple[float, float]:
    """Events/s over every cycle of the runs, and the server's CPU µs per event."""
    cycles = [cycle for result in runs for cycle in result.cycles]
    events = sum(c.events for c in cycles)
    return events / sum(c.seconds for c in cycles), 1e6 * sum(r.cpu_seconds for r in runs) / events


BASELINE = {"CALLOUT_RETENTION": "0"}
PRUNING = {"CALLOUT_RETENTION": "1s", "CALLOUT_PRUNE_INTERVAL": "1s"}


def main() -> None:
    """Run baseline and pruning servers in the order A B B A (drift cancels out); print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="events pushed per cycle")
    parser.add_argument("--cycles", type=int, default=4, help="cycles per run; four runs")
    options = parser.parse_args()
    order = [("baseline", BASELINE), ("pruning", PRUNING), ("pruning", PRUNING), ("baseline", BASELINE)]
    runs = [
        run(f"{name} {index // 2 + 1}", env, options.events, options.cycles) for index, (name, env) in enumerate(order)
    ]
    _print(runs)


if __name__ == "__main__":
    main()

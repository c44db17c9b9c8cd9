"""Delivery throughput: events/s from the first PushEvents call to the last receipt at a separate receiver.

One run measures, each against a fresh receiver process (``tests/counting_receiver.py``, which counts
deliveries by ``webhook-id``):

* raw: ``aiohttp`` POSTing the body callout delivered (captured at the receiver) N times, 100 at a time
  (the default delivery batch size, which a worker sends concurrently), with a ``webhook-id`` header;
* SQLite: ``callout serve --dev`` (1 worker), N events pushed 1000 per call to one ``rest_webhook`` target;
* PostgreSQL, 1 worker process: ``callout serve --dev`` alone;
* PostgreSQL, 2 worker processes: ``callout serve --dev`` plus ``callout worker --workers 1``.

The peak RSS (``VmHWM``) of every callout process is read from /proc at the end, and the CPU time
(user + system) spent from the first push to the last receipt, per event, by the callout processes,
the receiver and the local PostgreSQL server's processes (for raw: the client and the receiver).
``--backlog N`` adds
runs that push N events to a server with ``--workers 0``, then restart it with workers (SQLite: 1;
PostgreSQL: 1 and 2 worker processes) and drain the queue: delivery alone, without pushes competing for
the CPU, and the peak RSS of the pushing and of the draining processes.

    .venv/bin/python bench/delivery_throughput.py --events 20000
    .venv/bin/python bench/delivery_throughput.py --events 20000 --backlog 200000 --skip-postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
RECEIVER_SCRIPT = ROOT / "tests" / "counting_receiver.py"
CALLOUT = Path(sys.executable).with_name("callout")
POSTGRES_URL = os.environ.get("CALLOUT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"
EVENT_TYPE = "order.paid"
PUSH_CHUNK = 1000
RAW_CONCURRENCY = 100
WAIT_SECONDS = 900.0


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLOUT_")}
    env.update(CALLOUT_LOG_LEVEL="warning", CALLOUT_EGRESS_RESOLVER="static", PYTHONUNBUFFERED="1")
    env.update(CALLOUT_METRICS_ADDRESS="")  # serve and worker side by side would both want the default port
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU time of every process named ``postgres`` on this machine (the local server's backends)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return total


class Receiver:
    """A counting receiver in its own process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(RECEIVER_SCRIPT)], stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", trust_env=False, timeout=30.0)

    def stats(self) -> dict[str, Any]:
        """``{received, distinct, maxPerId, first, last}``."""
        return dict(self.http.get("/stats").json())

    def sample(self) -> bytes:
        """The latest body received."""
        return self.http.get("/sample").content

    def wait_for_distinct(self, count: int) -> dict[str, Any]:
        """Poll until ``count`` distinct webhook-ids arrived."""
        deadline = time.monotonic() + WAIT_SECONDS
        while (stats := self.stats())["distinct"] < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {stats['distinct']} of {count} deliveries arrived: {stats}")
            time.sleep(0.05)
        return stats

    def stop(self) -> None:
        """Kill the process."""
        self.http.close()
        self.process.kill()
        self.process.wait()


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A fresh receiver for one measurement."""
    running = Receiver()
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Callout:
    """Callout processes on one database."""

    data_dir: Path
    database_url: str | None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    base_url: str = ""

    def storage_args(self) -> list[str]:
        """--data-dir and, for PostgreSQL, --database-url."""
        args = ["--data-dir", str(self.data_dir)]
        return args + (["--database-url", self.database_url] if self.database_url else [])

    def serve(self, workers: int) -> None:
        """Start ``callout serve --dev`` and wait for /healthz."""
        port = _free_port()
        command = [
            str(CALLOUT),
            "serve",
            "--dev",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        self.processes["serve"] = subprocess.Popen(command + self.storage_args(), env=_environment())
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/healthz", trust_env=False, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("callout serve did not start")

    def worker(self) -> None:
        """Start ``callout worker --workers 1``."""
        command = [str(CALLOUT), "worker", "--workers", "1", *self.storage_args()]
        env = {**_environment(), "CALLOUT_DEV": "true"}  # plain http to loopback, like serve --dev
        self.processes["worker"] = subprocess.Popen(command, env=env)

    def peak_rss(self) -> dict[str, float]:
        """Peak RSS in MiB of every running process."""
        return {name: peak_rss_mib(process.pid) for name, process in self.processes.items()}

    def stop(self) -> None:
        """SIGTERM every process and wait."""
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def client(self) -> httpx.Client:
        """An HTTP client with the admin token."""
        token = (self.data_dir / "admin.pat").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, trust_env=False, timeout=120.0)

    def bind(self, target_url: str) -> None:
        """Declare the event type and bind one rest_webhook target to it."""
        with self.client() as http:
            _ok(http.post(f"{DISPATCH}/RegisterCatalog", json={"events": [EVENT_TYPE]}))
            body = {"name": f"t-{secrets.token_hex(4)}", "restWebhook": {}, "timeout": "10s", "endpoint": target_url}
            target_id = _ok(http.post(f"{ACTION}/CreateTarget", json=body))["id"]
            execution = {"condition": {"event": {"event": EVENT_TYPE}}, "targets": [target_id]}
            _ok(http.post(f"{ACTION}/SetExecution", json=execution))

    def push(self, count: int) -> float:
        """Push ``count`` events, 1000 per call; return the wall-clock time of the first call."""
        started = time.time()
        with self.client() as http:
            for offset in range(0, count, PUSH_CHUNK):
                events = [
                    {"aggregateType": "order", "aggregateId": f"o-{n}", "eventType": EVENT_TYPE, "payload": {"n": n}}
                    for n in range(offset, min(count, offset + PUSH_CHUNK))
                ]
                _ok(http.post(f"{DISPATCH}/PushEvents", json={"events": events}))
        return started


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:500]}")
    return dict(response.json())


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema, dropped afterwards; yields the --database-url for it."""
    schema = f"bench_{secrets.token_hex(4)}"
    libpq = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    try:
        separator = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


@dataclass
class Result:
    """One measurement."""

    name: str
    events: int
    seconds: float
    push_seconds: float = 0.0
    rss: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    receiving: float = 0.0  # first to last receipt
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by component while measuring

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds


def run_callout(name: str, events: int, database_url: str | None, extra_worker: bool) -> tuple[Result, bytes]:
    """Measure one callout deployment; return the result and a delivered body."""
    with tempfile.TemporaryDirectory(prefix="callout-bench-") as data_dir, receiver() as target:
        callout = Callout(Path(data_dir), database_url)
        try:
            callout.serve(workers=1)
            if extra_worker:
                callout.worker()
            callout.bind(target.url)
            cpu_before = _cpu_split(callout, target)
            started = callout.push(events)
            pushed = time.time() - started
            stats = target.wait_for_distinct(events)
            cpu = _difference(_cpu_split(callout, target), cpu_before)
            rss = callout.peak_rss()
        finally:
            callout.stop()
        duplicates = stats["received"] - stats["distinct"]
        receiving = stats["last"] - stats["first"]
        result = Result(name, events, stats["last"] - started, pushed, rss, duplicates, receiving, cpu)
        return result, target.sample()


def _cpu_split(callout: Callout, target: Receiver) -> dict[str, float]:
    callout_seconds = sum(cpu_seconds(process.pid) for process in callout.processes.values())
    return {"callout": callout_seconds, "receiver": cpu_seconds(target.process.pid), "postgres": postgres_cpu_seconds()}


def _difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after}


async def _raw_posts(url: str, body: bytes, events: int) -> None:
    queue = iter(range(events))
    connector = aiohttp.TCPConnector(limit=RAW_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            for n in queue:
                headers = {"content-type": "application/json", "webhook-id": f"raw-{n}"}
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()

        await asyncio.gather(*(sender() for _ in range(RAW_CONCURRENCY)))


def run_raw(events: int, body: bytes) -> Result:
    """aiohttp POSTing ``body`` ``events`` times, 100 concurrently."""
    with receiver() as target:
        started, client_cpu, receiver_cpu = time.time(), time.process_time(), cpu_seconds(target.process.pid)
        asyncio.run(_raw_posts(target.url, body, events))
        stats = target.wait_for_distinct(events)
        cpu = {"client": time.process_time() - client_cpu, "receiver": cpu_seconds(target.process.pid) - receiver_cpu}
        receiving = stats["last"] - stats["first"]
        return Result("raw aiohttp POST", events, stats["last"] - started, receiving=receiving, cpu=cpu)


def run_backlog(events: int, label: str, database_url: str | None, extra_worker: bool) -> list[Result]:
    """Push ``events`` to a server without workers, then restart it with workers and drain the queue."""
    results = []
    with tempfile.TemporaryDirectory(prefix="callout-bench-") as data_dir, receiver() as target:
        callout = Callout(Path(data_dir), database_url)
        try:
            callout.serve(workers=0)
            callout.bind(target.url)
            started = callout.push(events)
            pushed = time.time() - started
            results.append(Result(f"{label}: push, 0 workers", events, pushed, pushed, callout.peak_rss()))
        finally:
            callout.stop()
        try:
            drain_started = time.time()
            callout.serve(workers=1)
            if extra_worker:
                callout.worker()
            stats = target.wait_for_distinct(events)
            drained = stats["last"] - drain_started
            receiving = stats["last"] - stats["first"]
            duplicates = stats["received"] - stats["distinct"]
            name = f"{label}: drain, {2 if extra_worker else 1} worker process(es)"
            results.append(Result(name, events, drained, 0, callout.peak_rss(), duplicates, receiving))
        finally:
            callout.stop()
    return results


def _print(results: list[Result], baseline: Result | None) -> None:
    print(
        "| measurement | events | seconds | events/s | ratio to raw | push s | receipts/s | dup | peak RSS MiB "
        "| CPU µs/event |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        cpu = ", ".join(f"{name} {1e6 * value / result.events:.0f}" for name, value in result.cpu.items()) or "-"
        ratio = f"{result.rate / baseline.rate:.2f}" if baseline else "-"
        rss = ", ".join(f"{name} {value:.0f}" for name, value in result.rss.items()) or "-"
        push = f"{result.push_seconds:.2f}" if result.push_seconds else "-"
        receipts = f"{result.events / result.receiving:,.0f}" if result.receiving else "-"
        print(
            f"| {result.name} | {result.events} | {result.seconds:.2f} | {result.rate:,.0f} | {ratio} "
            f"| {push} | {receipts} | {result.duplicates} | {rss} | {cpu} |"
        )


def main() -> None:
    """Run every measurement and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--backlog", type=int, default=0, help="also push this many with --workers 0, then drain")
    parser.add_argument("--skip-postgres", action="store_true")
    options = parser.parse_args()
    results: list[Result] = []

    def measure(name: str, database_url: str | None, extra_worker: bool) -> bytes:
        result, body = run_callout(name, options.events, database_url, extra_worker)
        results.append(result)
        print(f"{result.name}: {result.rate:,.0f} events/s", file=sys.stderr)
        return body

    body = measure("SQLite, serve (1 worker process)", None, False)
    baseline = run_raw(options.events, body)
    print(f"raw: {baseline.rate:,.0f} events/s ({len(body)} byte bodies)", file=sys.stderr)
    runs: list[tuple[str, Callable[[], None]]] = []
    if not options.skip_postgres:
        for name, extra in (("PostgreSQL, serve (1 worker process)", False), ("PostgreSQL, serve + worker (2)", True)):
            runs.append((name, lambda name=name, extra=extra: _postgres_run(measure, name, extra)))
    for _name, run in runs:
        run()
    if options.backlog:
        results.extend(run_backlog(options.backlog, f"SQLite backlog {options.backlog}", None, False))
        if not options.skip_postgres:
            for extra in (False, True):
                with postgres_schema() as url:
                    label = f"PostgreSQL backlog {options.backlog}"
                    results.extend(run_backlog(options.backlog, label, url, extra))
    _print([baseline, *results], baseline)


def _postgres_run(measure: Callable[[str, str | None, bool], bytes], name: str, extra: bool) -> None:
    with postgres_schema() as url:
        measure(name, url, extra)


if __name__ == "__main__":
    main()

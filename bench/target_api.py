"""Benchmark: latency of the Target API through a real server, as a ratio to a bare /healthz request.

Starts ``callout serve`` (SQLite in a temporary directory, or --database-url), then, in one run and
on one keep-alive connection, measures N calls each of: GET /healthz (the baseline: HTTP stack only),
GetTarget over Connect (auth + one read), and CreateTarget over Connect (auth + one write
transaction with its event). Prints p50/p99 of each and the ratios against the baseline.

    .venv/bin/python bench/target_api.py --calls 2000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from servers import free_port, start_callout  # bench/servers.py (run from bench/ on sys.path)


def _measure(calls: int, action: Callable[[int], None]) -> list[float]:
    for index in range(min(50, calls)):  # warm-up
        action(-index - 1)
    samples = []
    for index in range(calls):
        started = time.perf_counter()
        action(index)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement (default 2000)")
    parser.add_argument("--database-url", help="benchmark this database instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        server = start_callout(Path(directory), port, args.database_url)
        try:
            _run(port, (Path(directory) / "admin.pat").read_text().strip(), args.calls)
        finally:
            server.terminate()
            server.wait(10)


def _run(port: int, token: str, calls: int) -> None:
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    service = "/zitadel.action.v2.ActionService"
    with httpx.Client(base_url=base, headers=headers) as client:
        created = client.post(
            f"{service}/CreateTarget",
            json={"name": "probe", "restWebhook": {}, "timeout": "5s", "endpoint": "https://example.com"},
        ).json()

        def create(index: int) -> None:
            body = {"name": f"t{index}", "restCall": {}, "timeout": "5s", "endpoint": "https://example.com"}
            client.post(f"{service}/CreateTarget", json=body).raise_for_status()

        results = {
            "GET /healthz (baseline)": _measure(calls, lambda _: client.get("/healthz").raise_for_status()),
            "GetTarget": _measure(
                calls, lambda _: client.post(f"{service}/GetTarget", json={"id": created["id"]}).raise_for_status()
            ),
            "CreateTarget": _measure(calls, create),
        }
    baseline = _percentiles(results["GET /healthz (baseline)"])[0]
    print(f"{'measurement':<26}{'p50 ms':>9}{'p99 ms':>9}{'p50 ratio':>11}")
    for name, samples in results.items():
        p50, p99 = _percentiles(samples)
        print(f"{name:<26}{p50:>9.3f}{p99:>9.3f}{p50 / baseline:>10.2f}x")


if __name__ == "__main__":
    main()

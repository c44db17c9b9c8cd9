"""Benchmark: the server render time of the console's pages with 10,000 targets and 100,000 deliveries.

Starts ``callout serve`` (SQLite in a temporary directory, or ``--database-url`` for PostgreSQL in a
fresh schema), creates the targets through the API (CreateTarget, several at a time), bulk-inserts
the deliveries (states mixed, spread over the last 24 h, one attempt each for the finished ones)
straight into the database, signs in to the console with the admin token, then measures in one run,
alternating in blocks on one keep-alive connection: ``/healthz`` (the baseline) and each page
(Overview, Targets, Executions, Deliveries). It prints p50/p99 and each page's p50 against
``/healthz``'s. Bounded: a few minutes with the defaults, most of it creating the targets.

    .venv/bin/python bench/console.py --targets 10000 --deliveries 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from servers import free_port, start_callout  # bench/servers.py (run from bench/ on sys.path)

PAGES = {
    "/healthz": "healthz (baseline)",
    "/console/": "Overview",
    "/console/targets": "Targets",
    "/console/executions": "Executions",
    "/console/deliveries": "Deliveries",
}
BLOCK = 20
STATES = ("succeeded",) * 7 + ("failed", "pending", "pending")
DAY_US = 86_400_000_000


async def create_targets(url: str, token: str, count: int, parallel: int = 16) -> list[str]:
    """``count`` webhook targets through CreateTarget; returns their ids."""
    headers = {"Authorization": f"Bearer {token}"}
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:

        async def create(numbers: range) -> None:
            for number in numbers:
                body = {
                    "name": f"target-{number:05d}",
                    "endpoint": f"https://example.com/hooks/{number}",
                    "timeout": "5s",
                    "restWebhook": {},
                }
                answer = await api.post("/zitadel.action.v2.ActionService/CreateTarget", json=body)
                ids.append(answer.raise_for_status().json()["id"])

        await asyncio.gather(*(create(range(start, count, parallel)) for start in range(parallel)))
    return ids


def delivery_rows(instance_id: str, target_ids: list[str], count: int) -> list[tuple[Any, ...]]:
    """Rows for the deliveries table: a JSON payload, a state, times within the last day.

    Pending ones are due a day after creation (a retry far off), so that the server's worker stays idle
    and the figures measure the pages, not delivery attempts to a target that cannot be reached.
    """
    now = time.time_ns() // 1000
    rows = []
    for number in range(count):
        created = now - random.randrange(DAY_US)
        state = random.choice(STATES)
        finished = state in ("succeeded", "failed")
        payload = json.dumps({"event_type": "user.created", "aggregateID": str(number)}).encode()
        rows.append(
            (
                f"bench{number:08d}",
                instance_id,
                random.choice(target_ids),
                "event/user.created",
                payload,
                state,
                1 if finished else 0,
                created if finished else created + DAY_US,
                created,
                created,
                created,
                200 if state == "succeeded" else (500 if finished else None),
            )
        )
    return rows


INSERT_DELIVERY = (
    "INSERT INTO deliveries (id, instance_id, target_id, execution_id, payload, state, attempts, next_attempt_at,"
    " created_at, round_started_at, updated_at, last_status) VALUES ({})"
)
INSERT_ATTEMPT = (
    "INSERT INTO delivery_attempts (delivery_id, number, started_at, status, latency_us, response_head) VALUES ({})"
)


def insert_deliveries(database: str | None, data_dir: Path, target_ids: list[str], count: int) -> None:
    """Bulk-insert ``count`` deliveries to the targets' instance, and one attempt for each finished one."""
    query = "SELECT instance_id FROM targets WHERE id = {}"
    if database is None:
        with sqlite3.connect(data_dir / "callout.db") as conn:
            rows = delivery_rows(conn.execute(query.format("?"), target_ids[:1]).fetchone()[0], target_ids, count)
            conn.executemany(INSERT_DELIVERY.format(",".join("?" * 12)), rows)
            conn.executemany(INSERT_ATTEMPT.format(",".join("?" * 6)), attempts_of(rows))
        return
    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as conn, conn.cursor() as cur:
        cur.execute(query.format("%s"), target_ids[:1])  # type: ignore[arg-type]
        rows = delivery_rows(str(cur.fetchone()[0]), target_ids, count)  # type: ignore[index]
        cur.executemany(INSERT_DELIVERY.format(",".join(["%s"] * 12)), rows)
        cur.executemany(INSERT_ATTEMPT.format(",".join(["%s"] * 6)), attempts_of(rows))


def attempts_of(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One attempt row for each finished delivery row."""
    return [(row[0], 1, row[7], row[11], 1500, "HTTP/1.1 200 OK") for row in rows if row[6]]


def signed_in_client(url: str, token: str) -> httpx.Client:
    """A client holding a console session cookie."""
    client = httpx.Client(base_url=url, timeout=30)
    answer = client.post("/console/sign-in", data={"token": token})
    if answer.status_code != 303:
        raise SystemExit(f"signing in to the console failed: HTTP {answer.status_code}")
    return client


def measure(client: httpx.Client, calls: int) -> dict[str, list[float]]:
    """Alternate the pages in blocks; each sample is one GET's latency in ms."""
    samples: dict[str, list[float]] = {path: [] for path in PAGES}
    for path in PAGES:  # warm-up
        for _ in range(5):
            client.get(path).raise_for_status()
    for start in range(0, calls, BLOCK):
        for path in PAGES:
            for _ in range(start, min(calls, start + BLOCK)):
                began = time.perf_counter()
                client.get(path).raise_for_status()
                samples[path].append((time.perf_counter() - began) * 1000)
    return samples


def report(samples: dict[str, list[float]]) -> None:
    """p50, p99 and the p50 ratio against /healthz."""
    base = statistics.median(samples["/healthz"])
    print(f"{'page':<22} {'p50 ms':>8} {'p99 ms':>8} {'p50 / healthz':>14}")
    for path, values in samples.items():
        ordered = sorted(values)
        p50 = statistics.median(ordered)
        print(f"{PAGES[path]:<22} {p50:>8.2f} {ordered[int(len(ordered) * 0.99) - 1]:>8.2f} {p50 / base:>13.2f}x")


def fresh_schema(database: str) -> str:
    """A new schema on the PostgreSQL server, as a URL whose search_path points at it."""
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    return f"{database}{'&' if '?' in database else '?'}options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200, help="GETs per page (default 200)")
    parser.add_argument("--database-url", help="PostgreSQL (a fresh schema is made); default SQLite")
    args = parser.parse_args()
    database = fresh_schema(args.database_url) if args.database_url else None
    with tempfile.TemporaryDirectory() as directory:
        data_dir, port = Path(directory), free_port()
        server = start_callout(data_dir, port, database)
        try:
            url, token = f"http://127.0.0.1:{port}", (data_dir / "admin.pat").read_text().strip()
            began = time.monotonic()
            target_ids = asyncio.run(create_targets(url, token, args.targets))
            insert_deliveries(database, data_dir, target_ids, args.deliveries)
            print(f"seeded {len(target_ids)} targets, {args.deliveries} deliveries in {time.monotonic() - began:.0f}s")
            client = signed_in_client(url, token)
            report(measure(client, args.calls))
            client.close()
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()

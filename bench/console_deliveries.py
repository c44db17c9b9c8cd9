"""The console's Deliveries list with many deliveries: how long each filtered page takes to render.

Seeds one instance with N deliveries (default 100,000) spread over ten days, four targets, two
executions and all four states, straight into the database (SQLite file or a fresh PostgreSQL
schema), then times GET /console/deliveries and the live rows endpoint with each filter, in process
(the console's own handlers and the DeliveryService RPC they call). Prints the median of 5 runs.

    .venv/bin/python bench/console_deliveries.py --count 100000 [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from callout.api.app import create_app
from callout.console.app import mount_console
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Role
from callout.domain.clock import to_micros
from callout.domain.egress import EgressPolicy
from callout.services import instances as admin
from callout.services.context import ServiceContext
from callout.services.secrets import SecretBox
from callout.storage.database import Database
from callout.storage.migrations import upgrade_to_head
from callout.storage.schema import deliveries

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATES = ("succeeded", "failed", "pending", "in_flight")
BATCH = 5000


def _rows(instance_id: str, start: int, stop: int, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for number in range(start, stop):
        moment = to_micros(now - timedelta(seconds=number * 8.64))  # ten days for 100,000
        rows.append({
            "id": f"{number:012d}", "instance_id": instance_id, "target_id": f"target-{number % 4}",
            "execution_id": f"event/order.{'paid' if number % 2 else 'shipped'}", "event_id": number,
            "payload": b'{"n": 1}', "state": STATES[number % 7 % 4], "attempts": 1, "next_attempt_at": moment,
            "lease_until": None, "created_at": moment, "round_started_at": moment, "updated_at": moment,
        })  # fmt: skip
    return rows


async def seed(context: ServiceContext, count: int) -> str:
    """A new instance with ``count`` deliveries; returns an owner's token."""
    instance = await admin.create_instance(context, "bench", with_web_key=False)
    now = datetime.now(UTC)
    for start in range(0, count, BATCH):
        rows = _rows(instance.id, start, min(count, start + BATCH), now)

        async def insert(conn: Any, rows: list[dict[str, Any]] = rows) -> None:
            await conn.execute(deliveries.insert(), rows)

        await context.database.write(insert)
    return (await admin.create_token(context, instance.id, Role.IAM_OWNER))[1]


async def timed(client: httpx.AsyncClient, path: str, params: dict[str, str] | None = None) -> float:
    """The median milliseconds of five GETs of ``path`` (each must answer 200)."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text[:300]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def run(url: str, count: int) -> None:
    """Seed, sign in, and print the timings."""
    database = Database(url)
    await upgrade_to_head(database)
    resolver = StaticResolver()
    context = ServiceContext(database=database, secret_box=SecretBox(secrets.token_bytes(32)), resolver=resolver,
                             sender=AiohttpSender(EgressPolicy(), resolver))  # fmt: skip
    started = time.perf_counter()
    token = await seed(context, count)
    print(f"seeded {count} deliveries in {time.perf_counter() - started:.1f}s")
    app = create_app(context)
    mount_console(app, context)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench.test") as client:
        await client.post("/console/sign-in", data={"token": token})
        day = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        for query in ("", "page=1000", "state=failed", "target=target-2", "execution=event/order.paid",
                      f"since={day}", f"state=failed&target=target-1&since={day}"):  # fmt: skip
            print(f"{await timed(client, f'/console/deliveries?{query}'):8.1f} ms  list ?{query}")
        after = f"{(datetime.now(UTC) - timedelta(minutes=1)).isoformat()} "
        print(f"{await timed(client, '/console/deliveries/rows', {'after': after}):8.1f} ms  rows (last minute)")
    await context.sender.close()
    await database.close()


def main() -> None:
    """Parse the options and run on SQLite or a throwaway PostgreSQL schema."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    options = parser.parse_args()
    if not options.postgres:
        with tempfile.TemporaryDirectory() as directory:
            asyncio.run(run(f"sqlite+aiosqlite:///{directory}/bench.db", options.count))
        return
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        asyncio.run(run(f"{POSTGRES}?options=-csearch_path%3D{schema}", options.count))
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()

"""Concurrent writes: every write RPC in bursts against a real ``callout serve``, on SQLite and PostgreSQL.

For each scenario the same calls run twice against fresh state: one at a time (the baseline), then
``--concurrency`` at once. It prints calls/s of both and their ratio, the 5xx count and the
invariant violations found in the database afterwards (both must be 0), and calls that got no answer
at all (a transport error; must be 0 too). The server runs with
``--workers 0``: only the writes are measured. Every call has a 30 s timeout.

    .venv/bin/python bench/concurrent_writes.py --calls 200 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from delivery_throughput import ACTION, DISPATCH, EVENT_TYPE, Callout, postgres_schema

DELIVERY = "/callout.v1.DeliveryService"
CONDITION = {"event": {"event": EVENT_TYPE}}
Call = tuple[str, dict[str, Any]]


def _public_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(pem).decode()


PUBLIC_KEY = _public_key()


class Bench:
    """One server, an async client of it, and SQL access to its database for set-up and checks."""

    def __init__(self, callout: Callout, concurrency: int) -> None:
        self.callout = callout
        self.concurrency = concurrency
        self.http = self.new_client()

    def new_client(self) -> httpx.AsyncClient:
        """A client with a fresh pool: no keep-alive connection the server may just have closed."""
        token = (self.callout.data_dir / "admin.pat").read_text().strip()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        return httpx.AsyncClient(
            base_url=self.callout.base_url,
            headers={"Authorization": f"Bearer {token}"},
            limits=limits,
            timeout=30.0,
            trust_env=False,
        )

    async def call(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One call: status and JSON body; status 0 when no answer came."""
        try:
            response = await self.http.post(path, json=body)
        except httpx.TransportError as error:
            return 0, {"error": type(error).__name__}
        return response.status_code, response.json()

    async def must(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A set-up call that must succeed."""
        status, answer = await self.call(path, body)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {answer}")
        return answer

    async def target(self) -> str:
        """A new webhook target's id."""
        body = {"name": f"t-{secrets.token_hex(5)}", "restWebhook": {}, "timeout": "5s"}
        return str((await self.must(f"{ACTION}/CreateTarget", {**body, "endpoint": "https://example.com/h"}))["id"])

    async def key(self, target_id: str) -> str:
        """A new inactive key of the target."""
        answer = await self.must(f"{ACTION}/AddPublicKey", {"targetId": target_id, "publicKey": PUBLIC_KEY})
        return str(answer["keyId"])

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the server's database (``%s`` placeholders)."""
        url = self.callout.database_url
        if url is None:
            with sqlite3.connect(self.callout.data_dir / "callout.db") as conn:
                return list(conn.execute(query.replace("%s", "?"), params))
        schema = url.rsplit("%3D", 1)[1]
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", options=f"-csearch_path={schema}") as conn:
            return list(conn.execute(query, params))


def _gap_free(bench: Bench, aggregate_id: str, count: int) -> int:
    rows = bench.sql("SELECT sequence FROM events WHERE aggregate_id = %s ORDER BY sequence", aggregate_id)
    return 0 if [row[0] for row in rows] == list(range(1, count + 1)) else 1


# A scenario: set-up returning the calls and a check counting invariant violations after the calls ran.
Check = Callable[[Bench, list[tuple[int, dict[str, Any]]]], int]
Setup = Callable[[Bench, int], Awaitable[tuple[list[Call], Check]]]


async def create_one_name(bench: Bench, calls: int) -> tuple[list[Call], Check]:
    name = f"same-{secrets.token_hex(4)}"
    body = {"name": name, "restWebhook": {}, "timeout": "5s", "endpoint": "https://example.com/h"}

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        live = bench.sql("SELECT count(*) FROM targets WHERE name = %s AND deleted_at IS NULL", name)[0][0]
        wins = sum(status == 200 for status, _ in answers)
        return int(live != 1) + int(wins != 1) + sum(status not in (200, 409) for status, _ in answers)

    return [(f"{ACTION}/CreateTarget", body)] * calls, check


async def create_distinct(bench: Bench, calls: int) -> tuple[list[Call], Check]:
    prefix = secrets.token_hex(4)
    bodies = [
        {"name": f"{prefix}-{n}", "restWebhook": {}, "timeout": "5s", "endpoint": "https://example.com/h"}
        for n in range(calls)
    ]

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        return calls - int(bench.sql("SELECT count(*) FROM targets WHERE name LIKE %s", f"{prefix}-%")[0][0])

    return [(f"{ACTION}/CreateTarget", body) for body in bodies], check


async def update_one_target(bench: Bench, calls: int) -> tuple[list[Call], Check]:
    target_id = await bench.target()
    bodies = [{"id": target_id, "name": f"r-{secrets.token_hex(5)}"} for _ in range(calls)]
    return [(f"{ACTION}/UpdateTarget", body) for body in bodies], lambda b, _: _gap_free(b, target_id, calls + 1)


async def delete_targets(bench: Bench, calls: int) -> tuple[list[Call], Check]:
    ids = [await bench.target() for _ in range(calls)]

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        live = bench.sql(f"SELECT count(*) FROM targets WHERE deleted_at IS NULL AND id IN ({_list(ids)})")[0][0]
        return int(live) + sum(_gap_free(bench, target_id, 2) for target_id in ids)

    return [(f"{ACTION}/DeleteTarget", {"id": target_id}) for target_id in ids], check


async def set_execution(bench: Bench, calls: int) -> tuple[list[Call], Check]:
    await bench.must(f"{ACTION}/SetExecution", {"condition": CONDITION, "targets": []})
    targets = [await bench.target() for _ in range(4)]
    lists = [targets[: 1 + n % 4] for n in range(calls)]

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        rows = bench.sql("SELECT execution_id, target_id FROM execution_targets ORDER BY execution_id, position")
        bound = [target_id for _, target_id in rows]
        return int(len({execution for execution, _ in rows}) != 1 or bound not in lists)

    return [(f"{ACTION}/SetExecution", {"condition": CONDITION, "targets": t}) for t in lists], check


async def add_keys(bench: Bench, calls: int) -> tuple[list[Call], Check]:
    target_id = await bench.target()
    body = {"targetId": target_id, "publicKey": PUBLIC_KEY}

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        stored = bench.sql("SELECT count(*) FROM target_public_keys WHERE target_id = %s", target_id)[0][0]
        return int(stored != calls) + _gap_free(bench, target_id, calls + 1)

    return [(f"{ACTION}/AddPublicKey", body)] * calls, check


async def switch_keys(bench: Bench, calls: int, rpcs: tuple[str, ...]) -> tuple[list[Call], Check]:
    target_id = await bench.target()
    keys = [await bench.key(target_id) for _ in range(5)]
    only_activations = rpcs == ("ActivatePublicKey",)

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        active = bench.sql("SELECT count(*) FROM target_public_keys WHERE target_id = %s AND active", target_id)[0][0]
        # Exactly one key active after activations only; at most one when deactivations are mixed in.
        return int(active != 1 if only_activations else active > 1)

    bodies = [(rpcs[n % len(rpcs)], {"targetId": target_id, "keyId": keys[n % 5]}) for n in range(calls)]
    return [(f"{ACTION}/{rpc}", body) for rpc, body in bodies], check


async def remove_keys(bench: Bench, calls: int) -> tuple[list[Call], Check]:
    target_id = await bench.target()
    keys = [await bench.key(target_id) for _ in range(calls)]

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        return int(bench.sql("SELECT count(*) FROM target_public_keys WHERE target_id = %s", target_id)[0][0])

    return [(f"{ACTION}/RemovePublicKey", {"targetId": target_id, "keyId": key}) for key in keys], check


async def push(bench: Bench, calls: int, aggregates: int, keyed: bool) -> tuple[list[Call], Check]:
    prefix, key = secrets.token_hex(4), secrets.token_hex(6)

    def event(n: int) -> dict[str, Any]:
        extra = {"idempotencyKey": key} if keyed else {}
        return {"aggregateType": "o", "aggregateId": f"{prefix}-{n}", "eventType": EVENT_TYPE, "payload": {}, **extra}

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        if keyed:
            ids = {answer["events"][0]["id"] for status, answer in answers if status == 200}
            return int(len(ids) != 1) + _gap_free(bench, f"{prefix}-0", 1)
        return sum(_gap_free(bench, f"{prefix}-{n}", calls) for n in range(aggregates))

    bodies = [{"events": [event(n) for n in range(aggregates)]} for _ in range(calls)]
    return [(f"{DISPATCH}/PushEvents", body) for body in bodies], check


async def register_catalog(bench: Bench, calls: int) -> tuple[list[Call], Check]:
    prefix = secrets.token_hex(4)
    bodies = [{"events": [f"{prefix}.e{n % 7}", f"{prefix}.e{(n + 1) % 7}"]} for n in range(calls)]

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        return 7 - int(bench.sql("SELECT count(*) FROM catalog_entries WHERE name LIKE %s", f"{prefix}.%")[0][0])

    return [(f"{DISPATCH}/RegisterCatalog", body) for body in bodies], check


async def redeliver(bench: Bench, calls: int, one_by_one: bool) -> tuple[list[Call], Check]:
    await _failed_deliveries(bench, calls)
    ids = [row[0] for row in bench.sql("SELECT id FROM deliveries WHERE state = 'failed'")]

    def check(bench: Bench, answers: list[tuple[int, dict[str, Any]]]) -> int:
        pending = bench.sql("SELECT count(*) FROM deliveries WHERE state = 'pending'")[0][0]
        if one_by_one:
            return int(pending != len(ids))
        return int(pending != len(ids)) + int(sum(int(a.get("count", 0)) for _, a in answers) != len(ids))

    if one_by_one:
        return [(f"{DELIVERY}/RedeliverDelivery", {"id": delivery_id}) for delivery_id in ids], check
    return [(f"{DELIVERY}/RedeliverFailed", {"since": "2000-01-01T00:00:00Z"})] * calls, check


async def _failed_deliveries(bench: Bench, count: int) -> None:
    _execute(bench, "DELETE FROM deliveries")
    target_id = await bench.target()
    await bench.must(f"{ACTION}/SetExecution", {"condition": CONDITION, "targets": [target_id]})
    events = [
        {"aggregateType": "o", "aggregateId": f"d-{n}", "eventType": EVENT_TYPE, "payload": {}} for n in range(count)
    ]
    await bench.must(f"{DISPATCH}/PushEvents", {"events": events})
    _execute(bench, "UPDATE deliveries SET state = 'failed'")


def _execute(bench: Bench, statement: str) -> None:
    url = bench.callout.database_url
    if url is None:
        with sqlite3.connect(bench.callout.data_dir / "callout.db", timeout=30) as conn:
            conn.execute(statement)
        return
    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", options=f"-csearch_path={schema}") as conn:
        conn.execute(statement)


def _list(ids: list[str]) -> str:
    return ", ".join(f"'{value}'" for value in ids)  # ids are server-made digits


SCENARIOS: dict[str, Setup] = {
    "CreateTarget, one name": create_one_name,
    "CreateTarget, distinct names": create_distinct,
    "UpdateTarget, one target": update_one_target,
    "DeleteTarget, distinct targets": delete_targets,
    "SetExecution, one condition": set_execution,
    "AddPublicKey, one target": add_keys,
    "ActivatePublicKey, 5 keys": lambda b, n: switch_keys(b, n, ("ActivatePublicKey",)),
    "Activate/DeactivatePublicKey, 5 keys": lambda b, n: switch_keys(
        b, n, ("ActivatePublicKey", "DeactivatePublicKey")
    ),
    "RemovePublicKey, distinct keys": remove_keys,
    "PushEvents, one aggregate": lambda b, n: push(b, n, 1, False),
    "PushEvents, 10 shared aggregates": lambda b, n: push(b, n, 10, False),
    "PushEvents, one idempotency key": lambda b, n: push(b, n, 1, True),
    "RegisterCatalog, overlapping": register_catalog,
    "RedeliverDelivery, distinct": lambda b, n: redeliver(b, n, True),
    "RedeliverFailed": lambda b, n: redeliver(b, n, False),
}


@dataclass
class Row:
    """One scenario on one database."""

    database: str
    scenario: str
    calls: int
    sequential: float
    burst: float
    server_errors: int
    unanswered: int
    violations: int


async def _run(bench: Bench, calls: list[Call], concurrency: int) -> tuple[float, list[tuple[int, dict[str, Any]]]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with gate:
            return await bench.call(path, body)

    await bench.http.aclose()
    bench.http = bench.new_client()
    started = time.perf_counter()
    answers = await asyncio.gather(*(one(path, body) for path, body in calls))
    return len(calls) / (time.perf_counter() - started), list(answers)


async def measure(bench: Bench, database: str, name: str, setup: Setup, count: int, concurrency: int) -> Row:
    """The scenario one call at a time, then in a burst, each on fresh state."""
    calls, _ = await setup(bench, count)
    sequential, _ = await _run(bench, calls, 1)
    calls, check = await setup(bench, count)
    burst, answers = await _run(bench, calls, concurrency)
    errors = sum(status >= 500 for status, _ in answers)
    unanswered = sum(status == 0 for status, _ in answers)
    return Row(database, name, count, sequential, burst, errors, unanswered, check(bench, answers))


@contextmanager
def server(database_url: str | None) -> Iterator[Callout]:
    """``callout serve --dev --workers 0`` on a fresh database."""
    with tempfile.TemporaryDirectory(prefix="callout-bench-") as data_dir:
        callout = Callout(Path(data_dir), database_url)
        try:
            callout.serve(workers=0)
            yield callout
        finally:
            callout.stop()


async def run_database(label: str, callout: Callout, options: argparse.Namespace) -> list[Row]:
    """Every scenario against one server."""
    bench = Bench(callout, options.concurrency)
    rows = []
    try:
        await bench.must(f"{DISPATCH}/RegisterCatalog", {"events": [EVENT_TYPE]})
        for name, setup in SCENARIOS.items():
            row = await measure(bench, label, name, setup, options.calls, options.concurrency)
            print(
                f"{label} {name}: {row.burst:,.0f} calls/s, {row.server_errors} 5xx, {row.unanswered} unanswered",
                file=sys.stderr,
            )
            rows.append(row)
    finally:
        await bench.http.aclose()
    return rows


def main() -> None:
    """Run every scenario on SQLite and PostgreSQL and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--skip-postgres", action="store_true")
    options = parser.parse_args()
    rows: list[Row] = []
    with server(None) as callout:
        rows += asyncio.run(run_database("SQLite", callout, options))
    if not options.skip_postgres:
        with postgres_schema() as url, server(url) as callout:
            rows += asyncio.run(run_database("PostgreSQL", callout, options))
    burst = f"{options.concurrency} at once calls/s"
    print(f"| database | scenario | calls | sequential calls/s | {burst} | ratio | 5xx | no answer | violations |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.database} | {row.scenario} | {row.calls} | {row.sequential:,.0f} | {row.burst:,.0f} "
            f"| {row.burst / row.sequential:.2f} | {row.server_errors} | {row.unanswered} | {row.violations} |"
        )


if __name__ == "__main__":
    main()

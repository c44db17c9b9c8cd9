"""PostgreSQL LISTEN/NOTIFY as a wake-up hint for workers of other processes (polling stays the fallback)."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
import structlog

from callout.storage.database import Database
from callout.storage.deliveries import NOTIFY_CHANNEL

log = structlog.get_logger("callout.notify")


async def listen_for_deliveries(database: Database, stop: asyncio.Event) -> None:
    """Set ``database.deliveries_enqueued`` on every notification until ``stop``; reconnect on errors."""
    if database.is_sqlite:
        return
    url = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    delay = 1.0
    while not stop.is_set():
        try:
            await _listen(url, database, stop)
            delay = 1.0
        except (psycopg.Error, OSError) as error:
            log.warning("notify.listen_failed", retry_in=delay, error=type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 30.0)


async def _listen(url: str, database: Database, stop: asyncio.Event) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, **database.connect_args) as conn:
        await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                notifies = asyncio.ensure_future(_next_notify(conn))
                await asyncio.wait([notifies, stopping], return_when=asyncio.FIRST_COMPLETED)
                if notifies.done():
                    notifies.result()
                    database.deliveries_enqueued.set()
                else:
                    notifies.cancel()
        finally:
            stopping.cancel()


async def _next_notify(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    async for _notify in conn.notifies():
        return

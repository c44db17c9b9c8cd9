"""Running processes: the server (API and workers) and the worker-only process."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AbstractContextManager, nullcontext
from typing import IO

import structlog
import uvicorn

from callout.api.app import create_app
from callout.services.instances import bootstrap
from callout.services.runtime import open_context
from callout.services.workers import WorkerPool, lock_sqlite_data_dir
from callout.settings import Settings
from callout.storage.database import redact_url

log = structlog.get_logger("callout")


def _process_lock(settings: Settings) -> AbstractContextManager[IO[str] | None]:
    # SQLite serialises writers within one process only: a second process is refused up front.
    if settings.resolved_database_url.startswith("sqlite"):
        return lock_sqlite_data_dir(settings.data_dir)
    return nullcontext()


async def run_server(settings: Settings) -> None:
    """Serve the API (and, unless ``workers`` is 0, deliver) until interrupted.

    The app's lifespan stops the workers and closes the services: uvicorn re-raises SIGTERM after
    its graceful shutdown, so code after ``serve()`` would never run.
    """
    with _process_lock(settings):
        context = await open_context(settings)
        token_file = await bootstrap(context, settings.data_dir)
        if token_file is not None:
            log.info("bootstrap.admin_token_written", path=str(token_file.resolve()))
        pool = WorkerPool(context, settings.workers, settings.worker_settings())
        app = create_app(context, max_body_bytes=settings.max_body_bytes, owns_context=True, workers=pool)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
        log.info(
            "serving",
            url=f"http://{settings.host}:{settings.port}",
            database=redact_url(settings.resolved_database_url),
            mode="dev" if settings.dev else "production",
            workers=settings.workers,
        )
        await uvicorn.Server(config).serve()
        log.info("stopped")


async def run_workers(settings: Settings, count: int) -> None:
    """Deliver with ``count`` workers and no API until SIGINT or SIGTERM."""
    with _process_lock(settings):
        context = await open_context(settings)
        pool = WorkerPool(context, count, settings.worker_settings())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, pool.request_stop)
        log.info("worker.starting", database=redact_url(settings.resolved_database_url), workers=count)
        pool.start()
        try:
            await pool.wait()
        finally:
            await context.close()
            log.info("worker.stopped")

"""Running processes: the server (API and workers) and the worker-only process."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, Any

import structlog
import uvicorn

from callout import tracing
from callout.api.app import create_app, with_api_catalog
from callout.api.metrics import ApiMetrics, metrics_app
from callout.listeners import ConnectionLimits, metrics_listener, uvicorn_config
from callout.services.context import ServiceContext
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
    """Serve the API (and, unless ``workers`` is 0, deliver) until interrupted; metrics on their own listener.

    The app's lifespan stops the workers and closes the services: uvicorn re-raises SIGTERM after
    its graceful shutdown, so code after ``serve()`` would never run.
    """
    with _process_lock(settings):
        tracing.start()  # shut down by the app's lifespan
        served = await build_app(settings)
        limits = ConnectionLimits.from_settings(settings)
        config = uvicorn_config(served.app, settings.host, settings.port, limits, settings.forwarded_allow_ips)
        async with metrics_listener(settings, metrics_app(served.metrics.registry)):
            log.info(
                "serving",
                url=f"http://{settings.host}:{settings.port}",
                external_url=settings.external_url,
                database=redact_url(settings.resolved_database_url),
                mode="dev" if settings.dev else "production",
                workers=settings.workers,
            )
            await uvicorn.Server(config).serve()
        log.info("stopped")


@dataclass(frozen=True)
class ServedApp:
    """What ``serve`` runs: the API app, and the context, workers and metrics it shares with nobody else."""

    app: Any
    context: ServiceContext
    workers: WorkerPool
    metrics: ApiMetrics


async def build_app(settings: Settings) -> ServedApp:
    """Open the services, bootstrap, and build the app with its workers over one shared context."""
    context = with_api_catalog(await open_context(settings))
    token_file = await bootstrap(context, settings.data_dir)
    if token_file is not None:
        log.info("bootstrap.admin_token_written", path=str(token_file.resolve()))
    pool = WorkerPool(context, settings.workers, settings.worker_settings())
    app = create_app(
        context,
        max_body_bytes=settings.max_body_bytes,
        owns_context=True,
        workers=pool,
        external_url=settings.external_url,
    )
    return ServedApp(app, context, pool, app.state.api.metrics)


async def run_workers(settings: Settings, count: int) -> None:
    """Deliver with ``count`` workers and no API until SIGINT or SIGTERM; metrics on their own listener."""
    with _process_lock(settings):
        tracing.start()
        context = await open_context(settings)
        pool = WorkerPool(context, count, settings.worker_settings())
        metrics = ApiMetrics()
        metrics.watch(context, pool)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, pool.request_stop)
        log.info("worker.starting", database=redact_url(settings.resolved_database_url), workers=count)
        try:
            async with metrics_listener(settings, metrics_app(metrics.registry)):
                pool.start()
                await pool.wait()
        finally:
            await context.close()
            await asyncio.to_thread(tracing.shutdown)
            log.info("worker.stopped")

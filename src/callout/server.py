"""Running processes: the server (API and workers) and the worker-only process."""

from __future__ import annotations

import asyncio
import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import IO, Any

import structlog

from callout import tracing
from callout.api.app import create_app, with_api_catalog
from callout.api.cutoff import ShutdownCutoff
from callout.api.metrics import ApiMetrics, metrics_app
from callout.console.app import mount_console
from callout.domain.console import SessionLimits
from callout.domain.durations import format_duration
from callout.listeners import ConnectionLimits, metrics_listener, uvicorn_config
from callout.services.context import ServiceContext
from callout.services.instances import FirstStart, bootstrap
from callout.services.runtime import open_context
from callout.services.workers import WorkerPool, lock_sqlite_data_dir
from callout.settings import Settings
from callout.shutdown import GracefulServer, StopSignals, handling_stop_signals, log_shutdown
from callout.storage.database import redact_url

log = structlog.get_logger("callout")


def _process_lock(settings: Settings) -> AbstractContextManager[IO[str] | None]:
    # SQLite serialises writers within one process only: a second process is refused up front.
    if settings.resolved_database_url.startswith("sqlite"):
        return lock_sqlite_data_dir(settings.data_dir)
    return nullcontext()


async def run_server(settings: Settings) -> None:
    """Serve the API (and, unless ``workers`` is 0, deliver) until SIGINT or SIGTERM; metrics on their own listener.

    A signal drains the API and the workers within the grace period (docs/shutdown.md); the app's
    lifespan stops the workers and closes the services, and the function returns (exit status 0).
    """
    with _process_lock(settings):
        tracing.start()  # shut down by the app's lifespan
        served = await build_app(settings)
        limits = ConnectionLimits.from_settings(settings)
        grace = settings.shutdown_grace.total_seconds()
        cutoff = ShutdownCutoff(served.app)
        config = uvicorn_config(
            cutoff,
            settings.host,
            settings.port,
            limits,
            settings.forwarded_allow_ips,
            timeout_graceful_shutdown=grace,
        )
        server = GracefulServer(config, served.workers, cutoff)
        signals = StopSignals(server.stop_gracefully, server.stop_now)
        with handling_stop_signals(signals):
            await _serve(settings, served, server)
        log_shutdown(signals, served.workers.report, server)
        log.info("stopped")


async def _serve(settings: Settings, served: ServedApp, server: GracefulServer) -> None:
    async with metrics_listener(settings, metrics_app(served.metrics.registry)):
        log.info(
            "serving",
            url=f"http://{settings.host}:{settings.port}",
            external_url=settings.external_url,
            database=redact_url(settings.resolved_database_url),
            mode="dev" if settings.dev else "production",
            workers=settings.workers,
            shutdown_grace=format_duration(settings.shutdown_grace),
        )
        if served.first_start is not None:
            announce_first_start(local_url(settings), served.first_start)
        await server.serve()


@dataclass(frozen=True)
class ServedApp:
    """What ``serve`` runs: the API app, and the context, workers and metrics it shares with nobody else."""

    app: Any
    context: ServiceContext
    workers: WorkerPool
    metrics: ApiMetrics
    first_start: FirstStart | None = None


async def build_app(settings: Settings) -> ServedApp:
    """Open the services (creating the data on the first start), bootstrap, and build the app with its workers."""
    context = with_api_catalog(await open_context(settings, create=True))
    first_start = await bootstrap(context, settings.data_dir)
    if first_start is not None:
        log.info("bootstrap.admin_token_written", path=str(first_start.token_file.resolve()))
    pool = WorkerPool(context, settings.workers, settings.worker_settings(), settings.shutdown_grace.total_seconds())
    app = create_app(
        context,
        max_body_bytes=settings.max_body_bytes,
        owns_context=True,
        workers=pool,
        external_url=settings.external_url,
    )
    mount_console(app, context, SessionLimits(settings.console_idle_timeout, settings.console_session_lifetime))
    return ServedApp(app, context, pool, app.state.api.metrics, first_start)


def local_url(settings: Settings) -> str:
    """The URL this server answers on, as a client on this host would type it."""
    if settings.external_url:
        return settings.external_url
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)  # noqa: S104
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def announce_first_start(url: str, first: FirstStart) -> None:
    """Tell the operator, once, what the first start created and what to do next (never the token itself)."""
    token_file = first.token_file.resolve()
    body = '{"name":"hello","endpoint":"https://example.com/hook","timeout":"10s","restWebhook":{}}'
    sys.stderr.write(
        "\ncallout is running for the first time; it created:\n"
        f"  API URL          {url}\n"
        f"  instance         {first.instance_id} (default)\n"
        f"  owner token file {token_file}\n"
        "next steps:\n"
        f'  1. create a target:  curl -X POST {url}/v2/actions/targets -H "Authorization: Bearer $(cat {token_file})"'
        f" -H 'Content-Type: application/json' -d '{body}'\n"
        "  2. administer instances and tokens with `callout --help`; the API reference is at "
        f"{url}/docs\n\n"
    )
    sys.stderr.flush()


async def run_workers(settings: Settings, count: int) -> None:
    """Deliver with ``count`` workers and no API until SIGINT or SIGTERM, then drain (docs/shutdown.md).

    Metrics are served on their own listener.
    """
    with _process_lock(settings):
        tracing.start()
        context = await open_context(settings, create=True)
        pool = WorkerPool(context, count, settings.worker_settings(), settings.shutdown_grace.total_seconds())
        metrics = ApiMetrics()
        metrics.watch(context, pool)
        signals = StopSignals(pool.request_stop, pool.interrupt)
        log.info(
            "worker.starting",
            database=redact_url(settings.resolved_database_url),
            workers=count,
            shutdown_grace=format_duration(settings.shutdown_grace),
        )
        try:
            with handling_stop_signals(signals):
                async with metrics_listener(settings, metrics_app(metrics.registry)):
                    pool.start()
                    await pool.wait()
        finally:
            await context.close()
            await asyncio.to_thread(tracing.shutdown)
        log_shutdown(signals, pool.report)
        log.info("worker.stopped")

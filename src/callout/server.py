"""Running the server process: open services, bootstrap on first start, serve with uvicorn."""

from __future__ import annotations

import structlog
import uvicorn

from callout.api.app import create_app
from callout.services.instances import bootstrap
from callout.services.runtime import open_context
from callout.settings import Settings
from callout.storage.database import redact_url

log = structlog.get_logger("callout")


async def run_server(settings: Settings) -> None:
    """Serve until interrupted.

    The app's lifespan closes the database: uvicorn re-raises SIGTERM after its graceful shutdown, so
    code after ``serve()`` would never run.
    """
    context = await open_context(settings)
    token_file = await bootstrap(context, settings.data_dir)
    if token_file is not None:
        log.info("bootstrap.admin_token_written", path=str(token_file.resolve()))
    app = create_app(context, max_body_bytes=settings.max_body_bytes, owns_context=True)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    log.info(
        "serving",
        url=f"http://{settings.host}:{settings.port}",
        database=redact_url(settings.resolved_database_url),
        mode="dev" if settings.dev else "production",
    )
    await uvicorn.Server(config).serve()
    log.info("stopped")

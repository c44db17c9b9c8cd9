"""Graceful shutdown of ``callout serve`` and ``callout worker`` on SIGTERM or SIGINT (docs/shutdown.md).

The first signal stops the listener from accepting connections and the workers from claiming; API
calls and delivery sends under way get the grace period to finish. A second signal cuts both short.
Either way the deliveries are recorded or given back, one ``shutdown`` line is logged, and the process
exits 0: the signals are handled on the event loop and never re-raised (uvicorn re-raises them).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

import structlog
import uvicorn

from callout.api.cutoff import ShutdownCutoff
from callout.services.workers import DrainReport, WorkerPool

log = structlog.get_logger("callout")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class StopSignals:
    """Counts stop signals: the first asks for a graceful stop, any later one for a faster one."""

    graceful: Callable[[], None]
    forced: Callable[[], None]
    received: list[str] = field(default_factory=list)
    since: float = 0.0

    def __call__(self, signum: int) -> None:
        """Handle one signal (on the event loop)."""
        self.received.append(signal.Signals(signum).name)
        if len(self.received) == 1:
            self.since = time.monotonic()
            log.info("shutdown.started", signal=self.received[0])
            self.graceful()
        else:
            log.info("shutdown.forced", signal=self.received[-1])
            self.forced()


@contextlib.contextmanager
def handling_stop_signals(handler: StopSignals) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``handler`` on the running loop while the block runs."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, handler, signum)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


class GracefulServer(uvicorn.Server):
    """uvicorn for ``serve``: the pool stops claiming at the first signal, and a forced stop still drains it.

    uvicorn's graceful shutdown closes the listener, lets requests under way finish within
    ``timeout_graceful_shutdown`` (the grace period) and cancels the rest (``cutoff`` answers them
    503); its lifespan shutdown then drains the pool. On a forced exit uvicorn skips the lifespan
    shutdown, so this server runs it.
    """

    def __init__(self, config: uvicorn.Config, pool: WorkerPool, cutoff: ShutdownCutoff) -> None:
        super().__init__(config)
        self.pool = pool
        self.cutoff = cutoff
        self.api_in_flight = 0

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave the signals to ``handling_stop_signals``: uvicorn's own handler would re-raise them."""
        yield

    def stop_gracefully(self) -> None:
        """First signal: stop accepting and claiming; what is under way gets the grace period."""
        self.api_in_flight = len(self.server_state.tasks)
        self.cutoff.shutting_down = True  # requests cancelled from now on are answered 503
        self.pool.request_stop()
        self.should_exit = True

    def stop_now(self) -> None:
        """Second signal: stop waiting for API calls, and cut the deliveries under way."""
        self.should_exit = self.force_exit = True
        self.pool.interrupt()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown; then cancel what a forced exit left running and drain the pool."""
        await super().shutdown(sockets)
        if self.force_exit:
            for task in self.server_state.tasks:
                task.cancel()
        if self.pool.report is None:  # a forced exit skipped the lifespan shutdown, which drains the pool
            await self.lifespan.shutdown()


def log_shutdown(signals: StopSignals, report: DrainReport | None, server: GracefulServer | None = None) -> None:
    """The one line that sums a shutdown up (nothing if the process was not stopped by a signal)."""
    if not signals.received:
        return
    report = report or DrainReport()
    api = {} if server is None else {"api_in_flight": server.api_in_flight, "api_cancelled": server.cutoff.cancelled}
    log.info(
        "shutdown",
        signals=",".join(signals.received),
        **api,
        deliveries_finished=report.finished,
        deliveries_released=report.released,
        seconds=round(time.monotonic() - signals.since, 2),
    )

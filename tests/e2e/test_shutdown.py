"""Graceful shutdown with real processes: SIGTERM during deliveries and API calls (docs/shutdown.md).

Receivers answer slowly but well within the targets' 5 s timeout, so no attempt is retried because a
receiver timed out: any delivery received twice would be the shutdown's doing. The receiver counts
deliveries per ``webhook-id``; each event has one target, so that is one count per event.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import Server, StartServer, callout_command, child_environment, run_callout_in_process
from tests.e2e.test_delivery_reliability import ACTION, FAST_RETRIES, CountingReceiver, bind_webhook, push

pytestmark = pytest.mark.e2e

# A lease far longer than any test: a delivery left leased by the shutdown would not be sent again in time.
NO_EXPIRY = {**FAST_RETRIES, "CALLOUT_DELIVERY_LEASE_SECONDS": "300", "CALLOUT_DELIVERY_BATCH_SIZE": "10"}
EXIT_MARGIN_SECONDS = 5.0


@pytest.fixture
def slow_receiver() -> Iterator[Callable[[float], CountingReceiver]]:
    """Factory: counting receivers that answer each delivery ``delay`` seconds after it arrives."""
    started: list[CountingReceiver] = []

    def start(delay: float) -> CountingReceiver:
        receiver = CountingReceiver(delay=delay)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def delivery_states(server: Server) -> dict[str, int]:
    """How many deliveries are in each state, read straight from the server's database."""
    query = "SELECT state, COUNT(*) FROM deliveries GROUP BY state"
    if server.database.url is None:
        with sqlite3.connect(server.data_dir / "callout.db") as conn:
            return dict(conn.execute(query).fetchall())
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, options=f"-csearch_path={server.database.schema}") as conn:
        return {state: count for state, count in conn.execute(query).fetchall()}


def last_errors(server: Server) -> list[tuple[str, int, str | None]]:
    """Every delivery's (state, attempts, last_error)."""
    query = "SELECT state, attempts, last_error FROM deliveries"
    if server.database.url is None:
        with sqlite3.connect(server.data_dir / "callout.db") as conn:
            return list(conn.execute(query).fetchall())
    url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, options=f"-csearch_path={server.database.schema}") as conn:
        return list(conn.execute(query).fetchall())


def terminate(process: subprocess.Popen[bytes], timeout: float, *signals: signal.Signals) -> int:
    """Send the signals (SIGTERM if none) and wait for the exit status; fail if the process outlives ``timeout``."""
    for signum in signals or (signal.SIGTERM,):
        process.send_signal(signum)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the process did not exit within {timeout} s of the signal")


def shutdown_line(log: str) -> str:
    """The one ``shutdown`` summary line of a process's log."""
    lines = [line for line in log.splitlines() if " shutdown " in f" {line} " and "deliveries_finished=" in line]
    assert len(lines) == 1, log[-3000:]
    return lines[0]


def restart_and_wait(start_server: StartServer, first: Server, receiver: CountingReceiver, total: int) -> None:
    """Start a server on the same data and wait until ``total`` distinct deliveries arrived."""
    start_server(first.database.backend, data_dir=first.data_dir, database=first.database, extra_args=("--dev",))
    receiver.wait_for(lambda stats: stats["distinct"] >= total, timeout=30, poll=0.05)


class TestServeShutdownDuringDeliveries:
    """SIGTERM to ``callout serve`` while deliveries are in flight."""

    @pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
    def test_sigterm_drains_exits_0_and_loses_or_repeats_nothing(
        self, backend: str, start_server: StartServer, slow_receiver: Callable[[float], CountingReceiver]
    ) -> None:
        """Sends under way finish and are counted, nothing stays leased, and a restart delivers the rest once."""
        grace = 5.0
        first = start_server(backend, extra_args=("--dev", "--shutdown-grace", f"{grace}s"), env=NO_EXPIRY)
        receiver = slow_receiver(0.5)
        bind_webhook(first, receiver)
        push(first, 40)
        receiver.wait_for(lambda stats: stats["received"] >= 5, timeout=15, poll=0.01)
        assert terminate(first.process, grace + EXIT_MARGIN_SECONDS) == 0, first.log_text()[-3000:]
        finished = _field(shutdown_line(first.log_text()), "deliveries_finished")
        assert finished == f"deliveries_finished={receiver.stats()['received']}"
        states = delivery_states(first)
        assert (states.get("in_flight", 0), states.get("pending", 0) > 0) == (0, True), states
        restart_and_wait(start_server, first, receiver, 40)
        assert (receiver.stats()["distinct"], receiver.stats()["maxPerId"]) == (40, 1)

    @pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
    def test_sends_cut_at_the_grace_deadline_are_released_unattempted(
        self, backend: str, start_server: StartServer, slow_receiver: Callable[[float], CountingReceiver]
    ) -> None:
        """Sends still running when the grace ends go back to pending, no attempt counted, noted as interrupted."""
        first = start_server(backend, extra_args=("--dev", "--shutdown-grace", "200ms"), env=NO_EXPIRY)
        receiver = slow_receiver(2.0)
        bind_webhook(first, receiver)
        push(first, 5)
        receiver.wait_for(lambda stats: stats["received"] >= 5, timeout=15, poll=0.01)
        assert terminate(first.process, EXIT_MARGIN_SECONDS) == 0, first.log_text()[-3000:]
        assert _field(shutdown_line(first.log_text()), "deliveries_released") == "deliveries_released=5"
        rows = last_errors(first)
        assert {(state, attempts) for state, attempts, _ in rows} == {("pending", 0)}, rows
        assert all((error or "").startswith("interrupted") for _, _, error in rows), rows

    @pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
    def test_second_signal_cuts_the_grace_short(
        self, backend: str, start_server: StartServer, slow_receiver: Callable[[float], CountingReceiver]
    ) -> None:
        """SIGTERM then SIGINT ends a 60 s grace at once: exit 0, the sends under way released, none leased."""
        first = start_server(backend, extra_args=("--dev", "--shutdown-grace", "60s"), env=NO_EXPIRY)
        receiver = slow_receiver(4.0)
        bind_webhook(first, receiver)
        push(first, 3)
        receiver.wait_for(lambda stats: stats["received"] >= 3, timeout=15, poll=0.01)
        status = terminate(first.process, EXIT_MARGIN_SECONDS, signal.SIGTERM, signal.SIGINT)
        assert status == 0, first.log_text()[-3000:]
        assert delivery_states(first) == {"pending": 3}


class TestServeShutdownDuringApiCall:
    """SIGTERM to ``callout serve`` while an API call waits for a synchronous target."""

    @pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
    def test_call_in_flight_gets_its_normal_answer(
        self, backend: str, start_server: StartServer, slow_receiver: Callable[[float], CountingReceiver]
    ) -> None:
        """A ListTargets call whose request target takes 1 s answers 200 with the list, and the server exits 0."""
        server = start_server(backend, extra_args=("--dev", "--shutdown-grace", "5s"))
        receiver = slow_receiver(1.0)
        target_id = _slow_request_target(server, receiver, "ListTargets")
        call = _call_in_thread(server, "ListTargets")
        receiver.wait_for(lambda stats: stats["received"] >= 1, timeout=10, poll=0.01)
        assert terminate(server.process, 5 + EXIT_MARGIN_SECONDS) == 0, server.log_text()[-3000:]
        response = call.result()
        assert response.status_code == 200, response.text
        assert target_id in [target["id"] for target in response.json()["targets"]]
        assert _field(shutdown_line(server.log_text()), "api_in_flight") == "api_in_flight=1"

    def test_call_still_running_when_the_grace_ends_is_cancelled_and_counted(
        self, start_server: StartServer, slow_receiver: Callable[[float], CountingReceiver]
    ) -> None:
        """A call whose request target outlasts a 200 ms grace is answered 503 unavailable and counted; exit 0."""
        server, call = _call_cut_at_grace_end(start_server, slow_receiver)
        response = call.result()
        assert (response.status_code, response.json()["code"]) == (503, "unavailable"), response.text
        assert _field(shutdown_line(server.log_text()), "api_cancelled") == "api_cancelled=1"

    def test_rpc_line_of_a_call_cut_at_the_grace_end_says_canceled(
        self, start_server: StartServer, slow_receiver: Callable[[float], CountingReceiver]
    ) -> None:
        """The rpc log line of a call cancelled when the grace ended has code=canceled, not code=ok."""
        server, call = _call_cut_at_grace_end(start_server, slow_receiver)
        call.result()
        lines = [line for line in server.log_text().splitlines() if " rpc " in line and "/ListTargets" in line]
        assert [_field(line, "code") for line in lines] == ["code=canceled"], lines


class TestWorkerShutdown:
    """SIGTERM to ``callout worker`` (PostgreSQL, with a serve process that only takes the pushes)."""

    def test_worker_drains_exits_0_and_the_next_worker_delivers_the_rest_once(
        self,
        start_server: StartServer,
        slow_receiver: Callable[[float], CountingReceiver],
        tmp_path: Path,
    ) -> None:
        """In-flight sends finish, nothing stays leased, and a second worker delivers every remaining event once."""
        api = start_server("postgresql", extra_args=("--dev", "--workers", "0"), env=NO_EXPIRY)
        receiver = slow_receiver(0.5)
        bind_webhook(api, receiver)
        push(api, 40)
        first = _start_worker(api, tmp_path / "first.log")
        receiver.wait_for(lambda stats: stats["received"] >= 5, timeout=15, poll=0.01)
        assert terminate(first.process, 5 + EXIT_MARGIN_SECONDS) == 0, first.log()[-3000:]
        finished = _field(shutdown_line(first.log()), "deliveries_finished")
        assert finished == f"deliveries_finished={receiver.stats()['received']}"
        states = delivery_states(api)
        assert (states.get("in_flight", 0), states.get("pending", 0) > 0) == (0, True), states
        second = _start_worker(api, tmp_path / "second.log")
        receiver.wait_for(lambda stats: stats["distinct"] >= 40, timeout=30, poll=0.05)
        terminate(second.process, 5 + EXIT_MARGIN_SECONDS)
        assert (receiver.stats()["distinct"], receiver.stats()["maxPerId"]) == (40, 1)


@dataclass
class WorkerProcess:
    """A running ``callout worker`` and its log file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the worker has written so far."""
        return self.log_path.read_text(errors="replace")


def _start_worker(api: Server, log_path: Path) -> WorkerProcess:
    command = [*callout_command(), "worker", "--workers", "1", "--shutdown-grace", "5s", *api.storage_args()]
    with log_path.open("wb") as log_file:
        env = {**child_environment(), **NO_EXPIRY, "CALLOUT_DEV": "true"}
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    return WorkerProcess(process, log_path)


def _slow_request_target(server: Server, receiver: CountingReceiver, method: str) -> str:
    with server.http(server.admin_token) as http:
        body = {"name": f"slow-{receiver.port}", "restWebhook": {}, "timeout": "5s", "endpoint": receiver.url}
        target_id = str(http.post(f"{ACTION}/CreateTarget", json=body).json()["id"])
        condition = {"request": {"method": f"{ACTION}/{method}"}}
        answer = http.post(f"{ACTION}/SetExecution", json={"condition": condition, "targets": [target_id]})
        assert answer.status_code == 200, answer.text
    return target_id


class _Call:
    """An API call made on a thread, so that the test can signal the server meanwhile."""

    def __init__(self, server: Server, method: str) -> None:
        self._server, self._method = server, method
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        with self._server.http(self._server.admin_token) as http:
            self._response = http.post(f"{ACTION}/{self._method}", json={})

    def result(self) -> httpx.Response:
        """The response, once the call is over."""
        self._thread.join(timeout=15)
        assert self._response is not None
        return self._response


def _call_in_thread(server: Server, method: str) -> _Call:
    return _Call(server, method)


def _call_cut_at_grace_end(
    start_server: StartServer, slow_receiver: Callable[[float], CountingReceiver]
) -> tuple[Server, _Call]:
    """A ListTargets whose 3 s request target outlasts a 200 ms grace, with the server SIGTERMed (exit 0)."""
    server = start_server("sqlite", extra_args=("--dev", "--shutdown-grace", "200ms"))
    receiver = slow_receiver(3.0)
    _slow_request_target(server, receiver, "ListTargets")
    call = _call_in_thread(server, "ListTargets")
    receiver.wait_for(lambda stats: stats["received"] >= 1, timeout=10, poll=0.01)
    assert terminate(server.process, EXIT_MARGIN_SECONDS) == 0, server.log_text()[-3000:]
    return server, call


def _field(line: str, name: str) -> str:
    return next((part for part in line.split() if part.startswith(f"{name}=")), f"{name} missing")


class TestShutdownGraceOption:
    """``--shutdown-grace`` on ``serve`` and ``worker``."""

    @pytest.mark.parametrize("command", ["serve", "worker"])
    def test_a_value_that_is_not_a_duration_is_a_one_line_error(self, command: str, tmp_path: Path) -> None:
        """``--shutdown-grace soon`` exits 1 naming the setting and the accepted forms, before starting anything."""
        result = run_callout_in_process(command, "--data-dir", str(tmp_path), "--shutdown-grace", "soon", check=False)
        assert (result.returncode, "shutdown_grace" in result.stderr, "10s" in result.stderr) == (1, True, True)

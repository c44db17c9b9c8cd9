"""End-to-end fixtures: ``callout serve`` as a real process on 127.0.0.1, on SQLite and PostgreSQL.

Every fixture here is a factory. A module gets one server per backend (``server``) and may start more
(``start_server``), e.g. to restart on the same data directory. ``Server.cli`` runs the CLI as a real
process against the same data directory and database; ``Server.admin`` runs the same command in-process
with click's runner, which is much faster and meant for setup steps (creating instances and tokens).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import BACKENDS, POSTGRES_URL

STARTUP_TIMEOUT_SECONDS = 20.0
CLI_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/e2e is marked e2e, so `-m 'not e2e'` leaves out the server processes."""
    e2e_dir = Path(__file__).parent
    for item in items:
        if e2e_dir in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def callout_command() -> list[str]:
    """The installed ``callout`` script next to this interpreter, else ``python -m callout``."""
    script = Path(sys.executable).with_name("callout")
    return [str(script)] if script.exists() else [sys.executable, "-m", "callout"]


def child_environment() -> dict[str, str]:
    """This process's environment without CALLOUT_* settings, unbuffered, with a wide terminal for tables.

    Servers resolve only pinned names, so no test sends a DNS query off this machine. The metrics
    listener is off unless asked for: processes started side by side would all want its default port.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLOUT_")}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="250", NO_COLOR="1", CALLOUT_EGRESS_RESOLVER="static")
    env.update(CALLOUT_METRICS_ADDRESS="")
    return env


def post_ok(client: httpx.Client, path: str, body: dict[str, object]) -> dict[str, object]:
    """POST a Connect JSON body, assert the answer is 200, and return its JSON object."""
    response = client.post(path, json=body)
    assert response.status_code == 200, (path, response.text)
    return dict(response.json())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Database:
    """Where a server keeps its data: a backend name and the URL passed as --database-url (None: SQLite)."""

    backend: str
    url: str | None
    schema: str | None = None

    def dump(self, data_dir: Path) -> str:
        """Every row of every table as text, to check what is (not) stored in the clear."""
        if self.url is None:
            with sqlite3.connect(data_dir / "callout.db") as conn:
                return "\n".join(conn.iterdump())
        rows: list[str] = []
        with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (self.schema,)
            ).fetchall()
            for (table,) in tables:
                query = f'SELECT * FROM "{self.schema}"."{table}"'
                rows.extend(repr(row) for row in conn.execute(query).fetchall())  # type: ignore[arg-type]
        return "\n".join(rows)


@dataclass
class CliResult:
    """The outcome of one ``callout`` command."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run_callout(
    *args: str, check: bool = True, env: dict[str, str] | None = None, cwd: Path | None = None
) -> CliResult:
    """Run ``callout <args>`` as a process (in ``cwd`` if given); with check, a non-zero exit fails the test."""
    completed = subprocess.run(
        [*callout_command(), *args],
        capture_output=True,
        text=True,
        env=child_environment() if env is None else env,
        timeout=CLI_TIMEOUT_SECONDS,
        cwd=cwd,
    )
    result = CliResult(tuple(args), completed.returncode, completed.stdout, completed.stderr)
    if check and completed.returncode != 0:
        pytest.fail(f"callout {' '.join(args)} exited {completed.returncode}:\n{completed.stderr}")
    return result


def run_callout_in_process(*args: str, check: bool = True, env: dict[str, str | None] | None = None) -> CliResult:
    """Run the same ``callout`` command in this process with click's runner: fast, for setup steps.

    CALLOUT_* variables of this process are hidden from the command; ``env`` adds or (None) removes more.
    """
    from click.testing import CliRunner

    from callout.cli import main

    hidden: dict[str, str | None] = {key: None for key in os.environ if key.startswith("CALLOUT_")}
    outcome = CliRunner().invoke(main, list(args), env={**hidden, "COLUMNS": "250", **(env or {})})
    if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
        raise outcome.exception
    result = CliResult(tuple(args), outcome.exit_code, outcome.stdout, outcome.stderr)
    if check and outcome.exit_code != 0:
        pytest.fail(f"callout {' '.join(args)} exited {outcome.exit_code}:\n{outcome.stderr}")
    return result


def parse_created_token(result: CliResult) -> tuple[str, str]:
    """The token (stdout) and its id (stderr: ``token id <id> (...)``) printed by ``tokens create``."""
    match = re.search(r"token id ([0-9]+)", result.stderr)
    assert match is not None, result.stderr
    return result.stdout.strip(), match.group(1)


@dataclass
class Server:
    """A running ``callout serve`` process and the means to inspect and administer it."""

    base_url: str
    port: int
    data_dir: Path
    database: Database
    log_path: Path
    process: subprocess.Popen[bytes]
    metrics_url: str = ""
    _stopped: bool = field(default=False, repr=False)

    @property
    def admin_pat_path(self) -> Path:
        """The token file the first start writes."""
        return self.data_dir / "admin.pat"

    @property
    def admin_token(self) -> str:
        """The IAM_OWNER token of the default instance, read from admin.pat."""
        return self.admin_pat_path.read_text().strip()

    def log_text(self) -> str:
        """Everything the process has written to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def storage_args(self) -> list[str]:
        """The options that point a CLI command at this server's data."""
        args = ["--data-dir", str(self.data_dir)]
        if self.database.url is not None:
            args += ["--database-url", self.database.url]
        return args

    def cli(self, *args: str, check: bool = True) -> CliResult:
        """Run ``callout <args> --data-dir ... [--database-url ...]`` as a real process."""
        return run_callout(*args, *self.storage_args(), check=check)

    def admin(self, *args: str, check: bool = True, env: dict[str, str | None] | None = None) -> CliResult:
        """Run ``callout <args>`` on this server's data in-process (for setup; much faster than a process)."""
        return run_callout_in_process(*args, *self.storage_args(), check=check, env=env)

    def create_instance(self, name: str | None = None) -> str:
        """Create an instance (in-process CLI); return its id."""
        return self.admin("instances", "create", "--name", name or f"e2e-{secrets.token_hex(4)}").stdout.strip()

    def create_token(self, instance_id: str, role: str = "IAM_OWNER") -> tuple[str, str]:
        """Create a token (in-process CLI); return (token, token id)."""
        return parse_created_token(self.admin("tokens", "create", "--instance", instance_id, "--role", role))

    def http(self, token: str | None = None) -> httpx.Client:
        """A plain HTTP client for this server (no proxies), with a Bearer token if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, trust_env=False, timeout=10.0)

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL) and wait for it."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


MakeDatabase = Callable[[str], Database]
RunCli = Callable[..., CliResult]


@pytest.fixture
def cli() -> RunCli:
    """Factory: run ``callout <args>`` as a real process, with no data directory unless given."""
    return run_callout


@pytest.fixture
def cli_in_process() -> RunCli:
    """Factory: run ``callout <args>`` in this process with click's runner, with no data directory unless given."""
    return run_callout_in_process


StartServer = Callable[..., Server]


@pytest.fixture(scope="module")
def make_database(postgres_ready: bool) -> Iterator[MakeDatabase]:
    """Factory: storage for a new server; PostgreSQL gets a fresh schema, dropped at the end of the module."""
    schemas: list[str] = []

    def make(backend: str) -> Database:
        if backend == "sqlite":
            return Database("sqlite", None)
        if not postgres_ready:
            pytest.skip("PostgreSQL is not reachable")
        schema = f"e2e_{secrets.token_hex(6)}"
        with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
        schemas.append(schema)
        separator = "&" if "?" in POSTGRES_URL else "?"
        return Database("postgresql", f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}", schema)

    yield make
    for schema in schemas:
        with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory, make_database: MakeDatabase) -> Iterator[StartServer]:
    """Factory: start ``callout serve`` and wait for /healthz; every process is terminated at the end.

    ``env`` adds variables (e.g. CALLOUT_* settings) to the process's environment.
    """
    started: list[Server] = []

    def start(
        backend: str = "sqlite",
        *,
        data_dir: Path | None = None,
        database: Database | None = None,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> Server:
        data_dir = data_dir or tmp_path_factory.mktemp("callout-data")
        database = database or make_database(backend)
        earlier = ""
        for _attempt in range(3):
            # A retry keeps what the attempts before it logged: the first start may have done (and
            # logged) a one-time step, e.g. fixing the data dir's modes, that a test looks for.
            server = _launch(data_dir, database, extra_args, tmp_path_factory, env, earlier)
            started.append(server)
            if _wait_until_healthy(server):
                return server
            server.stop()
            earlier = server.log_text()
            if "address already in use" not in earlier.lower():
                pytest.fail(f"callout serve did not become healthy:\n{earlier}")
        pytest.fail("callout serve found no free port in three attempts")

    yield start
    for server in started:
        server.stop()


def _launch(
    data_dir: Path,
    database: Database,
    extra_args: tuple[str, ...],
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str] | None = None,
    earlier_log: str = "",
) -> Server:
    port, metrics_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("callout-log") / "server.log"
    command = [*callout_command(), "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--metrics-address", f"127.0.0.1:{metrics_port}"]
    if database.url is not None:
        command += ["--database-url", database.url]
    command += list(extra_args)
    log_path.write_text(earlier_log)
    with log_path.open("ab") as log_file:
        environment = {**child_environment(), **(env or {})}
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=environment)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    return Server(f"http://127.0.0.1:{port}", port, data_dir, database, log_path, process, metrics_url)


def _wait_until_healthy(server: Server) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with httpx.Client(trust_env=False, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False
            try:
                if client.get(f"{server.base_url}/healthz").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    server.stop()
    pytest.fail(f"callout serve did not answer /healthz within {STARTUP_TIMEOUT_SECONDS}s:\n{server.log_text()}")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, start_server: StartServer) -> Server:
    """One server per backend, shared by the tests of a module (they use unique names and instances)."""
    return start_server(request.param)

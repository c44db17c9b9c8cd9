"""Operations against a real ``callout serve`` process: listeners, public URL, connection limits, file modes.

Slow clients are real sockets on 127.0.0.1 against a server started with short read deadlines; each
client gives up after a bounded time, so a server that never closes them fails the test instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server, StartServer, callout_command, child_environment, free_port

SLOW_CLIENTS = 200
CLIENT_PATIENCE_SECONDS = 10.0
TRICKLE_INTERVAL_SECONDS = 0.2
SHORT_DEADLINES = ("--header-timeout", "1", "--body-timeout", "1", "--keep-alive-timeout", "1")
EXTERNAL_URL = "https://callout.example.com"
HOSTILE_HEADERS = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}


def families(exposition: str) -> set[str]:
    """The metric family names of a Prometheus text exposition."""
    return {family.name for family in text_string_to_metric_families(exposition)}


def mode(path: Path) -> int:
    """The permission bits of a file or directory."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def guarded_server(start_server: StartServer) -> Server:
    """A SQLite server whose clients get one second for headers, one for a body, one idle between requests."""
    return start_server("sqlite", extra_args=SHORT_DEADLINES)


class TestListeners:
    def test_api_port_does_not_serve_metrics(self, server: Server) -> None:
        """GET /metrics on the API port answers 404."""
        with server.http() as client:
            assert client.get("/metrics").status_code == 404

    def test_metrics_port_serves_prometheus_text(self, server: Server) -> None:
        """The metrics listener answers /metrics in the Prometheus text format, counting RPCs made on the API port."""
        with server.http(server.admin_token) as client:
            assert client.post("/zitadel.action.v2.ActionService/ListTargets", json={}).status_code == 200
        with httpx.Client(trust_env=False, timeout=10.0) as scraper:
            response = scraper.get(server.metrics_url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert {"callout_rpc_requests", "callout_target_calls", "callout_deliveries"} <= families(response.text)

    def test_worker_process_serves_metrics(self, tmp_path: Path) -> None:
        """``callout worker --metrics-address`` serves the delivery metrics on that address."""
        address = f"127.0.0.1:{free_port()}"
        url = f"http://{address}/metrics"
        command = [*callout_command(), "worker", "--data-dir", str(tmp_path), "--metrics-address", address]
        process = subprocess.Popen(command, env=child_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            exposition = _scrape_when_up(url, process)
        finally:
            process.terminate()
            process.wait(timeout=10)
        assert {"callout_delivery_queue_depth", "callout_deliveries"} <= families(exposition)


def _scrape_when_up(url: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 20
    with httpx.Client(trust_env=False, timeout=2.0) as scraper:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                return scraper.get(url).raise_for_status().text
            except httpx.TransportError:
                time.sleep(0.1)
    raise AssertionError(f"no metrics at {url}: {process.stderr.read() if process.stderr else ''!r}")


class TestPublicUrl:
    def test_hostile_host_is_not_the_issuer(self, server: Server) -> None:
        """Host, X-Forwarded-Host and X-Forwarded-Proto from a client are ignored: the issuer is the listener."""
        with server.http() as client:
            document = client.get("/.well-known/openid-configuration", headers=HOSTILE_HEADERS).json()
        assert document["issuer"] == server.base_url
        assert document["jwks_uri"] == f"{server.base_url}/oauth/v2/keys"

    def test_configured_external_url_is_the_issuer(self, start_server: StartServer) -> None:
        """With --external-url the issuer is that URL, whatever the request's headers say."""
        server = start_server("sqlite", extra_args=("--external-url", EXTERNAL_URL))
        with server.http() as client:
            document = client.get("/.well-known/openid-configuration", headers=HOSTILE_HEADERS).json()
        assert document == {"issuer": EXTERNAL_URL, "jwks_uri": f"{EXTERNAL_URL}/oauth/v2/keys"}

    def test_forwarded_proto_counts_only_from_a_configured_proxy(self, start_server: StartServer) -> None:
        """Behind a configured proxy (127.0.0.1) X-Forwarded-Proto sets the scheme; the host stays the listener's."""
        server = start_server("sqlite", extra_args=("--forwarded-allow-ips", "127.0.0.1"))
        with server.http() as client:
            document = client.get("/.well-known/openid-configuration", headers=HOSTILE_HEADERS).json()
        assert document["issuer"] == server.base_url.replace("http://", "https://")


async def _closed_by_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bytes) -> bool:
    """Send ``trickle`` a byte at a time until the server closes the connection; False if it never does."""
    deadline = time.monotonic() + CLIENT_PATIENCE_SECONDS
    try:
        for byte in (trickle[i : i + 1] for i in range(len(trickle))):
            writer.write(byte)
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), TRICKLE_INTERVAL_SECONDS) == b"":
                    return True
            except TimeoutError:
                pass
            if time.monotonic() > deadline:
                return False
        return False
    except ConnectionError:
        return True
    finally:
        writer.close()


async def _slow_clients(port: int, count: int, request_head: bytes, trickle: bytes) -> list[bool]:
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    for _, writer in connections:
        writer.write(request_head)
    return list(await asyncio.gather(*(_closed_by_server(r, w, trickle) for r, w in connections)))


async def _health_during(server: Server, slow: asyncio.Future[list[bool]]) -> int:
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=CLIENT_PATIENCE_SECONDS) as client:
        status = (await client.get("/healthz")).status_code
    await slow
    return status


class TestConnectionLimits:
    async def test_trickled_headers_are_cut_off_while_healthz_answers(self, guarded_server: Server) -> None:
        """200 clients trickling headers are disconnected by the server, and /healthz answers meanwhile."""
        endless_header = b"X-Slow: " + b"a" * 400
        slow = asyncio.ensure_future(
            _slow_clients(guarded_server.port, SLOW_CLIENTS, b"GET /healthz HTTP/1.1\r\n", endless_header)
        )
        assert await _health_during(guarded_server, slow) == 200
        assert slow.result() == [True] * SLOW_CLIENTS

    async def test_trickled_bodies_are_cut_off(self, guarded_server: Server) -> None:
        """Clients that send their headers and then trickle the body are disconnected by the server."""
        head = (
            "POST /zitadel.action.v2.ActionService/ListTargets HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {guarded_server.admin_token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        ).encode()
        closed = await _slow_clients(guarded_server.port, 20, head, b" " * 400)
        assert closed == [True] * 20

    async def test_silent_connections_are_closed(self, guarded_server: Server) -> None:
        """Connections that never send a byte are closed by the server."""
        connections = [await asyncio.open_connection("127.0.0.1", guarded_server.port) for _ in range(50)]
        reads = [asyncio.wait_for(reader.read(1024), CLIENT_PATIENCE_SECONDS) for reader, _ in connections]
        assert await asyncio.gather(*reads) == [b""] * 50
        for _, writer in connections:
            writer.close()

    async def test_idle_kept_alive_connection_is_closed(self, guarded_server: Server) -> None:
        """After a response, a kept-alive connection that stays idle is closed by the server."""
        reader, writer = await asyncio.open_connection("127.0.0.1", guarded_server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLIENT_PATIENCE_SECONDS)
        assert head.startswith(b"HTTP/1.1 200")
        rest = await asyncio.wait_for(reader.read(), CLIENT_PATIENCE_SECONDS)  # the body, then EOF
        assert rest == b'{"status":"ok"}'
        writer.close()

    async def test_read_timeouts_are_logged_one_line_each(self, guarded_server: Server) -> None:
        """A connection cut off is logged as one http.read_timeout line naming the phase, without a traceback."""
        reader, writer = await asyncio.open_connection("127.0.0.1", guarded_server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nX-Peer: cut-off-")
        assert await asyncio.wait_for(reader.read(1024), CLIENT_PATIENCE_SECONDS) == b""
        writer.close()
        (_, port) = writer.get_extra_info("sockname")
        lines = [line for line in guarded_server.log_text().splitlines() if f"127.0.0.1:{port}" in line]
        assert len(lines) == 1, lines
        assert "http.read_timeout" in lines[0]
        assert "phase=headers" in lines[0]
        assert "Traceback" not in guarded_server.log_text()


class TestConnectionCap:
    async def test_requests_beyond_max_connections_are_refused_with_503(self, start_server: StartServer) -> None:
        """With --max-connections 3 and three connections open, a further request is answered 503 at once."""
        server = start_server("sqlite", extra_args=("--max-connections", "3"))
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
        async with httpx.AsyncClient(
            base_url=server.base_url, trust_env=False, timeout=CLIENT_PATIENCE_SECONDS
        ) as client:
            refused = (await client.get("/healthz")).status_code
            for _, writer in held:
                writer.close()
                await writer.wait_closed()
            await asyncio.sleep(0.5)  # let the server see them go
            served = (await client.get("/healthz", headers={"Connection": "close"})).status_code
        assert (refused, served) == (503, 200)


class TestFileModes:
    def test_open_data_dir_from_before_is_made_private(self, start_server: StartServer, tmp_path: Path) -> None:
        """A data dir 0755 with a database 0644 from before is 0700, and the database files 0600, once serving."""
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        os.chmod(data_dir, 0o755)
        (data_dir / "callout.db").touch()
        os.chmod(data_dir / "callout.db", 0o644)
        server = start_server("sqlite", data_dir=data_dir)
        with server.http(server.admin_token) as client:  # a write, so that the WAL files exist
            assert client.post("/zitadel.action.v2.ActionService/ListTargets", json={}).status_code == 200
        files = [data_dir / name for name in ("callout.db", "callout.db-wal", "callout.db-shm")]
        assert (mode(data_dir), [mode(path) for path in files]) == (0o700, [0o600] * 3)
        assert "datadir.mode_fixed" in server.log_text()

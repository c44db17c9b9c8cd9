"""Shared by the benchmarks: a free loopback port, and a quiet ``callout serve`` process started on it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# The name benches give their targets, pinned to a public address (only checked, never contacted).
BENCH_RESOLVE = '{"example.com": ["93.184.215.14"]}'


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_callout(
    data_dir: Path, port: int, database_url: str | None = None, *, dev: bool = False
) -> subprocess.Popen[bytes]:
    """``callout serve`` on 127.0.0.1:port, logging warnings only, returned once /healthz answers.

    ``dev`` (``--dev``) lets targets on loopback be called over plain http.
    """
    command = [sys.executable, "-m", "callout", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    if database_url:
        command += ["--database-url", database_url]
    if dev:
        command.append("--dev")
    env = {**os.environ, "CALLOUT_LOG_LEVEL": "warning", "CALLOUT_METRICS_ADDRESS": ""}
    # Targets' endpoints are resolved at create time; a pinned name keeps DNS (slow or absent on
    # test machines) out of the figures.
    env.update(CALLOUT_EGRESS_RESOLVER="static", CALLOUT_EGRESS_RESOLVE=BENCH_RESOLVE)
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("callout did not start")

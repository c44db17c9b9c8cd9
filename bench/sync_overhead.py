"""Benchmark: what the engine adds to one synchronous target call, as a ratio to a raw aiohttp POST.

A receiver runs in a separate process on 127.0.0.1 and answers every POST with a small JSON object.
In one run this measures, alternating in blocks so machine noise hits both alike:

* baseline: a raw ``aiohttp`` POST of the same payload bytes on a shared session;
* engine: a one-target ``rest_call`` chain through ``ChainRunner`` (request payload built with the
  Go-compatible encoder, signed with ZITADEL-Signature, sent through ``AiohttpSender`` with the
  egress policy, answer interpreted and applied).

    .venv/bin/python bench/sync_overhead.py --calls 5000
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.clock import SystemClock
from callout.domain.egress import EgressPolicy
from callout.domain.targets import PayloadType, Target, TargetType
from callout.engine.chain import ChainRunner
from callout.engine.router import RoutedTarget, SigningKey
from callout.logs import configure_logging
from callout.services.interception import RequestExchange

RECEIVER = Path(__file__).with_name("receiver.py")
BLOCK = 250


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _routed(url: str) -> RoutedTarget:
    now = datetime.now(UTC)
    target = Target(
        id="1",
        instance_id="i",
        name="bench",
        target_type=TargetType.CALL,
        interrupt_on_error=True,
        timeout=timedelta(seconds=10),
        endpoint=url,
        payload_type=PayloadType.JSON,
        creation_date=now,
        change_date=now,
    )
    return RoutedTarget(target, (SigningKey("k" * 36),))


def _exchange() -> RequestExchange:
    principal = Principal("user-1", "instance-1", "org-1", Role.IAM_OWNER, "token-1")
    headers = {"Content-Type": ["application/json"], "Host": ["callout.test"]}
    request = {"id": "target-123", "name": "benchmark"}
    return RequestExchange(principal, "/zitadel.action.v2.ActionService/GetTarget", headers, request)


async def _time(action: object, samples: list[float]) -> None:
    started = time.perf_counter()
    await action()  # type: ignore[operator]
    samples.append((time.perf_counter() - started) * 1000)


async def _measure(url: str, calls: int) -> tuple[list[float], list[float]]:
    routed, body = _routed(url), _exchange().body()
    raw: list[float] = []
    engine: list[float] = []
    sender = AiohttpSender(EgressPolicy(dev_mode=True), StaticResolver())
    runner = ChainRunner(sender, SystemClock())
    async with aiohttp.ClientSession() as session:

        async def raw_post() -> None:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                await response.read()

        async def chain() -> None:
            await runner.run([routed], _exchange())

        for _ in range(20):  # warm both connection pools
            await raw_post()
            await chain()
        for start in range(0, calls, BLOCK):
            for _ in range(min(BLOCK, calls - start)):
                await _time(raw_post, raw)
            for _ in range(min(BLOCK, calls - start)):
                await _time(chain, engine)
    await sender.close()
    return raw, engine


def _summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


def main() -> None:
    """Start the receiver process, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per measurement (default 5000)")
    args = parser.parse_args()
    configure_logging("json", "warning")  # as in production: per-call info lines are filtered out
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, str(RECEIVER), str(port)])
    try:
        time.sleep(1.0)
        raw, engine = asyncio.run(_measure(f"http://127.0.0.1:{port}/hook", args.calls))
    finally:
        receiver.terminate()
        receiver.wait(10)
    (raw50, raw99), (eng50, eng99) = _summary(raw), _summary(engine)
    print(f"{'measurement':<34}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'raw aiohttp POST (baseline)':<34}{raw50:>9.3f}{raw99:>9.3f}")
    print(f"{'engine rest_call chain':<34}{eng50:>9.3f}{eng99:>9.3f}")
    print(f"p50 ratio engine/raw: {eng50 / raw50:.3f}  (overhead {100 * (eng50 / raw50 - 1):.1f}%)")
    print(f"p99 ratio engine/raw: {eng99 / raw99:.3f}")


if __name__ == "__main__":
    main()

"""Benchmark: what the engine adds to one synchronous target call, as a ratio to a raw aiohttp POST.

A receiver runs in a separate process on 127.0.0.1 and answers every POST with a small JSON object.
In one run this measures, alternating in blocks so machine noise hits all alike:

* baseline: a raw ``aiohttp`` POST of the JSON payload bytes on a shared session;
* raw with callout's headers: the same POST carrying the headers every target call has on the wire
  (``ZITADEL-Signature``, ``webhook-id``, ``webhook-timestamp``; values made once, outside the timing)
  and the target's timeout, so ``p50 vs wire`` is what the engine's own work adds;
* engine, one per payload type: a one-target ``rest_call`` chain through ``ChainRunner`` (request
  payload built with the Go-compatible encoder, for JWT signed with an RSA-2048 web key (RS256), for
  JWE also encrypted to an RSA-2048 target key (RSA-OAEP-256, A256GCM), signed with
  ZITADEL-Signature, sent through ``AiohttpSender`` with the egress policy, answer interpreted and
  applied).

    .venv/bin/python bench/sync_overhead.py --calls 3000

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, tracing is on and every chain and target call makes its
spans (docs/tracing.md): that run shows what tracing costs.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from callout import tracing
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.clock import SystemClock
from callout.domain.egress import EgressPolicy
from callout.domain.targets import PayloadType, Target, TargetType
from callout.engine.chain import ChainRunner
from callout.engine.router import EncryptionKey, RoutedTarget, SigningKey, WebKey
from callout.engine.signing import compute_signature_header, standard_webhook_headers
from callout.logs import configure_logging
from callout.services.interception import RequestExchange

RECEIVER = Path(__file__).with_name("receiver.py")
BLOCK = 250


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _web_key() -> WebKey:
    key = RSAKey.generate_key(2048, parameters={"kid": "web-1", "alg": "RS256", "use": "sig"})
    return WebKey("web-1", "RS256", dict(key.as_dict(private=True)))  # type: ignore[arg-type]


def _target_key() -> EncryptionKey:
    public = rsa.generate_private_key(65537, 2048).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return EncryptionKey("pk-1", pem)


def _routed(url: str, payload_type: PayloadType, key: EncryptionKey) -> RoutedTarget:
    now = datetime.now(UTC)
    target = Target(
        id="1",
        instance_id="i",
        name="bench",
        target_type=TargetType.CALL,
        interrupt_on_error=True,
        timeout=timedelta(seconds=10),
        endpoint=url,
        payload_type=payload_type,
        creation_date=now,
        change_date=now,
    )
    return RoutedTarget(target, (SigningKey("k" * 36),), key)


# Authentication makes the caller's principal before any execution runs; the engine's part of a call
# starts with the exchange built around the decoded request.
PRINCIPAL = Principal("user-1", "instance-1", "org-1", Role.IAM_OWNER, "token-1")


def _exchange() -> RequestExchange:
    headers = {"Content-Type": ["application/json"], "Host": ["callout.test"]}
    request = {"id": "target-123", "name": "benchmark"}
    return RequestExchange(PRINCIPAL, "/zitadel.action.v2.ActionService/GetTarget", headers, request)


async def _time(action: object, samples: list[float]) -> None:
    started = time.perf_counter()
    await action()  # type: ignore[operator]
    samples.append((time.perf_counter() - started) * 1000)


async def _measure(url: str, calls: int, payload_types: list[PayloadType]) -> dict[str, list[float]]:
    body, web_key, target_key = _exchange().body(), _web_key(), _target_key()
    sender = AiohttpSender(EgressPolicy(dev_mode=True), StaticResolver())
    runner = ChainRunner(sender, SystemClock())
    async with aiohttp.ClientSession() as session:

        async def raw_post() -> None:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                await response.read()

        wire_headers = {
            "Content-Type": "application/json",
            "ZITADEL-Signature": compute_signature_header(body, ["k" * 36], int(time.time())),
            **standard_webhook_headers(f"msg_{'0' * 32}", int(time.time())),
        }

        async def raw_wire_post() -> None:
            timeout = aiohttp.ClientTimeout(total=10)
            async with session.post(url, data=body, headers=wire_headers, timeout=timeout) as response:
                await response.read()

        def chain(payload_type: PayloadType) -> Callable[[], Awaitable[None]]:
            routed = _routed(url, payload_type, target_key)
            return lambda: runner.run([routed], _exchange(), web_key)

        actions = {"raw": raw_post, "wire": raw_wire_post, **{kind.name: chain(kind) for kind in payload_types}}
        samples: dict[str, list[float]] = {name: [] for name in actions}
        for _ in range(20):  # warm the connection pools and the prepared keys
            for action in actions.values():
                await action()
        for start in range(0, calls, BLOCK):
            for name, action in actions.items():
                for _ in range(min(BLOCK, calls - start)):
                    await _time(action, samples[name])
    await sender.close()
    return samples


def _summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]


def main() -> None:
    """Start the receiver process, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per measurement (default 5000)")
    parser.add_argument(
        "--payloads",
        default="json,jwt,jwe",
        help="comma-separated payload types to measure besides the baseline (default json,jwt,jwe)",
    )
    args = parser.parse_args()
    payload_types = [PayloadType[name.strip().upper()] for name in args.payloads.split(",") if name.strip()]
    configure_logging("json", "warning")  # as in production: per-call info lines are filtered out
    tracing.start()  # on only with OTEL_EXPORTER_OTLP_ENDPOINT set: measures what tracing costs (docs/tracing.md)
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, str(RECEIVER), str(port)])
    try:
        time.sleep(1.0)
        samples = asyncio.run(_measure(f"http://127.0.0.1:{port}/hook", args.calls, payload_types))
    finally:
        receiver.terminate()
        receiver.wait(10)
        tracing.shutdown()
    _print(samples)


LABELS = {"raw": "raw aiohttp POST (baseline)", "wire": "raw POST, callout's headers"}


def _print(samples: dict[str, list[float]]) -> None:
    (raw50, raw99), (wire50, _) = _summary(samples["raw"]), _summary(samples["wire"])
    print(f"{'measurement':<34}{'p50 ms':>9}{'p99 ms':>9}{'p50 ratio':>11}{'p99 ratio':>11}{'p50 vs wire':>13}")
    for name, values in samples.items():
        label = LABELS.get(name, f"engine rest_call chain, {name}")
        p50, p99 = _summary(values)
        print(f"{label:<34}{p50:>9.3f}{p99:>9.3f}{p50 / raw50:>11.3f}{p99 / raw99:>11.3f}{p50 / wire50:>13.3f}")


if __name__ == "__main__":
    main()

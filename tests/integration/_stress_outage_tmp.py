import asyncio
import random
import traceback

import pytest

from callout.errors import AlreadyExists, Unavailable
from tests.integration.test_delivery_outage import (
    Outage,
    _names,
    _until_delivered,
    _assert_alive,
    receiver,
    worker,
    outage,
    postgres_schema,
)  # noqa


async def emit_tracking(outage, names, failed):
    for name in names:
        try:
            await outage.emit(name)
        except Unavailable as error:
            failed.append((name, error))
            return


@pytest.mark.parametrize("seed", range(10))
async def test_stress(outage: Outage, receiver, worker, seed: int) -> None:
    rng = random.Random(seed)
    await outage.bind_events(receiver)
    receiver.respond(status=200, delay=0.05)
    failed = []
    for cycle in range(8):
        try:
            emitting = asyncio.ensure_future(emit_tracking(outage, _names(f"c{cycle}", 10), failed))
            await asyncio.sleep(rng.uniform(0, 0.3))
            await outage.proxy.cut()
            await emitting
            await asyncio.sleep(rng.uniform(0.1, 0.8))
            _assert_alive(worker)
        finally:
            outage.proxy.restore()
        await asyncio.sleep(rng.uniform(0, 0.3))
    await _until_delivered(outage, receiver, worker)
    for name, error in failed:
        try:
            await outage.emit(name)
            print("failed and not stored", name)
        except AlreadyExists:
            print("FAILED BUT STORED", name)
            traceback.print_exception(error)
    print("failures", len(failed), "deliveries", len(await outage.deliveries()), "requests", len(receiver.requests))

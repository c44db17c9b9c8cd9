"""JWT and JWE payload types at the engine level, with real loopback receivers (docs/behaviour.md, Payload types).

Chains are built by hand (targets, their public keys, the instance web key) and run through
``ChainRunner`` and ``AiohttpSender``; what the receivers got is checked with jwcrypto.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.clock import SystemClock
from callout.domain.egress import EgressPolicy
from callout.domain.targets import PayloadType, Target, TargetType
from callout.engine.chain import ChainRunner
from callout.engine.outcomes import TargetAnswer, json_object
from callout.engine.router import EncryptionKey, RoutedTarget, SigningKey
from callout.errors import FailedPrecondition
from callout.verify import open_jwe, verify_jwt, verify_signature
from tests.delivery_receivers import Receiver, ReceiverFactory
from tests.integration.engine_support import answer
from tests.jose_support import KeyPair, ec_pair, header, jwcrypto_decrypt, jwcrypto_verify, jwks, rsa_pair, web_key

SECRET = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"
PAYLOAD = {"fullMethod": "/zitadel.action.v2.ActionService/GetTarget", "request": {"id": "<t&1>"}}


@dataclass
class Exchange:
    """A minimal exchange: fixed JSON bytes until a rest_call answer replaces them."""

    payload: dict[str, Any] = field(default_factory=lambda: dict(PAYLOAD))

    def body(self) -> bytes:
        """The JSON bytes of the current payload."""
        return json.dumps(self.payload, separators=(",", ":")).encode()

    def apply(self, answer: TargetAnswer) -> None:
        """A rest_call answer replaces the payload."""
        self.payload = json_object(answer)


@dataclass
class Bench:
    """A runner on a real sender, and receivers on loopback."""

    runner: ChainRunner
    receivers: ReceiverFactory


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    """A ChainRunner with a development-mode sender (loopback allowed) and a receiver factory."""
    sender = AiohttpSender(EgressPolicy(dev_mode=True), StaticResolver())
    async with ReceiverFactory() as receivers:
        runner = ChainRunner(sender, SystemClock())
        yield Bench(runner, receivers)
        await runner.drain()
    await sender.close()


def _routed(
    receiver: Receiver,
    payload_type: PayloadType,
    key: EncryptionKey | None = None,
    *,
    kind: TargetType = TargetType.WEBHOOK,
    interrupt: bool = True,
) -> RoutedTarget:
    now = datetime.now(UTC)
    target = Target(
        id=f"t{receiver.port}",
        instance_id="i1",
        name=f"t{receiver.port}",
        target_type=kind,
        interrupt_on_error=interrupt and kind is not TargetType.ASYNC,
        timeout=timedelta(seconds=5),
        endpoint=receiver.url(),
        payload_type=payload_type,
        creation_date=now,
        change_date=now,
    )
    return RoutedTarget(target, (SigningKey(SECRET),), key)


async def _jwe_target(bench: Bench, pair: KeyPair, **extra: Any) -> tuple[Receiver, RoutedTarget]:
    receiver = await bench.receivers.start()
    return receiver, _routed(receiver, PayloadType.JWE, pair.encryption_key(**extra))


class TestJwtTarget:
    async def test_jwcrypto_verifies_the_json_bytes(self, bench: Bench) -> None:
        """A JWT target receives a JWS whose payload jwcrypto verifies to exactly the JSON bytes."""
        receiver = await bench.receivers.start()
        await bench.runner.run([_routed(receiver, PayloadType.JWT)], Exchange(), web_key())
        assert jwcrypto_verify(receiver.hits[0].body, web_key()) == Exchange().body()

    async def test_header_names_the_web_key(self, bench: Bench) -> None:
        """The JWT header is alg, typ JWT and the web key's kid."""
        receiver = await bench.receivers.start()
        await bench.runner.run([_routed(receiver, PayloadType.JWT)], Exchange(), web_key("ES256", "web-es"))
        assert header(receiver.hits[0].body) == {"alg": "ES256", "typ": "JWT", "kid": "web-es"}

    async def test_hmac_covers_the_jwt(self, bench: Bench) -> None:
        """ZITADEL-Signature is still sent and verifies over the JWT as sent."""
        receiver = await bench.receivers.start()
        await bench.runner.run([_routed(receiver, PayloadType.JWT)], Exchange(), web_key())
        hit = receiver.hits[0]
        verify_signature(hit.body, hit.header_values("ZITADEL-Signature")[0].decode(), SECRET)

    async def test_content_type_stays_json(self, bench: Bench) -> None:
        """The Content-Type of a JWT body is application/json, as in ZITADEL."""
        receiver = await bench.receivers.start()
        await bench.runner.run([_routed(receiver, PayloadType.JWT)], Exchange(), web_key())
        assert receiver.hits[0].header_values("Content-Type") == [b"application/json"]

    async def test_verify_module_reads_it(self, bench: Bench) -> None:
        """callout.verify.verify_jwt returns the JSON bytes the target was sent."""
        receiver = await bench.receivers.start()
        await bench.runner.run([_routed(receiver, PayloadType.JWT)], Exchange(), web_key())
        assert verify_jwt(receiver.hits[0].body, jwks(web_key())) == Exchange().body()

    async def test_without_web_key_interrupting_target_fails(self, bench: Bench) -> None:
        """Without an instance web key an interrupting JWT target raises MissingSigningKey, uncalled."""
        receiver = await bench.receivers.start()
        with pytest.raises(FailedPrecondition) as caught:
            await bench.runner.run([_routed(receiver, PayloadType.JWT)], Exchange())
        assert (caught.value.message_id, receiver.hits) == ("Errors.Execution.MissingSigningKey", [])


class TestJweTarget:
    async def test_jwcrypto_opens_an_rsa_jwe(self, bench: Bench) -> None:
        """jwcrypto decrypts an RSA JWE and verifies the inner JWT to exactly the JSON bytes."""
        receiver, routed = await _jwe_target(bench, rsa_pair())
        await bench.runner.run([routed], Exchange(), web_key())
        jwt = jwcrypto_decrypt(receiver.hits[0].body, rsa_pair())
        assert jwcrypto_verify(jwt, web_key()) == Exchange().body()

    async def test_jwcrypto_opens_an_ec_jwe(self, bench: Bench) -> None:
        """jwcrypto decrypts an EC (P-256) JWE and verifies the inner JWT to exactly the JSON bytes."""
        receiver, routed = await _jwe_target(bench, ec_pair())
        await bench.runner.run([routed], Exchange(), web_key())
        jwt = jwcrypto_decrypt(receiver.hits[0].body, ec_pair())
        assert jwcrypto_verify(jwt, web_key()) == Exchange().body()

    async def test_header_names_the_public_key(self, bench: Bench) -> None:
        """The JWE header carries the public key's id, RSA-OAEP-256, A256GCM, typ and cty JWT."""
        receiver, routed = await _jwe_target(bench, rsa_pair())
        await bench.runner.run([routed], Exchange(), web_key())
        expected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "pk-rsa", "typ": "JWT", "cty": "JWT"}
        assert header(receiver.hits[0].body) == expected

    async def test_hmac_covers_the_jwe(self, bench: Bench) -> None:
        """ZITADEL-Signature verifies over the JWE as sent."""
        receiver, routed = await _jwe_target(bench, rsa_pair())
        await bench.runner.run([routed], Exchange(), web_key())
        hit = receiver.hits[0]
        verify_signature(hit.body, hit.header_values("ZITADEL-Signature")[0].decode(), SECRET)

    async def test_verify_module_opens_it(self, bench: Bench) -> None:
        """callout.verify.open_jwe returns the JSON bytes the target was sent."""
        receiver, routed = await _jwe_target(bench, ec_pair())
        await bench.runner.run([routed], Exchange(), web_key())
        assert open_jwe(receiver.hits[0].body, ec_pair().private_pem, jwks(web_key())) == Exchange().body()

    async def test_key_expiring_later_is_used(self, bench: Bench) -> None:
        """A public key whose expiry is still ahead encrypts."""
        receiver, routed = await _jwe_target(bench, rsa_pair(), expires_at=datetime.now(UTC) + timedelta(hours=1))
        await bench.runner.run([routed], Exchange(), web_key())
        assert len(receiver.hits) == 1

    async def test_async_target_gets_a_jwe(self, bench: Bench) -> None:
        """A rest_async JWE target receives an encrypted body too."""
        receiver = await bench.receivers.start()
        routed = _routed(receiver, PayloadType.JWE, rsa_pair().encryption_key(), kind=TargetType.ASYNC)
        await bench.runner.run([routed], Exchange(), web_key())
        await bench.runner.drain()
        assert jwcrypto_verify(jwcrypto_decrypt(receiver.hits[0].body, rsa_pair()), web_key()) == Exchange().body()


class TestMissingEncryptionKey:
    async def test_expired_key_interrupts(self, bench: Bench) -> None:
        """An expired public key makes an interrupting JWE target raise MissingEncryptionKey, uncalled."""
        receiver, routed = await _jwe_target(bench, rsa_pair(), expires_at=datetime.now(UTC) - timedelta(seconds=1))
        with pytest.raises(FailedPrecondition) as caught:
            await bench.runner.run([routed], Exchange(), web_key())
        assert (caught.value.message_id, receiver.hits) == ("Errors.Execution.MissingEncryptionKey", [])

    async def test_missing_key_of_non_interrupting_target_is_skipped(self, bench: Bench) -> None:
        """Without an active key a non-interrupting JWE target is skipped and the chain goes on."""
        skipped, after = await bench.receivers.start(), await bench.receivers.start()
        chain = [_routed(skipped, PayloadType.JWE, interrupt=False), _routed(after, PayloadType.JSON)]
        await bench.runner.run(chain, Exchange(), web_key())
        assert (skipped.hits, after.hits[0].body) == ([], Exchange().body())

    async def test_failure_is_counted(self, bench: Bench) -> None:
        """The runner's outcome counter records MissingEncryptionKey."""
        receiver = await bench.receivers.start()
        await bench.runner.run([_routed(receiver, PayloadType.JWE, interrupt=False)], Exchange(), web_key())
        assert bench.runner.outcomes["Errors.Execution.MissingEncryptionKey"] == 1


class TestMixedChain:
    async def test_each_target_gets_its_payload_type(self, bench: Bench) -> None:
        """JSON, JWT and JWE targets in one chain each get their kind of body of the same payload."""
        plain, signed = await bench.receivers.start(), await bench.receivers.start()
        encrypted, routed = await _jwe_target(bench, ec_pair("P-384", "pk-384"))
        chain = [_routed(plain, PayloadType.UNSPECIFIED), _routed(signed, PayloadType.JWT), routed]
        await bench.runner.run(chain, Exchange(), web_key())
        opened = jwcrypto_verify(jwcrypto_decrypt(encrypted.hits[0].body, ec_pair("P-384", "pk-384")), web_key())
        assert (plain.hits[0].body, jwcrypto_verify(signed.hits[0].body, web_key()), opened) == (
            Exchange().body(),
            Exchange().body(),
            Exchange().body(),
        )

    async def test_jwe_target_sees_an_earlier_rest_call_change(self, bench: Bench) -> None:
        """A JWT rest_call's plain JSON answer changes what the following JWE target gets."""
        first = await bench.receivers.start(answer(200, {"changed": True}))
        second, routed = await _jwe_target(bench, rsa_pair())
        chain = [_routed(first, PayloadType.JWT, kind=TargetType.CALL), routed]
        await bench.runner.run(chain, Exchange(), web_key())
        inner = jwcrypto_verify(jwcrypto_decrypt(second.hits[0].body, rsa_pair()), web_key())
        assert inner == b'{"changed":true}'

"""AddPublicKey, ActivatePublicKey, DeactivatePublicKey, RemovePublicKey and ListPublicKeys (v2 only).

Ports the cases of ZITADEL's TestServer_AddPublicKey, _ActivatePublicKey, _DeactivatePublicKey,
_RemovePublicKey and _ListPublicKeys (inputs and expected outcomes only) over Connect and REST, plus
the key-format, isolation and event checks of docs/behaviour.md (Targets). Unknown targets and keys are
FailedPrecondition (HTTP 400), not NotFound, as in ZITADEL. Fingerprints are computed here with
``cryptography``, independently of callout.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from callout.domain.auth import Role
from callout.services.context import ServiceContext
from callout.storage.events import list_events
from tests.api_client import RpcResult
from tests.integration.target_rpc_support import Api, MakeApi, parse_timestamp

ERRORS = {  # Connect code name -> (HTTP status, gRPC number used by REST)
    "invalid_argument": (400, 3),
    "failed_precondition": (400, 9),
    "permission_denied": (403, 7),
}
KEY_RPCS = ["AddPublicKey", "ActivatePublicKey", "DeactivatePublicKey", "RemovePublicKey", "ListPublicKeys"]
ID_RPCS = ["ActivatePublicKey", "DeactivatePublicKey", "RemovePublicKey"]
DATE_FIELDS = ("expirationDate", "creationDate", "changeDate")
UNKNOWN_ID = "123456789012345678"


# --- key material -----------------------------------------------------------------------------


def spki_pem(key: Any) -> bytes:
    """The PEM ``PUBLIC KEY`` (PKIX SubjectPublicKeyInfo) of a public key."""
    return bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def ec_pem(curve: ec.EllipticCurve | None = None) -> bytes:
    """A fresh EC public key PEM (P-256 unless another curve is given)."""
    return spki_pem(ec.generate_private_key(curve or ec.SECP256R1()).public_key())


@cache
def rsa_private(index: int = 0, bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA private key, generated once per (index, bits) for the whole session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def rsa_pem(index: int = 0, bits: int = 2048) -> bytes:
    """The PEM public key of ``rsa_private(index, bits)``."""
    return spki_pem(rsa_private(index, bits).public_key())


def private_key_pem() -> bytes:
    """A PKCS#8 ``PRIVATE KEY`` PEM of a P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_pem() -> bytes:
    """A self-signed P-256 certificate as PEM ``CERTIFICATE``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "callout.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def padded(pem: bytes, size: int) -> bytes:
    """A valid PEM followed by newlines up to exactly ``size`` bytes."""
    return pem + b"\n" * (size - len(pem))


def wire(pem: bytes) -> str:
    """protojson bytes: standard base64 with padding."""
    return base64.b64encode(pem).decode()


def fingerprint(pem: bytes) -> str:
    """``SHA256:`` + unpadded standard base64 of sha256 over the DER SubjectPublicKeyInfo."""
    key = serialization.load_pem_public_key(pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


INVALID_PEMS = {
    "plain text": lambda: b"invalid",
    "garbage PEM": lambda: b"-----BEGIN PUBLIC KEY-----\nZ2FyYmFnZQ==\n-----END PUBLIC KEY-----\n",
    "private key": private_key_pem,
    "certificate": certificate_pem,
    "RSA public key in PKCS#1": lambda: (
        rsa_private().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    ),
    "RSA-1024": lambda: rsa_pem(bits=1024),
    "EC secp256k1": lambda: ec_pem(ec.SECP256K1()),
    "Ed25519": lambda: spki_pem(ed25519.Ed25519PrivateKey.generate().public_key()),
    "over 8192 bytes": lambda: padded(ec_pem(), 8193),
}


# --- wire helpers -------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """A protojson timestamp (UTC, ``Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def whole_seconds_from_now(delta: timedelta) -> datetime:
    """Now plus ``delta``, truncated to whole seconds (so that it compares exactly after a round trip)."""
    return (datetime.now(UTC) + delta).replace(microsecond=0)


def expect_error(result: RpcResult, transport: str, code: str, error_id: str | None = None) -> None:
    """Assert the HTTP status, the transport's error code and, if given, the message id."""
    status, number = ERRORS[code]
    expected = (status, code if transport == "connect" else number)
    assert (result.status, result.body.get("code")) == expected, result.body
    if error_id is not None:
        assert result.error_id == error_id, result.body


def normalised(key: dict[str, Any]) -> dict[str, Any]:
    """A PublicKey message with its timestamps parsed, to compare independently of fractional digits."""
    return {name: parse_timestamp(value) if name in DATE_FIELDS else value for name, value in key.items()}


@dataclass(frozen=True)
class AddedKey:
    """An AddPublicKey call that succeeded, with what was sent."""

    key_id: str
    creation_date: str
    pem: bytes
    expiration: datetime | None

    def expected(self, change_date: str | None = None, active: bool = False) -> dict[str, Any]:
        """The PublicKey message ListPublicKeys must report for it (defaults omitted as protojson does)."""
        body: dict[str, Any] = {"keyId": self.key_id}
        if active:
            body["active"] = True
        body["publicKey"] = wire(self.pem)
        body["fingerprint"] = fingerprint(self.pem)
        if self.expiration is not None:
            body["expirationDate"] = iso(self.expiration)
        body["creationDate"] = self.creation_date
        body["changeDate"] = change_date or self.creation_date
        return normalised(body)


async def add_key(api: Api, target_id: str, pem: bytes | None = None, expiration: datetime | None = None) -> AddedKey:
    """Add a public key (a fresh P-256 one unless given); the call must succeed."""
    pem = pem if pem is not None else ec_pem()
    body: dict[str, Any] = {"targetId": target_id, "publicKey": wire(pem)}
    if expiration is not None:
        body["expirationDate"] = iso(expiration)
    result = await api.call("AddPublicKey", body)
    assert result.ok, result.body
    return AddedKey(result.body["keyId"], result.body["creationDate"], pem, expiration)


async def set_active(api: Api, target_id: str, key_id: str, active: bool = True) -> str:
    """Activate or deactivate a key; the call must succeed. Returns the change date."""
    rpc = "ActivatePublicKey" if active else "DeactivatePublicKey"
    result = await api.call(rpc, {"targetId": target_id, "keyId": key_id})
    assert result.ok, result.body
    return str(result.body["changeDate"])


async def list_keys(api: Api, target_id: str, **fields: Any) -> dict[str, Any]:
    """ListPublicKeys; the call must succeed."""
    result = await api.call("ListPublicKeys", {"targetId": target_id, **fields})
    assert result.ok, result.body
    return result.body


def key_ids(listing: dict[str, Any]) -> list[str]:
    """The key ids of a ListPublicKeysResponse, in order."""
    return [key["keyId"] for key in listing.get("publicKeys", [])]


def expiration_filter(moment: datetime, method: str) -> dict[str, Any]:
    """A PublicKeySearchFilter on the expiration date."""
    return {"expirationDateFilter": {"timestamp": iso(moment), "method": f"TIMESTAMP_FILTER_METHOD_{method}"}}


# --- fixtures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySet:
    """ZITADEL's ListPublicKeys setup: an active EC key, an RSA key expiring in 24 h, an RSA key without expiry."""

    target_id: str
    active_ec: AddedKey
    active_change_date: str
    expiring_rsa: AddedKey
    lasting_rsa: AddedKey


MakeKeySet = Callable[[Api], Awaitable[KeySet]]


@pytest.fixture
def make_key_set() -> MakeKeySet:
    """Factory: a new target of the caller's instance holding ZITADEL's three list-test keys."""

    async def make(api: Api) -> KeySet:
        target_id = (await api.create()).id
        active_ec = await add_key(api, target_id)
        active_change_date = await set_active(api, target_id, active_ec.key_id)
        expiring = await add_key(api, target_id, rsa_pem(1), whole_seconds_from_now(timedelta(hours=24)))
        lasting = await add_key(api, target_id, rsa_pem(2))
        return KeySet(target_id, active_ec, active_change_date, expiring, lasting)

    return make


MakeTarget = Callable[[Api], Awaitable[str]]


@pytest.fixture
def make_target() -> MakeTarget:
    """Factory: the id of a new target of the caller's instance."""

    async def make(api: Api) -> str:
        return (await api.create()).id

    return make


# --- tests --------------------------------------------------------------------------------------


class TestPermissions:
    async def test_org_owner_is_denied_every_key_rpc(self, owner: Api, make_api: MakeApi) -> None:
        """An ORG_OWNER gets PermissionDenied for all five key RPCs, even with an empty (invalid) body."""
        caller = await make_api(Role.ORG_OWNER, owner.instance_id)
        for rpc in KEY_RPCS:
            expect_error(await caller.call(rpc, {}), owner.transport, "permission_denied")

    async def test_viewer_is_denied_the_write_rpcs(
        self, owner: Api, make_api: MakeApi, make_target: MakeTarget
    ) -> None:
        """An IAM_OWNER_VIEWER gets PermissionDenied for add, activate, deactivate and remove."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        viewer = await make_api(Role.IAM_OWNER_VIEWER, owner.instance_id)
        bodies = {
            "AddPublicKey": {"targetId": target_id, "publicKey": wire(ec_pem())},
            "ActivatePublicKey": {"targetId": target_id, "keyId": key.key_id},
            "DeactivatePublicKey": {"targetId": target_id, "keyId": key.key_id},
            "RemovePublicKey": {"targetId": target_id, "keyId": key.key_id},
        }
        for rpc, body in bodies.items():
            expect_error(await viewer.call(rpc, body), owner.transport, "permission_denied")
        assert key_ids(await list_keys(owner, target_id)) == [key.key_id]

    async def test_viewer_may_list(self, owner: Api, make_api: MakeApi, make_target: MakeTarget) -> None:
        """An IAM_OWNER_VIEWER lists a target's keys."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        viewer = await make_api(Role.IAM_OWNER_VIEWER, owner.instance_id)
        assert key_ids(await list_keys(viewer, target_id)) == [key.key_id]


class TestAddPublicKey:
    async def test_empty_target_id_is_invalid(self, owner: Api) -> None:
        """A missing, empty or blank target id is InvalidArgument."""
        for body in [{}, {"targetId": ""}, {"targetId": "  "}]:
            result = await owner.call("AddPublicKey", {**body, "publicKey": wire(ec_pem())})
            expect_error(result, owner.transport, "invalid_argument")

    async def test_empty_public_key_is_invalid(self, owner: Api, make_target: MakeTarget) -> None:
        """A missing or empty public key is InvalidArgument."""
        target_id = await make_target(owner)
        for body in [{"targetId": target_id}, {"targetId": target_id, "publicKey": ""}]:
            expect_error(await owner.call("AddPublicKey", body), owner.transport, "invalid_argument")

    async def test_unusable_public_key_is_invalid_public_key(self, owner: Api, make_target: MakeTarget) -> None:
        """Unusable publicKeys (not base64, no PKIX RSA/EC key, weak RSA, other curve, >8 KiB) are InvalidPublicKey."""
        target_id = await make_target(owner)
        encoded = {name: wire(make_pem()) for name, make_pem in INVALID_PEMS.items()}
        encoded["not base64"] = "not base64 at all!"
        for name, public_key in encoded.items():
            result = await owner.call("AddPublicKey", {"targetId": target_id, "publicKey": public_key})
            try:
                expect_error(result, owner.transport, "invalid_argument", "Errors.Target.InvalidPublicKey")
            except AssertionError as error:
                raise AssertionError(f"{name}: {error}") from error
        assert "publicKeys" not in await list_keys(owner, target_id)

    async def test_pem_also_carrying_a_private_key_is_invalid_public_key(
        self, owner: Api, make_target: MakeTarget
    ) -> None:
        """A PUBLIC KEY block followed by a PRIVATE KEY block is rejected rather than stored with the private key."""
        target_id = await make_target(owner)
        key = ec.generate_private_key(ec.SECP256R1())
        no_encryption = serialization.NoEncryption()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, no_encryption)
        result = await owner.call(
            "AddPublicKey", {"targetId": target_id, "publicKey": wire(spki_pem(key.public_key()) + private)}
        )
        expect_error(result, owner.transport, "invalid_argument", "Errors.Target.InvalidPublicKey")

    async def test_pem_of_exactly_8192_bytes_is_accepted(self, owner: Api, make_target: MakeTarget) -> None:
        """A valid PEM padded to the 8192-byte maximum is accepted."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id, padded(ec_pem(), 8192))
        assert key_ids(await list_keys(owner, target_id)) == [key.key_id]

    async def test_unpadded_base64_is_accepted(self, owner: Api, make_target: MakeTarget) -> None:
        """Base64 without its padding, which protojson accepts for bytes, decodes to the same PEM."""
        target_id = await make_target(owner)
        pem = padded(ec_pem(), 200)  # 200 bytes: standard base64 ends in "="
        encoded = base64.b64encode(pem).decode().rstrip("=")
        result = await owner.call("AddPublicKey", {"targetId": target_id, "publicKey": encoded})
        assert result.ok, result.body
        assert (await list_keys(owner, target_id))["publicKeys"][0]["publicKey"] == wire(pem)

    async def test_expiration_in_the_past_is_invalid_expiration_date(self, owner: Api, make_target: MakeTarget) -> None:
        """An expiration date in the past is InvalidArgument Errors.Target.InvalidExpirationDate."""
        target_id = await make_target(owner)
        past = iso(datetime.now(UTC) - timedelta(minutes=1))
        body = {"targetId": target_id, "publicKey": wire(ec_pem()), "expirationDate": past}
        result = await owner.call("AddPublicKey", body)
        expect_error(result, owner.transport, "invalid_argument", "Errors.Target.InvalidExpirationDate")

    async def test_unknown_or_deleted_target_is_failed_precondition(self, owner: Api, make_target: MakeTarget) -> None:
        """A key for a target that never existed or was deleted is FailedPrecondition Errors.Target.NotFound."""
        deleted = await make_target(owner)
        assert (await owner.call("DeleteTarget", {"id": deleted})).ok
        for target_id in [UNKNOWN_ID, deleted]:
            result = await owner.call("AddPublicKey", {"targetId": target_id, "publicKey": wire(ec_pem())})
            expect_error(result, owner.transport, "failed_precondition", "Errors.Target.NotFound")

    async def test_ec_p256_key_with_expiration_is_added(self, owner: Api, make_target: MakeTarget) -> None:
        """A P-256 key expiring in an hour gets a numeric key id and a creation date of now."""
        target_id = await make_target(owner)
        before = datetime.now(UTC)
        body = {"targetId": target_id, "publicKey": wire(ec_pem())}
        body["expirationDate"] = iso(datetime.now(UTC) + timedelta(hours=1))
        result = await owner.call("AddPublicKey", body)
        after = datetime.now(UTC)
        assert result.ok, result.body
        assert set(result.body) == {"keyId", "creationDate"}
        assert result.body["keyId"].isdigit()
        assert before <= parse_timestamp(result.body["creationDate"]) <= after

    async def test_rsa_2048_key_is_added(self, owner: Api, make_target: MakeTarget) -> None:
        """An RSA-2048 key without expiration is added, inactive, listed with its PEM and SPKI fingerprint."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id, rsa_pem())
        listed = (await list_keys(owner, target_id))["publicKeys"]
        assert [normalised(item) for item in listed] == [key.expected()]

    async def test_surrounding_whitespace_of_the_target_id_is_trimmed(
        self, owner: Api, make_target: MakeTarget
    ) -> None:
        """A target id with surrounding spaces addresses the target, as ZITADEL's handler trims it."""
        target_id = await make_target(owner)
        result = await owner.call("AddPublicKey", {"targetId": f" {target_id} ", "publicKey": wire(ec_pem())})
        assert result.ok, result.body
        assert key_ids(await list_keys(owner, target_id)) == [result.body["keyId"]]


class TestEmptyIds:
    async def test_empty_target_or_key_id_is_invalid(self, owner: Api, make_target: MakeTarget) -> None:
        """Activate, deactivate, remove and list answer InvalidArgument to an empty or blank target id or key id."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        bodies = [
            {"keyId": key.key_id},
            {"targetId": "", "keyId": key.key_id},
            {"targetId": " ", "keyId": key.key_id},
            {"targetId": target_id},
            {"targetId": target_id, "keyId": ""},
            {"targetId": target_id, "keyId": " "},
        ]
        for rpc in ID_RPCS:
            for body in bodies:
                expect_error(await owner.call(rpc, body), owner.transport, "invalid_argument")
        for body in bodies[:3]:
            expect_error(await owner.call("ListPublicKeys", body), owner.transport, "invalid_argument")


class TestActivatePublicKey:
    async def test_unknown_target_or_key_is_failed_precondition(self, owner: Api, make_target: MakeTarget) -> None:
        """An unknown target, an unknown key, or another target's key is FailedPrecondition Errors.Target.NotFound."""
        target_id, other_target_id = await make_target(owner), await make_target(owner)
        key = await add_key(owner, target_id)
        bodies = [
            {"targetId": UNKNOWN_ID, "keyId": key.key_id},
            {"targetId": target_id, "keyId": UNKNOWN_ID},
            {"targetId": other_target_id, "keyId": key.key_id},
        ]
        for body in bodies:
            result = await owner.call("ActivatePublicKey", body)
            expect_error(result, owner.transport, "failed_precondition", "Errors.Target.NotFound")

    async def test_expired_key_is_public_key_expired(self, owner: Api, make_target: MakeTarget) -> None:
        """A key whose expiration date has passed cannot be activated: FailedPrecondition PublicKeyExpired."""
        target_id = await make_target(owner)
        expiration = datetime.now(UTC) + timedelta(seconds=0.8)
        key = await add_key(owner, target_id, expiration=expiration)
        await asyncio.sleep(max(0.0, (expiration - datetime.now(UTC)).total_seconds()) + 0.2)
        result = await owner.call("ActivatePublicKey", {"targetId": target_id, "keyId": key.key_id})
        expect_error(result, owner.transport, "failed_precondition", "Errors.Target.PublicKeyExpired")

    async def test_activate_returns_a_change_date_of_now(self, owner: Api, make_target: MakeTarget) -> None:
        """Activating an inactive key returns a change date within the call and lists the key as active."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        before = datetime.now(UTC)
        changed = await set_active(owner, target_id, key.key_id)
        assert before <= parse_timestamp(changed) <= datetime.now(UTC)
        listed = (await list_keys(owner, target_id))["publicKeys"]
        assert [normalised(item) for item in listed] == [key.expected(changed, active=True)]

    async def test_already_active_key_keeps_its_change_date(self, owner: Api, make_target: MakeTarget) -> None:
        """Activating the active key again succeeds with the previous change date."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        first = await set_active(owner, target_id, key.key_id)
        assert await set_active(owner, target_id, key.key_id) == first

    async def test_activating_one_key_deactivates_the_other(self, owner: Api, make_target: MakeTarget) -> None:
        """After activating a second key only that one is active; the first lists the same change date."""
        target_id = await make_target(owner)
        first = await add_key(owner, target_id)
        second = await add_key(owner, target_id)
        await set_active(owner, target_id, first.key_id)
        changed = await set_active(owner, target_id, second.key_id)
        listed = [normalised(item) for item in (await list_keys(owner, target_id))["publicKeys"]]
        assert listed == [second.expected(changed, active=True), first.expected(changed)]


class TestDeactivatePublicKey:
    async def test_unknown_target_or_key_is_failed_precondition(self, owner: Api, make_target: MakeTarget) -> None:
        """An unknown target, an unknown key, or another target's key is FailedPrecondition Errors.Target.NotFound."""
        target_id, other_target_id = await make_target(owner), await make_target(owner)
        key = await add_key(owner, target_id)
        bodies = [
            {"targetId": UNKNOWN_ID, "keyId": key.key_id},
            {"targetId": target_id, "keyId": UNKNOWN_ID},
            {"targetId": other_target_id, "keyId": key.key_id},
        ]
        for body in bodies:
            result = await owner.call("DeactivatePublicKey", body)
            expect_error(result, owner.transport, "failed_precondition", "Errors.Target.NotFound")

    async def test_inactive_key_keeps_its_change_date(self, owner: Api, make_target: MakeTarget) -> None:
        """Deactivating a never activated key succeeds with its creation date as change date."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        assert await set_active(owner, target_id, key.key_id, active=False) == key.creation_date

    async def test_active_key_is_deactivated(self, owner: Api, make_target: MakeTarget) -> None:
        """Deactivating the active key returns a new change date and lists it inactive."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        activated = await set_active(owner, target_id, key.key_id)
        deactivated = await set_active(owner, target_id, key.key_id, active=False)
        assert parse_timestamp(deactivated) > parse_timestamp(activated)
        listed = (await list_keys(owner, target_id))["publicKeys"]
        assert [normalised(item) for item in listed] == [key.expected(deactivated)]


class TestRemovePublicKey:
    async def test_unknown_target_or_key_succeeds(self, owner: Api, make_target: MakeTarget) -> None:
        """Removing under an unknown target, or an unknown key of a known target, succeeds."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        for body in [{"targetId": UNKNOWN_ID, "keyId": key.key_id}, {"targetId": target_id, "keyId": UNKNOWN_ID}]:
            result = await owner.call("RemovePublicKey", body)
            assert result.ok, result.body
        assert key_ids(await list_keys(owner, target_id)) == [key.key_id]

    async def test_active_key_is_public_key_active(self, owner: Api, make_target: MakeTarget) -> None:
        """The active key cannot be removed: FailedPrecondition Errors.Target.PublicKeyActive, and it stays."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        await set_active(owner, target_id, key.key_id)
        result = await owner.call("RemovePublicKey", {"targetId": target_id, "keyId": key.key_id})
        expect_error(result, owner.transport, "failed_precondition", "Errors.Target.PublicKeyActive")
        assert key_ids(await list_keys(owner, target_id)) == [key.key_id]

    async def test_inactive_key_is_removed(self, owner: Api, make_target: MakeTarget) -> None:
        """Removing an inactive key returns a deletion date of now and the key is no longer listed."""
        target_id = await make_target(owner)
        removed, kept = await add_key(owner, target_id), await add_key(owner, target_id)
        before = datetime.now(UTC)
        result = await owner.call("RemovePublicKey", {"targetId": target_id, "keyId": removed.key_id})
        assert result.ok, result.body
        assert before <= parse_timestamp(result.body["deletionDate"]) <= datetime.now(UTC)
        assert key_ids(await list_keys(owner, target_id)) == [kept.key_id]


class TestListPublicKeys:
    async def test_unknown_target_is_an_empty_list(self, owner: Api) -> None:
        """Listing the keys of an unknown target succeeds with no keys and the default applied limit."""
        assert await list_keys(owner, UNKNOWN_ID) == {"pagination": {"appliedLimit": "100"}}

    async def test_deleted_target_is_an_empty_list(self, owner: Api, make_target: MakeTarget) -> None:
        """After its target is deleted, the target's keys are no longer listed (it is an unknown target)."""
        target_id = await make_target(owner)
        await add_key(owner, target_id)
        assert (await owner.call("DeleteTarget", {"id": target_id})).ok
        assert await list_keys(owner, target_id) == {"pagination": {"appliedLimit": "100"}}

    async def test_all_keys_newest_first(self, owner: Api, make_key_set: MakeKeySet) -> None:
        """All three keys are listed newest first with active flag, PEM, fingerprint and dates."""
        keys = await make_key_set(owner)
        listing = await list_keys(owner, keys.target_id)
        assert listing["pagination"] == {"totalResult": "3", "appliedLimit": "100"}
        assert [normalised(item) for item in listing["publicKeys"]] == [
            keys.lasting_rsa.expected(),
            keys.expiring_rsa.expected(),
            keys.active_ec.expected(keys.active_change_date, active=True),
        ]

    async def test_active_filter(self, owner: Api, make_key_set: MakeKeySet) -> None:
        """activeFilter true lists only the active key, false the two inactive keys newest first."""
        keys = await make_key_set(owner)
        active = await list_keys(owner, keys.target_id, filters=[{"activeFilter": True}])
        assert key_ids(active) == [keys.active_ec.key_id]
        inactive = await list_keys(owner, keys.target_id, filters=[{"activeFilter": False}])
        assert key_ids(inactive) == [keys.lasting_rsa.key_id, keys.expiring_rsa.key_id]

    async def test_expiration_before_or_equals(self, owner: Api, make_key_set: MakeKeySet) -> None:
        """BEFORE_OR_EQUALS the expiring key's date lists that key only."""
        keys = await make_key_set(owner)
        assert keys.expiring_rsa.expiration is not None
        filters = [expiration_filter(keys.expiring_rsa.expiration, "BEFORE_OR_EQUALS")]
        assert key_ids(await list_keys(owner, keys.target_id, filters=filters)) == [keys.expiring_rsa.key_id]

    async def test_expiration_after_includes_keys_without_expiry(self, owner: Api, make_key_set: MakeKeySet) -> None:
        """AFTER the expiring key's date lists the two keys that never expire."""
        keys = await make_key_set(owner)
        assert keys.expiring_rsa.expiration is not None
        filters = [expiration_filter(keys.expiring_rsa.expiration, "AFTER")]
        listing = await list_keys(owner, keys.target_id, filters=filters)
        assert key_ids(listing) == [keys.lasting_rsa.key_id, keys.active_ec.key_id]

    async def test_expiration_methods_at_the_boundary(self, owner: Api, make_key_set: MakeKeySet) -> None:
        """At the expiring key's own date, EQUALS finds it, BEFORE finds none and AFTER_OR_EQUALS finds all three."""
        keys = await make_key_set(owner)
        moment = keys.expiring_rsa.expiration
        assert moment is not None
        expected = {
            "EQUALS": [keys.expiring_rsa.key_id],
            "BEFORE": [],
            "AFTER_OR_EQUALS": [keys.lasting_rsa.key_id, keys.expiring_rsa.key_id, keys.active_ec.key_id],
        }
        for method, ids in expected.items():
            listing = await list_keys(owner, keys.target_id, filters=[expiration_filter(moment, method)])
            assert key_ids(listing) == ids, method

    async def test_key_ids_sorted_by_change_date_with_offset_and_limit(
        self, owner: Api, make_key_set: MakeKeySet
    ) -> None:
        """Two key ids, sorted by change date ascending, offset 1 limit 1: total 2, applied limit 1, the newer key."""
        keys = await make_key_set(owner)
        listing = await list_keys(
            owner,
            keys.target_id,
            filters=[{"keyIdsFilter": {"ids": [keys.expiring_rsa.key_id, keys.lasting_rsa.key_id]}}],
            sortingColumn="PUBLIC_KEY_FIELD_NAME_CHANGE_DATE",
            pagination={"offset": 1, "limit": 1, "asc": True},
        )
        assert listing["pagination"] == {"totalResult": "2", "appliedLimit": "1"}
        assert [normalised(item) for item in listing["publicKeys"]] == [keys.lasting_rsa.expected()]

    async def test_sort_by_expiration_date_puts_never_expiring_keys_last(
        self, owner: Api, make_target: MakeTarget, request: pytest.FixtureRequest, database_url: str
    ) -> None:
        """Ascending by expiration date lists the sooner, then the later expiry, then the key without expiry."""
        target_id = await make_target(owner)
        never = await add_key(owner, target_id)
        later = await add_key(owner, target_id, expiration=whole_seconds_from_now(timedelta(hours=2)))
        sooner = await add_key(owner, target_id, expiration=whole_seconds_from_now(timedelta(hours=1)))
        listing = await list_keys(
            owner, target_id, sortingColumn="PUBLIC_KEY_FIELD_NAME_EXPIRATION_DATE", pagination={"asc": True}
        )
        assert key_ids(listing) == [sooner.key_id, later.key_id, never.key_id]

    async def test_limit_over_1000_is_limit_exceeded(self, owner: Api, make_target: MakeTarget) -> None:
        """A limit above 1000 is InvalidArgument Errors.Query.LimitExceeded."""
        result = await owner.call(
            "ListPublicKeys", {"targetId": await make_target(owner), "pagination": {"limit": 1001}}
        )
        expect_error(result, owner.transport, "invalid_argument", "Errors.Query.LimitExceeded")


# Isolation and events are decided below the transports: Connect alone keeps the runtime down.
CONNECT_ONLY = pytest.mark.parametrize("transport", ["connect"], indirect=True)


@CONNECT_ONLY
class TestIsolation:
    async def test_add_to_another_instances_target_is_failed_precondition(
        self, owner: Api, make_api: MakeApi, make_target: MakeTarget
    ) -> None:
        """A target of another instance is unknown to AddPublicKey."""
        stranger = await make_api()
        result = await stranger.call(
            "AddPublicKey", {"targetId": await make_target(owner), "publicKey": wire(ec_pem())}
        )
        expect_error(result, owner.transport, "failed_precondition", "Errors.Target.NotFound")

    async def test_activate_and_deactivate_of_another_instances_key_are_failed_precondition(
        self, owner: Api, make_api: MakeApi, make_target: MakeTarget
    ) -> None:
        """Another instance's target and key ids are unknown to activate and deactivate."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        stranger = await make_api()
        for rpc in ["ActivatePublicKey", "DeactivatePublicKey"]:
            result = await stranger.call(rpc, {"targetId": target_id, "keyId": key.key_id})
            expect_error(result, owner.transport, "failed_precondition", "Errors.Target.NotFound")
        assert "active" not in (await list_keys(owner, target_id))["publicKeys"][0]

    async def test_remove_of_another_instances_key_leaves_it(
        self, owner: Api, make_api: MakeApi, make_target: MakeTarget
    ) -> None:
        """Removing another instance's key succeeds as for an unknown key and the key stays."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        stranger = await make_api()
        assert (await stranger.call("RemovePublicKey", {"targetId": target_id, "keyId": key.key_id})).ok
        assert key_ids(await list_keys(owner, target_id)) == [key.key_id]

    async def test_list_of_another_instances_target_is_empty(
        self, owner: Api, make_api: MakeApi, make_target: MakeTarget
    ) -> None:
        """Listing another instance's target's keys gives an empty list."""
        target_id = await make_target(owner)
        await add_key(owner, target_id)
        stranger = await make_api()
        assert await list_keys(stranger, target_id) == {"pagination": {"appliedLimit": "100"}}


@CONNECT_ONLY
class TestEvents:
    async def test_key_changes_are_recorded_on_the_target(
        self, owner: Api, make_target: MakeTarget, context: ServiceContext
    ) -> None:
        """Add, activate, deactivate and remove write target.key.* events (key id, fingerprint) on the target."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        await set_active(owner, target_id, key.key_id)
        await set_active(owner, target_id, key.key_id, active=False)
        assert (await owner.call("RemovePublicKey", {"targetId": target_id, "keyId": key.key_id})).ok
        async with context.database.read() as conn:
            events = await list_events(conn, owner.instance_id, target_id)
        key_events = [event for event in events if event.event_type.startswith("target.key.")]
        assert [event.event_type for event in key_events] == [
            "target.key.added",
            "target.key.activated",
            "target.key.deactivated",
            "target.key.removed",
        ]
        assert {(event.aggregate_type, event.payload["keyId"]) for event in key_events} == {("target", key.key_id)}
        assert key_events[0].payload["fingerprint"] == fingerprint(key.pem)

    async def test_no_op_changes_write_no_event(
        self, owner: Api, make_target: MakeTarget, context: ServiceContext
    ) -> None:
        """Deactivating an inactive key, activating the active key and failed calls write no key event."""
        target_id = await make_target(owner)
        key = await add_key(owner, target_id)
        await set_active(owner, target_id, key.key_id, active=False)
        await set_active(owner, target_id, key.key_id)
        await set_active(owner, target_id, key.key_id)
        assert not (await owner.call("RemovePublicKey", {"targetId": target_id, "keyId": key.key_id})).ok
        async with context.database.read() as conn:
            events = await list_events(conn, owner.instance_id, target_id)
        assert [event.event_type for event in events if event.event_type.startswith("target.key.")] == [
            "target.key.added",
            "target.key.activated",
        ]

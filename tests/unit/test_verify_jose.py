"""JWT and JWE verification for target authors, against tokens from callout and from jwcrypto.

See docs/behaviour.md, Payload types.
"""

from __future__ import annotations

import base64
import json
import socket
import urllib.request
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from jwcrypto import jwe as cwe
from jwcrypto import jwk as cwk

from callout.engine.jose import JweEncrypter, JwtSigner
from callout.testing import RecordingReceiver
from callout.verify import (
    DecryptionError,
    InvalidTokenSignatureError,
    JwksUnavailableError,
    MalformedTokenError,
    SignatureError,
    TokenError,
    UnknownKeyError,
    UnsupportedAlgorithmTokenError,
    decrypt_jwe,
    fetch_jwks,
    open_jwe,
    verify_jwt,
)
from tests.jose_support import KeyPair, ec_pair, jwks, rsa_pair, tamper, web_key

PAYLOAD = b'{"userID":"u1","request":{"id":"t1"}}'
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _jwt(algorithm: str = "RS256", key_id: str = "web-1") -> bytes:
    return JwtSigner(web_key(algorithm, key_id)).sign(PAYLOAD)


def _jwe(pair: KeyPair) -> bytes:
    return JweEncrypter(pair.encryption_key()).encrypt(_jwt())


def _b64(value: bytes) -> bytes:
    return base64.urlsafe_b64encode(value).rstrip(b"=")


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """A started recording receiver on 127.0.0.1."""
    with RecordingReceiver() as started:
        yield started


class TestVerifyJwt:
    def test_returns_the_payload_bytes(self) -> None:
        """A JWT from callout verifies against the JWKS dict and yields the JSON bytes."""
        assert verify_jwt(_jwt(), jwks(web_key())) == PAYLOAD

    def test_accepts_a_text_body(self) -> None:
        """The body may be given as text."""
        assert verify_jwt(_jwt().decode(), jwks(web_key())) == PAYLOAD

    def test_ecdsa_web_key(self) -> None:
        """An ES256 JWT verifies too."""
        assert verify_jwt(_jwt("ES256", "web-es"), jwks(web_key("ES256", "web-es"))) == PAYLOAD

    def test_key_is_chosen_by_kid(self) -> None:
        """With several keys in the JWKS, the one named by the token's kid is used."""
        keys = jwks(web_key("ES256", "web-es"), web_key())
        assert verify_jwt(_jwt(), keys) == PAYLOAD

    def test_tampered_payload_is_rejected(self) -> None:
        """A changed payload no longer matches the signature."""
        with pytest.raises(InvalidTokenSignatureError):
            verify_jwt(tamper(_jwt(), 1), jwks(web_key()))

    def test_tampered_signature_is_rejected(self) -> None:
        """A changed signature does not verify."""
        with pytest.raises(InvalidTokenSignatureError):
            verify_jwt(tamper(_jwt(), 2), jwks(web_key()))

    def test_other_key_under_the_same_kid_is_rejected(self) -> None:
        """A JWKS whose key for the kid is another key does not verify the token."""
        impostor = web_key("RS256", "other")
        keys = {"keys": [{**jwks(impostor)["keys"][0], "kid": "web-1"}]}
        with pytest.raises(InvalidTokenSignatureError):
            verify_jwt(_jwt(), keys)

    def test_jwks_without_the_kid_is_rejected(self) -> None:
        """A JWKS that has no key with the token's kid raises UnknownKeyError."""
        with pytest.raises(UnknownKeyError):
            verify_jwt(_jwt(), jwks(web_key("ES256", "web-es")))

    def test_symmetric_jwks_key_is_never_used(self) -> None:
        """An ``oct`` key in the JWKS is not a verification key (no HMAC confusion)."""
        keys = {"keys": [{"kty": "oct", "kid": "web-1", "k": _b64(b"secret").decode()}]}
        with pytest.raises(UnknownKeyError):
            verify_jwt(_jwt(), keys)

    def test_algorithm_outside_the_accepted_ones_is_rejected(self) -> None:
        """A token whose alg is not in ``algorithms`` raises UnsupportedAlgorithmTokenError."""
        with pytest.raises(UnsupportedAlgorithmTokenError):
            verify_jwt(_jwt(), jwks(web_key()), algorithms=["ES256"])

    def test_unsigned_token_is_rejected(self) -> None:
        """A token with ``alg: none`` and no signature is never accepted."""
        unsigned = _b64(b'{"alg":"none","kid":"web-1"}') + b"." + _b64(PAYLOAD) + b"."
        with pytest.raises(TokenError):
            verify_jwt(unsigned, jwks(web_key()))

    def test_garbage_is_malformed(self) -> None:
        """A JSON body where a JWT is expected raises MalformedTokenError."""
        with pytest.raises(MalformedTokenError):
            verify_jwt(PAYLOAD, jwks(web_key()))


class TestJwksUrl:
    def test_jwks_is_fetched_from_a_url(self, receiver: RecordingReceiver) -> None:
        """A JWKS URL is fetched and used to verify the token."""
        receiver.respond(json=jwks(web_key()), path="/oauth/v2/keys")
        assert verify_jwt(_jwt(), receiver.url_for("/oauth/v2/keys")) == PAYLOAD

    def test_fetch_returns_the_document(self, receiver: RecordingReceiver) -> None:
        """fetch_jwks returns the JWKS dict as served."""
        receiver.respond(json=jwks(web_key()))
        assert fetch_jwks(receiver.url) == jwks(web_key())

    def test_error_status_is_unavailable(self, receiver: RecordingReceiver) -> None:
        """A non-2xx answer raises JwksUnavailableError."""
        receiver.respond(404, json={"error": "not found"})
        with pytest.raises(JwksUnavailableError):
            verify_jwt(_jwt(), receiver.url)

    def test_non_jwks_answer_is_unavailable(self, receiver: RecordingReceiver) -> None:
        """A JSON answer without a key list raises JwksUnavailableError."""
        receiver.respond(json={"jwks_uri": "elsewhere"})
        with pytest.raises(JwksUnavailableError):
            fetch_jwks(receiver.url)

    def test_unreachable_url_is_unavailable(self) -> None:
        """A closed port raises JwksUnavailableError."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(JwksUnavailableError):
            fetch_jwks(f"http://127.0.0.1:{port}/oauth/v2/keys", timeout=2)

    def test_other_schemes_are_refused(self) -> None:
        """Only http(s) URLs are fetched (no ``file:``)."""
        with pytest.raises(ValueError, match="http"):
            fetch_jwks("file:///etc/passwd")


class TestDecryptJwe:
    @pytest.mark.parametrize("depth", [101, 5000, 100_000])
    def test_header_nested_too_deep_is_malformed(self, depth: int) -> None:
        """A JWE whose header nests 101 or more levels is malformed, never a RecursionError."""
        header = b'{"alg":"RSA-OAEP-256","enc":"A256GCM","x":' + b"[" * depth + b"]" * depth + b"}"
        with pytest.raises(MalformedTokenError):
            decrypt_jwe(_b64(header) + b".a.b.c.d", rsa_pair().private_pem)

    def test_rsa_returns_the_inner_jwt(self) -> None:
        """An RSA JWE from callout decrypts to the JWT it carries."""
        assert decrypt_jwe(_jwe(rsa_pair()), rsa_pair().private_pem) == _jwt()

    @pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
    def test_ec_returns_the_inner_jwt(self, curve: str) -> None:
        """An EC JWE from callout decrypts to the JWT it carries."""
        pair = ec_pair(curve, f"pk-{curve}")
        assert decrypt_jwe(_jwe(pair), pair.private_pem) == _jwt()

    def test_accepts_text_arguments(self) -> None:
        """Body and PEM may be given as text."""
        assert decrypt_jwe(_jwe(rsa_pair()).decode(), rsa_pair().private_pem.decode()) == _jwt()

    def test_password_protected_key(self) -> None:
        """An encrypted PEM private key is opened with its password."""
        private = serialization.load_pem_private_key(rsa_pair().private_pem, None)
        locked = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
        assert decrypt_jwe(_jwe(rsa_pair()), locked, password=b"pw") == _jwt()

    def test_jwcrypto_made_jwe_decrypts(self) -> None:
        """A JWE made by jwcrypto with callout's algorithms decrypts (interop both ways)."""
        made = cwe.JWE(b"x.y.z", protected={"alg": "RSA-OAEP-256", "enc": "A256GCM"})
        made.add_recipient(cwk.JWK.from_pem(rsa_pair().public_pem))
        assert decrypt_jwe(made.serialize(compact=True), rsa_pair().private_pem) == b"x.y.z"

    def test_other_algorithm_is_rejected(self) -> None:
        """A JWE with a key algorithm callout never uses (RSA-OAEP) is rejected."""
        made = cwe.JWE(b"x.y.z", protected={"alg": "RSA-OAEP", "enc": "A256GCM"})
        made.add_recipient(cwk.JWK.from_pem(rsa_pair().public_pem))
        with pytest.raises(UnsupportedAlgorithmTokenError):
            decrypt_jwe(made.serialize(compact=True), rsa_pair().private_pem)

    def test_wrong_rsa_key_fails(self) -> None:
        """Another RSA private key cannot decrypt the JWE."""
        with pytest.raises(DecryptionError):
            decrypt_jwe(_jwe(rsa_pair()), rsa_pair("pk-other-rsa").private_pem)

    def test_wrong_ec_key_fails(self) -> None:
        """Another EC private key on the same curve cannot decrypt the JWE."""
        with pytest.raises(DecryptionError):
            decrypt_jwe(_jwe(ec_pair()), ec_pair("P-256", "pk-other-ec").private_pem)

    def test_key_of_the_other_type_fails(self) -> None:
        """An EC private key cannot decrypt an RSA JWE."""
        with pytest.raises(DecryptionError):
            decrypt_jwe(_jwe(rsa_pair()), ec_pair().private_pem)

    def test_tampered_ciphertext_fails(self) -> None:
        """A changed ciphertext fails the GCM authentication."""
        with pytest.raises(DecryptionError):
            decrypt_jwe(tamper(_jwe(rsa_pair()), 3), rsa_pair().private_pem)

    def test_not_a_jwe_is_malformed(self) -> None:
        """A JWT where a JWE is expected raises MalformedTokenError."""
        with pytest.raises(MalformedTokenError):
            decrypt_jwe(_jwt(), rsa_pair().private_pem)

    def test_unreadable_private_key_is_a_value_error(self) -> None:
        """A private key that is not PEM is the caller's mistake: ValueError."""
        with pytest.raises(ValueError):  # noqa: PT011 (cryptography's message varies)
            decrypt_jwe(_jwe(rsa_pair()), b"not a key")


class TestOpenJwe:
    def test_returns_the_json_payload(self) -> None:
        """Decrypting and verifying yields exactly the JSON bytes."""
        assert open_jwe(_jwe(rsa_pair()), rsa_pair().private_pem, jwks(web_key())) == PAYLOAD

    def test_inner_jwt_is_verified(self) -> None:
        """A JWKS without the inner JWT's kid fails even though decryption works."""
        with pytest.raises(UnknownKeyError):
            open_jwe(_jwe(rsa_pair()), rsa_pair().private_pem, jwks(web_key("ES256", "web-es")))


class TestErrors:
    @pytest.mark.parametrize(
        ("error", "reason"),
        [
            (TokenError, "invalid_token"),
            (MalformedTokenError, "malformed_token"),
            (UnknownKeyError, "unknown_key"),
            (UnsupportedAlgorithmTokenError, "unsupported_algorithm"),
            (InvalidTokenSignatureError, "invalid_token_signature"),
            (DecryptionError, "decryption_failed"),
            (JwksUnavailableError, "jwks_unavailable"),
        ],
    )
    def test_each_failure_is_a_signature_error_with_a_reason(self, error: type[TokenError], reason: str) -> None:
        """Every token failure is a SignatureError with a machine-readable reason."""
        assert (issubclass(error, SignatureError), error.reason) == (True, reason)


class TestRecordingRequest:
    def test_verify_jwt(self, receiver: RecordingReceiver) -> None:
        """A recorded JWT body verifies and yields the payload."""
        _post(receiver.url, _jwt())
        assert receiver.wait_for(1)[0].verify_jwt(jwks(web_key())) == PAYLOAD

    def test_decrypt_jwe(self, receiver: RecordingReceiver) -> None:
        """A recorded JWE body decrypts and verifies to the payload."""
        _post(receiver.url, _jwe(rsa_pair()))
        [call] = receiver.wait_for(1)
        assert call.decrypt_jwe(rsa_pair().private_pem, jwks(web_key())) == PAYLOAD


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with OPENER.open(request, timeout=5) as response:
        assert json.loads(response.read() or b"{}") == {}

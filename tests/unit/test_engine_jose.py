"""JWT and JWE bodies (docs/behaviour.md, Payload types), checked with jwcrypto as an independent library."""

from __future__ import annotations

import pytest

from callout.engine.jose import JoseKeys, JweEncrypter, JwtSigner
from callout.engine.router import EncryptionKey, WebKey
from callout.errors import Internal
from tests.jose_support import (
    ec_pair,
    ed25519_public_pem,
    header,
    jwcrypto_decrypt,
    jwcrypto_verify,
    rsa_pair,
    segments,
    web_key,
)

PAYLOAD = b'{"fullMethod":"/zitadel.action.v2.ActionService/GetTarget","request":{"id":"\\u003c1\\u003e"}}'


class TestJwtSigner:
    def test_payload_is_exactly_the_json_bytes(self) -> None:
        """The JWS payload segment decodes to exactly the given bytes, with no claims added."""
        token = JwtSigner(web_key()).sign(PAYLOAD)
        assert segments(token)[1] == PAYLOAD

    def test_header_has_alg_typ_and_kid_only(self) -> None:
        """The protected header is exactly alg, typ JWT and the web key's kid."""
        token = JwtSigner(web_key()).sign(PAYLOAD)
        assert header(token) == {"alg": "RS256", "typ": "JWT", "kid": "web-1"}

    def test_jwcrypto_verifies_rs256(self) -> None:
        """jwcrypto verifies an RS256 JWT with the web key's public JWK."""
        key = web_key()
        assert jwcrypto_verify(JwtSigner(key).sign(PAYLOAD), key) == PAYLOAD

    @pytest.mark.parametrize("algorithm", ["ES256", "ES384", "ES512"])
    def test_jwcrypto_verifies_ecdsa(self, algorithm: str) -> None:
        """jwcrypto verifies a JWT signed with an ECDSA web key."""
        key = web_key(algorithm, f"web-{algorithm}")
        token = JwtSigner(key).sign(PAYLOAD)
        assert (header(token)["alg"], jwcrypto_verify(token, key)) == (algorithm, PAYLOAD)

    def test_unsupported_algorithm_is_refused(self) -> None:
        """A web key with an algorithm callout does not sign with (e.g. HS256) is an Internal error."""
        with pytest.raises(Internal) as caught:
            JwtSigner(WebKey("web-1", "HS256", web_key().private_jwk))
        assert caught.value.message_id == "Errors.Execution.InvalidSigningKey"

    def test_key_not_fitting_its_algorithm_is_refused(self) -> None:
        """An RSA key declared as ES256 fails when the signer is built, not on a call."""
        with pytest.raises(Internal) as caught:
            JwtSigner(WebKey("web-1", "ES256", web_key().private_jwk))
        assert caught.value.message_id == "Errors.Execution.InvalidSigningKey"


class TestJweEncrypter:
    def test_rsa_header(self) -> None:
        """An RSA public key gives alg RSA-OAEP-256, enc A256GCM, kid = key id, typ and cty JWT."""
        token = JweEncrypter(rsa_pair().encryption_key()).encrypt(b"a.b.c")
        expected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "pk-rsa", "typ": "JWT", "cty": "JWT"}
        assert header(token) == expected

    @pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
    def test_ec_header(self, curve: str) -> None:
        """An EC public key gives alg ECDH-ES+A256KW with the ephemeral key on the same curve."""
        pair = ec_pair(curve, f"pk-{curve}")
        fields = header(JweEncrypter(pair.encryption_key()).encrypt(b"a.b.c"))
        epk = fields.pop("epk")
        expected = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": f"pk-{curve}", "typ": "JWT", "cty": "JWT"}
        assert (fields, epk["crv"]) == (expected, curve)

    def test_jwcrypto_decrypts_rsa(self) -> None:
        """jwcrypto decrypts an RSA JWE with the private key to exactly the JWT."""
        jwt = JwtSigner(web_key()).sign(PAYLOAD)
        assert jwcrypto_decrypt(JweEncrypter(rsa_pair().encryption_key()).encrypt(jwt), rsa_pair()) == jwt

    @pytest.mark.parametrize("curve", ["P-256", "P-384", "P-521"])
    def test_jwcrypto_decrypts_ec(self, curve: str) -> None:
        """jwcrypto decrypts an EC JWE with the private key to exactly the JWT."""
        pair = ec_pair(curve, f"pk-{curve}")
        jwt = JwtSigner(web_key()).sign(PAYLOAD)
        assert jwcrypto_decrypt(JweEncrypter(pair.encryption_key()).encrypt(jwt), pair) == jwt

    def test_inner_jwt_verifies_after_decryption(self) -> None:
        """The decrypted JWT verifies against the web key and carries the JSON bytes."""
        key = web_key()
        token = JweEncrypter(rsa_pair().encryption_key()).encrypt(JwtSigner(key).sign(PAYLOAD))
        assert jwcrypto_verify(jwcrypto_decrypt(token, rsa_pair()), key) == PAYLOAD

    def test_key_that_cannot_encrypt_is_refused(self) -> None:
        """An Ed25519 public key is an Internal InvalidEncryptionKey error."""
        with pytest.raises(Internal) as caught:
            JweEncrypter(EncryptionKey("pk-ed", ed25519_public_pem()))
        assert caught.value.message_id == "Errors.Execution.InvalidEncryptionKey"

    def test_garbage_is_refused(self) -> None:
        """Bytes that are not a PEM public key are an Internal InvalidEncryptionKey error."""
        with pytest.raises(Internal) as caught:
            JweEncrypter(EncryptionKey("pk-x", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
        assert caught.value.message_id == "Errors.Execution.InvalidEncryptionKey"


class TestJoseKeys:
    def test_signer_is_prepared_once(self) -> None:
        """The same web key, even as an equal copy, gets the same signer object."""
        keys, key = JoseKeys(), web_key()
        copy = WebKey(key.key_id, key.algorithm, dict(key.private_jwk))
        assert keys.signer(key) is keys.signer(copy)

    def test_new_kid_gets_a_new_signer(self) -> None:
        """A different web key gets its own signer."""
        keys = JoseKeys()
        assert keys.signer(web_key()) is not keys.signer(web_key("ES256", "web-2"))

    def test_encrypter_is_prepared_once(self) -> None:
        """The same public key gets the same encrypter object, whatever its expiry object."""
        keys, pair = JoseKeys(), rsa_pair()
        assert keys.encrypter(pair.encryption_key()) is keys.encrypter(pair.encryption_key())

    def test_replaced_key_material_gets_a_new_encrypter(self) -> None:
        """The same key id with other key material is prepared anew."""
        keys = JoseKeys()
        first = keys.encrypter(EncryptionKey("same", rsa_pair().public_pem))
        assert keys.encrypter(EncryptionKey("same", ec_pair().public_pem)) is not first

    def test_least_recently_used_is_evicted(self) -> None:
        """Beyond its size the cache drops the least recently used entry and keeps the others."""
        keys = JoseKeys(size=2)
        a, b, c = (EncryptionKey(name, rsa_pair().public_pem) for name in "abc")
        first_a, first_b = keys.encrypter(a), keys.encrypter(b)
        keys.encrypter(a)
        keys.encrypter(c)
        assert (keys.encrypter(a) is first_a, keys.encrypter(b) is first_b) == (True, False)

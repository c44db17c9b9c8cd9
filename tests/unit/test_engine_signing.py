"""The ``ZITADEL-Signature`` header callout sends, and the Standard Webhooks headers."""

from __future__ import annotations

import hmac
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.engine.signing import (
    SIGNATURE_HEADER,
    compute_signature,
    compute_signature_header,
    new_webhook_id,
    standard_webhook_headers,
)

KEY = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"
BODY = b'{"a":1}'
# Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac <key>
MAC_KEY = "181a82678ba26d0815c2eec1102afa512db5b4bd95c77a22c292e548e909fef5"
MAC_OTHER = "877637407d0329fbcef93505efd09d1abe2a689405e3b0c92265f51d799633df"


class TestSignatureHeader:
    def test_header_name_is_the_one_zitadel_code_sends(self) -> None:
        """The header is ``ZITADEL-Signature`` (not the ``X-`` name of ZITADEL's docs)."""
        assert SIGNATURE_HEADER == "ZITADEL-Signature"

    def test_signature_matches_an_independent_hmac(self) -> None:
        """The MAC is hex HMAC-SHA256 over ``"<t>." + body`` with the key's UTF-8 bytes."""
        assert compute_signature(BODY, KEY, 1700000000) == MAC_KEY

    @given(st.text(max_size=100), st.binary(max_size=300), st.integers(0, 2**40))
    def test_signature_agrees_with_the_standard_library_hmac(self, key: str, body: bytes, timestamp: int) -> None:
        """For any key (also longer than a SHA-256 block), body and time the MAC is the stdlib's HMAC."""
        expected = hmac.new(key.encode(), f"{timestamp}.".encode() + body, "sha256").hexdigest()
        assert compute_signature(body, key, timestamp) == expected

    def test_repeated_signing_gives_the_same_mac(self) -> None:
        """Signing twice with one key (cached key state) gives the same MAC both times."""
        assert compute_signature(BODY, KEY, 1700000000) == compute_signature(BODY, KEY, 1700000000) == MAC_KEY

    def test_header_with_one_key(self) -> None:
        """One key gives ``t=<ts>,v1=<mac>``."""
        assert compute_signature_header(BODY, [KEY], 1700000000) == f"t=1700000000,v1={MAC_KEY}"

    def test_header_with_several_keys_keeps_their_order(self) -> None:
        """Each key adds a ``v1=`` pair, in the order given."""
        header = compute_signature_header(BODY, [KEY, "otherkey"], 1700000000)
        assert header == f"t=1700000000,v1={MAC_KEY},v1={MAC_OTHER}"

    def test_no_keys_gives_only_the_timestamp(self) -> None:
        """Without keys only the timestamp is written (a receiver then reports no valid signature)."""
        assert compute_signature_header(BODY, [], 1700000000) == "t=1700000000"

    def test_a_bare_string_is_not_a_key_list(self) -> None:
        """Passing one key as a plain string is refused rather than signing per character."""
        with pytest.raises(TypeError, match="sequence"):
            compute_signature_header(BODY, KEY, 1700000000)

    def test_signature_depends_on_the_timestamp(self) -> None:
        """A different timestamp gives a different MAC."""
        assert compute_signature(BODY, KEY, 1700000001) != MAC_KEY


class TestStandardWebhookHeaders:
    def test_headers_carry_id_and_timestamp(self) -> None:
        """``webhook-id`` and ``webhook-timestamp`` (Unix seconds as text) are returned."""
        assert standard_webhook_headers("msg_123", 1700000000) == {
            "webhook-id": "msg_123",
            "webhook-timestamp": "1700000000",
        }


class TestWebhookIds:
    def test_id_is_msg_and_32_hex_digits(self) -> None:
        """A fresh id is ``msg_`` followed by 128 bits in hex."""
        webhook_id = new_webhook_id()
        assert re.fullmatch(r"msg_[0-9a-f]{32}", webhook_id)

    def test_ids_do_not_repeat_across_pool_refills(self) -> None:
        """Thousands of ids, more than one random batch, are all different."""
        ids = [new_webhook_id() for _ in range(5000)]
        assert len(set(ids)) == len(ids)

    def test_forked_child_does_not_reuse_the_parents_ids(self) -> None:
        """After a fork the child draws new random bytes instead of the parent's pooled ones."""
        new_webhook_id()  # fill the pool
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report its next id and leave at once
            os.write(write_end, new_webhook_id().encode())
            os._exit(0)
        os.waitpid(pid, 0)
        child_id = os.read(read_end, 64).decode()
        assert child_id != new_webhook_id()

"""Signature verification for target authors, with ZITADEL's parse rules (``pkg/actions/signing.go``)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.engine.signing import compute_signature, compute_signature_header
from callout.verify import (
    InvalidHeaderError,
    NotSignedError,
    NoValidSignatureError,
    SignatureError,
    TooOldError,
    parse_signature_header,
    verify_signature,
)

KEY = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"
BODY = b'{"a":1}'
T = 1700000000
NOW = datetime.fromtimestamp(T, UTC)
MAC = compute_signature(BODY, KEY, T)
KEYS = st.text(min_size=1, max_size=40)


def _verify(header: str | None, keys: str | list[str] = KEY, *, now: datetime = NOW, body: bytes = BODY) -> None:
    verify_signature(body, header, keys, now=now)


class TestAccepts:
    def test_valid_header(self) -> None:
        """A fresh header signed with the key verifies."""
        _verify(f"t={T},v1={MAC}")

    def test_any_matching_v1_suffices(self) -> None:
        """A non-matching ``v1`` next to a matching one is fine."""
        _verify(f"t={T},v1={'00' * 32},v1={MAC}")

    def test_any_of_several_keys_suffices(self) -> None:
        """A key list verifies if any key matches."""
        _verify(f"t={T},v1={MAC}", ["wrong", KEY])

    def test_unknown_keys_are_ignored(self) -> None:
        """Pairs with unknown names are skipped."""
        _verify(f"t={T},v0=whatever,v1={MAC},x=")

    def test_uppercase_hex_is_accepted(self) -> None:
        """Hex digits may be uppercase, as Go's decoder allows."""
        _verify(f"t={T},v1={MAC.upper()}")

    def test_signed_timestamp_is_normalised(self) -> None:
        """A ``+``-signed timestamp parses, and the MAC is over its plain decimal form."""
        _verify(f"t=+{T},v1={MAC}")

    def test_future_timestamp_is_accepted(self) -> None:
        """A timestamp from the future is not rejected."""
        _verify(f"t={T},v1={MAC}", now=NOW - timedelta(hours=1))

    def test_age_equal_to_tolerance_is_accepted(self) -> None:
        """Exactly the tolerance old is still accepted."""
        _verify(f"t={T},v1={MAC}", now=NOW + timedelta(seconds=300))

    def test_custom_tolerance(self) -> None:
        """A larger tolerance accepts an older header."""
        verify_signature(BODY, f"t={T},v1={MAC}", KEY, tolerance=timedelta(hours=1), now=NOW + timedelta(minutes=30))

    def test_default_now_is_the_current_time(self) -> None:
        """Without ``now`` the wall clock is used."""
        stamp = int(datetime.now(UTC).timestamp())
        verify_signature(BODY, compute_signature_header(BODY, [KEY], stamp), KEY)


class TestRejects:
    @pytest.mark.parametrize("header", [None, ""])
    def test_missing_header_is_not_signed(self, header: str | None) -> None:
        """An absent or empty header is "not signed"."""
        with pytest.raises(NotSignedError):
            _verify(header)

    @pytest.mark.parametrize("header", [f"t={T},v1", f"t={T},v1={MAC},", f"t={T},v1=a=b", f"t={T};v1={MAC}"])
    def test_pair_without_exactly_one_equals_invalidates(self, header: str) -> None:
        """A pair with no ``=`` or with two of them makes the header invalid."""
        with pytest.raises(InvalidHeaderError):
            _verify(header)

    @pytest.mark.parametrize("stamp", ["abc", " 1", "1_000", "", "1.5", str(2**63)])
    def test_bad_timestamp_invalidates(self, stamp: str) -> None:
        """A timestamp that is not a 64-bit decimal integer makes the header invalid."""
        with pytest.raises(InvalidHeaderError):
            _verify(f"t={stamp},v1={MAC}")

    @pytest.mark.parametrize("value", ["zz", "abc", "ab cd", ""])
    def test_undecodable_v1_is_skipped(self, value: str) -> None:
        """A ``v1`` that is not hex is skipped, leaving no valid signature."""
        with pytest.raises(NoValidSignatureError):
            _verify(f"t={T},v1={value}")

    def test_header_without_v1_has_no_valid_signature(self) -> None:
        """A header with only a timestamp carries no signature."""
        with pytest.raises(NoValidSignatureError):
            _verify(f"t={T}")

    def test_missing_signature_is_reported_before_age(self) -> None:
        """Parsing comes first: an old header without ``v1`` reports no valid signature."""
        with pytest.raises(NoValidSignatureError):
            _verify("t=1")

    def test_missing_timestamp_is_too_old(self) -> None:
        """Without ``t`` the timestamp is Go's zero time, far outside the tolerance."""
        with pytest.raises(TooOldError):
            _verify(f"v1={MAC}")

    def test_older_than_tolerance_is_rejected(self) -> None:
        """A microsecond beyond the tolerance is too old."""
        with pytest.raises(TooOldError):
            _verify(f"t={T},v1={MAC}", now=NOW + timedelta(seconds=300, microseconds=1))

    def test_age_is_checked_before_the_mac(self) -> None:
        """An old header is "too old" even with a wrong MAC."""
        with pytest.raises(TooOldError):
            _verify(f"t={T},v1={'00' * 32}", now=NOW + timedelta(hours=1))

    def test_wrong_key(self) -> None:
        """A header signed with another key fails."""
        with pytest.raises(NoValidSignatureError):
            _verify(f"t={T},v1={MAC}", "another-key")

    def test_changed_timestamp(self) -> None:
        """The MAC binds the timestamp: a replay with a fresher ``t`` fails."""
        with pytest.raises(NoValidSignatureError):
            _verify(f"t={T + 1},v1={MAC}")

    def test_empty_key_list_is_a_usage_error(self) -> None:
        """Verifying without any key is a programming error, not a bad signature."""
        with pytest.raises(ValueError, match="signing key"):
            _verify(f"t={T},v1={MAC}", [])

    def test_naive_now_is_a_usage_error(self) -> None:
        """``now`` must be aware."""
        with pytest.raises(ValueError, match="aware"):
            _verify(f"t={T},v1={MAC}", now=datetime(2024, 1, 1))


class TestErrors:
    @pytest.mark.parametrize(
        ("error", "reason"),
        [
            (NotSignedError, "not_signed"),
            (InvalidHeaderError, "invalid_header"),
            (TooOldError, "too_old"),
            (NoValidSignatureError, "no_valid_signature"),
        ],
    )
    def test_each_failure_has_a_reason(self, error: type[SignatureError], reason: str) -> None:
        """Every failure is a SignatureError with a machine-readable reason."""
        assert issubclass(error, SignatureError)
        assert error.reason == reason

    def test_parse_exposes_timestamp_and_signatures(self) -> None:
        """Parsing returns the timestamp and the decoded MACs, in order."""
        parsed = parse_signature_header(f"t={T},v1=00ff,v1=zz,v1=AB")
        assert (parsed.timestamp, parsed.signatures) == (T, (b"\x00\xff", b"\xab"))

    def test_module_imports_no_server_code(self) -> None:
        """``callout.verify`` imports without the web framework, ORM or HTTP client."""
        heavy = "{'fastapi', 'sqlalchemy', 'aiohttp', 'starlette'}"
        code = f"import sys, callout.verify; print(sorted({heavy} & set(sys.modules)))"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert result.stdout.strip() == "[]"


class TestProperties:
    @given(st.binary(), KEYS, st.integers(min_value=0, max_value=253_402_300_799))
    def test_sign_then_verify_succeeds(self, body: bytes, key: str, stamp: int) -> None:
        """What callout signs, the verifier accepts."""
        now = datetime.fromtimestamp(stamp, UTC)
        verify_signature(body, compute_signature_header(body, [key], stamp), key, now=now)

    @given(st.binary(min_size=1), KEYS, st.data())
    def test_any_single_byte_change_fails(self, body: bytes, key: str, data: st.DataObject) -> None:
        """Changing any one byte of the body breaks the signature."""
        index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        delta = data.draw(st.integers(min_value=1, max_value=255))
        tampered = body[:index] + bytes([(body[index] + delta) % 256]) + body[index + 1 :]
        with pytest.raises(NoValidSignatureError):
            verify_signature(tampered, compute_signature_header(body, [key], T), key, now=NOW)

    @given(st.binary(), KEYS, KEYS)
    def test_rotation_header_verifies_with_either_key(self, body: bytes, old: str, new: str) -> None:
        """A header signed with [old, new] verifies with the old key alone and the new key alone."""
        header = compute_signature_header(body, [old, new], T)
        verify_signature(body, header, old, now=NOW)
        verify_signature(body, header, new, now=NOW)

    @given(st.integers(min_value=-600_000_000, max_value=600_000_000))
    def test_tolerance_boundary(self, age_us: int) -> None:
        """A header is accepted exactly when it is at most 300 s old (any future age is fine)."""
        now = NOW + timedelta(microseconds=age_us)
        if age_us <= 300_000_000:
            _verify(f"t={T},v1={MAC}", now=now)
        else:
            with pytest.raises(TooOldError):
                _verify(f"t={T},v1={MAC}", now=now)

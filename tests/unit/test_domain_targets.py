"""Target rules: signing keys, timeout and endpoint validation, updates and event payloads.

See docs/behaviour.md, Targets.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callout.domain.targets import (
    MAX_TIMEOUT,
    SIGNING_KEY_LENGTH,
    PayloadType,
    Target,
    TargetChanges,
    TargetSpec,
    TargetType,
    apply_changes,
    changed_fields,
    generate_signing_key,
    target_event_payload,
    validate_endpoint,
    validate_name,
    validate_spec,
    validate_timeout,
    with_key_rotated,
)
from callout.errors import InvalidArgument

ALPHABET = frozenset(string.ascii_letters + string.digits)
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
TARGET = Target(
    id="1",
    instance_id="i",
    name="hook",
    target_type=TargetType.WEBHOOK,
    interrupt_on_error=True,
    timeout=timedelta(seconds=10),
    endpoint="https://example.com/hook",
    payload_type=PayloadType.JSON,
    creation_date=NOW,
    change_date=NOW,
)
CHANGES = st.builds(
    TargetChanges,
    name=st.none() | st.text(min_size=1, max_size=20),
    target_type=st.none() | st.sampled_from(TargetType),
    interrupt_on_error=st.none() | st.booleans(),
    timeout=st.none() | st.timedeltas(min_value=timedelta(microseconds=1), max_value=MAX_TIMEOUT),
    endpoint=st.none() | st.sampled_from(["https://a.example/x", "https://b.example/y"]),
    payload_type=st.none() | st.sampled_from(PayloadType),
)


def _invalid(call: Callable[..., object], *args: object) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        call(*args)
    return caught.value


class TestSigningKey:
    def test_keys_are_36_alphanumeric_characters(self) -> None:
        """Every generated key is 36 characters of [a-zA-Z0-9]."""
        keys = [generate_signing_key() for _ in range(300)]
        assert all(len(key) == SIGNING_KEY_LENGTH == 36 and set(key) <= ALPHABET for key in keys)

    def test_thousand_keys_are_distinct(self) -> None:
        """1000 generated keys are pairwise distinct."""
        assert len({generate_signing_key() for _ in range(1000)}) == 1000

    def test_whole_alphabet_is_used(self) -> None:
        """Over 1000 keys every one of the 62 characters occurs (no narrowed alphabet)."""
        seen: set[str] = set()
        for _ in range(1000):
            seen.update(generate_signing_key())
        assert seen == ALPHABET

    def test_characters_are_roughly_uniform(self) -> None:
        """No character is grossly over- or under-represented over 36000 draws."""
        counts = dict.fromkeys(ALPHABET, 0)
        for _ in range(1000):
            for char in generate_signing_key():
                counts[char] += 1
        expected = 36_000 / 62  # about 580; the bounds are far beyond any plausible random deviation
        assert all(expected / 2 < count < expected * 2 for count in counts.values())

    @settings(max_examples=30)
    @given(st.integers(min_value=2, max_value=64))
    def test_any_batch_is_well_formed_and_distinct(self, count: int) -> None:
        """Any batch of generated keys is well formed and free of repeats."""
        keys = [generate_signing_key() for _ in range(count)]
        assert len(set(keys)) == count
        assert all(len(key) == 36 and set(key) <= ALPHABET for key in keys)


class TestValidateTimeout:
    @pytest.mark.parametrize("timeout", [None, timedelta(0)])
    def test_missing_or_zero_is_no_timeout(self, timeout: timedelta | None) -> None:
        """A missing or zero timeout is InvalidArgument Errors.Target.NoTimeout."""
        assert _invalid(validate_timeout, timeout).message_id == "Errors.Target.NoTimeout"

    @pytest.mark.parametrize(
        "timeout", [timedelta(seconds=271), MAX_TIMEOUT + timedelta(microseconds=1), timedelta(days=1)]
    )
    def test_above_270_seconds_is_invalid(self, timeout: timedelta) -> None:
        """A timeout above 270 s is an InvalidArgument other than NoTimeout."""
        assert _invalid(validate_timeout, timeout).message_id != "Errors.Target.NoTimeout"

    @pytest.mark.parametrize("timeout", [timedelta(seconds=-1), timedelta(microseconds=-1)])
    def test_negative_is_invalid(self, timeout: timedelta) -> None:
        """A negative timeout is an InvalidArgument."""
        _invalid(validate_timeout, timeout)

    def test_270_seconds_is_accepted(self) -> None:
        """Exactly 270 s is allowed."""
        validate_timeout(timedelta(seconds=270))

    def test_one_microsecond_is_accepted(self) -> None:
        """The smallest positive timeout is allowed."""
        validate_timeout(timedelta(microseconds=1))

    @given(st.timedeltas(min_value=timedelta(microseconds=1), max_value=MAX_TIMEOUT))
    def test_any_timeout_in_range_is_accepted(self, timeout: timedelta) -> None:
        """Every timeout in (0, 270 s] is allowed."""
        validate_timeout(timeout)

    @given(st.timedeltas(min_value=MAX_TIMEOUT + timedelta(microseconds=1)))
    def test_any_timeout_above_range_is_rejected(self, timeout: timedelta) -> None:
        """Every timeout above 270 s is rejected."""
        _invalid(validate_timeout, timeout)


class TestValidateEndpoint:
    @pytest.mark.parametrize(
        "endpoint",
        [
            "",
            "https://example.com/" + "a" * 2029,
            "example.com/hook",
            "//example.com/hook",
            "ftp://example.com/hook",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "http://:80/",
            "https://user@/x",
            "https://example.com:99999/",
            "https://example.com:abc/",
            "https://example.com:-1/",
            "https://[::1/",
        ],
    )
    def test_bad_endpoint_is_invalid_url(self, endpoint: str) -> None:
        """Empty, overlong, scheme-less, non-http, host-less or bad-port endpoints are Errors.Target.InvalidURL."""
        assert _invalid(validate_endpoint, endpoint).message_id == "Errors.Target.InvalidURL"

    @pytest.mark.parametrize(
        "endpoint", ["https://example.com/hook", "http://localhost:8080/x", "HTTPS://EXAMPLE.COM", "https://[::1]:443/"]
    )
    def test_good_endpoint_is_accepted(self, endpoint: str) -> None:
        """Absolute http(s) URLs with a host pass syntax validation."""
        validate_endpoint(endpoint)

    def test_2048_characters_are_accepted(self) -> None:
        """An endpoint of exactly 2048 characters is allowed."""
        endpoint = "https://example.com/" + "a" * 2028
        assert len(endpoint) == 2048
        validate_endpoint(endpoint)

    def test_custom_maximum_is_enforced(self) -> None:
        """With v2beta's maximum of 1000, 1001 characters are rejected."""
        endpoint = "https://example.com/" + "a" * 981
        assert _invalid(validate_endpoint, endpoint, 1000).message_id == "Errors.Target.InvalidURL"

    def test_space_in_host_is_invalid_url(self) -> None:
        """A host name containing a space is not a valid URL."""
        assert _invalid(validate_endpoint, "https://exa mple.com/hook").message_id == "Errors.Target.InvalidURL"

    @pytest.mark.parametrize(
        "endpoint", ["https://exa\nmple.com/hook", "https://example.com/ho\r\nok", "https://ex\tample.com"]
    )
    def test_control_characters_are_invalid_url(self, endpoint: str) -> None:
        """An endpoint containing control characters is not a valid URL."""
        assert _invalid(validate_endpoint, endpoint).message_id == "Errors.Target.InvalidURL"

    @pytest.mark.parametrize(
        "endpoint",
        [
            "https://user:pass@example.com/hook",
            "https://user@example.com/hook",
            "https://:pass@example.com/hook",
            "https://@example.com/hook",
            "https://user:pass@[::1]:8443/hook",
        ],
    )
    def test_userinfo_is_invalid_url(self, endpoint: str) -> None:
        """An endpoint carrying a user name or password is Errors.Target.InvalidURL, so Get/List never show one."""
        assert _invalid(validate_endpoint, endpoint).message_id == "Errors.Target.InvalidURL"

    def test_userinfo_refusal_names_the_problem_without_the_password(self) -> None:
        """The error says what is wrong and does not echo the password."""
        error = _invalid(validate_endpoint, "https://hook:s3cret@example.com/hook")
        assert "user name or password" in error.detail
        assert "s3cret" not in error.message

    @pytest.mark.parametrize(
        "endpoint", ["https://example.com/a@b", "https://example.com/?to=a@b", "https://example.com/#a@b"]
    )
    def test_at_sign_after_the_host_is_accepted(self, endpoint: str) -> None:
        """An @ in the path, query or fragment is not userinfo."""
        validate_endpoint(endpoint)


class TestValidateName:
    @pytest.mark.parametrize("name", ["", "   ", "a" * 1001])
    def test_empty_or_overlong_name_is_invalid(self, name: str) -> None:
        """A blank name or one over 1000 characters is an InvalidArgument."""
        _invalid(validate_name, name)

    def test_1000_characters_are_accepted(self) -> None:
        """A name of exactly 1000 characters is allowed."""
        validate_name("a" * 1000)


class TestValidateSpec:
    def test_valid_spec_passes(self) -> None:
        """A spec with a name, a timeout in range and a valid endpoint passes."""
        validate_spec(TargetSpec("hook", TargetType.CALL, True, timedelta(seconds=5), "https://example.com"))

    def test_missing_timeout_is_reported(self) -> None:
        """A spec without a timeout fails with Errors.Target.NoTimeout."""
        spec = TargetSpec("hook", TargetType.CALL, True, None, "https://example.com")
        assert _invalid(validate_spec, spec).message_id == "Errors.Target.NoTimeout"

    def test_endpoint_maximum_is_passed_on(self) -> None:
        """The endpoint maximum given to validate_spec is applied."""
        spec = TargetSpec("hook", TargetType.CALL, True, timedelta(seconds=5), "https://example.com/" + "a" * 981)
        assert _invalid(validate_spec, spec, 1000).message_id == "Errors.Target.InvalidURL"


class TestApplyChanges:
    def test_switching_to_async_forces_interrupt_off(self) -> None:
        """Switching a target to async turns interruptOnError off."""
        assert apply_changes(TARGET, TargetChanges(target_type=TargetType.ASYNC)).interrupt_on_error is False

    def test_async_ignores_requested_interrupt(self) -> None:
        """An async target cannot be given interruptOnError, even explicitly."""
        changes = TargetChanges(target_type=TargetType.ASYNC, interrupt_on_error=True)
        assert apply_changes(TARGET, changes).interrupt_on_error is False

    def test_empty_changes_keep_the_target(self) -> None:
        """Changes with every field None leave the target as it was."""
        assert apply_changes(TARGET, TargetChanges()) == TARGET

    def test_given_fields_are_applied(self) -> None:
        """Set fields replace the target's values."""
        updated = apply_changes(TARGET, TargetChanges(name="new", timeout=timedelta(seconds=3)))
        assert (updated.name, updated.timeout, updated.endpoint) == ("new", timedelta(seconds=3), TARGET.endpoint)

    def test_false_is_a_change(self) -> None:
        """interruptOnError=False is applied rather than treated as unset."""
        assert apply_changes(TARGET, TargetChanges(interrupt_on_error=False)).interrupt_on_error is False

    def test_identity_and_dates_are_kept(self) -> None:
        """Applying changes never alters id, instance or dates."""
        updated = apply_changes(TARGET, TargetChanges(name="new"))
        assert (updated.id, updated.instance_id, updated.creation_date, updated.change_date) == (
            TARGET.id,
            TARGET.instance_id,
            TARGET.creation_date,
            TARGET.change_date,
        )

    @given(CHANGES)
    def test_async_never_interrupts(self, changes: TargetChanges) -> None:
        """Whatever the changes, an async result has interruptOnError off."""
        updated = apply_changes(TARGET, changes)
        assert updated.target_type is not TargetType.ASYNC or updated.interrupt_on_error is False


class TestChangedFields:
    def test_identical_targets_have_no_changes(self) -> None:
        """Comparing a target with itself yields nothing."""
        assert changed_fields(TARGET, TARGET) == {}

    def test_only_differing_fields_are_listed(self) -> None:
        """Only the fields that differ appear, with their new values."""
        after = apply_changes(TARGET, TargetChanges(name="new", endpoint="https://other.example/"))
        assert changed_fields(TARGET, after) == {"name": "new", "endpoint": "https://other.example/"}

    def test_enums_and_durations_are_plain_values(self) -> None:
        """Type and payload type are enum numbers, the timeout Go nanoseconds (internal/repository/target/target.go)."""
        after = apply_changes(
            TARGET,
            TargetChanges(target_type=TargetType.CALL, payload_type=PayloadType.JWT, timeout=timedelta(seconds=1.5)),
        )
        assert changed_fields(TARGET, after) == {"targetType": 1, "timeout": 1_500_000_000, "payloadType": 2}

    def test_key_rotation_is_marked_where_zitadel_puts_the_key(self) -> None:
        """A rotation adds signingKeyRotated before payloadType, where ChangedEvent has signingKey (target.go)."""
        changes = {"name": "new", "payloadType": 2}
        assert list(with_key_rotated(changes).items()) == [
            ("name", "new"),
            ("signingKeyRotated", True),
            ("payloadType", 2),
        ]

    @given(CHANGES)
    def test_reported_values_are_the_new_ones(self, changes: TargetChanges) -> None:
        """Each reported field differs from before and equals the new payload's value."""
        after = apply_changes(TARGET, changes)
        before_payload, after_payload = target_event_payload(TARGET), target_event_payload(after)
        expected = {key: value for key, value in after_payload.items() if before_payload[key] != value}
        assert changed_fields(TARGET, after) == expected


class TestTargetEventPayload:
    def test_payload_has_zitadels_added_event_fields_in_order(self) -> None:
        """The payload is AddedEvent of internal/repository/target/target.go without signingKey, in its order."""
        assert list(target_event_payload(TARGET)) == [
            "name",
            "targetType",
            "endpoint",
            "timeout",
            "interruptOnError",
            "payloadType",
        ]

    @given(st.integers(min_value=1, max_value=270_000_000))
    def test_timeout_is_a_go_duration_in_nanoseconds(self, micros: int) -> None:
        """The timeout is an integer of nanoseconds, as Go's time.Duration marshals (target.go AddedEvent)."""
        target = replace(TARGET, timeout=timedelta(microseconds=micros))
        assert target_event_payload(target)["timeout"] == micros * 1000

    def test_payload_has_no_secret(self) -> None:
        """No key of the payload names a signing key or secret."""
        assert not [key for key in target_event_payload(TARGET) if "key" in key.lower() or "secret" in key.lower()]

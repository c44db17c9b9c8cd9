"""Targets: the user's HTTP endpoints, their types, and the rules a target must satisfy (docs/behaviour.md, Targets)."""

from __future__ import annotations

import enum
import secrets
import string
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from callout.errors import InvalidArgument

_T = TypeVar("_T")

MAX_TIMEOUT = timedelta(seconds=270)
SIGNING_KEY_LENGTH = 36
_SIGNING_KEY_ALPHABET = string.ascii_letters + string.digits


class TargetType(enum.IntEnum):
    """How a target is called; the numbers are ZITADEL's internal ones and the sort order."""

    WEBHOOK = 0
    CALL = 1
    ASYNC = 2


class PayloadType(enum.IntEnum):
    """What the body sent to a target is; UNSPECIFIED is reported as set and sent as JSON."""

    UNSPECIFIED = 0
    JSON = 1
    JWT = 2
    JWE = 3


@dataclass(frozen=True)
class Target:
    """A registered endpoint of one instance."""

    id: str
    instance_id: str
    name: str
    target_type: TargetType
    interrupt_on_error: bool
    timeout: timedelta
    endpoint: str
    payload_type: PayloadType
    creation_date: datetime
    change_date: datetime
    deletion_date: datetime | None = None


def stops_calls(interrupt_on_error: bool, target_type: TargetType) -> bool:
    """Whether a target's failure stops the call: an async target is never waited for, whatever its flag."""
    return interrupt_on_error and target_type is not TargetType.ASYNC


@dataclass(frozen=True)
class TargetLabel:
    """How a page names a target it refers to: its id, name, and whether its failure stops a call."""

    id: str
    name: str
    interrupting: bool


@dataclass(frozen=True)
class TargetSpec:
    """The user-settable fields of a target, as given to CreateTarget."""

    name: str
    target_type: TargetType
    interrupt_on_error: bool
    timeout: timedelta | None
    endpoint: str
    payload_type: PayloadType = PayloadType.UNSPECIFIED


@dataclass(frozen=True)
class TargetChanges:
    """UpdateTarget's input: every field optional; None means unchanged."""

    name: str | None = None
    target_type: TargetType | None = None
    interrupt_on_error: bool | None = None
    timeout: timedelta | None = None
    endpoint: str | None = None
    payload_type: PayloadType | None = None
    expiration_signing_key: timedelta | None = None


def generate_signing_key() -> str:
    """Return 36 characters of [a-zA-Z0-9] from the operating system's CSPRNG."""
    return "".join(secrets.choice(_SIGNING_KEY_ALPHABET) for _ in range(SIGNING_KEY_LENGTH))


def validate_name(name: str) -> None:
    """Reject empty or overlong target names."""
    if not name.strip():
        raise InvalidArgument("Errors.Target.Invalid", "name must not be empty")
    if len(name) > 1000:
        raise InvalidArgument("Errors.Target.Invalid", "name is longer than 1000 characters")


def validate_timeout(timeout: timedelta | None) -> None:
    """A timeout must be present, positive and at most 270 s."""
    if timeout is None or timeout == timedelta(0):
        raise InvalidArgument("Errors.Target.NoTimeout", "timeout must be set and greater than 0s")
    if timeout < timedelta(0) or timeout > MAX_TIMEOUT:
        raise InvalidArgument("Errors.Target.Invalid", "timeout must be between 0s and 270s")


def validate_endpoint(endpoint: str, max_length: int = 2048) -> None:
    """An endpoint is an absolute http(s) URL with a host and no userinfo, at most max_length characters."""
    if not endpoint or len(endpoint) > max_length:
        raise InvalidArgument("Errors.Target.InvalidURL", f"endpoint must be 1 to {max_length} characters")
    # urlsplit silently drops tabs and line breaks; a URL with any control or space character is invalid.
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in endpoint):
        raise InvalidArgument("Errors.Target.InvalidURL", "endpoint contains spaces or control characters")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        _ = parts.port
    except ValueError as error:
        raise InvalidArgument("Errors.Target.InvalidURL", "endpoint is not a valid URL") from error
    if parts.scheme not in {"http", "https"} or not host:
        raise InvalidArgument("Errors.Target.InvalidURL", "endpoint must be an absolute http(s) URL")
    # Get and List show the endpoint to every reader, and events carry it to targets: no place for a
    # password. The ZITADEL-Signature header is how a target knows the call is genuine.
    if "@" in parts.netloc:
        raise InvalidArgument(
            "Errors.Target.InvalidURL", "endpoint must not contain a user name or password (user:password@host)"
        )


def validate_spec(spec: TargetSpec, max_endpoint_length: int = 2048) -> None:
    """Check every rule CreateTarget applies to a new target."""
    validate_name(spec.name)
    validate_timeout(spec.timeout)
    validate_endpoint(spec.endpoint, max_endpoint_length)


def apply_changes(target: Target, changes: TargetChanges) -> Target:
    """Return the target with the changes applied; switching to async forces interruptOnError off."""
    updated = replace(
        target,
        name=_pick(changes.name, target.name),
        target_type=_pick(changes.target_type, target.target_type),
        interrupt_on_error=_pick(changes.interrupt_on_error, target.interrupt_on_error),
        timeout=_pick(changes.timeout, target.timeout),
        endpoint=_pick(changes.endpoint, target.endpoint),
        payload_type=_pick(changes.payload_type, target.payload_type),
    )
    if updated.target_type is TargetType.ASYNC:
        updated = replace(updated, interrupt_on_error=False)
    return updated


def changed_fields(before: Target, after: Target) -> dict[str, object]:
    """Name the user-visible fields that differ, with their new values (the ``target.changed`` payload).

    Only differing fields appear, as ZITADEL's ``ChangedEvent`` omits unset pointers
    (``internal/repository/target/target.go``).
    """
    previous, current = target_event_payload(before), target_event_payload(after)
    return {key: value for key, value in current.items() if previous[key] != value}


def target_event_payload(target: Target) -> dict[str, object]:
    """The ``target.added`` payload: ZITADEL's ``AddedEvent`` fields, names and order, minus the signing key.

    ``timeout`` is a Go ``time.Duration``, nanoseconds as an integer; the enums are their numbers.
    The encrypted signing key ZITADEL stores in the event stays out (docs/differences.md).
    """
    return {
        "name": target.name,
        "targetType": int(target.target_type),
        "endpoint": target.endpoint,
        "timeout": duration_nanoseconds(target.timeout),
        "interruptOnError": target.interrupt_on_error,
        "payloadType": int(target.payload_type),
    }


def with_key_rotated(changes: dict[str, object]) -> dict[str, object]:
    """The ``target.changed`` payload of a change that rotated the signing key.

    Where ZITADEL's ``ChangedEvent`` carries the new encrypted ``signingKey`` (before
    ``payloadType``), callout records only that a rotation happened: keys never leave callout
    in events (docs/differences.md).
    """
    before = {key: value for key, value in changes.items() if key != "payloadType"}
    after = {key: value for key, value in changes.items() if key == "payloadType"}
    return {**before, "signingKeyRotated": True, **after}


def duration_nanoseconds(duration: timedelta) -> int:
    """A duration as Go's ``time.Duration`` marshals it: whole nanoseconds."""
    return (duration // timedelta(microseconds=1)) * 1000


def _pick(new: _T | None, old: _T) -> _T:
    return old if new is None else new

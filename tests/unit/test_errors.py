"""The error kinds of callout: wire codes per docs/behaviour.md (Errors) and the client-facing message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.errors import (
    AlreadyExists,
    CalloutError,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)

# docs/behaviour.md, Errors: kind, HTTP status, Connect code name, gRPC numeric code.
ERROR_KINDS: list[tuple[type[CalloutError], int, str, int]] = [
    (InvalidArgument, 400, "invalid_argument", 3),
    (FailedPrecondition, 400, "failed_precondition", 9),
    (Unauthenticated, 401, "unauthenticated", 16),
    (PermissionDenied, 403, "permission_denied", 7),
    (NotFound, 404, "not_found", 5),
    (AlreadyExists, 409, "already_exists", 6),
    (ResourceExhausted, 429, "resource_exhausted", 8),
    (Internal, 500, "internal", 13),
    (Unavailable, 503, "unavailable", 14),
    (DeadlineExceeded, 504, "deadline_exceeded", 4),
    # Beyond ZITADEL's list: unknown methods and wrong HTTP verbs.
    (Unimplemented, 501, "unimplemented", 12),
    # Beyond ZITADEL's list: forwarded 4xx statuses without a specific mapping (docs/behaviour.md, Calling targets).
    (Unknown, 500, "unknown", 2),
]
KIND_IDS = [kind.__name__ for kind, *_ in ERROR_KINDS]


class TestKinds:
    def test_every_documented_kind_exists_and_no_other(self) -> None:
        """The error tree has exactly the ten kinds ZITADEL maps plus Unimplemented and Unknown."""
        assert set(CalloutError.__subclasses__()) == {kind for kind, *_ in ERROR_KINDS}

    @pytest.mark.parametrize(("kind", "status", "connect", "grpc"), ERROR_KINDS, ids=KIND_IDS)
    def test_http_status_matches_spec(self, kind: type[CalloutError], status: int, connect: str, grpc: int) -> None:
        """Each kind maps to the HTTP status docs/behaviour.md gives."""
        assert kind("Errors.X").kind.http_status == status

    @pytest.mark.parametrize(("kind", "status", "connect", "grpc"), ERROR_KINDS, ids=KIND_IDS)
    def test_connect_code_matches_spec(self, kind: type[CalloutError], status: int, connect: str, grpc: int) -> None:
        """Each kind maps to its Connect code name."""
        assert kind("Errors.X").kind.connect_code == connect

    @pytest.mark.parametrize(("kind", "status", "connect", "grpc"), ERROR_KINDS, ids=KIND_IDS)
    def test_grpc_code_matches_spec(self, kind: type[CalloutError], status: int, connect: str, grpc: int) -> None:
        """Each kind maps to its gRPC numeric code."""
        assert kind("Errors.X").kind.grpc_code == grpc

    def test_base_error_is_internal(self) -> None:
        """A bare CalloutError is rendered as an internal error."""
        assert CalloutError("Errors.X").kind == Internal("Errors.X").kind

    @pytest.mark.parametrize("kind", [kind for kind, *_ in ERROR_KINDS], ids=KIND_IDS)
    def test_kinds_are_exceptions(self, kind: type[CalloutError]) -> None:
        """Every kind can be raised and caught as a CalloutError."""
        with pytest.raises(CalloutError):
            raise kind("Errors.X")


class TestMessage:
    def test_message_with_detail(self) -> None:
        """With a detail the message is "<id> (<detail>)"."""
        assert NotFound("Errors.Target.NotFound", "no such target").message == "Errors.Target.NotFound (no such target)"

    def test_message_without_detail(self) -> None:
        """Without a detail the message is just the id."""
        assert NotFound("Errors.Target.NotFound").message == "Errors.Target.NotFound"

    def test_str_is_the_message(self) -> None:
        """str() of an error is its client-facing message."""
        assert str(InvalidArgument("Errors.Target.NoTimeout", "x")) == "Errors.Target.NoTimeout (x)"

    def test_id_and_detail_are_kept(self) -> None:
        """The message id and detail are available separately."""
        error = AlreadyExists("Errors.Target.AlreadyExists", "taken")
        assert (error.message_id, error.detail) == ("Errors.Target.AlreadyExists", "taken")

    def test_verbatim_message_is_the_detail_alone(self) -> None:
        """A verbatim error (a target's forwarded message) shows its detail as the whole message."""
        error = InvalidArgument("Errors.Execution.Forwarded", "nope", verbatim=True)
        assert (error.message, error.message_id, error.detail) == ("nope", "Errors.Execution.Forwarded", "nope")

    def test_verbatim_message_without_detail_is_the_id(self) -> None:
        """A verbatim error with an empty detail falls back to its id, so the message is never empty."""
        assert InvalidArgument("Errors.Execution.Forwarded", "", verbatim=True).message == "Errors.Execution.Forwarded"

    @given(st.text(min_size=1), st.text())
    def test_message_always_starts_with_the_id(self, message_id: str, detail: str) -> None:
        """For any id and detail the message is the id, followed by the parenthesised detail if any."""
        expected = f"{message_id} ({detail})" if detail else message_id
        assert InvalidArgument(message_id, detail).message == expected

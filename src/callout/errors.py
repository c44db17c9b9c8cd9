"""The one exception tree of callout, and how each kind maps onto the wire.

Every failure a client may see is a ``CalloutError`` carrying a kind (the gRPC status it maps to) and a
stable i18n-style message id such as ``Errors.Target.NotFound``::

    CalloutError
     ├── InvalidArgument        400  invalid_argument      (3)
     ├── FailedPrecondition     400  failed_precondition   (9)
     ├── Unauthenticated        401  unauthenticated       (16)
     ├── PermissionDenied       403  permission_denied     (7)
     ├── NotFound               404  not_found             (5)
     ├── AlreadyExists          409  already_exists        (6)
     ├── ResourceExhausted      429  resource_exhausted    (8)
     ├── Unknown                500  unknown               (2)
     ├── Unimplemented          501  unimplemented         (12)
     ├── Internal               500  internal              (13)
     ├── Unavailable            503  unavailable           (14)
     └── DeadlineExceeded       504  deadline_exceeded     (4)

Transports render these; nothing else should reach a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ErrorKind:
    """How one error kind appears on the wire."""

    connect_code: str
    grpc_code: int
    http_status: int


class CalloutError(Exception):
    """Base of every error a client may see."""

    kind: ClassVar[ErrorKind] = ErrorKind("internal", 13, 500)

    def __init__(self, message_id: str, detail: str = "", *, verbatim: bool = False) -> None:
        self.message_id = message_id
        self.detail = detail
        self.verbatim = verbatim
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The client-facing text: the stable id, then the human detail in parentheses.

        A ``verbatim`` error shows its detail alone (the id when there is none): a target's forwarded
        message reaches the client as the target wrote it, as in ZITADEL (docs/functions.md); the id
        stays in the error details.
        """
        if self.verbatim and self.detail:
            return self.detail
        return f"{self.message_id} ({self.detail})" if self.detail else self.message_id


class InvalidArgument(CalloutError):
    """The request is malformed or violates a validation rule."""

    kind = ErrorKind("invalid_argument", 3, 400)


class FailedPrecondition(CalloutError):
    """The system is not in a state that allows the request."""

    kind = ErrorKind("failed_precondition", 9, 400)


class Unauthenticated(CalloutError):
    """The token is missing, unknown or revoked."""

    kind = ErrorKind("unauthenticated", 16, 401)


class PermissionDenied(CalloutError):
    """The caller is known but lacks the permission."""

    kind = ErrorKind("permission_denied", 7, 403)


class NotFound(CalloutError):
    """The addressed resource does not exist in the caller's instance."""

    kind = ErrorKind("not_found", 5, 404)


class AlreadyExists(CalloutError):
    """A unique property (such as a target name) is taken."""

    kind = ErrorKind("already_exists", 6, 409)


class ResourceExhausted(CalloutError):
    """A quota or size limit was hit."""

    kind = ErrorKind("resource_exhausted", 8, 429)


class Unknown(CalloutError):
    """A target forwarded a 4xx status with no specific mapping (docs/behaviour.md, Calling targets)."""

    kind = ErrorKind("unknown", 2, 500)


class Unimplemented(CalloutError):
    """No such method (or not with this HTTP verb)."""

    kind = ErrorKind("unimplemented", 12, 501)


class Internal(CalloutError):
    """An unexpected failure; details stay in the server log."""

    kind = ErrorKind("internal", 13, 500)


class Unavailable(CalloutError):
    """A dependency (such as the database) cannot be reached."""

    kind = ErrorKind("unavailable", 14, 503)


class DeadlineExceeded(CalloutError):
    """The operation took longer than allowed."""

    kind = ErrorKind("deadline_exceeded", 4, 504)

"""What a target's answer means: success with a body, a forwarded error, or a failure (SPEC §4)."""

from __future__ import annotations

import json
from typing import Any

from callout.delivery.sender import DeliveryError, DeliveryTimeout, OutboundResponse
from callout.errors import (
    AlreadyExists,
    CalloutError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unknown,
)

_FORWARDED_KINDS: dict[int, type[CalloutError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: AlreadyExists,
    429: ResourceExhausted,
}


def interpret_response(response: OutboundResponse) -> bytes:
    """Return the body of a successful answer; raise the error a failed or forwarding answer means."""
    if not response.ok:
        raise FailedPrecondition("Errors.Execution.Failed", f"the target answered HTTP {response.status}")
    forwarded = _forwarded_error(response.body)
    if forwarded is not None:
        raise forwarded
    return response.body


def _forwarded_error(body: bytes) -> CalloutError | None:
    try:
        answer: Any = json.loads(body) if body.strip() else None
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    status, message = answer.get("forwardedStatusCode"), answer.get("forwardedErrorMessage")
    if not status and not message:
        return None
    return forwarded_error(status if isinstance(status, int) else 0, message if isinstance(message, str) else "")


def forwarded_error(status: int, message: str) -> CalloutError:
    """Map a forwarded status: known 4xx to their kinds, other 4xx Unknown, anything else FailedPrecondition."""
    if 400 <= status <= 499:
        return _FORWARDED_KINDS.get(status, Unknown)("Errors.Execution.Forwarded", message)
    return FailedPrecondition("Errors.Execution.Forwarded", message)


def delivery_failure(error: DeliveryError) -> CalloutError:
    """The error an interrupting target's transport failure becomes for the caller."""
    if isinstance(error, DeliveryTimeout):
        return DeadlineExceeded("Errors.Execution.Timeout", "the target did not answer in time")
    return FailedPrecondition("Errors.Execution.Failed", f"the target could not be reached ({error.reason})")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse a rest_call answer that must be a JSON object."""
    try:
        value = json.loads(body)
    except ValueError as error:
        raise FailedPrecondition(
            "Errors.Execution.ResponseIsNotValidJSON", "the target's answer is not JSON"
        ) from error
    if not isinstance(value, dict):
        raise FailedPrecondition("Errors.Execution.ResponseIsNotValidJSON", "the target's answer is not a JSON object")
    return value

"""What a target's answer means: success with a body, a forwarded error, or a failure.

An answer callout cannot read safely is a failure of that target like any other (docs/target-answers.md):
JSON nesting deeper than ``MAX_JSON_DEPTH`` is refused before parsing, since Python's parsers and
callout's encoders recurse once per level; a body over the sender's size limit, a reset connection or
a trickle past the target's timeout arrive here as ``DeliveryError``. Non-JSON bodies (including
invalid UTF-8 under a JSON content type) are answers without a value: fine for a webhook, a failure
where a ``rest_call`` must answer a JSON object.

See docs/behaviour.md, Calling targets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from callout.delivery.sender import DeliveryError, DeliveryTimeout, OutboundResponse, ResponseTooLarge
from callout.domain.json_depth import MAX_JSON_DEPTH, exceeds_json_depth
from callout.domain.json_numbers import finite_float, refuse_constant
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

# orjson reads integers beyond 64 bits as floats; a run of 19+ digits sends the body to the json module.
# Found by mapping every digit to "9" and the rest to " " (C speed; a regular expression is ~30x slower).
_DIGITS_ONLY = bytes.maketrans(bytes(range(256)), bytes(57 if 48 <= byte <= 57 else 32 for byte in range(256)))
_NINETEEN_DIGITS = b"9" * 19
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

_FORWARDED_KINDS: dict[int, type[CalloutError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: AlreadyExists,
    429: ResourceExhausted,
}


@dataclass(slots=True)  # not frozen: made on every target call, and a frozen init costs 3x
class TargetAnswer:
    """A successful answer: its bytes and, when they are JSON, the parsed value (parsed once)."""

    body: bytes
    value: Any = None
    is_json: bool = False

    @property
    def is_empty(self) -> bool:
        """True for a body with nothing in it (none, or only whitespace): no answer, which changes nothing.

        ZITADEL reads a ``rest_call`` answer only when its body is not empty
        (internal/execution/execution.go); whitespace alone is taken as empty too (docs/functions.md).
        """
        return not self.is_json and not self.body.strip()


def interpret_response(response: OutboundResponse) -> TargetAnswer:
    """Return a successful answer; raise the error a failed or forwarding answer means."""
    if not response.ok:
        raise FailedPrecondition("Errors.Execution.Failed", f"the target answered HTTP {response.status}")
    if exceeds_json_depth(response.body):
        raise too_deep()
    answer = _parse(response.body)
    forwarded = _forwarded_error(answer.value) if answer.is_json else None
    if forwarded is not None:
        raise forwarded
    return answer


def _parse(body: bytes) -> TargetAnswer:
    if _NINETEEN_DIGITS not in body.translate(_DIGITS_ONLY):
        try:
            return TargetAnswer(body, orjson.loads(body), True)
        except orjson.JSONDecodeError:
            pass  # lone surrogate escapes, which the json module reads
    try:
        return TargetAnswer(body, _parse_slowly(body), True) if body.strip() else TargetAnswer(body)
    except (ValueError, RecursionError):  # ValueError covers invalid UTF-8 and over-long integers
        return TargetAnswer(body)


def _parse_slowly(body: bytes) -> Any:
    """Parse with the json module as Go reads JSON: no NaN or infinite numbers, lone surrogates as U+FFFD.

    Whatever is read here must encode again (into the next payload and the client's answer), and
    neither NaN nor a lone surrogate does.
    """
    value = json.loads(body, parse_constant=refuse_constant, parse_float=finite_float)
    return _without_lone_surrogates(value) if _SURROGATE_ESCAPE.search(body) else value


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _replace_surrogates(value) if _has_surrogate(value) else value
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item) for key, item in value.items()}
    return value


def _replace_surrogates(text: str) -> str:
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def too_deep() -> FailedPrecondition:
    """The failure of an answer nesting deeper than callout reads."""
    detail = f"the target's answer nests deeper than {MAX_JSON_DEPTH} levels"
    return FailedPrecondition("Errors.Execution.ResponseIsNotValidJSON", detail)


def _forwarded_error(answer: Any) -> CalloutError | None:
    if not isinstance(answer, dict):
        return None
    status, message = answer.get("forwardedStatusCode"), answer.get("forwardedErrorMessage")
    if not status and not message:
        return None
    return forwarded_error(status if isinstance(status, int) else 0, message if isinstance(message, str) else "")


def forwarded_error(status: int, message: str) -> CalloutError:
    """Map a forwarded status: known 4xx to their kinds, other 4xx Unknown, anything else FailedPrecondition.

    The client sees the target's message as it stands (``verbatim``), as ZITADEL makes
    ``forwardedErrorMessage`` the error's message (internal/execution/execution.go).
    """
    kind = _FORWARDED_KINDS.get(status, Unknown) if 400 <= status <= 499 else FailedPrecondition
    return kind("Errors.Execution.Forwarded", message, verbatim=True)


def delivery_failure(error: DeliveryError) -> CalloutError:
    """The error an interrupting target's transport failure becomes for the caller."""
    if isinstance(error, DeliveryTimeout):
        return DeadlineExceeded("Errors.Execution.Timeout", "the target did not answer in time")
    if isinstance(error, ResponseTooLarge):
        return FailedPrecondition("Errors.Execution.Failed", f"the target's answer is too large ({error})")
    return FailedPrecondition("Errors.Execution.Failed", f"the target could not be reached ({error.reason})")


def json_object(answer: TargetAnswer) -> dict[str, Any]:
    """The answer of a rest_call that must be a JSON object."""
    if not answer.is_json:
        raise FailedPrecondition("Errors.Execution.ResponseIsNotValidJSON", "the target's answer is not JSON")
    if not isinstance(answer.value, dict):
        raise FailedPrecondition("Errors.Execution.ResponseIsNotValidJSON", "the target's answer is not a JSON object")
    return answer.value

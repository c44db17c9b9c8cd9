"""Function executions: merging the ``rest_call`` answers and applying them to claims or SAML attributes.

ZITADEL's functions (``internal/api/oidc/userinfo.go``, ``internal/api/saml/storage.go``) unmarshal
every ``rest_call`` answer into one shared response struct, in chain order:

- ``preuserinfo`` / ``preaccesstoken``: ``{set_user_metadata:[{key, value(base64)}],
  append_claims:[{key, value}], append_log_claims:[str]}``;
- ``presamlresponse``: ``{set_user_metadata, append_attribute:[{name, name_format, value:[str]}]}``.

So a field present in a later answer **replaces** the earlier list (Go's ``json.Unmarshal`` never
appends), a field it leaves out keeps the earlier value, ``null`` clears it, unknown keys are
ignored and keys match case-insensitively. (Go also decodes a later list element *into* the earlier
element at the same index, so fields missing from it survive; that quirk is not reproduced — each
element stands alone.) An answer that is not valid JSON fails with FailedPrecondition
``Errors.Execution.ResponseIsNotValidJSON``; valid JSON of the wrong shape with FailedPrecondition
``Errors.Execution.ResponseInvalid``. An empty body is no answer.

The merged result keeps ZITADEL's wire shape, so it is JSON as it stands: metadata values stay
base64 text (Go's encoding of ``[]byte``), checked and written in canonical standard base64;
``metadata_entries`` decodes them. Answers nesting deeper than ``MAX_JSON_DEPTH`` are not read.

Custom functions (callout's extension) get a shallow merge of JSON objects: later keys override.

Applying: claims under ``urn:zitadel:iam`` are skipped silently; a claim that already exists is not
overwritten (log line ``key "<k>" already exists``); metadata failures, conflicts and
``append_log_claims`` (in that order) go to the claim ``urn:zitadel:iam:action:function/<fn>:log``.
SAML attributes replace same-named ones; only metadata failures are logged, to the attribute
``urn:zitadel:iam:action:function/presamlresponse:log``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callout.domain.json_depth import MAX_JSON_DEPTH, exceeds_json_depth
from callout.domain.json_numbers import refuse_constant
from callout.errors import FailedPrecondition

CLAIM_PREFIX = "urn:zitadel:iam"
USERINFO_FUNCTIONS = frozenset({"preuserinfo", "preaccesstoken"})
SAML_FUNCTIONS = frozenset({"presamlresponse"})
USERINFO_FIELDS = ("set_user_metadata", "append_claims", "append_log_claims")
SAML_FIELDS = ("set_user_metadata", "append_attribute")

Answer = bytes | str | Mapping[str, Any] | None
"""One target's answer: the raw body, or the already parsed JSON object (None: no answer)."""


@dataclass(frozen=True)
class SamlAttribute:
    """A SAML attribute to add to the response: its name format and values."""

    name_format: str
    values: tuple[str, ...]


def function_id(function_name: str) -> str:
    """The execution id of a function: ``function/<name>`` (idempotent)."""
    return "function/" + function_name.removeprefix("function/")


def log_claim_key(function_name: str) -> str:
    """The claim (or SAML attribute) collecting a function's log lines."""
    return f"{CLAIM_PREFIX}:action:{function_id(function_name)}:log"


def parse_answer(body: bytes | str) -> Any:
    """Parse a ``rest_call`` body; invalid JSON is FailedPrecondition ``Errors.Execution.ResponseIsNotValidJSON``."""
    if exceeds_json_depth(body):
        detail = f"the answer nests deeper than {MAX_JSON_DEPTH} levels"
        raise FailedPrecondition("Errors.Execution.ResponseIsNotValidJSON", detail)
    try:
        return json.loads(body, parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FailedPrecondition("Errors.Execution.ResponseIsNotValidJSON", str(exc)) from None


def merge_function_answers(function_name: str, answers: Iterable[Answer]) -> dict[str, Any]:
    """Merge the answers of a function's ``rest_call`` targets, in chain order."""
    merged: dict[str, Any] = {}
    for answer in answers:
        merged = merge_function_answer(function_name, merged, answer)
    return merged


def merge_function_answer(function_name: str, merged: Mapping[str, Any], answer: Answer) -> dict[str, Any]:
    """Merge one more answer into the answers merged so far (which are not modified)."""
    name = function_name.removeprefix("function/")
    parsed = _parsed(answer)
    if parsed is None:
        return dict(merged)
    if not isinstance(parsed, Mapping):
        raise _invalid("the answer must be a JSON object")
    if name in USERINFO_FUNCTIONS:
        return _merge_fields(merged, parsed, USERINFO_FIELDS)
    if name in SAML_FUNCTIONS:
        return _merge_fields(merged, parsed, SAML_FIELDS)
    return {**merged, **parsed}


def metadata_entries(merged: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """The ``(key, decoded value)`` user metadata a merged answer asks to set, in order."""
    return [(entry["key"], base64.b64decode(entry["value"])) for entry in merged.get("set_user_metadata", [])]


def metadata_failure_log(key: str) -> str:
    """The log line recorded when setting a metadata key failed."""
    return f"failed to set user metadata key {go_quote(key)}"


def apply_claims(
    existing_claims: Mapping[str, Any],
    merged: Mapping[str, Any],
    function_name: str,
    *,
    metadata_failures: Sequence[str] = (),
) -> tuple[dict[str, Any], list[str]]:
    """Add the merged ``append_claims`` to the claims; return the new claims and the log lines.

    ``metadata_failures`` are the metadata keys that could not be set; they are logged first.
    """
    claims = dict(existing_claims)
    logs = [metadata_failure_log(key) for key in metadata_failures]
    for claim in merged.get("append_claims", []):
        key = claim["key"]
        if key.startswith(CLAIM_PREFIX):
            continue
        if claims.get(key) is None:
            claims[key] = claim["value"]
        else:
            logs.append(f"key {go_quote(key)} already exists")
    logs.extend(merged.get("append_log_claims", []))
    if logs:
        claims[log_claim_key(function_name)] = list(logs)
    return claims, logs


def apply_attributes(
    existing: Mapping[str, SamlAttribute],
    merged: Mapping[str, Any],
    function_name: str,
    *,
    metadata_failures: Sequence[str] = (),
) -> tuple[dict[str, SamlAttribute], list[str]]:
    """Add the merged ``append_attribute`` entries (replacing same-named ones); log metadata failures."""
    attributes = dict(existing)
    for attribute in merged.get("append_attribute", []):
        attributes[attribute["name"]] = SamlAttribute(attribute["name_format"], tuple(attribute["value"]))
    logs = [metadata_failure_log(key) for key in metadata_failures]
    if logs:
        attributes[log_claim_key(function_name)] = SamlAttribute("", tuple(logs))
    return attributes, logs


def go_quote(text: str) -> str:
    """Quote a string like Go's ``%q`` (``strconv.Quote``)."""
    return '"' + "".join(_quote_char(char) for char in text) + '"'


def _parsed(answer: Answer) -> Any:
    if isinstance(answer, bytes | str):
        return parse_answer(answer) if answer else None
    return answer


def _merge_fields(merged: Mapping[str, Any], answer: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    current = dict(merged)
    for key, value in answer.items():
        field = key.lower()
        if field not in fields:
            continue
        if value is None:
            current.pop(field, None)
        else:
            current[field] = _parse_list(value, field, _ITEM_PARSERS[field])
    return {field: current[field] for field in fields if current.get(field)}


def _parse_list(value: Any, field: str, parse_item: Callable[[Any], Any]) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(f"{field} must be a list")
    return [parse_item(item) for item in value]


def _metadata(item: Any) -> dict[str, Any]:
    entry = _lowered(item, "set_user_metadata")
    encoded = _string(entry.get("value"), "set_user_metadata.value")
    try:
        # Go's standard decoding skips line breaks and nothing else.
        value = base64.b64decode(encoded.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise _invalid("set_user_metadata.value must be standard base64") from None
    key = _string(entry.get("key"), "set_user_metadata.key")
    return {"key": key, "value": base64.b64encode(value).decode("ascii")}


def _claim(item: Any) -> dict[str, Any]:
    entry = _lowered(item, "append_claims")
    return {"key": _string(entry.get("key"), "append_claims.key"), "value": entry.get("value")}


def _log_line(item: Any) -> str:
    if not isinstance(item, str):
        raise _invalid("append_log_claims must be a list of strings")
    return item


def _attribute(item: Any) -> dict[str, Any]:
    entry = _lowered(item, "append_attribute")
    values = entry.get("value") or []
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise _invalid("append_attribute.value must be a list of strings")
    name_format = _string(entry.get("name_format"), "append_attribute.name_format")
    return {"name": _string(entry.get("name"), "append_attribute.name"), "name_format": name_format, "value": values}


_ITEM_PARSERS: dict[str, Callable[[Any], Any]] = {
    "set_user_metadata": _metadata,
    "append_claims": _claim,
    "append_log_claims": _log_line,
    "append_attribute": _attribute,
}


def _lowered(item: Any, field: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _invalid(f"{field} must be a list of objects")
    return {key.lower(): value for key, value in item.items()}


def _string(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"{field} must be a string")
    return value


def _invalid(detail: str) -> FailedPrecondition:
    return FailedPrecondition("Errors.Execution.ResponseInvalid", detail)


_QUOTE_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _quote_char(char: str) -> str:
    if char in _QUOTE_SHORT:
        return _QUOTE_SHORT[char]
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        # A surrogate stands for invalid UTF-8 (surrogateescape'd bytes, or an encoded surrogate).
        errors = "surrogateescape" if 0xDC80 <= code <= 0xDCFF else "surrogatepass"
        return "".join(f"\\x{byte:02x}" for byte in char.encode("utf-8", errors))
    if char.isprintable():
        return char
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

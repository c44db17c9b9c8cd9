"""The Targets pages' forms: a form's fields to the API's JSON and back, and labels for what the API answers.

Fields carry what the user typed; the API validates it (docs/console.md, Targets), so a wrong value is
refused with the API's own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

TYPES = {"restWebhook": "REST webhook", "restCall": "REST call", "restAsync": "REST async"}
PAYLOAD_TYPES = {"PAYLOAD_TYPE_JSON": "JSON", "PAYLOAD_TYPE_JWT": "JWT", "PAYLOAD_TYPE_JWE": "JWE"}
SORTS = {
    "name": "TARGET_FIELD_NAME_NAME",
    "created": "TARGET_FIELD_NAME_CREATED_DATE",
    "changed": "TARGET_FIELD_NAME_CHANGED_DATE",
}
PAGE_SIZE = 50


@dataclass(frozen=True)
class TargetForm:
    """The values of the create and edit forms, as typed (strings), so a refused form is shown again."""

    name: str = ""
    target_type: str = "restWebhook"
    interrupt_on_error: bool = False
    endpoint: str = ""
    timeout: str = "10"
    payload_type: str = "PAYLOAD_TYPE_JSON"


def form_from_post(form: dict[str, str]) -> TargetForm:
    """The form as posted; an unknown type or payload type falls back to the default (the select offers no other)."""
    target_type = form.get("target_type", "")
    payload_type = form.get("payload_type", "")
    return TargetForm(
        name=form.get("name", ""),
        target_type=target_type if target_type in TYPES else "restWebhook",
        interrupt_on_error=form.get("interrupt_on_error") == "on",
        endpoint=form.get("endpoint", ""),
        timeout=form.get("timeout", ""),
        payload_type=payload_type if payload_type in PAYLOAD_TYPES else "PAYLOAD_TYPE_JSON",
    )


def form_from_target(target: dict[str, Any]) -> TargetForm:
    """The edit form's values from a GetTarget answer."""
    target_type = next((key for key in TYPES if key in target), "restWebhook")
    return TargetForm(
        name=target["name"],
        target_type=target_type,
        interrupt_on_error=bool(target[target_type].get("interruptOnError")),
        endpoint=target["endpoint"],
        timeout=seconds_of(target.get("timeout", "0s")),
        payload_type=target.get("payloadType", "PAYLOAD_TYPE_JSON"),
    )


def target_body(values: TargetForm) -> dict[str, Any]:
    """The CreateTarget / UpdateTarget fields of a form; async targets never interrupt."""
    interrupt = values.interrupt_on_error and values.target_type != "restAsync"
    body: dict[str, Any] = {
        "name": values.name,
        values.target_type: {"interruptOnError": True} if interrupt else {},
        "endpoint": values.endpoint,
        "payloadType": values.payload_type,
    }
    if values.timeout.strip():
        body["timeout"] = duration(values.timeout)
    return body


def duration(seconds: str) -> str:
    """A number of seconds as typed, as a protojson duration ("10" is "10s"); the API judges the number."""
    return seconds.strip().removesuffix("s") + "s"


def seconds_of(value: str) -> str:
    """A protojson duration ("1.500s") as the seconds a form shows ("1.5")."""
    number = value.removesuffix("s")
    return number.rstrip("0").rstrip(".") if "." in number else number


def type_label(target: dict[str, Any]) -> str:
    """A target's type, readable."""
    return next((label for key, label in TYPES.items() if key in target), "unknown")


def interrupts(target: dict[str, Any]) -> bool:
    """Whether a failing call to the target stops the request it belongs to."""
    return any(bool(target.get(key, {}).get("interruptOnError")) for key in TYPES)


def condition_label(condition: dict[str, Any]) -> str:
    """An execution's condition in words, e.g. "request: method /zitadel.user.v2.UserService/AddHumanUser"."""
    for kind, part in condition.items():
        if not isinstance(part, dict):
            continue
        for member, value in part.items():
            return f"{kind}: all" if member == "all" else f"{kind}: {member} {value}"
        return kind
    return "unknown condition"


def expiry_timestamp(local: str) -> str | None:
    """A ``datetime-local`` value read as UTC, as a protojson timestamp; blank is none."""
    text = local.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # the API refuses it with its own message
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def when(timestamp: str | None) -> str:
    """A protojson timestamp shortened for a table ("2026-12-03 16:42:07 UTC")."""
    if not timestamp:
        return ""
    return timestamp[:19].replace("T", " ") + " UTC"

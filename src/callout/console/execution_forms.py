"""The Executions page's form values: conditions as the console names them, and target-list edits.

A condition is a ``kind:scope`` choice (``request:method``, ``event:group``…) plus the value typed into
the field named after the scope (``method=/pkg.Service/Method``). The ordered target list travels as
one hidden field of comma-separated target ids, so that every edit (add, move, remove) is a plain
form submission that works without JavaScript (docs/console.md, Executions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

# Which members a condition of each kind may set, as ZITADEL's Condition messages allow.
SCOPES: dict[str, tuple[str, ...]] = {
    "request": ("all", "service", "method"),
    "response": ("all", "service", "method"),
    "function": ("function",),
    "event": ("all", "group", "event"),
}
CHOICE_LABELS: dict[str, str] = {
    "request:all": "Request: every method",
    "request:service": "Request: one service",
    "request:method": "Request: one method",
    "response:all": "Response: every method",
    "response:service": "Response: one service",
    "response:method": "Response: one method",
    "function:function": "Function",
    "event:all": "Event: every event",
    "event:group": "Event: a group of events",
    "event:event": "Event: one event type",
}
_SCOPE_NOUNS = {"service": "Service", "method": "Method", "function": "Function", "group": "Group", "event": "Event"}
MAX_VALUE_LENGTH = 1000


class FormProblem(ValueError):
    """A form value the console cannot use; its message is shown to the reader."""


@dataclass(frozen=True)
class ConditionChoice:
    """One condition: its kind (request, response, function, event), scope and value."""

    kind: str
    scope: str
    value: str = ""

    @property
    def choice(self) -> str:
        """The ``kind:scope`` name of the picker's option."""
        return f"{self.kind}:{self.scope}"

    @property
    def label(self) -> str:
        """How the page names the condition, e.g. ``Method /pkg.Service/Method``."""
        if self.scope == "all":
            return "Every event" if self.kind == "event" else "Every method"
        suffix = ".*" if self.scope == "group" else ""
        return f"{_SCOPE_NOUNS[self.scope]} {self.value}{suffix}"

    @property
    def body(self) -> dict[str, Any]:
        """The API's Condition message."""
        if self.scope == "all":
            return {self.kind: {"all": True}}
        member = "name" if self.scope == "function" else self.scope
        return {self.kind: {member: self.value}}

    @property
    def fields(self) -> dict[str, str]:
        """The form fields that name this condition (hidden fields and links)."""
        fields = {"condition": self.choice}
        if self.scope != "all":
            fields[self.scope] = self.value
        return fields

    @property
    def query(self) -> str:
        """The fields as a query string, for the editor's address."""
        return urlencode(self.fields)


def condition_from_fields(fields: Mapping[str, str]) -> ConditionChoice:
    """Read the picker's fields; raises ``FormProblem`` with a sentence for the reader."""
    kind, _, scope = fields.get("condition", "").partition(":")
    if scope not in SCOPES.get(kind, ()):
        raise FormProblem("Choose a condition type from the list.")
    if scope == "all":
        return ConditionChoice(kind, scope)
    value = fields.get(scope, "").strip()
    if not value:
        raise FormProblem(f"Type or pick a {_SCOPE_NOUNS[scope].lower()} for this condition.")
    if len(value) > MAX_VALUE_LENGTH:
        raise FormProblem(f"A condition's value is at most {MAX_VALUE_LENGTH} characters.")
    if scope == "group":
        value = value.removesuffix(".*")
    return ConditionChoice(kind, scope, value)


def condition_from_api(condition: Mapping[str, Any]) -> ConditionChoice:
    """Read a Condition message as ListExecutions returns it."""
    kind = next(name for name in SCOPES if name in condition)
    part: Mapping[str, Any] = condition[kind]
    if part.get("all"):
        return ConditionChoice(kind, "all")
    if kind == "function":
        return ConditionChoice(kind, "function", str(part.get("name", "")))
    member = next(name for name in SCOPES[kind] if name != "all" and name in part)
    return ConditionChoice(kind, member, str(part[member]))


def parse_ids(text: str) -> list[str]:
    """The target ids of the hidden list field, in order."""
    return [part.strip() for part in text.split(",") if part.strip()]


def join_ids(ids: list[str]) -> str:
    """The hidden list field's value."""
    return ",".join(ids)


def edit_list(ids: list[str], operation: str, added: str = "") -> list[str]:
    """Apply one editor button: ``add``, ``up:<id>``, ``down:<id>`` or ``remove:<id>``."""
    if operation == "add":
        if not added:
            raise FormProblem("Choose a target to add.")
        if added in ids:
            raise FormProblem("That target is in the list already; a list holds each target once.")
        return [*ids, added]
    verb, _, target_id = operation.partition(":")
    if verb not in ("up", "down", "remove") or target_id not in ids:
        raise FormProblem("The list changed meanwhile; check it and retry.")
    index = ids.index(target_id)
    edited = [item for item in ids if item != target_id]
    if verb == "remove":
        return edited
    new_index = max(index - 1, 0) if verb == "up" else min(index + 1, len(edited))
    edited.insert(new_index, target_id)
    return edited


def focus_after(operation: str, edited: list[str]) -> str:
    """Which button keeps the keyboard focus after an edit: the moved target's same button while it can
    still move that way, else its other one; the add control after an add; none after a remove."""
    verb, _, target_id = operation.partition(":")
    if verb not in ("up", "down") or target_id not in edited:
        return "add" if operation == "add" else ""
    index = edited.index(target_id)
    if index == (0 if verb == "up" else len(edited) - 1):
        verb = "down" if verb == "up" else "up"
    return f"{verb}:{target_id}"


def event_groups(event_types: frozenset[str] | set[str]) -> list[str]:
    """Every group an event type belongs to (``target.key`` for ``target.key.added``), sorted."""
    groups: set[str] = set()
    for event_type in event_types:
        parts = event_type.split(".")
        groups.update(".".join(parts[:end]) for end in range(1, len(parts)))
    return sorted(groups)

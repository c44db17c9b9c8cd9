"""What the Deliveries pages show, from the API's JSON: filters, rows, payloads and times (docs/console.md).

Pure functions, no I/O: the handlers in ``console/deliveries.py`` call the RPCs and hand the answers here.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from callout.api.protojson import format_timestamp
from callout.console.web import PageError

PAGE_SIZE = 50
STATES = ("pending", "in_flight", "succeeded", "failed")
STATE_PREFIX = "DELIVERY_STATE_"
FINISHED = ("succeeded", "failed")
MAX_ID_LENGTH = 200
MAX_EXECUTION_LENGTH = 1100
# The time inputs' format (``<input type="datetime-local">``); the console reads and shows times in UTC.
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Filters:
    """The list's filters as the query string carries them, so that a filtered URL can be shared."""

    state: str = ""
    target: str = ""
    execution: str = ""
    since: str = ""
    until: str = ""
    page: int = 1

    def query(self, **changes: Any) -> str:
        """The query string of these filters (empty values left out), with ``changes`` applied."""
        values = {**self.__dict__, **changes}
        if values["page"] == 1:
            values.pop("page")
        return urlencode({name: value for name, value in values.items() if value})

    def rpc_body(self) -> dict[str, Any]:
        """The ListDeliveriesRequest for this page of these filters, newest first."""
        body: dict[str, Any] = {"pagination": {"offset": (self.page - 1) * PAGE_SIZE, "limit": PAGE_SIZE}}
        return {**body, **self.rpc_filters()}

    def rpc_filters(self) -> dict[str, Any]:
        """The filter fields of a ListDeliveriesRequest (state, target, execution, time range)."""
        body: dict[str, Any] = {}
        if self.state:
            body["states"] = [STATE_PREFIX + self.state.upper()]
        if self.target:
            body["targetId"] = self.target
        if self.execution:
            body["executionId"] = self.execution
        if self.since:
            body["createdAfter"] = rfc3339(parse_local(self.since, "since"))
        if self.until:
            body["createdBefore"] = rfc3339(parse_local(self.until, "until"))
        return body


def read_filters(params: QueryParams) -> Filters:
    """The filters of a list URL; a malformed one is a 400 page that says which."""
    state = params.get("state", "")
    if state and state not in STATES:
        raise PageError(400, "Bad request", f"Unknown state {state[:40]!r}; choose one from the list.")
    for name in ("since", "until"):
        parse_local(params.get(name, ""), name)
    return Filters(
        state=state,
        target=params.get("target", "").strip()[:MAX_ID_LENGTH],
        execution=params.get("execution", "").strip()[:MAX_EXECUTION_LENGTH],
        since=params.get("since", ""),
        until=params.get("until", ""),
        page=_page_number(params.get("page", "1")),
    )


def _page_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise PageError(400, "Bad request", "The page number must be a whole number from 1.")
    return int(text)


def parse_local(text: str, field: str) -> datetime | None:
    """A ``datetime-local`` value read as UTC; empty is None, anything else malformed is a 400 page."""
    if not text:
        return None
    for layout in LOCAL_FORMATS:
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise PageError(400, "Bad request", f"The {field} time must look like 2026-01-31T13:45 (UTC).")


def rfc3339(moment: datetime | None) -> str:
    """The API's timestamp text for a moment."""
    assert moment is not None
    return format_timestamp(moment)


def parse_api_time(text: str | None) -> datetime | None:
    """A timestamp of the API's answers (RFC 3339, ``Z``)."""
    return datetime.fromisoformat(text) if text else None


def shown_time(text: str | None) -> str:
    """A timestamp as the pages show it: ``2026-01-31 13:45:07 UTC``."""
    moment = parse_api_time(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def state_of(delivery: dict[str, Any]) -> str:
    """``pending``, ``in_flight``, ``succeeded`` or ``failed`` from the API's enum name."""
    return str(delivery["state"]).removeprefix(STATE_PREFIX).lower()


def row_view(delivery: dict[str, Any], target_names: dict[str, str]) -> dict[str, Any]:
    """One list row: what the template and the live-update script both show."""
    state = state_of(delivery)
    return {
        "id": delivery["id"],
        "created": delivery["creationDate"],
        "createdText": shown_time(delivery["creationDate"]),
        "state": state,
        "stateText": state.replace("_", " "),
        "target": target_names.get(delivery["targetId"], delivery["targetId"]),
        "execution": delivery["executionId"],
        "attempts": int(delivery.get("attempts", 0)),
        "lastStatus": str(delivery.get("lastStatus", "")),
    }


def cursor_of(delivery: dict[str, Any]) -> str:
    """The live list's cursor after a delivery: its creation time and id (the list's order)."""
    return f"{delivery['creationDate']} {delivery['id']}"


def read_cursor(text: str) -> tuple[datetime, str]:
    """Split a cursor; a malformed one is a 400."""
    moment_text, _, delivery_id = text.partition(" ")
    try:
        moment = datetime.fromisoformat(moment_text)
    except ValueError:
        raise PageError(400, "Bad request", "The after cursor is malformed.") from None
    if moment.tzinfo is None:
        raise PageError(400, "Bad request", "The after cursor needs a time zone.")
    return moment, delivery_id


def is_newer(delivery: dict[str, Any], moment: datetime, delivery_id: str) -> bool:
    """Whether a delivery comes after the cursor in (creation time, id) order."""
    created = parse_api_time(delivery["creationDate"])
    assert created is not None
    return created > moment or (created == moment and delivery["id"] > delivery_id)


@dataclass(frozen=True)
class ShownPayload:
    """A payload as the detail page shows it: the text, and for a compact JWT/JWE its decoded header."""

    kind: str
    text: str
    token_header: str | None = None


def show_payload(encoded: str) -> ShownPayload:
    """JSON indented; a compact JWS/JWE with its header decoded (nothing verified); other bytes as text."""
    raw = base64.b64decode(encoded or "")
    text = raw.decode("utf-8", errors="replace")
    try:
        return ShownPayload("JSON", json.dumps(json.loads(raw), indent=2, ensure_ascii=False))
    except ValueError:
        pass
    header = token_header(text.strip())
    if header is not None:
        kind = "JWE" if text.count(".") == 4 else "JWT"
        return ShownPayload(kind, text.strip(), json.dumps(header, indent=2, ensure_ascii=False))
    return ShownPayload("text", text)


def token_header(token: str) -> dict[str, Any] | None:
    """The decoded JOSE header of a compact JWS (3 parts) or JWE (5 parts), or None for anything else."""
    parts = token.split(".")
    if len(parts) not in (3, 5) or not parts[0]:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, binascii.Error):
        return None
    return header if isinstance(header, dict) else None

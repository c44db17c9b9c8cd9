"""RunFunction's applied result: a function's merged answers applied by ZITADEL's rules (docs/functions.md).

ZITADEL applies the merged answers itself (``applyContextInfoResponse`` in internal/api/oidc/userinfo.go,
``getCustomAttributes`` in internal/api/saml/storage.go). A host application gets the same outcome
from callout, so that it does not re-implement the rules:

- ``preuserinfo`` / ``preaccesstoken``: the claims after applying (reserved ``urn:zitadel:iam`` claims
  skipped, existing claims kept, each conflict and every ``append_log_claims`` line in the log claim
  ``urn:zitadel:iam:action:function/<name>:log``), the log lines, and the metadata to set;
- ``presamlresponse``: the attributes to add (a later one replaces a same-named one) and the metadata.

Custom functions have no rules: their merged answer is the whole result.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping
from typing import Any

from callout.engine import functions


def existing_claims(explicit: Mapping[str, Any] | None, context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The user's claims before the function: those the host sent, else the context's ``userinfo``."""
    if explicit is not None:
        return explicit
    userinfo = context.get("userinfo")
    return userinfo if isinstance(userinfo, Mapping) else {}


def applied_result(name: str, merged: Mapping[str, Any], claims: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merged answers as ZITADEL applies them; None for a custom function."""
    bare = name.removeprefix("function/")
    if bare in functions.USERINFO_FUNCTIONS:
        applied_claims, logs = functions.apply_claims(claims, merged, bare)
        return {"claims": applied_claims, "logs": logs, "metadata": metadata_to_set(merged)}
    if bare in functions.SAML_FUNCTIONS:
        attributes, _ = functions.apply_attributes({}, merged, bare)
        added = [_attribute(key, value) for key, value in attributes.items()]
        return {"attributes": added, "metadata": metadata_to_set(merged)}
    return None


def metadata_to_set(merged: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each metadata entry to set: its key, value as base64 (protojson bytes) and as text when UTF-8."""
    return [_metadata_entry(key, value) for key, value in functions.metadata_entries(merged)]


def _metadata_entry(key: str, value: bytes) -> dict[str, str]:
    entry = {"key": key, "value": base64.b64encode(value).decode("ascii")}
    with contextlib.suppress(UnicodeDecodeError):  # binary metadata: the base64 value only
        entry["text"] = value.decode("utf-8")
    return entry


def _attribute(name: str, attribute: functions.SamlAttribute) -> dict[str, Any]:
    return {"name": name, "nameFormat": attribute.name_format, "value": list(attribute.values)}

"""Size limits every transport of callout shares (docs/limits.md); the nesting limit is in json_depth."""

from __future__ import annotations

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The largest request body the API and the ASGI middleware read by default (1 MiB)."""

"""callout: targets, executions and signed calls, compatible with ZITADEL's Actions v2 API."""

__version__ = "0.1.0"

"""Integrations for host applications: run callout's executions around your own API (docs/behaviour.md, API surface)."""

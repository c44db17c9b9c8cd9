"""Integrations for host applications: run callout's executions around your own API (SPEC §6)."""

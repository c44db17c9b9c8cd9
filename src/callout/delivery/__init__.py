"""Outbound HTTP: the Sender seam, the one aiohttp module, name resolution and connect-time egress policy."""

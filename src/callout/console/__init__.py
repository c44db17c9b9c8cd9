"""The web console at ``/console/``: server-rendered pages over the services (docs/console.md)."""

"""Persistence: schema, database access and repositories returning domain values (SQLite | PostgreSQL)."""

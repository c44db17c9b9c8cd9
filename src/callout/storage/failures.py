"""What a database error means for the client: a write conflict worth retrying, a busy or unreachable
database, or a bug (see docs/concurrency.md).

A server that answered with an error is never reported as unreachable: only a refused, lost or
invalidated connection is. PostgreSQL errors are told apart by SQLSTATE, SQLite ones by error name.
A connection that could not be made is described by its cause (refused, timed out, authentication,
no such database, permission denied), so that an operator knows what to fix (docs/operations.md).
"""

from __future__ import annotations

import enum

import sqlalchemy as sa

# serialization_failure, deadlock_detected: the transaction was rolled back and may simply run again.
CONFLICT_STATES = frozenset({"40001", "40P01"})
# Unique indexes that concurrent writers can only hit by racing: a re-run of the whole transaction
# sees the winner's row and takes the path for an existing row (docs/concurrency.md).
RACE_CONSTRAINTS = frozenset(
    {
        "ux_events_aggregate_sequence",
        "ux_events_idempotency",
        "ux_target_public_keys_active",
        "executions_pkey",
        "execution_targets_pkey",
        "catalog_entries_pkey",
        "aggregate_sequences_pkey",
        "master_key_check_pkey",  # two processes opening a database for the first time at once
    }
)
UNIQUE_VIOLATION = "23505"
# admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away or not there yet.
_GONE_STATES = frozenset({"57P01", "57P02", "57P03"})
# Refused at connection time: bad credentials or no such database.
_REFUSED_CLASSES = frozenset({"28", "3D"})
# insufficient_privilege: the role may log in but not use callout's schema; invalid_schema_name: the
# search_path names no schema the role may use. callout names no schema itself: both are deployment errors.
INSUFFICIENT_PRIVILEGE = "42501"
INVALID_SCHEMA_NAME = "3F000"
# insufficient resources, lock not available / object in use, query canceled, system errors.
_BUSY_CLASSES = frozenset({"53", "55", "57", "58"})
_SQLITE_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_SQLITE_UNUSABLE = ("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_NOTADB")


class Failure(enum.Enum):
    """The kinds of database failure a client is told about differently."""

    CONFLICT = "conflict"  # rolled back by the server because of a concurrent write: run it again
    BUSY = "busy"  # the server answered but could not do it now (resources, locks, cancelled)
    UNREACHABLE = "unreachable"  # no connection could be made
    LOST = "lost"  # the connection broke
    OTHER = "other"  # anything else is a bug or bad data: not hidden behind a 503


def classify(error: sa.exc.DBAPIError) -> Failure:
    """The kind of a driver error raised through SQLAlchemy."""
    if error.connection_invalidated:
        return Failure.LOST
    state = getattr(error.orig, "sqlstate", None)
    if isinstance(state, str):
        return _classify_state(state, error)
    name = getattr(error.orig, "sqlite_errorname", None)
    if isinstance(name, str):
        return _classify_sqlite(name)
    # psycopg raises OperationalError without SQLSTATE when it cannot connect or the socket breaks.
    return Failure.UNREACHABLE if isinstance(error, sa.exc.OperationalError) else Failure.OTHER


def _classify_state(state: str, error: sa.exc.DBAPIError) -> Failure:
    if state in CONFLICT_STATES or (state == UNIQUE_VIOLATION and constraint_of(error) in RACE_CONSTRAINTS):
        return Failure.CONFLICT
    if state.startswith("08") or state in _GONE_STATES:
        return Failure.LOST
    if state[:2] in _REFUSED_CLASSES or state in (INSUFFICIENT_PRIVILEGE, INVALID_SCHEMA_NAME):
        return Failure.UNREACHABLE
    if state[:2] in _BUSY_CLASSES:
        return Failure.BUSY
    return Failure.OTHER


def _classify_sqlite(name: str) -> Failure:
    if name.startswith(_SQLITE_BUSY):
        return Failure.BUSY
    if name.startswith(_SQLITE_UNUSABLE):
        return Failure.UNREACHABLE
    return Failure.OTHER


def constraint_of(error: sa.exc.DBAPIError) -> str | None:
    """The name of the constraint a PostgreSQL error is about, if it names one."""
    diagnostics = getattr(error.orig, "diag", None)
    name = getattr(diagnostics, "constraint_name", None)
    return name if isinstance(name, str) else None


UNREACHABLE = "the database cannot be reached"
PERMISSION_DENIED = (
    "the database refused access: permission denied (the role lacks a privilege on the database or callout's schema)"
)
NO_SCHEMA = "the database refused access: no schema to use (the search_path names none this role may use)"
# psycopg reports a failed connection without SQLSTATE, in libpq's words (and the server's FATAL line):
# the first phrase found names the cause. Fixed texts only: a client may see them in a 503.
_CONNECT_CAUSES = (
    ("permission denied", PERMISSION_DENIED),
    ("password authentication failed", f"{UNREACHABLE}: authentication failed (wrong password or unknown role)"),
    ('role "', f"{UNREACHABLE}: authentication failed (the role does not exist)"),
    ("authentication", f"{UNREACHABLE}: authentication failed"),
    ("no pg_hba.conf entry", f"{UNREACHABLE}: authentication failed (no pg_hba.conf entry for this host)"),
    ('database "', f"{UNREACHABLE}: the database does not exist"),
    ("unable to open database file", f"{UNREACHABLE}: the database file cannot be opened"),
    ("connection refused", f"{UNREACHABLE}: connection refused"),
    ("no such file or directory", f"{UNREACHABLE}: connection refused (no server on that Unix socket)"),
    ("timeout", f"{UNREACHABLE}: connection timed out"),
    ("timed out", f"{UNREACHABLE}: connection timed out"),
    ("no route to host", f"{UNREACHABLE}: host unreachable"),
    ("network is unreachable", f"{UNREACHABLE}: host unreachable"),
    ("resolve host", f"{UNREACHABLE}: host name not found"),
    ("translate host name", f"{UNREACHABLE}: host name not found"),
    ("ssl", f"{UNREACHABLE}: TLS negotiation failed"),
    ("certificate", f"{UNREACHABLE}: TLS negotiation failed"),
)
_STATE_CAUSES = {
    "28P01": f"{UNREACHABLE}: authentication failed (wrong password or unknown role)",
    "3D000": f"{UNREACHABLE}: the database does not exist",
    INSUFFICIENT_PRIVILEGE: PERMISSION_DENIED,
    INVALID_SCHEMA_NAME: NO_SCHEMA,
}


def describe_unreachable(error: sa.exc.DBAPIError) -> str:
    """Why no usable connection could be made, in a fixed phrase naming the cause when it is known."""
    state = getattr(error.orig, "sqlstate", None)
    if isinstance(state, str):
        if state in _STATE_CAUSES:
            return _STATE_CAUSES[state]
        if state.startswith("28"):
            return f"{UNREACHABLE}: authentication failed"
    text = str(error.orig).lower()
    return next((cause for phrase, cause in _CONNECT_CAUSES if phrase in text), UNREACHABLE)

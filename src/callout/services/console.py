"""Web console sessions: sign-in with a personal access token, the session check of every page, sign-out.

A session is a row keyed by the hash of a random id (the cookie); it names the token it was made
with, and every request re-checks that token is live, so revoking the token ends the session.
Expired rows are deleted lazily on every sign-in (docs/console.md).
"""

from __future__ import annotations

from callout.domain.auth import Permission, Principal
from callout.domain.console import (
    ConsoleSession,
    SessionLimits,
    SignedIn,
    csrf_token_for,
    hash_session_id,
    new_session_id,
)
from callout.errors import PermissionDenied
from callout.services.auth import authenticate, principal_of
from callout.services.context import ServiceContext
from callout.storage import console_sessions as store
from callout.storage.database import Connection

# The least a token needs to open the console: reading what the Overview shows.
CONSOLE_READ = Permission.TARGET_READ
# What changing anything through the console needs (viewers lack it).
CONSOLE_WRITE = Permission.TARGET_WRITE


async def sign_in(context: ServiceContext, limits: SessionLimits, token: str) -> tuple[str, SignedIn]:
    """Start a session for a live token that may read; return the new session id (for the cookie) and it."""
    principal = await authenticate(context, f"Bearer {token.strip()}")
    if not principal.has(CONSOLE_READ):
        raise PermissionDenied("Errors.Console.Denied", "this token's role cannot use the console")
    session_id = new_session_id()
    now = context.clock.now()
    session = ConsoleSession(hash_session_id(session_id), principal.instance_id, principal.token_id, now, now)

    async def insert(conn: Connection) -> None:
        await store.delete_expired_sessions(conn, now - limits.idle_timeout, now - limits.lifetime)
        await store.insert_session(conn, session)

    await context.database.write(insert)
    return session_id, SignedIn(session, principal, csrf_token_for(session_id))


async def find_signed_in(context: ServiceContext, limits: SessionLimits, session_id: str) -> SignedIn | None:
    """The live session with this id, recording the request as its last activity; None if none is live."""
    id_hash = hash_session_id(session_id)
    async with context.database.read() as conn:
        found = await store.find_session_with_token(conn, id_hash)
    now = context.clock.now()
    if found is None:
        return None
    session, token, features, routing_version = found
    if not limits.is_live(session.created_at, session.last_seen_at, now):
        await context.database.write(lambda conn: store.delete_session(conn, id_hash))
        return None
    if limits.touch_due(session.last_seen_at, now):
        await context.database.write(lambda conn: store.touch_session(conn, id_hash, now))
    # The routing version keeps the API calls the console makes (console/api_calls.py) on the current router.
    return SignedIn(session, principal_of(token, features, routing_version), csrf_token_for(session_id))


async def sign_out(context: ServiceContext, session_id: str) -> None:
    """End a session; an unknown one is already ended."""
    await context.database.write(lambda conn: store.delete_session(conn, hash_session_id(session_id)))


def may_write(principal: Principal) -> bool:
    """Tell whether the principal may change anything through the console."""
    return principal.has(CONSOLE_WRITE)

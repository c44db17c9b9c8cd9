"""Storing and reading secrets under the master key, safe against a key rotated while a process runs.

``callout rotate-master-key`` re-encrypts every secret in one transaction, but a process started
with the old key keeps it in memory. Without a check it would go on storing secrets only the old
key opens, and fail on every secret the rotation re-encrypted. So every secret is sealed in the
transaction that stores it only after the master key check (storage/sealed.py) has been read, under
a share lock, and still opens with this process's key; and a secret that does not open is a clear
503 saying what to do, not an internal error (docs/backups.md).
"""

from __future__ import annotations

from callout.errors import Unavailable
from callout.services.secrets import MasterKeyError, SecretBox
from callout.storage import sealed as store
from callout.storage.database import Connection, Database

_KEY_CHANGED = (
    "the database's master key is not this process's (was it rotated while this process ran?); restart "
    "it with the current key (docs/backups.md)"
)


def key_changed() -> Unavailable:
    """The error of a process whose master key no longer opens the database's secrets."""
    return Unavailable("Errors.MasterKey.Changed", _KEY_CHANGED)


def unseal(box: SecretBox, sealed: str) -> str:
    """Decrypt a stored secret; one this process's key does not open is ``key_changed()``."""
    try:
        return box.decrypt(sealed)
    except MasterKeyError as error:
        raise key_changed() from error


async def seal(box: SecretBox, conn: Connection, plaintext: str) -> str:
    """Encrypt a secret to store in ``conn``'s transaction, once the key check confirms the key is current."""
    check = await store.key_check(conn, share_lock=True)
    if check is not None:
        unseal(box, check)
    return box.encrypt(plaintext)


async def ensure_key_check(database: Database, box: SecretBox) -> None:
    """Seal the key check under this key if the database has none yet (first start, or before 0010)."""
    async with database.read() as conn:
        if await store.key_check(conn) is not None:
            return

    async def insert(conn: Connection) -> None:
        if await store.key_check(conn) is None:
            await store.insert_key_check(conn, box.encrypt("callout master key check"))

    await database.write(insert)

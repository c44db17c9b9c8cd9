"""Why a database cannot be used, named on real PostgreSQL: role, database, refused port, timeout, privileges.

Each cause keeps its Failure kind (a 503 for API clients) and adds a fixed phrase an operator can act on
(docs/operations.md#postgresql).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator

import psycopg
import pytest

from callout.errors import Unavailable
from callout.storage.database import Database, PoolSettings
from callout.storage.failures import NO_SCHEMA, PERMISSION_DENIED
from callout.storage.migrations import upgrade_to_head
from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.usefixtures("require_postgres")
REACHABLE = "the database cannot be reached"


@pytest.fixture
def require_postgres(postgres_ready: bool) -> None:
    """Skip (or fail under CI) when PostgreSQL is not there."""
    if not postgres_ready:
        pytest.skip("PostgreSQL is not reachable")


async def failure_detail(url: str, pool: PoolSettings | None = None) -> str:
    """The detail of the Unavailable raised by migrating the database at ``url``."""
    database = Database(url, pool)
    try:
        with pytest.raises(Unavailable) as raised:
            await upgrade_to_head(database)
    finally:
        await database.close()
    assert raised.value.message_id == "Errors.Database.Unavailable"
    return raised.value.detail


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


PowerlessRole = Callable[..., str]


@pytest.fixture
def powerless_role() -> Iterator[PowerlessRole]:
    """Factory: the URL of a new role that may log in, pointed at a new schema it has only the given privileges on.

    Roles and schemas are dropped afterwards.
    """
    made: list[tuple[str, str]] = []

    def make(*privileges: str) -> str:
        suffix = secrets.token_hex(5)
        role, schema = f"callout_powerless_{suffix}", f"p_{suffix}"
        with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN")  # type: ignore[arg-type]
            conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
            for privilege in privileges:
                conn.execute(f"GRANT {privilege} ON SCHEMA {schema} TO {role}")  # type: ignore[arg-type]
        made.append((role, schema))
        url = POSTGRES_URL.replace("postgres@", f"{role}@", 1)
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}options=-csearch_path%3D{schema}"

    yield make
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as conn:
        for role, schema in made:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]
            conn.execute(f"DROP OWNED BY {role}")  # type: ignore[arg-type]
            conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose listener completes TCP handshakes and then never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


class TestConnectionCauses:
    async def test_unknown_role_is_an_authentication_failure(self) -> None:
        """A role the server does not know (trust authentication) is named: authentication failed, no such role."""
        url = POSTGRES_URL.replace("postgres@", "callout_no_such_role@", 1)
        assert await failure_detail(url) == f"{REACHABLE}: authentication failed (the role does not exist)"

    async def test_unknown_database_is_named(self) -> None:
        """A database name the server does not have is named as such."""
        url = POSTGRES_URL.rsplit("/", 1)[0] + "/callout_no_such_database"
        assert await failure_detail(url) == f"{REACHABLE}: the database does not exist"

    async def test_closed_port_is_connection_refused(self) -> None:
        """A port on 127.0.0.1 that nobody listens on is 'connection refused'."""
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
        assert await failure_detail(url) == f"{REACHABLE}: connection refused"

    async def test_silent_server_times_out(self, silent_port: int) -> None:
        """A server that never answers ends in 'connection timed out' after the pool's connect timeout."""
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent_port}/test"
        detail = await failure_detail(url, PoolSettings(connect_timeout_seconds=2))
        assert detail == f"{REACHABLE}: connection timed out"

    async def test_role_that_may_not_create_is_permission_denied(self, powerless_role: PowerlessRole) -> None:
        """A role that may use but not create in callout's schema (SQLSTATE 42501) is 'permission denied', not a bug."""
        assert await failure_detail(powerless_role("USAGE")) == PERMISSION_DENIED

    async def test_role_without_any_privilege_has_no_schema(self, powerless_role: PowerlessRole) -> None:
        """A role without even USAGE on the schema of its search_path (SQLSTATE 3F000) is told it has no schema."""
        assert await failure_detail(powerless_role()) == NO_SCHEMA

"""Master key rotation and the key check at start, on SQLite and PostgreSQL (docs/backups.md)."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.targets import TargetSpec, TargetType
from callout.errors import FailedPrecondition, Unavailable
from callout.services import instances as admin
from callout.services import master_key
from callout.services.context import ServiceContext
from callout.services.runtime import open_context
from callout.services.sealing import ensure_key_check, seal
from callout.services.secrets import MasterKeyError, SecretBox
from callout.services.targets import create_target, valid_signing_keys
from callout.services.workers import lock_sqlite_data_dir
from callout.settings import Settings
from callout.storage import sealed
from callout.storage.database import Connection, Database
from callout.storage.keys import insert_web_key
from callout.storage.migrations import upgrade_to_head


@dataclass
class Deployment:
    """A migrated database with a web key and signed targets, and a data dir holding its master.key."""

    context: ServiceContext
    data_dir: Path
    database_url: str
    key: bytes

    @property
    def database(self) -> Database:
        """The deployment's database."""
        return self.context.database

    def settings(self, **overrides: object) -> Settings:
        """Settings pointing at this deployment, as the CLI would build them."""
        return Settings(data_dir=self.data_dir, database_url=self.database_url, **overrides)  # type: ignore[arg-type]

    def key_file(self, name: str = "master.key") -> Path:
        """A file of the data directory."""
        return self.data_dir / name

    async def stored(self) -> list[str]:
        """Every sealed value in the database, in a fixed order."""
        async with self.database.read() as conn:
            return [
                value for column in sealed.sealed_columns() for _, value in await sealed.sealed_values(conn, column)
            ]

    async def opened_with(self, key: bytes) -> list[str]:
        """Every sealed value decrypted with ``key`` (MasterKeyError if any does not open)."""
        box = SecretBox(key)
        return [box.decrypt(value) for value in await self.stored()]


MakeDeployment = Callable[..., Awaitable[Deployment]]


@pytest.fixture
async def make_deployment(database_url: str, tmp_path: Path) -> AsyncIterator[MakeDeployment]:
    """Factory: a deployment with ``targets`` signed targets and one instance web key."""
    contexts: list[ServiceContext] = []

    async def make(targets: int = 3) -> Deployment:
        data_dir = tmp_path / "data"
        data_dir.mkdir(mode=0o700)
        key = os.urandom(32)
        master_key.write_key_file(data_dir / "master.key", key)
        database = Database(database_url)
        await upgrade_to_head(database)
        context = ServiceContext(database=database, secret_box=SecretBox(key), resolver=StaticResolver())
        contexts.append(context)
        instance = await admin.create_instance(context, "rotation")
        principal = Principal("cli", instance.id, instance.default_org_id, Role.SYSTEM, "cli")
        for number in range(targets):
            spec = TargetSpec(f"hook-{number}", TargetType.CALL, True, timedelta(seconds=5), "https://example.com/h")
            await create_target(context, principal, spec)
        return Deployment(context, data_dir, database_url, key)

    yield make
    for context in contexts:
        await context.close()


def ignore_progress(_done: int, _total: int) -> None:
    """A progress callback that shows nothing."""


def mode_of(path: Path) -> int:
    """The permission bits of a file."""
    return stat.S_IMODE(path.stat().st_mode)


async def add_foreign_web_key(deployment: Deployment) -> None:
    """Store a web key sealed under some other key, sorting after every real one (a corrupt row)."""
    foreign = SecretBox(os.urandom(32)).encrypt("{}")
    instance_id = (await admin.list_instances(deployment.context))[0].id
    now = datetime.now(UTC)

    async def insert(conn: Connection) -> None:
        await insert_web_key(conn, instance_id, "zzzz-foreign", "RS256", foreign, {"kty": "RSA"}, now)

    await deployment.database.write(insert)


class TestRotation:
    async def test_every_secret_is_re_encrypted_under_the_new_key(self, make_deployment: MakeDeployment) -> None:
        """After a rotation the new master.key opens every signing key and web key, with the same plaintexts."""
        deployment = await make_deployment()
        before = await deployment.opened_with(deployment.key)
        count = await master_key.rotate_master_key(deployment.settings(), print, ignore_progress)
        new_key = master_key.read_key_file(deployment.key_file())
        assert (count, await deployment.opened_with(new_key)) == (len(before), before)

    async def test_the_old_key_no_longer_opens_any_secret(self, make_deployment: MakeDeployment) -> None:
        """No sealed value is left under the old key."""
        deployment = await make_deployment()
        await master_key.rotate_master_key(deployment.settings(), print, ignore_progress)
        box = SecretBox(deployment.key)
        for value in await deployment.stored():
            with pytest.raises(MasterKeyError):
                box.decrypt(value)

    async def test_old_key_is_kept_as_master_key_old_and_both_files_are_private(
        self, make_deployment: MakeDeployment
    ) -> None:
        """master.key.old holds the previous key; both files are 0600 and no master.key.new is left."""
        deployment = await make_deployment(targets=1)
        await master_key.rotate_master_key(deployment.settings(), print, ignore_progress)
        old = master_key.read_key_file(deployment.key_file("master.key.old"))
        modes = (mode_of(deployment.key_file()), mode_of(deployment.key_file("master.key.old")))
        assert (old, modes, deployment.key_file("master.key.new").exists()) == (deployment.key, (0o600, 0o600), False)

    async def test_failure_midway_leaves_everything_readable_under_the_old_key(
        self, make_deployment: MakeDeployment
    ) -> None:
        """A value that does not decrypt stops the rotation after the signing keys: nothing is changed."""
        deployment = await make_deployment()
        await add_foreign_web_key(deployment)
        before = await deployment.stored()
        with pytest.raises(FailedPrecondition, match=r"web_keys\.private_jwk of row zzzz-foreign"):
            await master_key.rotate_master_key(deployment.settings(), print, ignore_progress)
        files = sorted(path.name for path in deployment.data_dir.iterdir() if path.name.startswith("master"))
        current = master_key.read_key_file(deployment.key_file())
        assert (await deployment.stored(), files, current) == (before, ["master.key"], deployment.key)

    async def test_progress_counts_up_to_every_secret(self, make_deployment: MakeDeployment) -> None:
        """The progress callback ends at (all, all)."""
        deployment = await make_deployment(targets=2)
        seen: list[tuple[int, int]] = []
        await master_key.rotate_master_key(deployment.settings(), print, lambda done, total: seen.append((done, total)))
        total = len(await deployment.stored())
        assert seen[-1] == (total, total)

    async def test_environment_key_is_announced_and_opens_the_secrets(self, make_deployment: MakeDeployment) -> None:
        """With CALLOUT_MASTER_KEY the new key is handed out (not written) and opens every secret."""
        deployment = await make_deployment()
        deployment.key_file().unlink()
        before = await deployment.opened_with(deployment.key)
        announced: list[str] = []
        settings = deployment.settings(master_key=base64.b64encode(deployment.key).decode())
        await master_key.rotate_master_key(settings, announced.append, ignore_progress)
        new_key = base64.b64decode(announced[0])
        assert (await deployment.opened_with(new_key), list(deployment.data_dir.glob("master*"))) == (before, [])

    async def test_stale_master_key_new_from_an_uncommitted_rotation_is_replaced(
        self, make_deployment: MakeDeployment
    ) -> None:
        """A master.key.new left by a rotation that never committed does not stop the next one."""
        deployment = await make_deployment(targets=1)
        master_key.write_key_file(deployment.key_file("master.key.new"), os.urandom(32))
        await master_key.rotate_master_key(deployment.settings(), print, ignore_progress)
        new_key = master_key.read_key_file(deployment.key_file())
        assert len(await deployment.opened_with(new_key)) == len(await deployment.stored())


class TestKeyCheck:
    async def test_a_wrong_key_is_refused_naming_the_key_file(self, make_deployment: MakeDeployment) -> None:
        """A key that does not open the secrets is FailedPrecondition naming where the key came from."""
        deployment = await make_deployment(targets=1)
        with pytest.raises(FailedPrecondition, match=r"master key \(.*master\.key\) does not decrypt"):
            await master_key.verify_master_key(
                deployment.database, SecretBox(os.urandom(32)), deployment.data_dir, from_environment=False
            )

    async def test_crash_after_the_commit_points_at_master_key_new(self, make_deployment: MakeDeployment) -> None:
        """Committed but not installed: the check says master.key.new opens the secrets and how to finish."""
        deployment = await make_deployment(targets=1)
        new_key = os.urandom(32)
        master_key.write_key_file(deployment.key_file("master.key.new"), new_key)
        await master_key.reseal_all(deployment.database, SecretBox(deployment.key), SecretBox(new_key), ignore_progress)
        with pytest.raises(FailedPrecondition, match=r"but master\.key\.new does"):
            await master_key.verify_master_key(
                deployment.database, SecretBox(deployment.key), deployment.data_dir, from_environment=False
            )

    async def test_finishing_an_interrupted_rotation_makes_the_key_check_pass(
        self, make_deployment: MakeDeployment
    ) -> None:
        """Installing master.key.new (what the error tells the operator to do) completes the rotation."""
        deployment = await make_deployment(targets=1)
        new_key = os.urandom(32)
        master_key.write_key_file(deployment.key_file("master.key.new"), new_key)
        await master_key.reseal_all(deployment.database, SecretBox(deployment.key), SecretBox(new_key), ignore_progress)
        master_key.install_new_key(deployment.data_dir)
        installed = master_key.read_key_file(deployment.key_file())
        await master_key.verify_master_key(
            deployment.database, SecretBox(installed), deployment.data_dir, from_environment=False
        )
        assert installed == new_key

    async def test_a_database_from_before_the_rotation_points_at_master_key_old(
        self, make_deployment: MakeDeployment
    ) -> None:
        """Secrets under the key kept in master.key.old (a backup older than the rotation) are named as such."""
        deployment = await make_deployment(targets=1)
        master_key.write_key_file(deployment.key_file("master.key.old"), deployment.key)
        with pytest.raises(FailedPrecondition, match=r"but master\.key\.old in .* does"):
            await master_key.verify_master_key(
                deployment.database, SecretBox(os.urandom(32)), deployment.data_dir, from_environment=True
            )


class TestRunningServer:
    # PostgreSQL has no data dir lock: its operators stop every process first (docs/backups.md).
    @pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
    async def test_sqlite_rotation_is_refused_while_a_process_holds_the_data_dir(
        self, make_deployment: MakeDeployment
    ) -> None:
        """On SQLite a running serve/worker (the data dir lock) stops the rotation before it changes anything."""
        deployment = await make_deployment(targets=1)
        before = await deployment.stored()
        with lock_sqlite_data_dir(deployment.data_dir), pytest.raises(FailedPrecondition, match="stop it before"):
            await master_key.rotate_master_key(deployment.settings(), print, ignore_progress)
        assert await deployment.stored() == before


class TestKeyFile:
    def test_key_file_is_replaced_atomically_with_mode_0600(self, tmp_path: Path) -> None:
        """write_key_file replaces an existing file with the new key, 0600, leaving no temporary file."""
        path = tmp_path / "master.key"
        path.write_text("old\n")
        path.chmod(0o644)
        key = secrets.token_bytes(32)
        master_key.write_key_file(path, key)
        assert (master_key.read_key_file(path), mode_of(path), [p.name for p in tmp_path.iterdir()]) == (
            key,
            0o600,
            ["master.key"],
        )


async def owner_of(deployment: Deployment) -> Principal:
    """A principal of the deployment's instance."""
    instance = (await admin.list_instances(deployment.context))[0]
    return Principal("cli", instance.id, instance.default_org_id, Role.SYSTEM, "cli")


class TestProcessLeftOnTheOldKey:
    """A process started before a rotation keeps the old key in memory (docs/backups.md)."""

    async def test_opening_the_services_seals_the_key_check(self, database_url: str, tmp_path: Path) -> None:
        """Every process opening the database makes sure the key check exists, sealed under the key it uses."""
        context = await open_context(Settings(data_dir=tmp_path / "data", database_url=database_url), create=True)
        try:
            async with context.database.read() as conn:
                check = await sealed.key_check(conn)
            assert check is not None
            assert context.secret_box.decrypt(check)
        finally:
            await context.close()

    async def test_storing_a_secret_is_refused_and_stores_nothing(self, make_deployment: MakeDeployment) -> None:
        """Creating a signed target on the old key is 503 Errors.MasterKey.Changed, and no row is written."""
        deployment = await make_deployment(targets=1)
        await ensure_key_check(deployment.database, deployment.context.secret_box)
        await master_key.rotate_master_key(deployment.settings(), print, ignore_progress)
        before = await deployment.stored()
        spec = TargetSpec("late", TargetType.CALL, True, timedelta(seconds=5), "https://example.com/late")
        with pytest.raises(Unavailable) as refused:
            await create_target(deployment.context, await owner_of(deployment), spec)
        assert (refused.value.message_id, await deployment.stored()) == ("Errors.MasterKey.Changed", before)

    async def test_reading_a_re_encrypted_secret_is_a_clear_unavailable(self, make_deployment: MakeDeployment) -> None:
        """A signing key the old key no longer opens is 503 Errors.MasterKey.Changed, not an internal error."""
        deployment = await make_deployment(targets=0)
        spec = TargetSpec("hook", TargetType.CALL, True, timedelta(seconds=5), "https://example.com/h")
        target, _key = await create_target(deployment.context, await owner_of(deployment), spec)
        await master_key.rotate_master_key(deployment.settings(), print, ignore_progress)
        with pytest.raises(Unavailable, match="rotated while this process ran"):
            await valid_signing_keys(deployment.context, target)

    async def test_a_secret_stored_while_a_rotation_starts_is_re_encrypted_too(
        self, make_deployment: MakeDeployment
    ) -> None:
        """A transaction that sealed a secret before the rotation began holds the rotation off until it commits."""
        deployment = await make_deployment(targets=0)
        box = deployment.context.secret_box
        await ensure_key_check(deployment.database, box)
        instance_id = (await owner_of(deployment)).instance_id
        sealed_it, release = asyncio.Event(), asyncio.Event()

        async def store_slowly(conn: Connection) -> None:
            value = await seal(box, conn, "stored during the rotation")
            await insert_web_key(conn, instance_id, "late", "RS256", value, {"kty": "RSA"}, datetime.now(UTC))
            sealed_it.set()
            await release.wait()

        writer = asyncio.create_task(deployment.database.write(store_slowly))
        await sealed_it.wait()
        rotation = asyncio.create_task(master_key.rotate_master_key(deployment.settings(), print, ignore_progress))
        await asyncio.sleep(0.2)  # without the share lock the rotation would commit now, missing the new row
        release.set()
        await asyncio.gather(writer, rotation)
        opened = await deployment.opened_with(master_key.read_key_file(deployment.key_file()))
        assert "stored during the rotation" in opened


class TestKeyCheckBurst:
    async def test_processes_opening_at_once_store_one_key_check(self, database_url: str) -> None:
        """Twenty first opens at once, each its own Database, all succeed and leave one key check under the key."""
        setup = Database(database_url)
        await upgrade_to_head(setup)
        box = SecretBox(os.urandom(32))
        databases = [Database(database_url) for _ in range(20)]
        try:
            await asyncio.wait_for(asyncio.gather(*(ensure_key_check(db, box) for db in databases)), 60)
            async with setup.read() as conn:
                rows = await sealed.sealed_values(conn, next(sealed.sealed_columns()))
            assert [box.decrypt(value) for _, value in rows] == ["callout master key check"]
        finally:
            for database in [setup, *databases]:
                await database.close()

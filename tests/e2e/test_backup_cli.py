"""``callout backup`` and ``callout rotate-master-key`` against real ``callout serve`` processes (docs/backups.md).

A backup taken while the server runs is served from a new data directory, and the targets' signing keys
and the instance's web key still sign what receivers verify with the keys they had before the backup.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from callout.services.secrets import SecretBox
from callout.testing import RecordingReceiver
from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import Server, StartServer, child_environment, run_callout, run_callout_in_process

pytestmark = pytest.mark.e2e
ACTION = "/zitadel.action.v2.ActionService"
SIGNED_METHOD = f"{ACTION}/ListTargets"
JWT_METHOD = f"{ACTION}/ListExecutionFunctions"
KEYS_PATH = "/oauth/v2/keys"


@dataclass(frozen=True)
class SignedSetup:
    """A server with a signed webhook on ListTargets and a JWT webhook on ListExecutionFunctions."""

    server: Server
    signing_key: str
    jwks: dict[str, Any]


def rpc(server: Server, name: str, body: dict[str, object], token: str | None = None) -> httpx.Response:
    """Call an Action API method over Connect with the server's admin token."""
    headers = {"Authorization": f"Bearer {token or server.admin_token}"}
    return httpx.post(f"{server.base_url}{ACTION}/{name}", json=body, headers=headers, timeout=10)


def must(server: Server, name: str, body: dict[str, object]) -> dict[str, Any]:
    """Call a method that must succeed; return its JSON answer."""
    response = rpc(server, name, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def set_up_signed_targets(server: Server, receiver: RecordingReceiver) -> SignedSetup:
    """Create and bind both targets; return the signing key and JWKS receivers know from now on."""
    base = {"restWebhook": {}, "timeout": "5s", "endpoint": receiver.url}
    signed = must(server, "CreateTarget", {**base, "name": f"signed-{secrets.token_hex(3)}"})
    jwt_body = {**base, "name": f"jwt-{secrets.token_hex(3)}", "payloadType": "PAYLOAD_TYPE_JWT"}
    jwt_target = must(server, "CreateTarget", jwt_body)
    must(server, "SetExecution", {"condition": {"request": {"method": SIGNED_METHOD}}, "targets": [signed["id"]]})
    must(server, "SetExecution", {"condition": {"request": {"method": JWT_METHOD}}, "targets": [jwt_target["id"]]})
    jwks = httpx.get(f"{server.base_url}{KEYS_PATH}", timeout=10).json()
    return SignedSetup(server, signed["signingKey"], jwks)


def signed_call_verifies(server: Server, receiver: RecordingReceiver, signing_key: str) -> bool:
    """Whether a ListTargets call reaches the receiver with a signature made with ``signing_key``."""
    before = len(receiver.requests)
    must(server, "ListTargets", {})
    assert len(receiver.requests) == before + 1
    receiver.requests[-1].verify_signature(signing_key)
    return True


def jwt_call_payload(server: Server, receiver: RecordingReceiver, jwks: dict[str, Any]) -> dict[str, Any]:
    """The payload of a ListExecutionFunctions call's JWT, verified against ``jwks``."""
    must(server, "ListExecutionFunctions", {})
    return dict(json.loads(receiver.requests[-1].verify_jwt(jwks)))


def one_error_line(stderr: str) -> str:
    """The only non-empty line of stderr (fails if there are more)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def receiver() -> Iterator[RecordingReceiver]:
    """A recording receiver on 127.0.0.1 for the module."""
    with RecordingReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def signed_server(start_server: StartServer, receiver: RecordingReceiver) -> SignedSetup:
    """A SQLite server in dev mode with its signed targets, kept running for the module."""
    server = start_server("sqlite", extra_args=("--dev",))
    return set_up_signed_targets(server, receiver)


class TestBackupAndRestore:
    def test_restored_backup_signs_with_the_keys_from_before_the_backup(
        self,
        signed_server: SignedSetup,
        start_server: StartServer,
        receiver: RecordingReceiver,
        tmp_path: Path,
    ) -> None:
        """A backup taken while serving, served from a new data dir, signs and JWT-signs with the old keys."""
        backup = tmp_path / "backup"
        run_callout("backup", str(backup), *signed_server.server.storage_args())
        restored = start_server("sqlite", data_dir=backup, extra_args=("--dev",))
        served_jwks = httpx.get(f"{restored.base_url}{KEYS_PATH}", timeout=10).json()
        assert signed_call_verifies(restored, receiver, signed_server.signing_key)
        payload = jwt_call_payload(restored, receiver, signed_server.jwks)
        assert (payload["fullMethod"], served_jwks) == (JWT_METHOD, signed_server.jwks)

    def test_backup_says_the_master_key_is_included(self, signed_server: SignedSetup, tmp_path: Path) -> None:
        """The command reports where the backup went and that master.key is in it."""
        result = signed_server.server.admin("backup", str(tmp_path / "backup"))
        assert "master.key is in the backup" in result.stderr

    def test_existing_destination_is_one_line_error(self, signed_server: SignedSetup, tmp_path: Path) -> None:
        """Backing up onto an existing path exits non-zero with one line naming --force."""
        result = signed_server.server.admin("backup", str(tmp_path), check=False)
        assert (result.returncode, "--force" in one_error_line(result.stderr)) == (1, True)

    def test_postgresql_backup_points_at_pg_dump(self, tmp_path: Path) -> None:
        """On PostgreSQL the command exits non-zero with one line naming pg_dump, and writes nothing."""
        args = ("backup", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "data"), "--database-url")
        result = run_callout_in_process(*args, POSTGRES_URL, check=False)
        assert (result.returncode, "pg_dump" in one_error_line(result.stderr), list(tmp_path.iterdir())) == (
            1,
            True,
            [],
        )

    def test_missing_data_dir_is_an_error_and_creates_nothing(self, tmp_path: Path) -> None:
        """Without a database the command fails in one line and creates no data dir."""
        args = ("backup", str(tmp_path / "b"), "--data-dir", str(tmp_path / "data"))
        result = run_callout_in_process(*args, check=False)
        assert (result.returncode, "no database" in one_error_line(result.stderr), list(tmp_path.iterdir())) == (
            1,
            True,
            [],
        )


class TestRotateMasterKey:
    def test_refused_while_the_sqlite_server_runs(self, signed_server: SignedSetup) -> None:
        """With serve running on the data dir the rotation stops in one line and the key file is unchanged."""
        key_file = signed_server.server.data_dir / "master.key"
        before = key_file.read_text()
        result = signed_server.server.admin("rotate-master-key", check=False)
        line = one_error_line(result.stderr)
        assert (result.returncode, "stop it before" in line, key_file.read_text()) == (1, True, before)

    def test_rotated_sqlite_data_dir_serves_with_the_same_signing_keys(
        self, start_server: StartServer, receiver: RecordingReceiver
    ) -> None:
        """Stop, rotate, start: calls are still signed with the key from before, and master.key.old is kept."""
        setup = set_up_signed_targets(start_server("sqlite", extra_args=("--dev",)), receiver)
        setup.server.stop()
        old_key = (setup.server.data_dir / "master.key").read_text()
        setup.server.admin("rotate-master-key")
        restarted = start_server("sqlite", data_dir=setup.server.data_dir, extra_args=("--dev",))
        assert signed_call_verifies(restarted, receiver, setup.signing_key)
        assert jwt_call_payload(restarted, receiver, setup.jwks)["fullMethod"] == JWT_METHOD
        assert (restarted.data_dir / "master.key.old").read_text() == old_key

    def test_missing_data_dir_is_an_error_and_creates_nothing(self, tmp_path: Path) -> None:
        """Without a database the rotation fails in one line and creates no data dir."""
        result = run_callout_in_process("rotate-master-key", "--data-dir", str(tmp_path / "data"), check=False)
        assert (result.returncode, "no database" in one_error_line(result.stderr), list(tmp_path.iterdir())) == (
            1,
            True,
            [],
        )


class TestRotateEnvironmentKey:
    def test_postgresql_with_callout_master_key_prints_the_new_key_once(
        self, start_server: StartServer, receiver: RecordingReceiver
    ) -> None:
        """On PostgreSQL with CALLOUT_MASTER_KEY: the new key is printed, and a server given it still signs."""
        old_key = base64.b64encode(os.urandom(32)).decode()
        server = start_server("postgresql", extra_args=("--dev",), env={"CALLOUT_MASTER_KEY": old_key})
        setup = set_up_signed_targets(server, receiver)
        server.stop()
        rotated = server.admin("rotate-master-key", env={"CALLOUT_MASTER_KEY": old_key})
        new_key = rotated.stdout.strip()
        restarted = start_server(
            "postgresql",
            data_dir=server.data_dir,
            database=server.database,
            extra_args=("--dev",),
            env={"CALLOUT_MASTER_KEY": new_key},
        )
        assert signed_call_verifies(restarted, receiver, setup.signing_key)
        assert list(server.data_dir.glob("master.key*")) == []

    def test_a_server_given_the_old_key_after_rotation_refuses_to_start(self, tmp_path: Path) -> None:
        """After a rotation the old CALLOUT_MASTER_KEY stops ``serve`` with one clear line, not a failing call."""
        old_key = base64.b64encode(os.urandom(32)).decode()
        storage = ("--data-dir", str(tmp_path / "data"))
        run_callout_in_process("migrate", *storage, env={"CALLOUT_MASTER_KEY": old_key})
        run_callout_in_process(
            "instances", "create", "--name", "rotated", *storage, env={"CALLOUT_MASTER_KEY": old_key}
        )
        run_callout_in_process("rotate-master-key", *storage, env={"CALLOUT_MASTER_KEY": old_key})
        environment = {**child_environment(), "CALLOUT_MASTER_KEY": old_key}
        result = run_callout("serve", "--port", "0", *storage, env=environment, check=False)
        line = one_error_line(result.stderr)
        assert (result.returncode, "CALLOUT_MASTER_KEY) does not decrypt" in line) == (1, True)

    def test_a_failed_rotation_says_the_printed_key_was_not_applied(self, tmp_path: Path) -> None:
        """A secret that does not open stops the rotation after the key was printed; the error says nothing changed."""
        old_key = base64.b64encode(os.urandom(32)).decode()
        storage = ("--data-dir", str(tmp_path / "data"))
        run_callout_in_process("migrate", *storage, env={"CALLOUT_MASTER_KEY": old_key})
        run_callout_in_process("instances", "create", "--name", "broken", *storage, env={"CALLOUT_MASTER_KEY": old_key})
        with sqlite3.connect(tmp_path / "data" / "callout.db") as conn:
            instance_id = conn.execute("SELECT id FROM instances").fetchone()[0]
            row = ("zzzz", instance_id, "RS256", SecretBox(os.urandom(32)).encrypt("{}"), "{}", 0, 0)
            conn.execute("INSERT INTO web_keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)", row)
        args = ("rotate-master-key", *storage)
        result = run_callout_in_process(*args, check=False, env={"CALLOUT_MASTER_KEY": old_key})
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert (result.returncode, bool(result.stdout.strip()), len(lines)) == (1, True, 2), result.stderr
        assert (lines[1][:7], lines[1].endswith("nothing changed, the old key stays in use")) == ("Error: ", True)

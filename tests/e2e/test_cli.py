"""The ``callout`` command line against a real data directory and a running ``callout serve``."""

from __future__ import annotations

import re
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.e2e.conftest import MakeDatabase, RunCli, Server, StartServer, parse_created_token, run_callout

pytestmark = pytest.mark.e2e

V2 = "/zitadel.action.v2.ActionService"
V2BETA = "/zitadel.action.v2beta.ActionService"
NUMERIC_ID = re.compile(r"^[0-9]+$")


def target_body(name: str | None = None) -> dict[str, Any]:
    """A valid CreateTarget body with a unique name."""
    return {
        "name": name or f"e2e-cli-{secrets.token_hex(5)}",
        "endpoint": "https://hooks.example.com/cli",
        "timeout": "10s",
        "restWebhook": {"interruptOnError": True},
    }


def rpc(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """Call a Connect RPC with a JSON body, as the SDK does."""
    return client.post(path, json=body or {})


def assert_connect_error(response: httpx.Response, status: int, code: str, message_id: str | None = None) -> None:
    """The response is a Connect error with this status, code name and (optionally) message id."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    if message_id is not None:
        assert body["message"].startswith(message_id), body
        assert body["details"][0]["debug"]["id"] == message_id


def mode_of(path: Path) -> int:
    """The permission bits of a file."""
    return stat.S_IMODE(path.stat().st_mode)


SharedInstance = Callable[[], str]
SharedToken = Callable[[str], str]


@pytest.fixture(scope="module")
def shared_instance(server: Server) -> SharedInstance:
    """Factory: the id of one extra instance per server, created on first use (no test adds targets to it)."""
    created: list[str] = []

    def get() -> str:
        if not created:
            created.append(server.create_instance("e2e-shared"))
        return created[0]

    return get


@pytest.fixture(scope="module")
def shared_token(server: Server, shared_instance: SharedInstance) -> SharedToken:
    """Factory: a token of the given role in the shared instance, created once per role."""
    tokens: dict[str, str] = {}

    def get(role: str) -> str:
        if role not in tokens:
            tokens[role] = server.create_token(shared_instance(), role)[0]
        return tokens[role]

    return get


class TestFirstStart:
    """What the first start of ``callout serve`` leaves in the data directory and the log."""

    def test_admin_pat_is_private(self, server: Server) -> None:
        """admin.pat is readable and writable by its owner only (0600)."""
        assert mode_of(server.admin_pat_path) == 0o600

    def test_master_key_is_private(self, server: Server) -> None:
        """master.key is readable and writable by its owner only (0600)."""
        assert mode_of(server.data_dir / "master.key") == 0o600

    def test_log_names_the_admin_pat_path(self, server: Server) -> None:
        """The log says where the admin token file was written."""
        assert str(server.admin_pat_path.resolve()) in server.log_text()

    def test_log_shows_url_instance_token_file_and_next_steps(self, server: Server) -> None:
        """The first start prints the URL, the default instance's id, the token file, a curl and ``callout --help``."""
        rows = [row.split("\t") for row in server.admin("instances", "list").stdout.splitlines()]
        instance_id = next(row[0] for row in rows if row[1] == "default")
        log = server.log_text()
        for expected in (server.base_url, instance_id, str(server.admin_pat_path.resolve()), "curl", "callout --help"):
            assert expected in log, expected

    def test_log_does_not_contain_the_admin_token(self, server: Server) -> None:
        """The admin token itself never appears in the log."""
        assert server.admin_token not in server.log_text()

    def test_admin_token_is_an_iam_owner(self, server: Server) -> None:
        """The token from admin.pat may create targets in the default instance."""
        with server.http(server.admin_token) as client:
            response = rpc(client, f"{V2}/CreateTarget", target_body())
        assert response.status_code == 200, response.text
        assert NUMERIC_ID.match(response.json()["id"])


class TestOperations:
    """The operational endpoints of the running process."""

    def test_readyz_reports_the_database_reachable(self, server: Server) -> None:
        """/readyz answers 200 with status ok while the database is reachable."""
        with server.http() as client:
            response = client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok"}


class TestTokens:
    """``callout tokens create|list|revoke`` and what the tokens may do over HTTP."""

    def test_created_token_authenticates(self, server: Server, shared_token: SharedToken) -> None:
        """A token printed by ``tokens create`` authenticates over HTTP with Bearer."""
        token = shared_token("IAM_OWNER")
        with server.http(token) as client:
            response = rpc(client, f"{V2}/ListTargets")
        assert response.status_code == 200, response.text

    def test_create_prints_only_the_token_on_stdout(self, server: Server, shared_instance: SharedInstance) -> None:
        """``tokens create`` (a real process) prints the token alone on stdout and only its id on stderr."""
        result = server.cli("tokens", "create", "--instance", shared_instance())
        token, token_id = parse_created_token(result)
        assert result.stdout == token + "\n"
        assert token not in result.stderr
        assert NUMERIC_ID.match(token_id)

    def test_viewer_can_read(self, server: Server, shared_token: SharedToken) -> None:
        """An IAM_OWNER_VIEWER token may list targets."""
        token = shared_token("IAM_OWNER_VIEWER")
        with server.http(token) as client:
            response = rpc(client, f"{V2}/ListTargets")
        assert response.status_code == 200, response.text

    def test_viewer_cannot_create(self, server: Server, shared_token: SharedToken) -> None:
        """An IAM_OWNER_VIEWER token gets 403 permission_denied on CreateTarget."""
        token = shared_token("IAM_OWNER_VIEWER")
        with server.http(token) as client:
            response = rpc(client, f"{V2}/CreateTarget", target_body())
        assert_connect_error(response, 403, "permission_denied")

    def test_viewer_cannot_delete(self, server: Server, shared_token: SharedToken) -> None:
        """An IAM_OWNER_VIEWER token gets 403 permission_denied on DeleteTarget."""
        with server.http(shared_token("IAM_OWNER_VIEWER")) as client:
            response = rpc(client, f"{V2}/DeleteTarget", {"id": "1"})
        assert_connect_error(response, 403, "permission_denied")

    def test_permission_is_checked_before_validation(self, server: Server, shared_token: SharedToken) -> None:
        """An invalid CreateTarget from a viewer answers 403, not 400: permission errors win."""
        with server.http(shared_token("IAM_OWNER_VIEWER")) as client:
            response = rpc(client, f"{V2}/CreateTarget", {"name": ""})
        assert_connect_error(response, 403, "permission_denied")

    def test_missing_token_is_unauthenticated(self, server: Server) -> None:
        """A request without an Authorization header answers 401 unauthenticated."""
        with server.http() as client:
            response = rpc(client, f"{V2}/ListTargets")
        assert_connect_error(response, 401, "unauthenticated")

    def test_org_owner_cannot_read(self, server: Server, shared_token: SharedToken) -> None:
        """An ORG_OWNER token gets 403 permission_denied on ListTargets."""
        token = shared_token("ORG_OWNER")
        with server.http(token) as client:
            response = rpc(client, f"{V2}/ListTargets")
        assert_connect_error(response, 403, "permission_denied")

    def test_revoked_token_is_unauthenticated(self, server: Server, shared_instance: SharedInstance) -> None:
        """After ``tokens revoke`` (a real process) the token answers 401 unauthenticated."""
        token, token_id = server.create_token(shared_instance())
        with server.http(token) as client:
            assert rpc(client, f"{V2}/ListTargets").status_code == 200
            server.cli("tokens", "revoke", token_id)
            response = rpc(client, f"{V2}/ListTargets")
        assert_connect_error(response, 401, "unauthenticated")

    def test_list_shows_the_token_id_and_role_but_not_the_secret(self, server: Server) -> None:
        """``tokens list --instance`` shows the token's id and role and never the token."""
        instance_id = server.create_instance()
        token, token_id = server.create_token(instance_id, "IAM_OWNER_VIEWER")
        listing = server.admin("tokens", "list", "--instance", instance_id).stdout
        assert token_id in listing
        assert "IAM_OWNER_VIEWER" in listing
        assert token not in listing

    def test_list_shows_full_ids_when_piped(self, server: Server, shared_instance: SharedInstance) -> None:
        """``tokens list`` prints whole token ids even when its output is piped without COLUMNS set."""
        _, token_id = server.create_token(shared_instance())
        listing = server.admin("tokens", "list", "--instance", shared_instance(), env={"COLUMNS": None}).stdout
        assert token_id in listing

    def test_token_is_stored_hashed(self, server: Server, shared_token: SharedToken) -> None:
        """The database holds no plaintext copy of a created token."""
        token = shared_token("IAM_OWNER")
        assert token not in server.database.dump(server.data_dir)

    def test_log_does_not_contain_used_tokens(self, server: Server, shared_token: SharedToken) -> None:
        """Tokens sent to the server, valid or not, never appear in its log."""
        token = shared_token("ORG_OWNER")
        bogus = f"bogus-{secrets.token_hex(8)}"
        for used in (token, bogus):
            with server.http(used) as client:
                rpc(client, f"{V2}/ListTargets")
        log = server.log_text()
        assert "ListTargets" in log
        assert token not in log
        assert bogus not in log


class TestInstances:
    """``callout instances create|list`` and the isolation between instances."""

    def test_create_prints_a_numeric_id_that_list_shows(self, server: Server) -> None:
        """``instances create`` (a real process) prints the new id, and ``instances list`` shows it with its name."""
        name = f"e2e-{secrets.token_hex(4)}"
        instance_id = server.cli("instances", "create", "--name", name).stdout.strip()
        assert NUMERIC_ID.match(instance_id)
        listing = server.admin("instances", "list").stdout
        assert instance_id in listing
        assert name in listing

    def test_other_instance_lists_none_of_the_default_targets(self, server: Server) -> None:
        """A token of a new instance lists no targets although the default instance has some."""
        with server.http(server.admin_token) as admin:
            assert rpc(admin, f"{V2}/CreateTarget", target_body()).status_code == 200
            assert rpc(admin, f"{V2}/ListTargets").json().get("targets")
        token, _ = server.create_token(server.create_instance())
        with server.http(token) as client:
            response = rpc(client, f"{V2}/ListTargets")
        assert response.status_code == 200, response.text
        assert "targets" not in response.json()

    def test_other_instance_cannot_get_a_default_target(self, server: Server, shared_token: SharedToken) -> None:
        """A target of the default instance is 404 for a token of another instance."""
        with server.http(server.admin_token) as admin:
            target_id = rpc(admin, f"{V2}/CreateTarget", target_body()).json()["id"]
        with server.http(shared_token("IAM_OWNER")) as client:
            response = rpc(client, f"{V2}/GetTarget", {"id": target_id})
        assert_connect_error(response, 404, "not_found", "Errors.Target.NotFound")

    def test_same_name_is_free_in_another_instance(self, server: Server) -> None:
        """A target name taken in the default instance can be used in another instance."""
        name = f"e2e-shared-{secrets.token_hex(4)}"
        with server.http(server.admin_token) as admin:
            assert rpc(admin, f"{V2}/CreateTarget", target_body(name)).status_code == 200
        token, _ = server.create_token(server.create_instance())
        with server.http(token) as client:
            response = rpc(client, f"{V2}/CreateTarget", target_body(name))
        assert response.status_code == 200, response.text


TARGET_RPCS = [
    (service, name, body)
    for service in (V2, V2BETA)
    for name, body in (
        ("CreateTarget", target_body("e2e-disabled")),
        ("UpdateTarget", {"id": "1", "name": "x"}),
        ("DeleteTarget", {"id": "1"}),
        ("GetTarget", {"id": "1"}),
        ("ListTargets", {}),
    )
]
REST_CALLS = [
    (method, prefix + path, body)
    for prefix in ("/v2", "/v2beta")
    for method, path, body in (
        ("POST", "/actions/targets", target_body("e2e-disabled")),
        ("POST", "/actions/targets/1", {"name": "x"}),
        ("DELETE", "/actions/targets/1", None),
        ("GET", "/actions/targets/1", None),
        ("POST", "/actions/targets/search", {}),
    )
]


DisabledInstance = Callable[[], tuple[str, str]]


@pytest.fixture(scope="module")
def disabled_instance(server: Server) -> DisabledInstance:
    """Factory: one instance per server with an owner token, switched off by a real ``set-feature`` process."""
    created: list[tuple[str, str]] = []

    def get() -> tuple[str, str]:
        if not created:
            instance_id = server.create_instance("e2e-disabled")
            token, _ = server.create_token(instance_id)
            server.cli("instances", "set-feature", instance_id, "actions", "off")
            created.append((instance_id, token))
        return created[0]

    return get


class TestActionsFeature:
    """``callout instances set-feature ID actions on|off``."""

    def test_off_makes_every_connect_target_rpc_fail_precondition(
        self, server: Server, disabled_instance: DisabledInstance
    ) -> None:
        """With actions off every v2 and v2beta target RPC answers 400 failed_precondition Errors.Action.NotEnabled."""
        _, token = disabled_instance()
        with server.http(token) as client:
            for service, name, body in TARGET_RPCS:
                response = rpc(client, f"{service}/{name}", body)
                assert_connect_error(response, 400, "failed_precondition", "Errors.Action.NotEnabled")

    def test_off_makes_every_rest_target_call_fail_precondition(
        self, server: Server, disabled_instance: DisabledInstance
    ) -> None:
        """With actions off every REST target call answers 400 with gRPC code 9 and Errors.Action.NotEnabled."""
        _, token = disabled_instance()
        with server.http(token) as client:
            for method, path, body in REST_CALLS:
                response = client.request(method, path, json=body)
                assert response.status_code == 400, (method, path, response.text)
                assert response.json()["code"] == 9
                assert response.json()["message"].startswith("Errors.Action.NotEnabled")

    def test_off_is_shown_by_instances_list(self, server: Server, disabled_instance: DisabledInstance) -> None:
        """``instances list`` shows actions=off for the switched-off instance."""
        instance_id, _ = disabled_instance()
        listing = server.admin("instances", "list").stdout
        line = next(line for line in listing.splitlines() if instance_id in line)
        assert "actions=off" in line

    def test_off_leaves_other_instances_working(self, server: Server, disabled_instance: DisabledInstance) -> None:
        """Switching actions off for one instance leaves the default instance working."""
        disabled_instance()
        with server.http(server.admin_token) as client:
            response = rpc(client, f"{V2}/ListTargets")
        assert response.status_code == 200, response.text

    def test_on_restores_the_rpcs(self, server: Server) -> None:
        """Switching actions off and back on (real processes) makes the target RPCs work again."""
        instance_id = server.create_instance()
        token, _ = server.create_token(instance_id)
        server.cli("instances", "set-feature", instance_id, "actions", "off")
        server.cli("instances", "set-feature", instance_id, "actions", "on")
        with server.http(token) as client:
            created = rpc(client, f"{V2}/CreateTarget", target_body())
            listed = rpc(client, f"{V2}/ListTargets")
        assert created.status_code == 200, created.text
        assert listed.status_code == 200, listed.text
        assert [target["id"] for target in listed.json()["targets"]] == [created.json()["id"]]


HELP_CASES = [
    ((), ("serve", "migrate", "instances", "tokens")),
    (("serve",), ("--data-dir", "--database-url", "--host", "--port", "--dev")),
    (("migrate",), ("--data-dir", "--database-url")),
    (("instances",), ("create", "list", "set-feature")),
    (("instances", "create"), ("--name", "--data-dir", "--database-url")),
    (("instances", "list"), ("--data-dir", "--database-url")),
    (("instances", "set-feature"), ("INSTANCE_ID", "actions", "on|off", "--data-dir", "--database-url")),
    (("tokens",), ("create", "list", "revoke")),
    (
        ("tokens", "create"),
        ("--instance", "--role", "IAM_OWNER_VIEWER", "ORG_OWNER", "SYSTEM", "--data-dir", "--database-url"),
    ),
    (("tokens", "list"), ("--instance", "--data-dir", "--database-url")),
    (("tokens", "revoke"), ("TOKEN_ID", "--data-dir", "--database-url")),
]


class TestHelp:
    """``--help`` of every command."""

    def test_installed_command_prints_help(self, cli: RunCli) -> None:
        """The installed ``callout`` program answers --help with exit 0 and lists its commands."""
        result = cli("--help")
        assert result.returncode == 0
        for command in ("serve", "migrate", "instances", "tokens"):
            assert command in result.stdout

    @pytest.mark.parametrize(("command", "mentions"), HELP_CASES, ids=lambda c: " ".join(c) or "callout")
    def test_help_exits_zero_and_names_the_options(
        self, cli_in_process: RunCli, command: tuple[str, ...], mentions: tuple[str, ...]
    ) -> None:
        """``callout ... --help`` exits 0 and mentions each option and subcommand of the command."""
        result = cli_in_process(*command, "--help")
        assert result.returncode == 0
        for word in mentions:
            assert word in result.stdout, f"{word!r} missing from help of {command}"


BAD_INPUT = [
    (("tokens", "create", "--instance", "999999"), "999999"),
    (("instances", "set-feature", "999999", "actions", "off"), "999999"),
    (("tokens", "revoke", "999999"), "999999"),
    (("instances", "create", "--name", " "), "name"),
]


class TestBadInput:
    """Wrong input to the CLI (a real process on a fresh data dir) gives a clear message, never a traceback."""

    @pytest.mark.parametrize(("args", "named"), BAD_INPUT, ids=lambda a: " ".join(a) if isinstance(a, tuple) else a)
    def test_bad_input_is_a_clear_error(
        self, cli: RunCli, cli_in_process: RunCli, tmp_path: Path, args: tuple[str, ...], named: str
    ) -> None:
        """An unknown id or an invalid name exits 1 with an ``Error:`` line naming it and no traceback."""
        cli_in_process("migrate", "--data-dir", str(tmp_path))  # only serve, worker and migrate create data
        result = cli(*args, "--data-dir", str(tmp_path), check=False)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("Error:"), result.stderr
        assert named in result.stderr
        assert result.stdout == ""

    def test_unknown_feature_is_a_usage_error(self, cli: RunCli, tmp_path: Path) -> None:
        """An unknown feature name is rejected with usage exit code 2 naming the allowed choice."""
        result = cli("instances", "set-feature", "999999", "flying", "on", "--data-dir", str(tmp_path), check=False)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "actions" in result.stderr


class TestMigrate:
    """``callout migrate``."""

    def test_migrate_on_a_migrated_database_exits_zero(self, server: Server) -> None:
        """Migrating the running server's database again succeeds and reports it up to date."""
        result = server.cli("migrate")
        assert result.returncode == 0
        assert "up to date" in result.stderr

    @pytest.mark.parametrize("backend", BACKENDS)
    def test_migrate_on_a_fresh_database_exits_zero(
        self, make_database: MakeDatabase, tmp_path: Path, backend: str
    ) -> None:
        """Migrating an empty database succeeds without starting a server."""
        database = make_database(backend)
        url_args = [] if database.url is None else ["--database-url", database.url]
        result = run_callout("migrate", "--data-dir", str(tmp_path / "fresh"), *url_args)
        assert result.returncode == 0
        assert "up to date" in result.stderr


@dataclass(frozen=True)
class Restart:
    """Two consecutive servers on the same data directory and database."""

    first: Server
    second: Server
    pat_before: str
    pat_mtime_before: int
    target_id: str


@pytest.fixture(scope="module", params=BACKENDS)
def restart(request: pytest.FixtureRequest, start_server: StartServer) -> Iterator[Restart]:
    """Start a server, create a target, stop it and start a second one on the same data."""
    first = start_server(request.param)
    pat_path = first.admin_pat_path
    pat_before, mtime_before = pat_path.read_text(), pat_path.stat().st_mtime_ns
    with first.http(first.admin_token) as client:
        target_id = rpc(client, f"{V2}/CreateTarget", target_body()).json()["id"]
    first.stop()
    second = start_server(data_dir=first.data_dir, database=first.database)
    yield Restart(first, second, pat_before, mtime_before, target_id)
    second.stop()


class TestRestart:
    """A second start on an existing data directory."""

    def test_second_start_does_not_rewrite_admin_pat(self, restart: Restart) -> None:
        """admin.pat keeps its content and modification time across a restart."""
        assert restart.second.admin_pat_path.read_text() == restart.pat_before
        assert restart.second.admin_pat_path.stat().st_mtime_ns == restart.pat_mtime_before

    def test_second_start_does_not_log_a_new_token_file(self, restart: Restart) -> None:
        """The second start's log does not announce an admin token file."""
        assert "admin.pat" not in restart.second.log_text()

    def test_targets_survive_the_restart(self, restart: Restart) -> None:
        """The admin token still works after the restart and the earlier target is still there."""
        with restart.second.http(restart.second.admin_token) as client:
            response = rpc(client, f"{V2}/GetTarget", {"id": restart.target_id})
        assert response.status_code == 200, response.text
        assert response.json()["target"]["id"] == restart.target_id

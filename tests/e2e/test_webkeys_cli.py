"""``callout webkeys rotate`` against the data of a running ``callout serve``, checked through its JWKS.

One server per backend (the module's ``server`` fixture); the rotation that matters runs as a real
process, the remaining setup and the option checks run in-process to keep process starts few.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunCli, Server

pytestmark = pytest.mark.e2e

NUMERIC_ID = re.compile(r"^[0-9]+$")


def default_instance(server: Server) -> str:
    """The id of the oldest instance (the one the first start created), from tab-separated ``instances list``."""
    rows = server.admin("instances", "list").stdout.splitlines()
    assert rows[0].split("\t")[0] == "id", rows
    return rows[1].split("\t")[0]


def published_keys(server: Server, instance_id: str | None = None) -> list[dict[str, Any]]:
    """The JWKS the running server publishes (for the default instance unless one is named)."""
    params = {"instance": instance_id} if instance_id else None
    with server.http() as client:
        response = client.get("/oauth/v2/keys", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["keys"])


class TestRotate:
    def test_rotation_is_served_first_with_the_previous_key_kept(self, server: Server) -> None:
        """``webkeys rotate`` (a real process) prints a kid that the running server then lists first, old key after."""
        before = [key["kid"] for key in published_keys(server)]
        result = server.cli("webkeys", "rotate", "--instance", default_instance(server))
        kid = result.stdout.strip()
        assert NUMERIC_ID.match(kid), result.stdout
        after = [key["kid"] for key in published_keys(server)]
        assert after[0] == kid
        assert after[1:] == before

    def test_es256_without_retention_leaves_one_ec_key(self, server: Server) -> None:
        """``--algorithm ES256 --retention-hours 0`` makes the instance publish only a new EC P-256 key."""
        instance_id = server.create_instance()
        result = server.admin(
            "webkeys", "rotate", "--instance", instance_id, "--algorithm", "ES256", "--retention-hours", "0"
        )
        (key,) = published_keys(server, instance_id)
        assert (key["kid"], key["kty"], key["crv"], key["alg"]) == (result.stdout.strip(), "EC", "P-256", "ES256")
        assert "d" not in key


class TestOptions:
    def test_help_names_the_options(self, cli_in_process: RunCli) -> None:
        """``webkeys rotate --help`` exits 0 and names every option and algorithm."""
        result = cli_in_process("webkeys", "rotate", "--help")
        assert result.returncode == 0
        for word in (
            "--instance",
            "--algorithm",
            "RS256",
            "ES256",
            "--retention-hours",
            "--data-dir",
            "--database-url",
        ):
            assert word in result.stdout, word

    def test_group_help_lists_rotate(self, cli_in_process: RunCli) -> None:
        """``webkeys --help`` exits 0 and lists the rotate command."""
        result = cli_in_process("webkeys", "--help")
        assert result.returncode == 0
        assert "rotate" in result.stdout

    def test_unknown_instance_is_a_clear_error(self, cli: RunCli, cli_in_process: RunCli, tmp_path: Path) -> None:
        """Rotating an unknown instance (a real process) exits 1 with an ``Error:`` line naming it, no traceback."""
        cli_in_process("migrate", "--data-dir", str(tmp_path))  # only serve, worker and migrate create data
        result = cli("webkeys", "rotate", "--instance", "999999", "--data-dir", str(tmp_path), check=False)
        assert result.returncode == 1
        assert result.stderr.startswith("Error:"), result.stderr
        assert "999999" in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""

    @pytest.mark.parametrize(
        "option", [("--algorithm", "HS256"), ("--retention-hours", "-1")], ids=["algorithm", "retention"]
    )
    def test_bad_option_is_a_usage_error(self, cli_in_process: RunCli, tmp_path: Path, option: tuple[str, str]) -> None:
        """An unsupported algorithm or a negative retention is rejected with usage exit code 2."""
        result = cli_in_process(
            "webkeys", "rotate", "--instance", "999999", *option, "--data-dir", str(tmp_path), check=False
        )
        assert result.returncode == 2
        assert option[0] in result.stderr

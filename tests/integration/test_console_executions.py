"""The console's Executions page over HTTP, on SQLite and PostgreSQL (docs/console.md, Executions)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from markupsafe import escape

from callout.domain.auth import Role
from tests.conftest import MakePrincipal
from tests.integration.console_support import MakeConsoleClient, console_client, sign_in

__all__ = ["console_client"]

ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"
METHOD = "/example.users.v1.UserService/CreateUser"
EDIT = "/console/executions/edit"
ON_METHOD = {"condition": "request:method", "method": METHOD}
_HIDDEN_TARGETS = re.compile(r'name="targets" value="([^"]*)"')


@dataclass
class Session:
    """A signed-in console session and the same token's API access."""

    client: httpx.AsyncClient
    csrf: str
    token: str
    instance_id: str

    async def api(self, rpc: str, body: dict[str, Any]) -> dict[str, Any]:
        """Call an API RPC with the token; the call must succeed."""
        path = rpc if rpc.startswith("/") else f"{ACTION}/{rpc}"
        response = await self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def target(self, name: str, kind: str = "restWebhook", interrupt: bool = False) -> str:
        """Create a target; return its id."""
        body = {"name": name, kind: {"interruptOnError": True} if interrupt else {}, "timeout": "5s"}
        created = await self.api("CreateTarget", {**body, "endpoint": "https://example.com/hook"})
        return str(created["id"])

    async def saved(self, condition: dict[str, Any]) -> list[str]:
        """The target ids of a condition's execution, as the API lists them."""
        body = {"filters": [{"inConditionsFilter": {"conditions": [condition]}}]}
        executions = (await self.api("ListExecutions", body)).get("executions", [])
        return list(executions[0]["targets"]) if executions else []

    async def edit(self, fields: dict[str, str], op: str, targets: list[str]) -> httpx.Response:
        """Press one button of the editor's form."""
        data = {"csrf_token": self.csrf, **fields, "op": op, "targets": ",".join(targets)}
        return await self.client.post(EDIT, data=data)


MakeSession = Callable[..., Awaitable[Session]]


@pytest.fixture
def make_session(console_client: MakeConsoleClient, make_principal: MakePrincipal) -> MakeSession:
    """Factory: a signed-in session with a role, in a new instance or a given one; the method is registered."""

    async def make(role: Role = Role.IAM_OWNER, instance_id: str | None = None) -> Session:
        principal, token = await make_principal(role, instance_id)
        client = console_client()
        session = Session(client, await sign_in(client, token), token, principal.instance_id)
        if role is Role.IAM_OWNER:
            catalog = {"methods": [METHOD], "functions": ["prebilling"], "events": ["order.paid"]}
            await session.api(f"{DISPATCH}/RegisterCatalog", catalog)
        return session

    return make


def _method_condition() -> dict[str, Any]:
    return {"request": {"method": METHOD}}


def _hidden_targets(page: httpx.Response) -> list[str]:
    match = _HIDDEN_TARGETS.search(page.text)
    assert match is not None, page.text
    return [part for part in match.group(1).split(",") if part]


class TestListPage:
    async def test_executions_are_grouped_by_kind(self, make_session: MakeSession) -> None:
        """Each execution appears in its kind's section: requests, responses, functions, events."""
        session = await make_session()
        target = await session.target("grouped")
        conditions = [
            {"event": {"event": "order.paid"}},
            {"function": {"name": "prebilling"}},
            {"response": {"service": "example.users.v1.UserService"}},
            _method_condition(),
        ]
        for condition in conditions:
            await session.api("SetExecution", {"condition": condition, "targets": [target]})
        text = (await session.client.get("/console/executions")).text
        order = ["Requests", f"Method {METHOD}", "Responses", "Service example.users.v1", "Functions",
                 "Function prebilling", "Events", "Event order.paid"]  # fmt: skip
        positions = [text.index(marker) for marker in order]
        assert positions == sorted(positions)

    async def test_target_names_link_to_their_pages(self, make_session: MakeSession) -> None:
        """An execution lists its targets by name, each linked to /console/targets/{id}."""
        session = await make_session()
        target = await session.target("linked-target")
        await session.api("SetExecution", {"condition": _method_condition(), "targets": [target]})
        text = (await session.client.get("/console/executions")).text
        assert f'<a href="/console/targets/{target}">linked-target</a>' in text

    async def test_interrupting_chain_is_marked_as_able_to_lock_out(self, make_session: MakeSession) -> None:
        """A request chain with an interrupting target is marked; one without is not."""
        session = await make_session()
        gentle = await session.target("gentle")
        await session.api("SetExecution", {"condition": _method_condition(), "targets": [gentle]})
        assert "Can lock out callers" not in (await session.client.get("/console/executions")).text
        strict = await session.target("strict", "restCall", interrupt=True)
        await session.api("SetExecution", {"condition": _method_condition(), "targets": [gentle, strict]})
        assert "Can lock out callers" in (await session.client.get("/console/executions")).text

    async def test_picker_suggests_host_registered_catalog_entries(self, make_session: MakeSession) -> None:
        """The picker's lists hold the registered method, its service, function, event type and group."""
        text = (await (await make_session()).client.get("/console/executions")).text
        for name in (METHOD, "example.users.v1.UserService", "prebilling", "preuserinfo", "order.paid", "order"):
            assert f'<option value="{name}">' in text
        assert 'list="catalog-methods"' in text

    async def test_viewer_sees_no_write_controls(self, make_session: MakeSession) -> None:
        """A viewer sees the executions but neither the picker nor Edit links nor editor buttons."""
        owner = await make_session()
        target = await owner.target("seen")
        await owner.api("SetExecution", {"condition": _method_condition(), "targets": [target]})
        viewer = await make_session(Role.IAM_OWNER_VIEWER, owner.instance_id)
        page = (await viewer.client.get("/console/executions")).text
        assert "seen" in page
        assert "Edit targets" not in page
        assert ">Edit</a>" not in page
        editor = (await viewer.client.get(EDIT, params=ON_METHOD)).text
        assert "seen" in editor
        assert ">Save<" not in editor
        assert "Move up" not in editor

    async def test_bad_condition_reshows_the_picker_with_400(self, make_session: MakeSession) -> None:
        """Opening the editor without a method re-shows the picker with an inline error and status 400."""
        response = await (await make_session()).client.get(EDIT, params={"condition": "request:method"})
        assert response.status_code == 400
        assert 'role="alert"' in response.text
        assert "Type or pick a method" in response.text


class TestEditing:
    async def test_add_shows_the_edited_list_without_saving(self, make_session: MakeSession) -> None:
        """Add re-renders the editor with the target appended and marked unsaved; nothing is set yet."""
        session = await make_session()
        first, second = await session.target("first"), await session.target("second")
        data = {"csrf_token": session.csrf, **ON_METHOD, "op": "add", "targets": first, "add_target": second}
        page = await session.client.post(EDIT, data=data)
        assert page.status_code == 200
        assert _hidden_targets(page) == [first, second]
        assert "not saved yet" in page.text
        assert await session.saved(_method_condition()) == []

    async def test_save_sets_the_list_in_order(self, make_session: MakeSession) -> None:
        """Save calls SetExecution with the list in its order and goes back to the list page."""
        session = await make_session()
        first, second = await session.target("first"), await session.target("second")
        response = await session.edit(ON_METHOD, "save", [second, first])
        assert (response.status_code, response.headers["location"]) == (303, "/console/executions")
        assert await session.saved(_method_condition()) == [second, first]

    async def test_move_up_swaps_with_the_previous_target(self, make_session: MakeSession) -> None:
        """Move up on the second target puts it first in the re-rendered list."""
        session = await make_session()
        first, second = await session.target("first"), await session.target("second")
        page = await session.edit(ON_METHOD, f"up:{second}", [first, second])
        assert _hidden_targets(page) == [second, first]

    async def test_move_down_swaps_with_the_next_target(self, make_session: MakeSession) -> None:
        """Move down on the first target puts it second in the re-rendered list."""
        session = await make_session()
        first, second = await session.target("first"), await session.target("second")
        page = await session.edit(ON_METHOD, f"down:{first}", [first, second])
        assert _hidden_targets(page) == [second, first]

    async def test_remove_drops_the_target(self, make_session: MakeSession) -> None:
        """Remove leaves the other targets in their order."""
        session = await make_session()
        ids = [await session.target(f"t{number}") for number in range(3)]
        page = await session.edit(ON_METHOD, f"remove:{ids[1]}", ids)
        assert _hidden_targets(page) == [ids[0], ids[2]]

    async def test_buttons_name_their_target(self, make_session: MakeSession) -> None:
        """Each row's buttons carry the target's name in their accessible name."""
        session = await make_session()
        target = await session.target("named")
        await session.api("SetExecution", {"condition": _method_condition(), "targets": [target]})
        page = await session.client.get(EDIT, params=ON_METHOD)
        for label in ("Move up named", "Move down named", "Remove named"):
            assert f'aria-label="{label}"' in page.text

    async def test_clear_asks_first_then_removes_the_execution(self, make_session: MakeSession) -> None:
        """Clear shows a confirmation and changes nothing; confirming sets an empty list."""
        session = await make_session()
        target = await session.target("cleared")
        await session.api("SetExecution", {"condition": _method_condition(), "targets": [target]})
        confirm = await session.edit(ON_METHOD, "clear", [target])
        assert confirm.status_code == 200
        assert "Yes, clear it" in confirm.text
        assert await session.saved(_method_condition()) == [target]
        done = await session.edit(ON_METHOD, "clear-confirmed", [])
        assert done.status_code == 303
        assert await session.saved(_method_condition()) == []


class TestValidation:
    async def test_unknown_condition_is_shown_inline_with_400(self, make_session: MakeSession) -> None:
        """Saving on a method the catalog does not know shows the API's message in the form, status 400."""
        session = await make_session()
        target = await session.target("valid")
        fields = {"condition": "request:method", "method": "/no.such.v1.Service/Method"}
        response = await session.edit(fields, "save", [target])
        assert response.status_code == 400
        assert 'role="alert"' in response.text
        assert "Errors.Execution.ConditionInvalid" in response.text

    async def test_unknown_target_is_shown_inline_with_400(self, make_session: MakeSession) -> None:
        """Saving a list with an id the instance does not have shows Errors.Target.NotFound, status 400."""
        response = await (await make_session()).edit(ON_METHOD, "save", ["no-such-target"])
        assert response.status_code == 400
        assert 'role="alert"' in response.text
        assert "Errors.Target.NotFound" in response.text

    async def test_target_name_is_escaped(self, make_session: MakeSession) -> None:
        """A target named like markup is shown as text on the list page and in the editor."""
        session = await make_session()
        probe = '<img src=x onerror="alert(1)">'
        target = await session.target(probe)
        await session.api("SetExecution", {"condition": _method_condition(), "targets": [target]})
        for page in (await session.client.get("/console/executions"), await session.client.get(EDIT, params=ON_METHOD)):
            assert probe not in page.text
            assert str(escape(probe)) in page.text


class TestRefusals:
    async def test_viewer_post_is_refused_403(self, make_session: MakeSession) -> None:
        """A viewer's Save with a valid CSRF token is refused 403 and sets nothing."""
        owner = await make_session()
        target = await owner.target("wanted")
        viewer = await make_session(Role.IAM_OWNER_VIEWER, owner.instance_id)
        response = await viewer.edit(ON_METHOD, "save", [target])
        assert response.status_code == 403
        assert await owner.saved(_method_condition()) == []

    async def test_post_without_csrf_token_is_refused_403(self, make_session: MakeSession) -> None:
        """A Save without the CSRF token is refused 403 and sets nothing."""
        session = await make_session()
        target = await session.target("wanted")
        response = await session.client.post(EDIT, data={**ON_METHOD, "op": "save", "targets": target})
        assert response.status_code == 403
        assert await session.saved(_method_condition()) == []


class TestConcurrency:
    async def test_burst_of_saves_gives_no_5xx_and_one_submitted_list(self, make_session: MakeSession) -> None:
        """Eight concurrent saves from one session all answer below 500; the final list is one of them."""
        session = await make_session()
        ids = [await session.target(f"burst-{number}") for number in range(4)]
        lists = [ids[number % 4 :] + ids[: number % 4] for number in range(8)]
        lists = [chosen[: 1 + number % 4] for number, chosen in enumerate(lists)]
        responses = await asyncio.gather(*(session.edit(ON_METHOD, "save", chosen) for chosen in lists))
        assert all(response.status_code < 500 for response in responses), [r.status_code for r in responses]
        assert await session.saved(_method_condition()) in lists


class TestHostileInput:
    async def test_thousands_of_unknown_ids_are_refused_inline(self, make_session: MakeSession) -> None:
        """A forged list of thousands of ids is refused in the form with status 400, never a 500."""
        ids = [f"forged-{number}" for number in range(3000)]
        response = await (await make_session()).edit(ON_METHOD, "save", ids)
        assert response.status_code == 400
        assert 'role="alert"' in response.text

    async def test_forged_condition_type_is_a_400_page(self, make_session: MakeSession) -> None:
        """A POST naming a condition type the API does not have gets a 400 page and sets nothing."""
        session = await make_session()
        response = await session.edit({"condition": "request:name", "name": "x"}, "save", [])
        assert response.status_code == 400

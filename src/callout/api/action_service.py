"""ActionService v2 and v2beta: the target and execution RPCs as transport-neutral handlers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from callout.api.messages import executions as execution_messages
from callout.api.messages import public_keys as key_messages
from callout.api.messages import targets as messages
from callout.api.messages.shapes import rpc_shapes
from callout.api.messages.targets import V2, V2BETA, ApiVersion
from callout.api.protojson import format_timestamp
from callout.api.rpc import Handler, Rpc, RpcCall
from callout.domain.auth import Permission
from callout.domain.catalog import Catalog
from callout.services import executions as execution_service
from callout.services import public_keys as key_service
from callout.services import targets as service

V2_SERVICE = "zitadel.action.v2.ActionService"
V2BETA_SERVICE = "zitadel.action.v2beta.ActionService"
# A new signing key goes to the caller of Create or of a rotation only, never to a target (docs/target-answers.md).
SECRET = ("signingKey",)


def _create(version: ApiVersion) -> Handler:
    async def create_target(call: RpcCall) -> dict[str, Any]:
        spec = messages.decode_create(call.request, version)
        target, key = await service.create_target(call.context, call.principal, spec, version.max_endpoint_length)
        return messages.encode_created(target, key)

    return create_target


def _update(version: ApiVersion) -> Handler:
    async def update_target(call: RpcCall) -> dict[str, Any]:
        target_id, changes = messages.decode_update(call.request, version)
        result = await service.update_target(
            call.context, call.principal, target_id, changes, version.max_endpoint_length
        )
        return messages.encode_updated(result.change_date, result.signing_key)

    return update_target


async def _delete(call: RpcCall) -> dict[str, Any]:
    deleted = await service.delete_target(call.context, call.principal, messages.decode_id(call.request))
    return messages.encode_deleted(deleted)


def _get(version: ApiVersion) -> Handler:
    async def get_target(call: RpcCall) -> dict[str, Any]:
        target = await service.get_target(call.context, call.principal, messages.decode_id(call.request))
        return {"target": messages.encode_target(target, version)}

    return get_target


def _list(version: ApiVersion, *, with_total: bool = True) -> Handler:
    async def list_targets(call: RpcCall) -> dict[str, Any]:
        query = messages.decode_list(call.request)
        page = await service.list_targets(call.context, call.principal, query, with_total=with_total)
        return messages.encode_list(page, version)

    return list_targets


def uncounted_list_targets_rpc() -> Rpc:
    """ListTargets (v2) for the console's list: the same method, permission and executions, but its
    ``totalResult`` only tells whether more follow the page, so a page costs no count of every match.
    Never served over the API."""
    return _with_shapes(Rpc(V2_SERVICE, "ListTargets", Permission.TARGET_READ, _list(V2, with_total=False)))


def target_rpcs(service_name: str, version: ApiVersion) -> list[Rpc]:
    """The five target RPCs of one service version."""
    return [
        Rpc(service_name, "CreateTarget", Permission.TARGET_WRITE, _create(version), private_response_fields=SECRET),
        Rpc(service_name, "UpdateTarget", Permission.TARGET_WRITE, _update(version), private_response_fields=SECRET),
        Rpc(service_name, "DeleteTarget", Permission.TARGET_DELETE, _delete),
        Rpc(service_name, "GetTarget", Permission.TARGET_READ, _get(version)),
        Rpc(service_name, "ListTargets", Permission.TARGET_READ, _list(version)),
    ]


async def _set_execution(call: RpcCall) -> dict[str, Any]:
    condition, targets = execution_messages.decode_set(call.request)
    set_date = await execution_service.set_execution(call.context, call.principal, condition, targets)
    return {"setDate": format_timestamp(set_date)}


async def _list_executions(call: RpcCall) -> dict[str, Any]:
    query = execution_messages.decode_list(call.request)
    page = await execution_service.list_executions(call.context, call.principal, query)
    return execution_messages.encode_list(page)


def _catalog_list(key: str, pick: Callable[[Catalog], frozenset[str]]) -> Handler:
    async def list_names(call: RpcCall) -> dict[str, Any]:
        catalog = await execution_service.catalog_for(call.context, call.principal)
        return execution_messages.encode_names(key, pick(catalog))

    return list_names


def execution_rpcs(service_name: str) -> list[Rpc]:
    """SetExecution, ListExecutions and the three catalog lists of one service version."""
    return [
        Rpc(service_name, "SetExecution", Permission.EXECUTION_WRITE, _set_execution),
        Rpc(service_name, "ListExecutions", Permission.EXECUTION_READ, _list_executions),
        Rpc(service_name, "ListExecutionFunctions", Permission.AUTHENTICATED, _catalog_list("functions", _functions)),
        Rpc(service_name, "ListExecutionMethods", Permission.AUTHENTICATED, _catalog_list("methods", _methods)),
        Rpc(service_name, "ListExecutionServices", Permission.AUTHENTICATED, _catalog_list("services", _services)),
    ]


def _functions(catalog: Catalog) -> frozenset[str]:
    return catalog.functions


def _methods(catalog: Catalog) -> frozenset[str]:
    return catalog.methods


def _services(catalog: Catalog) -> frozenset[str]:
    return catalog.services


async def _add_public_key(call: RpcCall) -> dict[str, Any]:
    target_id, pem, expiration = key_messages.decode_add(call.request)
    key = await key_service.add_public_key(call.context, call.principal, target_id, pem, expiration)
    return {"keyId": key.key_id, "creationDate": format_timestamp(key.creation_date)}


def _set_active(active: bool) -> Handler:
    async def set_public_key_active(call: RpcCall) -> dict[str, Any]:
        target_id = key_messages.decode_id(call.request, "targetId")
        key_id = key_messages.decode_id(call.request, "keyId")
        changed = await key_service.set_public_key_active(call.context, call.principal, target_id, key_id, active)
        return {"changeDate": format_timestamp(changed)}

    return set_public_key_active


async def _remove_public_key(call: RpcCall) -> dict[str, Any]:
    target_id = key_messages.decode_id(call.request, "targetId")
    key_id = key_messages.decode_id(call.request, "keyId")
    deleted = await key_service.remove_public_key(call.context, call.principal, target_id, key_id)
    return {"deletionDate": format_timestamp(deleted)}


async def _list_public_keys(call: RpcCall) -> dict[str, Any]:
    target_id, query = key_messages.decode_list(call.request)
    return key_messages.encode_list(await key_service.list_public_keys(call.context, call.principal, target_id, query))


def public_key_rpcs() -> list[Rpc]:
    """The public key RPCs (v2 only)."""
    return [
        Rpc(V2_SERVICE, "AddPublicKey", Permission.TARGET_WRITE, _add_public_key),
        Rpc(V2_SERVICE, "ActivatePublicKey", Permission.TARGET_WRITE, _set_active(True)),
        Rpc(V2_SERVICE, "DeactivatePublicKey", Permission.TARGET_WRITE, _set_active(False)),
        Rpc(V2_SERVICE, "RemovePublicKey", Permission.TARGET_WRITE, _remove_public_key),
        Rpc(V2_SERVICE, "ListPublicKeys", Permission.TARGET_READ, _list_public_keys),
    ]


def action_rpcs() -> list[Rpc]:
    """Every ActionService RPC of both versions, with the messages rest_call answers must fit."""
    v2 = target_rpcs(V2_SERVICE, V2) + public_key_rpcs() + execution_rpcs(V2_SERVICE)
    return [_with_shapes(rpc) for rpc in v2 + target_rpcs(V2BETA_SERVICE, V2BETA) + execution_rpcs(V2BETA_SERVICE)]


def _with_shapes(rpc: Rpc) -> Rpc:
    request, response = rpc_shapes(rpc.service.rsplit(".", 1)[0], rpc.name)
    return replace(rpc, request_shape=request, response_shape=response)

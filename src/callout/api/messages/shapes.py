"""The request and response messages of callout's ActionService RPCs, as shapes a rest_call answer must fit.

Written from ZITADEL's ``proto/zitadel/action/v2/*.proto`` (v2beta has the same messages without
``payloadType``); only what protojson needs to accept or refuse JSON: names, kinds, repetition,
oneofs and enum names. Used to refuse an answer that ZITADEL's protojson decoding would refuse
(docs/differences.md).
"""

from __future__ import annotations

from callout.domain.executions import ExecutionSortField, ExecutionType
from callout.domain.keys import PublicKeySortField, TimestampFilterMethod
from callout.domain.messages import Field, Kind, MessageShape, enum_names
from callout.domain.queries import TargetSortField, TextFilterMethod
from callout.domain.targets import PayloadType

V2 = "zitadel.action.v2"
V2BETA = "zitadel.action.v2beta"


def _string(name: str, *, repeated: bool = False, oneof: str = "") -> Field:
    return Field(name, Kind.STRING, repeated=repeated, oneof=oneof)


def _message(name: str, shape: MessageShape, *, repeated: bool = False, oneof: str = "") -> Field:
    return Field(name, Kind.MESSAGE, repeated=repeated, message=shape, oneof=oneof)


def _enum(name: str, names: frozenset[str]) -> Field:
    return Field(name, Kind.ENUM, enum_names=names)


def _date(name: str) -> Field:
    return Field(name, Kind.TIMESTAMP)


PAGINATION_REQUEST = MessageShape(
    "zitadel.filter.v2.PaginationRequest",
    (Field("offset", Kind.INTEGER), Field("limit", Kind.INTEGER), Field("asc", Kind.BOOL)),
)
PAGINATION_RESPONSE = MessageShape(
    "zitadel.filter.v2.PaginationResponse", (Field("totalResult", Kind.INTEGER), Field("appliedLimit", Kind.INTEGER))
)
_INTERRUPT = (Field("interruptOnError", Kind.BOOL),)
_TARGET_TYPES = (
    _message("restWebhook", MessageShape("RESTWebhook", _INTERRUPT), oneof="target_type"),
    _message("restCall", MessageShape("RESTCall", _INTERRUPT), oneof="target_type"),
    _message("restAsync", MessageShape("RESTAsync"), oneof="target_type"),
)
_PAYLOAD_TYPE = _enum("payloadType", enum_names(PayloadType, "PAYLOAD_TYPE_"))
_ID = _string("id")
_TARGET_ID = _string("targetId")
_KEY_ID = _string("keyId")


def _api_condition(name: str) -> MessageShape:
    return MessageShape(
        name,
        (
            _string("method", oneof="condition"),
            _string("service", oneof="condition"),
            Field("all", Kind.BOOL, oneof="condition"),
        ),
    )


CONDITION = MessageShape(
    "Condition",
    (
        _message("request", _api_condition("RequestExecution"), oneof="condition_type"),
        _message("response", _api_condition("ResponseExecution"), oneof="condition_type"),
        _message("function", MessageShape("FunctionExecution", (_string("name"),)), oneof="condition_type"),
        _message(
            "event",
            MessageShape(
                "EventExecution",
                (
                    _string("event", oneof="condition"),
                    _string("group", oneof="condition"),
                    Field("all", Kind.BOOL, oneof="condition"),
                ),
            ),
            oneof="condition_type",
        ),
    ),
)
EXECUTION = MessageShape(
    "Execution",
    (_date("creationDate"), _date("changeDate"), _message("condition", CONDITION), _string("targets", repeated=True)),
)
PUBLIC_KEY = MessageShape(
    "PublicKey",
    (
        _KEY_ID,
        Field("active", Kind.BOOL),
        Field("publicKey", Kind.BYTES),
        _string("fingerprint"),
        _date("expirationDate"),
        _date("creationDate"),
        _date("changeDate"),
    ),
)
_TARGET_FILTER = MessageShape(
    "TargetSearchFilter",
    (
        _message(
            "targetNameFilter",
            MessageShape(
                "TargetNameFilter",
                (_string("targetName"), _enum("method", enum_names(TextFilterMethod, "TEXT_FILTER_METHOD_"))),
            ),
            oneof="filter",
        ),
        _message(
            "inTargetIdsFilter",
            MessageShape("InTargetIDsFilter", (_string("targetIds", repeated=True),)),
            oneof="filter",
        ),
    ),
)
_EXECUTION_FILTER = MessageShape(
    "ExecutionSearchFilter",
    (
        _message(
            "inConditionsFilter",
            MessageShape("InConditionsFilter", (_message("conditions", CONDITION, repeated=True),)),
            oneof="filter",
        ),
        _message(
            "executionTypeFilter",
            MessageShape(
                "ExecutionTypeFilter", (_enum("executionType", enum_names(ExecutionType, "EXECUTION_TYPE_")),)
            ),
            oneof="filter",
        ),
        _message("targetFilter", MessageShape("TargetFilter", (_TARGET_ID,)), oneof="filter"),
    ),
)
_KEY_FILTER = MessageShape(
    "PublicKeySearchFilter",
    (
        _message("keyIdsFilter", MessageShape("KeyIDsFilter", (_string("ids", repeated=True),)), oneof="filter"),
        Field("activeFilter", Kind.BOOL, oneof="filter"),
        _message(
            "expirationDateFilter",
            MessageShape(
                "TimestampFilter",
                (_date("timestamp"), _enum("method", enum_names(TimestampFilterMethod, "TIMESTAMP_FILTER_METHOD_"))),
            ),
            oneof="filter",
        ),
    ),
)
_EXECUTION_RPCS: dict[str, tuple[tuple[Field, ...], tuple[Field, ...]]] = {
    "SetExecution": ((_message("condition", CONDITION), _string("targets", repeated=True)), (_date("setDate"),)),
    "ListExecutions": (
        (
            _message("pagination", PAGINATION_REQUEST),
            _enum("sortingColumn", enum_names(ExecutionSortField, "EXECUTION_FIELD_NAME_")),
            _message("filters", _EXECUTION_FILTER, repeated=True),
        ),
        (_message("pagination", PAGINATION_RESPONSE), _message("executions", EXECUTION, repeated=True)),
    ),
    "ListExecutionFunctions": ((), (_string("functions", repeated=True),)),
    "ListExecutionMethods": ((), (_string("methods", repeated=True),)),
    "ListExecutionServices": ((), (_string("services", repeated=True),)),
}
_KEY_RPCS: dict[str, tuple[tuple[Field, ...], tuple[Field, ...]]] = {
    "AddPublicKey": (
        (_TARGET_ID, Field("publicKey", Kind.BYTES), _date("expirationDate")),
        (_KEY_ID, _date("creationDate")),
    ),
    "ActivatePublicKey": ((_TARGET_ID, _KEY_ID), (_date("changeDate"),)),
    "DeactivatePublicKey": ((_TARGET_ID, _KEY_ID), (_date("changeDate"),)),
    "RemovePublicKey": ((_TARGET_ID, _KEY_ID), (_date("deletionDate"),)),
    "ListPublicKeys": (
        (
            _TARGET_ID,
            _message("pagination", PAGINATION_REQUEST),
            _enum("sortingColumn", enum_names(PublicKeySortField, "PUBLIC_KEY_FIELD_NAME_")),
            _message("filters", _KEY_FILTER, repeated=True),
        ),
        (_message("pagination", PAGINATION_RESPONSE), _message("publicKeys", PUBLIC_KEY, repeated=True)),
    ),
}


def _target_rpcs(payload: tuple[Field, ...]) -> dict[str, tuple[tuple[Field, ...], tuple[Field, ...]]]:
    target = MessageShape(
        "Target",
        (
            _ID,
            _date("creationDate"),
            _date("changeDate"),
            _string("name"),
            *_TARGET_TYPES,
            Field("timeout", Kind.DURATION),
            _string("endpoint"),
            _string("signingKey"),
            *payload,
        ),
    )
    settable = (_string("name"), *_TARGET_TYPES, Field("timeout", Kind.DURATION), _string("endpoint"), *payload)
    return {
        "CreateTarget": (settable, (_ID, _date("creationDate"), _string("signingKey"))),
        "UpdateTarget": (
            (_ID, *settable, Field("expirationSigningKey", Kind.DURATION)),
            (_date("changeDate"), _string("signingKey")),
        ),
        "DeleteTarget": ((_ID,), (_date("deletionDate"),)),
        "GetTarget": ((_ID,), (_message("target", target),)),
        "ListTargets": (
            (
                _message("pagination", PAGINATION_REQUEST),
                _enum("sortingColumn", enum_names(TargetSortField, "TARGET_FIELD_NAME_")),
                _message("filters", _TARGET_FILTER, repeated=True),
            ),
            (_message("pagination", PAGINATION_RESPONSE), _message("targets", target, repeated=True)),
        ),
    }


def rpc_shapes(package: str, rpc: str) -> tuple[MessageShape, MessageShape]:
    """The request and response shapes of an ActionService RPC of ``package`` (v2 or v2beta)."""
    payload = (_PAYLOAD_TYPE,) if package == V2 else ()
    rpcs = {**_target_rpcs(payload), **_EXECUTION_RPCS, **(_KEY_RPCS if package == V2 else {})}
    request, response = rpcs[rpc]
    return MessageShape(f"{package}.{rpc}Request", request), MessageShape(f"{package}.{rpc}Response", response)

"""Message shapes: JSON is checked as protojson reads it (ZITADEL's execution_interceptor.go decodes so)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.api.action_service import action_rpcs
from callout.domain.messages import Field, Kind, MessageMismatch, MessageShape, check_message

INNER = MessageShape("Inner", (Field("flag", Kind.BOOL),))
SHAPE = MessageShape(
    "Outer",
    (
        Field("name", Kind.STRING),
        Field("count", Kind.INTEGER),
        Field("timeout", Kind.DURATION),
        Field("when", Kind.TIMESTAMP),
        Field("blob", Kind.BYTES),
        Field("kind", Kind.ENUM, enum_names=frozenset({"KIND_A"})),
        Field("inner", Kind.MESSAGE, message=INNER),
        Field("tags", Kind.STRING, repeated=True),
        Field("left", Kind.STRING, oneof="side"),
        Field("right", Kind.STRING, oneof="side"),
    ),
)
KNOWN_KEYS = {"name", "count", "timeout", "when", "blob", "kind", "inner", "tags", "left", "right"}


class TestCheckMessage:
    def test_fitting_message_passes(self) -> None:
        """Every kind in its protojson form, by JSON or proto name, passes."""
        check_message(
            {
                "name": "n",
                "count": "12",
                "timeout": "1.5s",
                "when": "2024-01-02T03:04:05.123Z",
                "blob": "aGk",
                "kind": 7,
                "inner": {"flag": True},
                "tags": ["a"],
                "left": "l",
                "right": None,
            },
            SHAPE,
        )

    @given(st.text(min_size=1, max_size=20).filter(lambda key: key not in KNOWN_KEYS))
    def test_any_unknown_key_is_refused(self, key: str) -> None:
        """A key that names no field of the message is refused, naming the key."""
        with pytest.raises(MessageMismatch, match="unknown field"):
            check_message({"name": "n", key: 1}, SHAPE)

    @pytest.mark.parametrize(
        "message",
        [
            {"name": 5},
            {"count": "1.5"},
            {"count": True},
            {"timeout": 10},
            {"when": "2024-01-02"},
            {"blob": "not base64!"},
            {"kind": "KIND_B"},
            {"kind": 2**31},
            {"inner": []},
            {"inner": {"flag": "yes"}},
            {"tags": "a"},
            {"tags": [None]},
        ],
    )
    def test_mistyped_value_is_refused(self, message: dict[str, Any]) -> None:
        """A value of the wrong JSON type or form for its field is refused."""
        with pytest.raises(MessageMismatch):
            check_message(message, SHAPE)

    def test_both_names_of_one_field_are_refused(self) -> None:
        """A field given by its JSON name and its proto name is a duplicate."""
        shape = MessageShape("M", (Field("sortingColumn", Kind.INTEGER),))
        with pytest.raises(MessageMismatch, match="duplicate"):
            check_message({"sortingColumn": 1, "sorting_column": 2}, shape)

    def test_two_members_of_a_oneof_are_refused(self) -> None:
        """Setting two members of one oneof is refused."""
        with pytest.raises(MessageMismatch, match="already set"):
            check_message({"left": "l", "right": "r"}, SHAPE)


class TestActionServiceShapes:
    def test_every_rpc_knows_its_messages(self) -> None:
        """Every ActionService RPC of v2 and v2beta carries its request and response shapes."""
        missing = [rpc.full_method for rpc in action_rpcs() if rpc.request_shape is None or rpc.response_shape is None]
        assert missing == []

"""The Executions page's form helpers: conditions from fields and API messages, list edits, focus, groups."""

from __future__ import annotations

import pytest

from callout.console.execution_forms import (
    ConditionChoice,
    FormProblem,
    condition_from_api,
    condition_from_fields,
    edit_list,
    event_groups,
    focus_after,
    parse_ids,
)

METHOD = "/pkg.v1.Service/Method"


class TestConditionFromFields:
    def test_method_choice_reads_the_method_field(self) -> None:
        """request:method takes its value from the field named method and builds the API's Condition."""
        choice = condition_from_fields({"condition": "request:method", "method": f" {METHOD} ", "service": "x"})
        assert choice.body == {"request": {"method": METHOD}}

    def test_all_needs_no_value(self) -> None:
        """event:all is the Condition {event: {all: true}}."""
        assert condition_from_fields({"condition": "event:all"}).body == {"event": {"all": True}}

    def test_function_uses_the_name_member(self) -> None:
        """function:function is sent as {function: {name}}."""
        assert condition_from_fields({"condition": "function:function", "function": "preuserinfo"}).body == {
            "function": {"name": "preuserinfo"}
        }

    def test_group_drops_a_typed_wildcard(self) -> None:
        """A group typed as ``order.*`` is sent as ``order``."""
        assert condition_from_fields({"condition": "event:group", "group": "order.*"}).value == "order"

    @pytest.mark.parametrize("condition", ["", "request", "request:name", "event:method", "function:all", "x:all"])
    def test_unknown_shape_is_a_form_problem(self, condition: str) -> None:
        """A kind and scope ZITADEL's conditions do not have is refused with a sentence."""
        with pytest.raises(FormProblem):
            condition_from_fields({"condition": condition, "method": METHOD})

    def test_missing_value_is_a_form_problem(self) -> None:
        """A method condition without a method is refused."""
        with pytest.raises(FormProblem, match="method"):
            condition_from_fields({"condition": "request:method", "method": "  "})


class TestConditionFromApi:
    @pytest.mark.parametrize(
        "condition",
        [
            ConditionChoice("request", "method", METHOD),
            ConditionChoice("response", "service", "pkg.v1.Service"),
            ConditionChoice("response", "all"),
            ConditionChoice("function", "function", "preuserinfo"),
            ConditionChoice("event", "group", "order"),
            ConditionChoice("event", "event", "order.paid"),
            ConditionChoice("event", "all"),
        ],
    )
    def test_round_trips_through_the_api_message(self, condition: ConditionChoice) -> None:
        """Reading back the Condition message a choice builds gives the same choice, and its fields too."""
        assert condition_from_api(condition.body) == condition
        assert condition_from_fields(condition.fields) == condition


class TestEditList:
    def test_up_moves_before_the_previous(self) -> None:
        """up:b in a,b,c gives b,a,c."""
        assert edit_list(["a", "b", "c"], "up:b") == ["b", "a", "c"]

    def test_down_moves_after_the_next(self) -> None:
        """down:b in a,b,c gives a,c,b."""
        assert edit_list(["a", "b", "c"], "down:b") == ["a", "c", "b"]

    def test_up_on_the_first_changes_nothing(self) -> None:
        """Moving the first target up leaves the list as it is."""
        assert edit_list(["a", "b"], "up:a") == ["a", "b"]

    def test_remove_keeps_the_rest_in_order(self) -> None:
        """remove:b in a,b,c gives a,c."""
        assert edit_list(["a", "b", "c"], "remove:b") == ["a", "c"]

    def test_add_appends(self) -> None:
        """add appends the chosen target."""
        assert edit_list(["a"], "add", "b") == ["a", "b"]

    def test_adding_a_listed_target_is_a_form_problem(self) -> None:
        """A target is listed once: adding it again is refused."""
        with pytest.raises(FormProblem):
            edit_list(["a"], "add", "a")

    @pytest.mark.parametrize("operation", ["up:z", "sideways:a", "", "remove"])
    def test_unknown_operation_is_a_form_problem(self, operation: str) -> None:
        """A button for a target not in the list, or an unknown verb, is refused."""
        with pytest.raises(FormProblem):
            edit_list(["a"], operation)


class TestHelpers:
    def test_parse_ids_skips_blanks(self) -> None:
        """The hidden list field's empty parts are ignored."""
        assert parse_ids(" a,,b , ") == ["a", "b"]

    def test_focus_stays_on_the_moved_button_until_the_edge(self) -> None:
        """After up the same button keeps focus, unless the target reached the top: then its Move down."""
        assert (focus_after("up:b", ["a", "b", "c"]), focus_after("up:b", ["b", "a"])) == ("up:b", "down:b")

    def test_event_groups_are_every_dotted_prefix(self) -> None:
        """target.key.added and order.paid give the groups order, target, target.key."""
        assert event_groups({"target.key.added", "order.paid"}) == ["order", "target", "target.key"]

"""Function executions: merging ``rest_call`` answers and applying them to claims and SAML attributes."""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.engine.functions import (
    SamlAttribute,
    apply_attributes,
    apply_claims,
    function_id,
    go_quote,
    log_claim_key,
    merge_function_answer,
    merge_function_answers,
    metadata_entries,
    parse_answer,
)
from callout.engine.payloads import function_payload
from callout.errors import FailedPrecondition

FULL_USAGE = {
    "set_user_metadata": [
        {"key": f"key{i}", "value": base64.b64encode(f"value{i}".encode()).decode()} for i in (1, 2, 3)
    ],
    "append_log_claims": ["addedLog1", "addedLog2", "addedLog3"],
    "append_claims": [{"key": f"added{i}", "value": f"value{i}"} for i in (1, 2, 3)],
}


def _claims(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"append_claims": [{"key": key, "value": value} for key, value in pairs]}


class TestNames:
    def test_function_id_prefixes_once(self) -> None:
        """The execution id is ``function/<name>``, also when given the id already."""
        assert (function_id("preuserinfo"), function_id("function/preuserinfo")) == ("function/preuserinfo",) * 2

    def test_log_claim_key(self) -> None:
        """Log lines go to ``urn:zitadel:iam:action:function/<fn>:log``."""
        assert log_claim_key("preaccesstoken") == "urn:zitadel:iam:action:function/preaccesstoken:log"


class TestParseAnswer:
    def test_valid_json_parses(self) -> None:
        """A JSON body is parsed."""
        assert parse_answer(b'{"a":1}') == {"a": 1}

    @pytest.mark.parametrize("body", [b"{", b"not json", b"   ", b"[NaN]", b"\xff", b"[" * 101 + b"]" * 101])
    def test_invalid_json_is_failed_precondition(self, body: bytes) -> None:
        """A body that is not JSON fails with ``Errors.Execution.ResponseIsNotValidJSON``."""
        with pytest.raises(FailedPrecondition) as caught:
            parse_answer(body)
        assert caught.value.message_id == "Errors.Execution.ResponseIsNotValidJSON"


class TestMergeUserinfo:
    def test_single_answer_is_normalised_in_struct_order(self) -> None:
        """Fields come in the response struct's order, metadata values kept as base64 text."""
        merged = merge_function_answers("preuserinfo", [json.dumps(FULL_USAGE).encode()])
        assert list(merged) == ["set_user_metadata", "append_claims", "append_log_claims"]
        assert merged["set_user_metadata"][0] == {"key": "key1", "value": "dmFsdWUx"}

    def test_later_list_replaces_earlier_list(self) -> None:
        """A field present in a later answer overwrites the earlier list (Go's Unmarshal)."""
        merged = merge_function_answers("preuserinfo", [_claims(("a", 1)), _claims(("b", 2))])
        assert merged == {"append_claims": [{"key": "b", "value": 2}]}

    def test_absent_field_keeps_earlier_value(self) -> None:
        """A field a later answer leaves out keeps its earlier value."""
        merged = merge_function_answers("preuserinfo", [_claims(("a", 1)), {"append_log_claims": ["x"]}])
        assert merged == {"append_claims": [{"key": "a", "value": 1}], "append_log_claims": ["x"]}

    def test_null_clears_a_field(self) -> None:
        """``null`` resets a field."""
        merged = merge_function_answers("preuserinfo", [_claims(("a", 1)), b'{"append_claims":null}'])
        assert merged == {}

    def test_empty_list_is_dropped(self) -> None:
        """An empty list is left out of the merged answer (omitempty)."""
        assert merge_function_answers("preuserinfo", [_claims(("a", 1)), {"append_claims": []}]) == {}

    def test_unknown_keys_are_ignored(self) -> None:
        """Keys outside the response struct are ignored."""
        assert merge_function_answers("preuserinfo", [{"append_attribute": [], "x": 1}]) == {}

    def test_keys_match_case_insensitively(self) -> None:
        """Field names match regardless of case, as in Go's decoder."""
        merged = merge_function_answers("preuserinfo", [{"Append_Log_Claims": ["x"]}])
        assert merged == {"append_log_claims": ["x"]}

    def test_missing_claim_value_is_null(self) -> None:
        """A claim without a value gets None."""
        assert merge_function_answers("preuserinfo", [{"append_claims": [{"key": "k"}]}])["append_claims"] == [
            {"key": "k", "value": None}
        ]

    @pytest.mark.parametrize("answer", [b"", None, b"null"])
    def test_no_answer_changes_nothing(self, answer: bytes | None) -> None:
        """An empty body, no answer and JSON ``null`` leave the merged answer as it was."""
        assert merge_function_answers("preuserinfo", [_claims(("a", 1)), answer]) == _claims(("a", 1))

    def test_merge_does_not_modify_its_input(self) -> None:
        """The answers merged so far are not changed in place."""
        merged = _claims(("a", 1))
        merge_function_answer("preuserinfo", merged, {"append_claims": None})
        assert merged == _claims(("a", 1))

    def test_name_may_be_the_execution_id(self) -> None:
        """``function/preaccesstoken`` is treated like ``preaccesstoken``."""
        assert merge_function_answers("function/preaccesstoken", [{"append_log_claims": ["x"], "y": 1}]) == {
            "append_log_claims": ["x"]
        }


class TestMergeRejects:
    def test_invalid_json_body(self) -> None:
        """An invalid body fails with ``Errors.Execution.ResponseIsNotValidJSON``."""
        with pytest.raises(FailedPrecondition, match="ResponseIsNotValidJSON"):
            merge_function_answers("preuserinfo", [b"{oops"])

    @pytest.mark.parametrize(
        "answer",
        [
            b"[]",
            b'"text"',
            b'{"append_claims":{}}',
            b'{"append_claims":[1]}',
            b'{"append_claims":[{"key":1}]}',
            b'{"append_log_claims":[1]}',
            b'{"set_user_metadata":[{"key":"k","value":"not base64!"}]}',
            b'{"set_user_metadata":[{"key":"k","value":7}]}',
        ],
    )
    def test_wrong_shape_is_failed_precondition(self, answer: bytes) -> None:
        """Valid JSON of the wrong shape fails with ``Errors.Execution.ResponseInvalid``."""
        with pytest.raises(FailedPrecondition) as caught:
            merge_function_answers("preuserinfo", [answer])
        assert caught.value.message_id == "Errors.Execution.ResponseInvalid"

    @pytest.mark.parametrize(
        "answer",
        [b'{"append_attribute":[{"name":"n","value":"v"}]}', b'{"append_attribute":[{"name":"n","name_format":1}]}'],
    )
    def test_wrong_attribute_shape_is_failed_precondition(self, answer: bytes) -> None:
        """Attribute values must be a list of strings and names strings."""
        with pytest.raises(FailedPrecondition, match="ResponseInvalid"):
            merge_function_answers("presamlresponse", [answer])

    def test_custom_answer_must_be_an_object(self) -> None:
        """A custom function's answer must be a JSON object."""
        with pytest.raises(FailedPrecondition, match="ResponseInvalid"):
            merge_function_answers("custom", [b"[1]"])


class TestMergeSaml:
    def test_attributes_and_metadata_are_kept(self) -> None:
        """presamlresponse answers carry metadata and attributes, in struct order."""
        answer = {"append_attribute": [{"name": "added", "name_format": "format", "value": ["value"]}]}
        answer |= {"set_user_metadata": [{"key": "k", "value": "dg=="}]}
        merged = merge_function_answers("presamlresponse", [answer])
        assert merged == {
            "set_user_metadata": [{"key": "k", "value": "dg=="}],
            "append_attribute": [{"name": "added", "name_format": "format", "value": ["value"]}],
        }

    def test_claims_are_not_part_of_saml_answers(self) -> None:
        """``append_claims`` is unknown to presamlresponse and ignored."""
        assert merge_function_answers("presamlresponse", [_claims(("a", 1))]) == {}

    def test_null_attribute_values_become_empty(self) -> None:
        """An attribute without values has an empty value list."""
        merged = merge_function_answers("presamlresponse", [{"append_attribute": [{"name": "n", "value": None}]}])
        assert merged["append_attribute"] == [{"name": "n", "name_format": "", "value": []}]


class TestMergeCustom:
    def test_later_keys_override(self) -> None:
        """Custom functions merge objects shallowly; later targets win."""
        merged = merge_function_answers("custom", [{"a": 1, "b": {"x": 1}}, b'{"b":{"y":2},"c":3}'])
        assert merged == {"a": 1, "b": {"y": 2}, "c": 3}

    def test_key_order_is_first_appearance(self) -> None:
        """An overridden key keeps its first position."""
        assert list(merge_function_answers("custom", [{"a": 1, "b": 2}, {"a": 3}])) == ["a", "b"]

    @given(st.lists(st.dictionaries(st.text(max_size=3), st.integers(), max_size=4), max_size=4))
    def test_merge_equals_dict_update(self, answers: list[dict[str, int]]) -> None:
        """The merge of custom answers is successive dict updates."""
        expected: dict[str, int] = {}
        for answer in answers:
            expected.update(answer)
        assert merge_function_answers("custom", answers) == expected


class TestApplyClaims:
    def test_new_claims_are_added(self) -> None:
        """Appended claims are added and no log is written."""
        claims, logs = apply_claims({"sub": "u1"}, _claims(("added", "value")), "preuserinfo")
        assert (claims, logs) == ({"sub": "u1", "added": "value"}, [])

    def test_reserved_claims_are_skipped_silently(self) -> None:
        """Claims under ``urn:zitadel:iam`` are ignored without a log line."""
        claims, logs = apply_claims({}, _claims(("urn:zitadel:iam:org:id", "x")), "preuserinfo")
        assert (claims, logs) == ({}, [])

    def test_existing_claim_is_not_overwritten(self) -> None:
        """An existing claim stays and the conflict is logged to the log claim."""
        claims, _ = apply_claims({"email": "a@b"}, _claims(("email", "x")), "preuserinfo")
        assert claims == {"email": "a@b", log_claim_key("preuserinfo"): ['key "email" already exists']}

    def test_null_claim_counts_as_absent(self) -> None:
        """A claim whose value is null may be set."""
        assert apply_claims({"k": None}, _claims(("k", 1)), "preuserinfo")[0] == {"k": 1}

    def test_duplicate_key_in_one_answer_logs_the_second(self) -> None:
        """The second claim with the same key conflicts with the first."""
        claims, logs = apply_claims({}, _claims(("k", 1), ("k", 2)), "preuserinfo")
        assert (claims["k"], logs) == (1, ['key "k" already exists'])

    def test_log_order_is_metadata_conflicts_then_answer_lines(self) -> None:
        """Metadata failures come first, then conflicts, then ``append_log_claims``."""
        merged = {**_claims(("k", 1)), "append_log_claims": ["mine"]}
        _, logs = apply_claims({"k": 0}, merged, "preuserinfo", metadata_failures=["m"])
        assert logs == ['failed to set user metadata key "m"', 'key "k" already exists', "mine"]

    def test_log_claim_replaces_an_earlier_log_claim(self) -> None:
        """The log claim is set, not appended to."""
        key = log_claim_key("preuserinfo")
        claims, _ = apply_claims({key: ["old"]}, {"append_log_claims": ["new"]}, "preuserinfo")
        assert claims[key] == ["new"]

    def test_input_claims_are_not_modified(self) -> None:
        """The existing claims mapping is left untouched."""
        existing = {"sub": "u1"}
        apply_claims(existing, _claims(("a", 1)), "preuserinfo")
        assert existing == {"sub": "u1"}

    def test_full_usage_case(self) -> None:
        """ZITADEL's "full usage" case: three claims and three log lines under the function's log claim."""
        merged = merge_function_answers("preuserinfo", [json.dumps(FULL_USAGE)])
        claims, _ = apply_claims({"sub": "u1"}, merged, "preuserinfo")
        assert claims == {
            "sub": "u1",
            "added1": "value1",
            "added2": "value2",
            "added3": "value3",
            "urn:zitadel:iam:action:function/preuserinfo:log": ["addedLog1", "addedLog2", "addedLog3"],
        }

    def test_metadata_entries_in_order(self) -> None:
        """The metadata to set is listed as (key, decoded value) pairs."""
        merged = merge_function_answers("preuserinfo", [json.dumps(FULL_USAGE)])
        assert metadata_entries(merged) == [("key1", b"value1"), ("key2", b"value2"), ("key3", b"value3")]

    def test_merged_metadata_encodes_as_json(self) -> None:
        """A merged answer holding metadata is JSON as it stands (values stay base64 text)."""
        merged = merge_function_answers("preuserinfo", [json.dumps(FULL_USAGE)])
        assert json.loads(json.dumps(merged))["set_user_metadata"][0] == {"key": "key1", "value": "dmFsdWUx"}

    def test_metadata_base64_may_hold_line_breaks(self) -> None:
        """Line breaks in a base64 value are skipped, as Go's decoder skips them."""
        merged = merge_function_answers("preuserinfo", [{"set_user_metadata": [{"key": "k", "value": "dm\r\nFs"}]}])
        assert metadata_entries(merged) == [("k", b"val")]


class TestApplyAttributes:
    MERGED: ClassVar[dict[str, Any]] = {
        "append_attribute": [{"name": "added", "name_format": "format", "value": ["value"]}]
    }

    def test_attribute_is_added(self) -> None:
        """An appended attribute is added with its format and values."""
        attributes, logs = apply_attributes({}, self.MERGED, "presamlresponse")
        assert (attributes, logs) == ({"added": SamlAttribute("format", ("value",))}, [])

    def test_same_name_is_replaced(self) -> None:
        """An attribute of the same name is overwritten."""
        attributes, _ = apply_attributes({"added": SamlAttribute("old", ("x",))}, self.MERGED, "presamlresponse")
        assert attributes["added"] == SamlAttribute("format", ("value",))

    def test_metadata_failures_go_to_the_log_attribute(self) -> None:
        """Failed metadata keys are logged to the function's log attribute with an empty format."""
        attributes, _ = apply_attributes({}, {}, "presamlresponse", metadata_failures=["k"])
        key = "urn:zitadel:iam:action:function/presamlresponse:log"
        assert attributes == {key: SamlAttribute("", ('failed to set user metadata key "k"',))}


class TestGoQuote:
    @pytest.mark.parametrize(
        ("text", "quoted"),
        [
            ("email", '"email"'),
            ('a"b\\c', '"a\\"b\\\\c"'),
            ("\n\t\x07\x0b", '"\\n\\t\\a\\v"'),
            ("\x01\x7f", '"\\x01\\x7f"'),
            ("é😀", '"é😀"'),
            ("\u00ad", '"\\u00ad"'),
            ("\U000e0001", '"\\U000e0001"'),
            ("\udcff", '"\\xff"'),
        ],
    )
    def test_quotes_like_go(self, text: str, quoted: str) -> None:
        """Strings are quoted like Go's ``%q``."""
        assert go_quote(text) == quoted


class TestRoundTrip:
    def test_merged_answer_re_encodes_for_later_targets(self) -> None:
        """The merged answer goes back into later payloads, metadata values as base64 again."""
        merged = merge_function_answers("preuserinfo", [{"set_user_metadata": [{"key": "k", "value": "dg=="}]}])
        body = function_payload("preuserinfo", {"user": {"id": "1"}}, response=merged)
        assert body.endswith(b'"response":{"set_user_metadata":[{"key":"k","value":"dg=="}]}}')

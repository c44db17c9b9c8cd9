"""RunFunction's applied result: ZITADEL's claim and attribute rules over the merged answers."""

from __future__ import annotations

from callout.services.function_results import applied_result, existing_claims, metadata_to_set


class TestExistingClaims:
    def test_explicit_claims_win(self) -> None:
        """Claims the host sends are the existing claims, even when the context has a userinfo."""
        assert existing_claims({"a": 1}, {"userinfo": {"b": 2}}) == {"a": 1}

    def test_explicit_empty_claims_are_kept(self) -> None:
        """An explicit empty object means "no claims yet", not "use the userinfo"."""
        assert existing_claims({}, {"userinfo": {"b": 2}}) == {}

    def test_userinfo_is_the_default(self) -> None:
        """Without explicit claims, the context's userinfo holds them."""
        assert existing_claims(None, {"userinfo": {"b": 2}}) == {"b": 2}

    def test_userinfo_that_is_no_object_means_none(self) -> None:
        """A userinfo that is not an object gives no existing claims."""
        assert existing_claims(None, {"userinfo": ["b"]}) == {}


class TestAppliedResult:
    def test_custom_function_has_none(self) -> None:
        """A custom function has no rules to apply."""
        assert applied_result("my_function", {"a": 1}, {}) is None

    def test_execution_id_is_accepted(self) -> None:
        """``function/preuserinfo`` applies the same rules as ``preuserinfo``."""
        merged = {"append_claims": [{"key": "a", "value": 1}]}
        assert applied_result("function/preuserinfo", merged, {}) == {"claims": {"a": 1}, "logs": [], "metadata": []}

    def test_existing_null_claim_may_be_set(self) -> None:
        """A claim that exists with a null value counts as absent, as Go's ``Claims[key] == nil``."""
        merged = {"append_claims": [{"key": "a", "value": 1}]}
        applied = applied_result("preaccesstoken", merged, {"a": None})
        assert applied == {"claims": {"a": 1}, "logs": [], "metadata": []}

    def test_saml_without_attributes(self) -> None:
        """presamlresponse without attributes adds none."""
        assert applied_result("presamlresponse", {}, {}) == {"attributes": [], "metadata": []}


class TestMetadata:
    def test_binary_value_has_no_text(self) -> None:
        """A value that is not UTF-8 comes back as base64 only."""
        entry = {"key": "k", "value": "/w=="}
        assert metadata_to_set({"set_user_metadata": [entry]}) == [entry]

    def test_text_value_is_decoded(self) -> None:
        """A UTF-8 value comes back as base64 and as text."""
        entry = {"key": "k", "value": "w6k="}
        assert metadata_to_set({"set_user_metadata": [entry]}) == [{**entry, "text": "é"}]

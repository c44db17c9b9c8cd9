"""The router: one best-matching execution per lookup id, never merged (docs/behaviour.md, Executions and conditions).

Method > service > all for requests and responses; exact event > longest group > all for events;
functions match exactly. Matching is at boundaries (`/` for services, `.` for event groups), so the
service `a.B` never matches a method of the service `a.BC`, unlike ZITADEL's plain string prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callout.domain.targets import PayloadType, Target, TargetType
from callout.engine.router import RoutedTarget, Router, SigningKey, candidate_ids

MakeRouter = Callable[..., Router]

SERVICE = "zitadel.user.v2.UserService"
ADD = f"/{SERVICE}/AddHumanUser"
UPDATE = f"/{SERVICE}/UpdateHumanUser"


def routed_target(name: str) -> RoutedTarget:
    """A routed webhook target whose id and name are ``name``."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    target = Target(
        id=name,
        instance_id="instance",
        name=name,
        target_type=TargetType.WEBHOOK,
        interrupt_on_error=False,
        timeout=timedelta(seconds=5),
        endpoint="https://example.com",
        payload_type=PayloadType.JSON,
        creation_date=now,
        change_date=now,
    )
    return RoutedTarget(target)


@pytest.fixture
def make_router() -> MakeRouter:
    """Factory: a router from execution ids to target names; each name becomes one routed target."""

    def make(routes: Mapping[str, Sequence[str]], version: int = 0) -> Router:
        return Router(
            {execution_id: [routed_target(name) for name in names] for execution_id, names in routes.items()}, version
        )

    return make


def names(chain: Sequence[RoutedTarget]) -> list[str]:
    """The target names of a resolved chain, in call order."""
    return [routed.target.name for routed in chain]


class TestRequestResolution:
    def test_method_beats_service_and_all(self, make_router: MakeRouter) -> None:
        """The method's own execution wins over its service's and over `all`."""
        router = make_router({f"request{ADD}": ["method"], f"request/{SERVICE}": ["service"], "request": ["all"]})
        assert names(router.best_match(f"request{ADD}")) == ["method"]

    def test_service_applies_to_other_methods_of_the_service(self, make_router: MakeRouter) -> None:
        """A method without its own execution gets its service's execution, not `all`."""
        router = make_router({f"request{ADD}": ["method"], f"request/{SERVICE}": ["service"], "request": ["all"]})
        assert names(router.best_match(f"request{UPDATE}")) == ["service"]

    def test_all_applies_to_other_services(self, make_router: MakeRouter) -> None:
        """A method of a service without executions gets the `all` execution."""
        router = make_router({f"request{ADD}": ["method"], f"request/{SERVICE}": ["service"], "request": ["all"]})
        assert names(router.best_match("request/zitadel.session.v2.SessionService/ListSessions")) == ["all"]

    def test_results_are_never_merged(self, make_router: MakeRouter) -> None:
        """Only the best match's targets run, not those of less specific executions too."""
        router = make_router({f"request{ADD}": ["m1", "m2"], f"request/{SERVICE}": ["s1"], "request": ["a1"]})
        assert names(router.best_match(f"request{ADD}")) == ["m1", "m2"]

    def test_targets_keep_their_order(self, make_router: MakeRouter) -> None:
        """The chosen execution's targets come back in their stored order."""
        router = make_router({f"request/{SERVICE}": ["c", "a", "b"]})
        assert names(router.best_match(f"request{ADD}")) == ["c", "a", "b"]

    def test_no_execution_gives_an_empty_chain(self, make_router: MakeRouter) -> None:
        """Without a matching execution the chain is empty."""
        router = make_router({f"request{ADD}": ["method"]})
        assert router.best_match(f"request{UPDATE}") == ()

    def test_empty_execution_lets_a_less_specific_one_apply(self, make_router: MakeRouter) -> None:
        """An execution without targets does not exist, so the service's execution applies."""
        router = make_router({f"request{ADD}": [], f"request/{SERVICE}": ["service"]})
        assert names(router.best_match(f"request{ADD}")) == ["service"]

    def test_empty_executions_are_not_counted(self, make_router: MakeRouter) -> None:
        """A router built with empty chains holds only the non-empty ones."""
        assert len(make_router({f"request{ADD}": [], "request": ["all"]})) == 1

    def test_service_does_not_match_a_longer_service_name(self, make_router: MakeRouter) -> None:
        """The service `a.B` does not apply to a method of the service `a.BC`."""
        router = make_router({"request/a.B": ["service"], "request": ["all"]})
        assert names(router.best_match("request/a.BC/Method")) == ["all"]

    def test_method_does_not_match_a_longer_method_name(self, make_router: MakeRouter) -> None:
        """The method `/a.B/Get` does not apply to `/a.B/GetAll`."""
        router = make_router({"request/a.B/Get": ["method"], "request/a.B": ["service"]})
        assert names(router.best_match("request/a.B/GetAll")) == ["service"]

    def test_request_executions_do_not_apply_to_responses(self, make_router: MakeRouter) -> None:
        """Request executions, even `all`, never match a response lookup."""
        router = make_router({f"request{ADD}": ["method"], "request": ["all"]})
        assert router.best_match(f"response{ADD}") == ()

    def test_response_resolves_like_request(self, make_router: MakeRouter) -> None:
        """Response lookups follow method > service > all among response executions only."""
        router = make_router(
            {"request": ["request-all"], f"response/{SERVICE}": ["service"], "response": ["response-all"]}
        )
        found = [names(router.best_match(f"response{method}")) for method in (ADD, "/other.Service/Method")]
        assert found == [["service"], ["response-all"]]


class TestEventResolution:
    def test_exact_event_beats_groups_and_all(self, make_router: MakeRouter) -> None:
        """An event's own execution wins over its groups and over `all`."""
        router = make_router({"event/user.human.added": ["exact"], "event/user.human.*": ["group"], "event": ["all"]})
        assert names(router.best_match("event/user.human.added")) == ["exact"]

    def test_longest_group_wins(self, make_router: MakeRouter) -> None:
        """The group `user.human` beats the group `user`."""
        router = make_router({"event/user.*": ["user"], "event/user.human.*": ["user.human"], "event": ["all"]})
        assert names(router.best_match("event/user.human.added")) == ["user.human"]

    def test_group_applies_to_deeper_events(self, make_router: MakeRouter) -> None:
        """The group `user` applies to `user.human.added`."""
        router = make_router({"event/user.*": ["user"], "event": ["all"]})
        assert names(router.best_match("event/user.human.added")) == ["user"]

    def test_all_applies_when_no_group_matches(self, make_router: MakeRouter) -> None:
        """An event outside every group gets the `all` execution."""
        router = make_router({"event/user.*": ["user"], "event": ["all"]})
        assert names(router.best_match("event/session.added")) == ["all"]

    def test_group_matches_only_at_a_dot(self, make_router: MakeRouter) -> None:
        """The group `user` does not apply to `username.changed`."""
        router = make_router({"event/user.*": ["user"]})
        assert router.best_match("event/username.changed") == ()

    def test_exact_event_is_not_a_group(self, make_router: MakeRouter) -> None:
        """An execution on the event `user` does not apply to `user.added`."""
        router = make_router({"event/user": ["exact"], "event": ["all"]})
        assert names(router.best_match("event/user.added")) == ["all"]

    def test_group_named_like_the_event_does_not_match_it(self, make_router: MakeRouter) -> None:
        """The group `user.added` covers events below it, not the event `user.added` itself."""
        router = make_router({"event/user.added.*": ["group"], "event": ["all"]})
        assert names(router.best_match("event/user.added")) == ["all"]

    def test_empty_group_lets_a_shorter_group_apply(self, make_router: MakeRouter) -> None:
        """A group execution without targets does not exist, so the enclosing group applies."""
        router = make_router({"event/user.human.*": [], "event/user.*": ["user"]})
        assert names(router.best_match("event/user.human.added")) == ["user"]

    def test_event_executions_do_not_apply_to_requests(self, make_router: MakeRouter) -> None:
        """`event` (all events) never matches a request lookup."""
        router = make_router({"event": ["all"]})
        assert router.best_match(f"request{ADD}") == ()


class TestFunctionResolution:
    def test_function_matches_exactly(self, make_router: MakeRouter) -> None:
        """A function's execution applies to that function."""
        router = make_router({"function/preuserinfo": ["fn"]})
        assert names(router.best_match("function/preuserinfo")) == ["fn"]

    def test_function_does_not_match_another_function(self, make_router: MakeRouter) -> None:
        """A function's execution applies neither to other functions nor to longer names."""
        router = make_router({"function/preuserinfo": ["fn"], "function/pre": ["short"]})
        assert [router.best_match(f"function/{name}") for name in ("preaccesstoken", "preuserinfo2")] == [(), ()]

    def test_other_kinds_do_not_apply_to_functions(self, make_router: MakeRouter) -> None:
        """Request, response and event `all` executions never match a function."""
        router = make_router({"request": ["r"], "response": ["s"], "event": ["e"]})
        assert router.best_match("function/preuserinfo") == ()


class TestRouter:
    def test_version_is_kept(self, make_router: MakeRouter) -> None:
        """A router remembers the routing version it was built at."""
        assert make_router({}, version=7).version == 7

    def test_empty_router_matches_nothing(self, make_router: MakeRouter) -> None:
        """A router without executions resolves every lookup to an empty chain."""
        router = make_router({})
        assert [router.best_match(i) for i in (f"request{ADD}", "event/a.b", "function/f")] == [(), (), ()]


class TestCandidateIds:
    def test_request_method_candidates(self) -> None:
        """A request lookup tries the method, then its service, then `request`."""
        assert list(candidate_ids(f"request{ADD}")) == [f"request{ADD}", f"request/{SERVICE}", "request"]

    def test_response_method_candidates(self) -> None:
        """A response lookup tries the method, then its service, then `response`."""
        assert list(candidate_ids(f"response{ADD}")) == [f"response{ADD}", f"response/{SERVICE}", "response"]

    def test_event_candidates_run_from_longest_group(self) -> None:
        """An event lookup tries the event, its groups from the longest, then `event`."""
        assert list(candidate_ids("event/user.human.added")) == [
            "event/user.human.added",
            "event/user.human.*",
            "event/user.*",
            "event",
        ]

    def test_single_segment_event_has_no_group(self) -> None:
        """An event type without a dot tries only itself and `event`."""
        assert list(candidate_ids("event/custom")) == ["event/custom", "event"]

    def test_function_candidates_name_no_other_function(self) -> None:
        """A function lookup tries no other `function/…` id than its own."""
        candidates = list(candidate_ids("function/preuserinfo"))
        assert [c for c in candidates if c.startswith("function/")] == ["function/preuserinfo"]


# Small alphabets so that generated ids often share prefixes, with and without boundaries.
SERVICES = ["a.B", "a.BC", "a.B.C", "ab.B"]
METHODS = ["M", "MN", "N"]
EVENT_TYPES = ["u", "u.h", "u.h.a", "u.ha", "uh.a", "v.h"]
FUNCTIONS = ["f", "fg", "g"]

request_kinds = st.sampled_from(["request", "response"])
method_ids = st.builds(
    lambda kind, service, method: f"{kind}/{service}/{method}",
    request_kinds,
    st.sampled_from(SERVICES),
    st.sampled_from(METHODS),
)
service_ids = st.builds(lambda kind, service: f"{kind}/{service}", request_kinds, st.sampled_from(SERVICES))
event_ids = st.sampled_from(EVENT_TYPES).map(lambda event: f"event/{event}")
group_ids = st.sampled_from(EVENT_TYPES).map(lambda event: f"event/{event}.*")
function_ids = st.sampled_from(FUNCTIONS).map(lambda name: f"function/{name}")
stored_ids = st.one_of(method_ids, service_ids, request_kinds, event_ids, group_ids, st.just("event"), function_ids)
lookup_ids = st.one_of(method_ids, event_ids, function_ids)


def reference_best_match(live: set[str], lookup: str) -> str | None:
    """Brute force: the exact id, else the longest live id that is a prefix of the lookup at a boundary."""
    if lookup in live:
        return lookup
    kind = lookup.partition("/")[0]
    if kind == "function":
        return None

    def is_boundary_prefix(stored: str) -> bool:
        if stored == kind:
            return True
        if kind == "event":
            return stored.endswith(".*") and lookup.startswith(stored[:-1])
        return lookup.startswith(stored + "/")

    matches = [stored for stored in live if is_boundary_prefix(stored)]
    return max(matches, key=len) if matches else None


class TestBestMatchProperty:
    @settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        routes=st.dictionaries(stored_ids, st.booleans(), max_size=12),
        lookups=st.lists(lookup_ids, min_size=1, max_size=8),
    )
    def test_best_match_equals_the_brute_force_reference(
        self, make_router: MakeRouter, routes: dict[str, bool], lookups: list[str]
    ) -> None:
        """For any stored ids (some without targets) best_match picks what the brute-force reference picks."""
        router = make_router({execution_id: [execution_id] if live else [] for execution_id, live in routes.items()})
        live = {execution_id for execution_id, has_targets in routes.items() if has_targets}
        for lookup in lookups:
            expected = reference_best_match(live, lookup)
            assert names(router.best_match(lookup)) == ([] if expected is None else [expected]), lookup


class TestSigningSecrets:
    def test_keys_without_expiry_all_sign(self) -> None:
        """Without a key in its grace period every key signs, in order."""
        keys = (SigningKey("new"), SigningKey("old"))
        routed = replace(routed_target("t"), signing_keys=keys)
        assert routed.secrets_at(datetime(2030, 1, 1, tzinfo=UTC)) == ("new", "old")

    def test_expired_grace_key_stops_signing(self) -> None:
        """A rotated-out key signs until its expiry and not after."""
        expiry = datetime(2030, 1, 1, tzinfo=UTC)
        routed = replace(routed_target("t"), signing_keys=(SigningKey("new"), SigningKey("old", expiry)))
        before, after = expiry - timedelta(seconds=1), expiry + timedelta(seconds=1)
        assert (routed.secrets_at(before), routed.secrets_at(after)) == (("new", "old"), ("new",))

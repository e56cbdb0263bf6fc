"""The incremental engine on the segments the story and the loyalty program need.

Every call through ``Customer`` also checks membership against the from-scratch reference evaluation.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from perkflow.domain.segments import (
    CustomerSegmentState,
    Occurrence,
    SegmentDefinition,
    SegmentSet,
    apply_event,
    apply_profile,
    backfill,
    engine,
    evaluate_history,
    initial_state,
    sweep,
)
from perkflow.domain.segments.definition import bucket_width_ms
from tests.unit.segments.support import DAY, T0, Customer, count, kinds, segment, sliding, trait

REVIEWERS = segment("seg_reviewers", count("review_left", "gte", 1))
REDEEMERS = segment("seg_redeemers", count("redemption.succeeded", "gte", 2, sliding(30)))
REFERRERS = segment("seg_referrers", count("loyalty.referral.completed", "gte", 3))
TIER_UP = segment(
    "seg_tier_up",
    count("loyalty.tier.achieved", "gte", 1, sliding(14), where=[{"path": "direction", "op": "eq", "value": "up"}]),
)


def test_reviewers_enter_once_however_often_the_review_repeats() -> None:
    michael = Customer([REVIEWERS])
    assert michael.members == frozenset()

    first = michael.event("review_left", event_id="evt_review_1", rating=5)
    assert kinds(first) == [("entered", "seg_reviewers")]
    assert first.transitions[0].emit is True
    assert first.transitions[0].at == T0

    # The bus delivers the same event again: nothing changes, nothing to write.
    again = michael.deliver(michael.history[0])
    assert (again.transitions, again.changed) == ((), False)
    # More reviews keep him in without another transition; all-time counts never expire.
    for _ in range(3):
        assert michael.event("review_left").transitions == ()
    assert michael.members == {"seg_reviewers"}
    assert michael.state.next_check_at is None
    assert michael.state.members_since() == {"seg_reviewers": T0}


def test_redeemed_twice_in_30_days_enters_on_the_second_and_leaves_by_time() -> None:
    customer = Customer([REDEEMERS])
    # Events arrive late and out of order: the newer one first.
    assert customer.event("redemption.succeeded", at=T0 - 5 * DAY).transitions == ()
    entered = customer.event("redemption.succeeded", at=T0 - 25 * DAY)
    assert kinds(entered) == [("entered", "seg_redeemers")]
    # The older redemption slides out 30 days after it happened: 5 days from now.
    assert customer.state.next_check_at == T0 + 5 * DAY

    quiet = customer.sweep(T0 + 5 * DAY - timedelta(milliseconds=1))
    assert quiet.transitions == ()
    left = customer.sweep(T0 + 5 * DAY)
    assert kinds(left) == [("left", "seg_redeemers")]
    assert left.transitions[0].at == T0 + 5 * DAY
    # One redemption is left, 25 days from expiring; with gte 2 nothing can flip by time any more.
    assert customer.state.next_check_at is None

    # A redemption older than the window changes nothing at all.
    stale = customer.event("redemption.succeeded", at=customer.now - 31 * DAY)
    assert (stale.transitions, stale.changed) == ((), False)
    back = customer.event("redemption.succeeded", at=customer.now - DAY)
    assert kinds(back) == [("entered", "seg_redeemers")]


def test_lapsed_redeemers_enter_by_time_alone_under_not() -> None:
    lapsed = segment("seg_lapsed", {"type": "not", "child": count("redemption.succeeded", "gte", 1, sliding(30))})
    customer = Customer([lapsed])
    assert customer.members == {"seg_lapsed"}

    assert kinds(customer.event("redemption.succeeded", at=T0 - 10 * DAY)) == [("left", "seg_lapsed")]
    # The window expiring flips the inner leaf false -> true for the segment: the timer must cover it.
    assert customer.state.next_check_at == T0 + 20 * DAY
    assert kinds(customer.sweep(T0 + 20 * DAY)) == [("entered", "seg_lapsed")]


def test_three_completed_referrals() -> None:
    referrer = Customer([REFERRERS])
    for n in range(2):
        assert referrer.event("loyalty.referral.completed", referral_code=f"REF-{n}").transitions == ()
    assert kinds(referrer.event("loyalty.referral.completed")) == [("entered", "seg_referrers")]
    assert referrer.deliver(referrer.history[-1]).changed is False
    assert referrer.state.features[next(iter(referrer.state.features))].model_dump() == {"k": "count", "n": 3}


def test_reached_a_higher_tier_in_the_last_14_days_then_ages_out() -> None:
    member = Customer([TIER_UP])
    assert member.event("loyalty.tier.achieved", at=T0 - DAY, direction="down").transitions == ()
    assert member.state.next_check_at is None

    entered = member.event("loyalty.tier.achieved", at=T0 - 3 * DAY, direction="up", tier={"rank": 2})
    assert kinds(entered) == [("entered", "seg_tier_up")]
    assert member.state.next_check_at == T0 + 11 * DAY
    assert member.sweep(T0 + 10 * DAY).transitions == ()
    assert kinds(member.sweep(T0 + 11 * DAY)) == [("left", "seg_tier_up")]
    assert member.state.next_check_at is None


def test_trait_conditions_follow_the_profile_and_the_calendar() -> None:
    gold = segment("seg_gold", trait("metadata.plan", "eq", "gold"), kind="passive")
    birthday = segment("seg_birthday", trait("birthdate", "anniversary_within_next", days=7))
    newcomers = segment("seg_new", trait("created_at", "within_last", seconds=30 * 86_400))
    start = T0.replace(month=12, day=20)
    customer = Customer([gold, birthday, newcomers], profile={"created_at": "2026-12-01T00:00:00.000Z"}, now=start)
    assert customer.members == {"seg_new"}

    upgraded = customer.update_profile(metadata={"plan": "gold"}, birthdate="1990-01-02")
    assert kinds(upgraded) == [("entered", "seg_gold")]
    assert upgraded.transitions[0].emit is False  # passive segments are tracked but not announced
    # Next: the birthday window opens on 26 December (2 January - 7 days).
    assert customer.state.next_check_at == start.replace(day=26, hour=0, minute=0)
    assert kinds(customer.sweep(start.replace(day=26, hour=0, minute=0))) == [("entered", "seg_birthday")]
    # created_at + 30 days = 31 December, when the newcomer leaves.
    assert customer.state.next_check_at == start.replace(day=31, hour=0, minute=0)
    assert kinds(customer.sweep(start.replace(day=31, hour=0, minute=0))) == [("left", "seg_new")]
    # The birthday window closes after 2 January, across the year end.
    assert kinds(customer.sweep(start.replace(year=2027, month=1, day=3, hour=0, minute=0))) == [
        ("left", "seg_birthday")
    ]
    assert customer.update_profile(metadata={"plan": "silver"}).transitions[0].kind == "left"
    same = customer.update_profile()
    assert (same.transitions, same.changed) == ((), False)


def test_not_reviewed_until_a_review_arrives() -> None:
    not_reviewed = segment("seg_silent", {"type": "not", "child": count("review_left", "gte", 1)})
    customer = Customer([not_reviewed])
    assert customer.members == {"seg_silent"}
    assert kinds(customer.event("review_left")) == [("left", "seg_silent")]


def test_references_follow_the_referenced_segments_in_the_same_call() -> None:
    fraud = segment("seg_fraud", count("chargeback", "gte", 1))
    gold_reviewers = segment(
        "seg_gold_reviewers",
        {"type": "and", "children": [
            {"type": "segment", "segment_id": "seg_reviewers"},
            trait("metadata.plan", "eq", "gold"),
            {"type": "not", "child": {"type": "segment", "segment_id": "seg_fraud"}},
            {"type": "not", "child": {"type": "segment", "segment_id": "seg_watchlist"}},
        ]},
    )  # fmt: skip
    customer = Customer([gold_reviewers, REVIEWERS, fraud], profile={"metadata": {"plan": "gold"}})

    both = customer.event("review_left")
    assert sorted(kinds(both)) == [("entered", "seg_gold_reviewers"), ("entered", "seg_reviewers")]
    assert kinds(customer.event("chargeback")) == [("entered", "seg_fraud"), ("left", "seg_gold_reviewers")]


def test_static_lists_feed_references() -> None:
    vip_not_listed = segment(
        "seg_vip",
        {"type": "and", "children": [
            {"type": "segment", "segment_id": "seg_reviewers"},
            {"type": "not", "child": {"type": "segment", "segment_id": "seg_watchlist"}},
        ]},
    )  # fmt: skip
    customer = Customer([vip_not_listed, REVIEWERS])
    customer.event("review_left")
    assert customer.members == {"seg_vip", "seg_reviewers"}
    assert kinds(customer.list_in_static("seg_watchlist", True)) == [("left", "seg_vip")]
    assert kinds(customer.list_in_static("seg_watchlist", False)) == [("entered", "seg_vip")]


def test_spend_over_90_days_keeps_each_order_between_w_and_w_plus_one_bucket() -> None:
    big_spenders = segment(
        "seg_spenders",
        {"type": "event_agg", "event": "Order Completed", "property": "total", "agg": "sum",
         "window": sliding(90), "op": "gte", "value": 500},
    )  # fmt: skip
    customer = Customer([big_spenders])
    customer.event("Order Completed", at=T0 - 10 * DAY, total=300.10)
    assert customer.members == frozenset()
    assert kinds(customer.event("Order Completed", at=T0 - 2 * DAY, total="199.90")) == [("entered", "seg_spenders")]

    expires = customer.state.next_check_at
    assert expires is not None
    exact = T0 - 10 * DAY + 90 * DAY  # when the 300.10 order leaves an exact 90-day window
    tolerance = timedelta(milliseconds=bucket_width_ms(90 * 86_400))
    assert tolerance == 9 * DAY
    # Never early, at most one bucket (W/10) late.
    assert exact <= expires <= exact + tolerance
    assert customer.sweep(expires - timedelta(milliseconds=1)).transitions == ()
    assert kinds(customer.sweep(expires)) == [("left", "seg_spenders")]


def test_sums_are_exact_decimals_whatever_the_arrival_order() -> None:
    exactly = segment(
        "seg_exact",
        {"type": "event_agg", "event": "Order Completed", "property": "total", "agg": "sum",
         "window": {"kind": "all_time"}, "op": "eq", "value": 0.3},
    )  # fmt: skip
    customer = Customer([exactly])
    customer.event("Order Completed", total=0.1)
    assert kinds(customer.event("Order Completed", total=0.2)) == [
        ("entered", "seg_exact")
    ]  # 0.1 + 0.2 != 0.3 in floats


def test_min_max_count_and_distinct_aggregates() -> None:
    def agg(name: str, agg_: str, op: str, value: float, window: dict[str, Any] | None = None) -> SegmentDefinition:
        return segment(name, {"type": "event_agg", "event": "Order Completed", "property": "total", "agg": agg_,
                              "window": window or {"kind": "all_time"}, "op": op, "value": value})  # fmt: skip

    customer = Customer([
        agg("seg_max_100", "max", "gte", 100, sliding(7)),
        agg("seg_min_under_10", "min", "lt", 10),
        agg("seg_two_priced_orders", "count", "gte", 2, sliding(7)),
        agg("seg_three_prices", "count_distinct", "gte", 3),
    ])  # fmt: skip
    customer.event("Order Completed", at=T0 - 6 * DAY, total=120)
    customer.event("Order Completed", total="unknown")  # not a number, but a distinct value
    assert customer.members == {"seg_max_100"}
    customer.event("Order Completed", total=120.0)  # the same value as 120
    assert customer.members == {"seg_max_100", "seg_two_priced_orders"}
    customer.event("Order Completed", total=5)
    assert customer.members == {"seg_max_100", "seg_two_priced_orders", "seg_min_under_10", "seg_three_prices"}
    # The 120 from six days ago leaves the 7-day max on day 1; the one from today keeps it until day 7.
    customer.sweep(T0 + 2 * DAY)
    assert "seg_max_100" in customer.members
    customer.sweep(T0 + 7 * DAY)
    assert customer.members == {"seg_min_under_10", "seg_three_prices"}  # counts leave the 7 days too


def test_last_event_checks_the_latest_match_only() -> None:
    last_order_big = segment(
        "seg_last_big",
        {"type": "last_event", "event": "Order Completed", "has": [{"path": "total", "op": "gte", "value": 100}],
         "within_seconds": 7 * 86_400},
    )  # fmt: skip
    customer = Customer([last_order_big])
    assert kinds(customer.event("Order Completed", at=T0 - DAY, total=150)) == [("entered", "seg_last_big")]
    # An older small order arriving late does not replace the latest one.
    assert customer.event("Order Completed", at=T0 - 2 * DAY, total=20).transitions == ()
    assert kinds(customer.event("Order Completed", at=T0, total=20)) == [("left", "seg_last_big")]
    assert kinds(customer.event("Order Completed", at=T0 + timedelta(seconds=1), total=100)) == [
        ("entered", "seg_last_big")
    ]
    assert customer.state.next_check_at == T0 + timedelta(seconds=1) + 7 * DAY


def test_absolute_windows_count_by_event_timestamp_only() -> None:
    black_friday = segment(
        "seg_bf",
        count("Order Completed", "gte", 1, {"kind": "absolute", "start": "2026-11-27T00:00:00Z",
                                              "end": "2026-11-28T00:00:00Z"}),
    )  # fmt: skip
    customer = Customer([black_friday])
    customer.sweep(T0.replace(day=29))
    assert customer.event("Order Completed", at=T0.replace(day=28, hour=0, minute=0)).transitions == ()
    # A late delivery of an order placed inside the window still counts; time never changes the answer.
    assert kinds(customer.event("Order Completed", at=T0.replace(day=27, hour=23))) == [("entered", "seg_bf")]
    assert customer.state.next_check_at is None


def test_the_clock_never_goes_back() -> None:
    segments = SegmentSet([REDEEMERS])
    state = initial_state(segments, [], {}, T0)
    occurrences = [Occurrence(event_id=f"r{n}", name="redemption.succeeded", timestamp=T0 - 29 * DAY) for n in range(2)]
    for occurrence in occurrences:
        state = apply_event(segments, state, occurrence, T0).state
    later = sweep(segments, state, T0 + DAY)
    assert later.state.member_ids() == frozenset()
    # A container whose clock lags cannot bring the expired redemptions back.
    lagging = sweep(segments, later.state, T0)
    assert lagging.state.member_ids() == frozenset()
    assert lagging.changed is False


def test_definition_changes_drop_old_features_and_backfill_new_ones() -> None:
    history = [
        Occurrence(event_id="rv1", name="review_left", timestamp=T0 - 3 * DAY),
        *(Occurrence(event_id=f"rc{n}", name="loyalty.referral.completed", timestamp=T0 - DAY) for n in range(3)),
    ]
    old = SegmentSet([REVIEWERS])
    state = initial_state(old, history, {}, T0)
    assert state.member_ids() == {"seg_reviewers"}

    # The referrers segment is written at definitions version 1, after the state was initialised.
    new = SegmentSet([REVIEWERS, REFERRERS], since={"seg_referrers": 1})
    # Until backfilled, the referrers' counter is pending and the segment waits: live events wait for the
    # backfill (which replays the stored history, this event included).
    live = Occurrence(event_id="rc_live", name="loyalty.referral.completed", timestamp=T0)
    waiting = apply_event(new, state, live, T0)
    assert waiting.transitions == ()
    assert new.features_after(waiting.state.revision) != []
    assert new.segments_after(waiting.state.revision) == ["seg_referrers"]
    filled = backfill(new, waiting.state, [*history, live], T0)
    assert kinds(filled) == [("entered", "seg_referrers")]
    assert filled.state.revision == new.revision == 1
    assert new.features_after(filled.state.revision) == []
    assert filled.state.features[next(k for k in filled.state.features if k not in state.features)].model_dump() == {
        "k": "count",
        "n": 4,
    }
    # The live event was remembered: a redelivery after the backfill does not count twice.
    assert apply_event(new, filled.state, live, T0).changed is False

    # Dropping the reviewers segment drops its feature and its membership, without a transition.
    only_referrers = sweep(SegmentSet([REFERRERS], since={"seg_referrers": 1}), filled.state, T0)
    assert only_referrers.transitions == ()
    assert set(only_referrers.state.features) == set(filled.state.features) - set(state.features)
    assert only_referrers.state.member_ids() == {"seg_referrers"}


def test_initial_state_equals_event_by_event_application() -> None:
    segments = SegmentSet([REVIEWERS, REDEEMERS, TIER_UP])
    history = [
        Occurrence(event_id="a", name="redemption.succeeded", timestamp=T0 - 40 * DAY),
        Occurrence(event_id="b", name="redemption.succeeded", timestamp=T0 - 20 * DAY),
        Occurrence(event_id="c", name="loyalty.tier.achieved", timestamp=T0 - DAY, properties={"direction": "up"}),
        Occurrence(event_id="b", name="redemption.succeeded", timestamp=T0 - 20 * DAY),
        Occurrence(event_id="d", name="redemption.succeeded", timestamp=T0 - 2 * DAY),
    ]
    built = initial_state(segments, history, {}, T0)
    stepped = initial_state(segments, [], {}, T0)
    for occurrence in history:
        stepped = apply_event(segments, stepped, occurrence, T0).state
    assert built.member_ids() == stepped.member_ids() == {"seg_redeemers", "seg_tier_up"}
    assert built.member_ids() == evaluate_history(segments, history, {}, T0)
    assert built.next_check_at == stepped.next_check_at == T0 + 10 * DAY


def test_a_typical_state_fits_in_a_few_kilobytes() -> None:
    definitions = [REVIEWERS, REDEEMERS, REFERRERS, TIER_UP]
    definitions += [
        segment(f"seg_spend_{n}", {"type": "event_agg", "event": "Order Completed", "property": "total",
                                   "agg": "sum", "window": sliding(30 * (n + 1)), "op": "gte", "value": 100 * n})
        for n in range(4)
    ]  # fmt: skip
    definitions.append(segment("seg_birthday", trait("birthdate", "anniversary_within_next", days=7)))
    segments = SegmentSet(definitions)
    profile = {
        "name": "Michael Scott", "email": "michael.scott@dundermifflin.com", "birthdate": "1964-03-15",
        "address": {"city": "Scranton", "country": "US"}, "metadata": {"plan": "gold", "branch": "Scranton"},
        "source_id": "michael.scott", "created_at": "2025-01-01T00:00:00.000Z",
    }  # fmt: skip
    history = [
        Occurrence(event_id=f"evt_{n:024d}", name=name, timestamp=T0 - n * timedelta(hours=7),
                   properties={"total": 42.5, "direction": "up"})
        for n in range(300)
        for name in ("Order Completed", "redemption.succeeded", "review_left", "loyalty.tier.achieved")
    ]  # fmt: skip
    state = initial_state(segments, history, profile, T0)
    size = len(json.dumps(state.model_dump(mode="json")))
    assert size < 5_000, size
    assert len(state.seen) == 64
    assert CustomerSegmentState.model_validate_json(state.model_dump_json()) == state


def test_absolute_windows_are_half_open() -> None:
    window = {"kind": "absolute", "start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
    customer = Customer([segment("seg_day", count("visit", "gte", 1, window))])
    assert customer.event("visit", at=T0.replace(day=25, hour=0, minute=0)).transitions == ()  # end: outside
    assert kinds(customer.event("visit", at=T0.replace(hour=0, minute=0))) == [("entered", "seg_day")]  # start


def test_repeated_values_and_extremes_remember_their_latest_time_whatever_the_arrival_order() -> None:
    two_skus = segment(
        "seg_skus",
        {
            "type": "event_agg",
            "event": "Product Viewed",
            "property": "sku",
            "agg": "count_distinct",
            "window": sliding(1),
            "op": "gte",
            "value": 2,
        },
    )
    big_order = segment("seg_big", {"type": "event_agg", "event": "Order Completed", "property": "total",
                                     "agg": "max", "window": sliding(1), "op": "gte", "value": 100})  # fmt: skip
    customer = Customer([two_skus, big_order])
    hour = timedelta(hours=1)
    for at in (T0, T0 - 20 * hour):  # the newer sighting first, the older one late
        customer.event("Product Viewed", at=at, sku="A")
        customer.event("Order Completed", at=at, total=150)
    customer.event("Product Viewed", at=T0 - hour, sku="B")
    assert customer.members == {"seg_skus", "seg_big"}
    # Both answers last until the NEWER sighting of A / 150 leaves the day, not the older one.
    assert customer.sweep(T0 + 22 * hour).transitions == ()
    assert kinds(customer.sweep(T0 + 23 * hour)) == [("left", "seg_skus")]  # B left: one distinct sku
    assert kinds(customer.sweep(T0 + 24 * hour)) == [("left", "seg_big")]


def test_last_event_ties_on_timestamp_resolve_the_same_in_any_order() -> None:
    last_big = segment("seg_last_big", {"type": "last_event", "event": "Order Completed",
                                        "has": [{"path": "total", "op": "gte", "value": 100}]})  # fmt: skip
    small = Occurrence(event_id="o_small", name="Order Completed", timestamp=T0, properties={"total": 5})
    large = Occurrence(event_id="o_large", name="Order Completed", timestamp=T0, properties={"total": 500})
    answers = set()
    for order in ([small, large], [large, small]):
        customer = Customer([last_big])
        for occurrence in order:
            customer.deliver(occurrence)
        answers.add(customer.members)
    assert len(answers) == 1


def test_references_wait_while_what_they_refer_to_is_pending() -> None:
    gold_vip = segment("seg_vip", {"type": "and", "children": [
        {"type": "segment", "segment_id": "seg_reviewers"}, trait("metadata.plan", "eq", "gold"),
    ]})  # fmt: skip
    before = SegmentSet([gold_vip, segment("seg_reviewers", trait("email", "exists"))])
    state = initial_state(before, [], {"email": "m@d.com"}, T0)
    assert state.member_ids() == {"seg_reviewers"}
    # seg_reviewers becomes event-based. Until the backfill neither it nor seg_vip, which reads it, moves,
    # even when the rest of seg_vip's conditions change.
    changed = SegmentSet([gold_vip, REVIEWERS], since={"seg_reviewers": 1})
    history = [Occurrence(event_id="rv", name="review_left", timestamp=T0 - DAY)]
    waiting = apply_profile(changed, state, {"email": "m@d.com", "metadata": {"plan": "gold"}}, T0)
    assert waiting.transitions == ()
    assert waiting.state.member_ids() == {"seg_reviewers"}
    filled = backfill(changed, waiting.state, history, T0)
    assert kinds(filled) == [("entered", "seg_vip")]
    # The replayed history is remembered too: a late redelivery of it does not count twice.
    assert apply_event(changed, filled.state, history[0], T0).changed is False


def test_events_with_one_timestamp_leave_the_window_together() -> None:
    exactly_one = segment("seg_one", count("login", "eq", 1, sliding(1)))
    customer = Customer([exactly_one])
    for _ in range(2):
        customer.event("login", at=T0 - DAY / 2)
    # Two logins expire at the same instant: the count goes 2 -> 0 and never passes through 1.
    assert customer.members == frozenset()
    assert customer.state.next_check_at is None


def test_a_new_segment_on_a_condition_already_kept_reuses_its_state() -> None:
    gold_reviewers = segment(
        "seg_gold_reviewers",
        {"type": "and", "children": [count("review_left", "gte", 1), trait("metadata.plan", "eq", "gold")]},
    )
    before = SegmentSet([gold_reviewers])
    state = initial_state(before, [Occurrence(event_id="rv", name="review_left", timestamp=T0 - DAY)], {}, T0)
    after = SegmentSet([gold_reviewers, REVIEWERS], since={"seg_reviewers": 1})
    # Reviewers waits for its backfill, but the review counter it shares was kept all along: nothing is
    # pending, and gold reviewers goes on reading it.
    assert after.features_after(state.revision) == []
    upgraded = apply_profile(after, state, {"metadata": {"plan": "gold"}}, T0)
    assert kinds(upgraded) == [("entered", "seg_gold_reviewers")]
    # The backfill needs no history for it: the segment is evaluated from the state.
    assert kinds(backfill(after, upgraded.state, [], T0)) == [("entered", "seg_reviewers")]


def test_a_profile_change_re_evaluates_only_the_segments_reading_what_changed() -> None:
    readers = {
        "seg_plan": trait("metadata.plan", "eq", "gold"),
        "seg_metadata": trait("metadata", "exists"),
        "seg_city": trait("address.city", "eq", "Scranton"),
        "seg_dotted": trait("metadata.tier.rank", "gte", 2),
    }
    segments = SegmentSet([segment(sid, root) for sid, root in readers.items()])
    state = initial_state(segments, [], {"address": {"city": "Scranton"}}, T0)
    assert state.member_ids() == {"seg_city"}
    evaluated = []
    original = engine._Run._evaluate_segment

    def counting(run: Any, segment_id: str) -> bool:
        evaluated.append(segment_id)
        return original(run, segment_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine._Run, "_evaluate_segment", counting)
        changed = apply_profile(segments, state, {"address": {"city": "Scranton"}, "metadata": {"plan": "gold"}}, T0)
        assert sorted(evaluated) == ["seg_metadata", "seg_plan"]  # the city did not change; no tier appeared
        assert changed.state.member_ids() == {"seg_city", "seg_metadata", "seg_plan"}
        evaluated.clear()
        # A key holding dots is read by the dotted path too (and, conservatively, "metadata" looks affected).
        dotted = apply_profile(segments, changed.state, {**changed.state.profile, "metadata.tier": {"rank": 3}}, T0)
        assert sorted(evaluated) == ["seg_dotted", "seg_metadata"]
        assert "seg_dotted" in dotted.state.member_ids()
        evaluated.clear()
        # A whole object replaced by a value reaches every path inside it.
        flat = apply_profile(segments, dotted.state, {"address": "Scranton, PA", "metadata.tier": {"rank": 3}}, T0)
        assert sorted(evaluated) == ["seg_city", "seg_metadata", "seg_plan"]
        assert flat.state.member_ids() == {"seg_dotted"}

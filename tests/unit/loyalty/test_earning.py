"""Earning: the order earning base, fixed points, tier multipliers, pending points, reversal, adjustments."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from perkflow.domain.loyalty import engine, schedule
from perkflow.domain.loyalty.errors import InvalidEarningRule, PointsExceeded
from perkflow.domain.loyalty.orders import completed_order
from perkflow.domain.loyalty.rules import EarningRule, EarningRuleRequest
from tests.unit.loyalty.factories import NOW, ORDER_RULE, earn_order, member, order, program, with_rules, with_tiers


@pytest.mark.parametrize(
    ("properties", "base", "points"),
    [
        ({"total": 54.99, "shipping": 4.99, "tax": 0}, 5000, 50),
        ({"total": "19.995"}, 2000, 20),  # half up to cents
        ({"total": "19.995", "shipping": "0.005"}, 1999, 19),  # each amount half up, then floored to points
        ({"total": 10, "shipping": 4, "tax": 7}, 0, 0),  # never below zero
        ({"revenue": 12.5}, 1250, 12),  # no total: Segment's revenue
        ({"total": "not money"}, 0, 0),
    ],
)
def test_the_earning_base_is_total_minus_shipping_and_tax_in_cents_half_up(
    properties: dict[str, Any], base: int, points: int
) -> None:
    assert completed_order(properties).base_cents == base
    club = with_rules(program(), ORDER_RULE)
    change = earn_order(club, member(club), {"order_id": "1", **properties})
    assert change.account.balance == points


def test_every_and_points_count_whole_steps_as_voucherify() -> None:
    one_per_ten = {
        **ORDER_RULE,
        "loyalty": {**ORDER_RULE["loyalty"], "order": {"amount": {"every": 1000, "points": 3}}},
    }
    club = with_rules(program(), one_per_ten)
    assert earn_order(club, member(club), order(54.99)).account.balance == 15  # floor(5499 / 1000) * 3


def test_fixed_points_on_a_custom_event_and_sign_up() -> None:
    club = with_rules(
        program(),
        {"event": "review_left", "loyalty": {"type": "FIXED", "points": 25}},
        {"event": "customer.created", "loyalty": {"type": "FIXED", "points": 100}},
    )
    account = member(club)
    review = [rule for rule in club.earning_rules if rule.event == "review_left"]
    change = engine.earn_fixed(club, account, review, key="event:m1", now=NOW, source="event", details={})
    assert change.account.balance == 25
    assert change.entries[0].key == "event:m1"
    assert change.entries[0].details["earning_rules"][0]["points"] == 25
    signup = engine.earn_fixed(
        club, account, engine.signup_rules(club, NOW), key="signup", now=NOW, source="signup", details={}
    )
    assert signup.account.balance == 100


def test_tier_multipliers_and_custom_points_apply_to_the_members_tier() -> None:
    club = with_rules(program(), ORDER_RULE, {"event": "review_left", "loyalty": {"type": "FIXED", "points": 25}})
    review_rule = club.earning_rules[1]
    club = with_tiers(
        club,
        {"name": "Bronze", "points": {"from": 0}},
        {"name": "Gold", "points": {"from": 50}, "perkflow": {"multiplier": "1.5"},
         "earning_rules": {review_rule.id: {"type": "CUSTOM", "points": 40}}},
    )  # fmt: skip
    account = member(club)
    first = earn_order(club, account, order(54.99, shipping=4.99))  # 50 points, reaches Gold
    assert first.account.tier_id == club.tiers[1].id
    second = earn_order(club, first.account, order(33, order_id="ORD-2"))  # 33 * 1.5 floored
    assert second.account.balance - first.account.balance == 49
    review = engine.earn_fixed(club, second.account, [review_rule], key="event:r", now=NOW, source="event", details={})
    assert review.account.balance - second.account.balance == 40


def test_a_rule_for_one_tier_applies_only_to_its_members() -> None:
    club = with_tiers(program(), {"name": "Bronze", "points": {"from": 0}}, {"name": "Gold", "points": {"from": 1000}})
    gold = club.tiers[1]
    club = with_rules(
        club, {"event": "review_left", "loyalty": {"type": "FIXED", "points": 5}, "loyalty_tier": {"id": gold.id}}
    )
    account = member(club)
    change = engine.earn_fixed(
        club, account, list(club.earning_rules), key="event:x", now=NOW, source="event", details={}
    )
    assert change.account.balance == 0
    assert change.entries == []


def test_pending_points_wait_their_days_then_activate_once() -> None:
    club = with_rules(program(), {**ORDER_RULE, "pending_points": {"period_type": "DAY", "period_value": 7}})
    change = earn_order(club, member(club), order(20))
    account = change.account
    assert (account.balance, account.pending_points) == (0, 20)
    assert [entry.type for entry in change.entries] == ["PENDING_POINTS_ADDITION", "POINTS_ACCRUAL"]
    assert schedule.next_due(club, account, NOW.date()) == NOW.date() + timedelta(days=7)
    early = schedule.advance(club, account, NOW.date() + timedelta(days=6), NOW)
    assert early.account.balance == 0
    on_day = schedule.advance(club, account, NOW.date() + timedelta(days=7), NOW + timedelta(days=7))
    assert (on_day.account.balance, on_day.account.pending_points) == (20, 0)
    activation = on_day.entries[0]
    assert (activation.type, activation.points, activation.pending) == ("PENDING_POINTS_ACTIVATION", 20, -20)
    again = schedule.advance(club, on_day.account, NOW.date() + timedelta(days=7), NOW + timedelta(days=7))
    assert again.entries == []


def test_only_order_rules_keep_points_pending() -> None:
    with pytest.raises(InvalidEarningRule):
        EarningRule.create(
            EarningRuleRequest.parse(
                {
                    "event": "review_left",
                    "loyalty": {"type": "FIXED", "points": 1},
                    "pending_points": {"period_value": 3},
                }
            ),
            NOW,
        )


def test_a_refund_reverses_what_the_order_earned_and_cancels_its_pending_points() -> None:
    club = with_rules(
        program(),
        ORDER_RULE,
        {
            **ORDER_RULE,
            "loyalty": {**ORDER_RULE["loyalty"]},
            "pending_points": {"period_type": "DAY", "period_value": 3},
        },
    )
    earned = earn_order(club, member(club), order(40))
    order_entry = next(entry for entry in earned.entries if entry.key == "order:ORD-1")
    assert (earned.account.balance, earned.account.pending_points) == (40, 40)
    refund = engine.reverse_order(club, earned.account, order_entry, "ORD-1", now=NOW, why="Order Refunded")
    assert (refund.account.balance, refund.account.pending_points) == (0, 0)
    assert refund.account.metrics.lifetime_points == 0
    assert refund.account.metrics.lifetime_cents == 0
    assert {entry.type for entry in refund.entries} == {"PENDING_POINTS_CANCELLATION", "POINTS_REMOVAL"}
    assert refund.account.consistent()


def test_a_refund_after_activation_removes_the_activated_points_too() -> None:
    club = with_rules(program(), {**ORDER_RULE, "pending_points": {"period_type": "DAY", "period_value": 1}})
    earned = earn_order(club, member(club), order(30))
    order_entry = next(entry for entry in earned.entries if entry.key == "order:ORD-1")
    activated = schedule.advance(club, earned.account, NOW.date() + timedelta(days=1), NOW + timedelta(days=1))
    assert activated.account.balance == 30
    refund = engine.reverse_order(club, activated.account, order_entry, "ORD-1", now=NOW, why="Order Cancelled")
    assert refund.account.balance == 0


def test_a_refund_never_takes_the_balance_below_zero() -> None:
    club = with_rules(program(), ORDER_RULE)
    earned = earn_order(club, member(club), order(100))
    spent = engine.adjust(
        club, earned.account, -80, key="adjust:x", now=NOW, reason=None, expiration_type=None, expiration_date=None
    )
    refund = engine.reverse_order(club, spent.account, earned.entries[-1], "ORD-1", now=NOW, why="Order Refunded")
    assert refund.account.balance == 0
    assert refund.entries[-1].points == -20
    assert refund.entries[-1].details["not_recovered"] == 80


def test_an_order_refunded_before_it_was_seen_earns_nothing() -> None:
    club = with_rules(program(), ORDER_RULE)
    account = member(club)
    tombstone = engine.reverse_order(club, account, None, "ORD-9", now=NOW, why="Order Refunded")
    assert tombstone.entries[0].key == "reverse:ORD-9"
    assert tombstone.entries[0].points == 0
    late = engine.earn_order(
        club, tombstone.account, completed_order(order(50, "ORD-9")), key="order:ORD-9", now=NOW, details={},
        reversed_already=True,
    )  # fmt: skip
    assert late.account.balance == 0


def test_manual_adjustments_add_with_expiry_choices_and_never_overdraw() -> None:
    club = program({"expiry": {"type": "rolling", "days": 30}})
    account = member(club)
    added = engine.adjust(
        club, account, 70, key="adjust:a", now=NOW, reason="goodwill", expiration_type=None, expiration_date=None
    )
    assert added.account.lots == {(NOW.date() + timedelta(days=30)).isoformat(): 70}
    forever = engine.adjust(
        club, account, 5, key="adjust:b", now=NOW, reason=None, expiration_type="NON_EXPIRING", expiration_date=None
    )
    assert forever.account.lots == {"never": 5}
    with pytest.raises(PointsExceeded):
        engine.adjust(
            club, added.account, -71, key="adjust:c", now=NOW, reason=None, expiration_type=None, expiration_date=None
        )
    removed = engine.adjust(
        club, added.account, -70, key="adjust:d", now=NOW, reason=None, expiration_type=None, expiration_date=None
    )
    assert removed.account.balance == 0
    assert removed.entries[0].type == "POINTS_REMOVAL"


def test_the_multiplier_is_floored_to_whole_points() -> None:
    from perkflow.domain.loyalty.rules import multiplied

    assert multiplied(33, Decimal("1.5")) == 49
    assert multiplied(1, Decimal("0.99")) == 0

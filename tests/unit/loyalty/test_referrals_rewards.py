"""Referrals (rewards, fraud refusals), reward redemption and fulfillment, what every change announces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from perkflow.domain.events import CustomerRef, LoyaltyPointsEarned, LoyaltyPointsExpiring, LoyaltyTierAchieved
from perkflow.domain.loyalty import announce, engine, referrals, schedule
from perkflow.domain.loyalty.errors import InvalidProgram, PointsExceeded
from perkflow.domain.loyalty.storage import prepare
from perkflow.domain.promotions.common import parse
from tests.unit.loyalty.factories import (
    JIM,
    MICHAEL,
    NOW,
    ORDER_RULE,
    earn_order,
    member,
    order,
    program,
    with_reward,
    with_rules,
    with_tiers,
)

REFERRING: dict[str, Any] = {
    "shop_domain": "dundermifflin.com",
    "referral": {"enabled": True, "friend": {"trigger": "signup", "points": 50}, "advocate": {"points": 100}},
}


def test_members_get_a_referral_code_and_the_url_from_the_template() -> None:
    club = program(REFERRING)
    advocate = member(club)
    assert advocate.referral_code
    assert engine.referral_url(club, advocate) == f"https://dundermifflin.com/r/{advocate.referral_code}"
    custom = program(
        {**REFERRING, "referral": {**REFERRING["referral"], "url_template": "https://x.io/invite?c={code}"}}
    )
    assert str(engine.referral_url(custom, member(custom))).startswith("https://x.io/invite?c=")
    with pytest.raises(InvalidProgram):
        program({"referral": {"enabled": True, "url_template": "https://x.io/invite"}})


def test_the_friend_is_rewarded_on_sign_up_and_the_advocate_on_completion() -> None:
    club = program(REFERRING)
    advocate, friend = member(club), member(club, JIM)
    assert referrals.refusal(club, advocate, JIM, friend, already_referred=False, advocate_referrals=0) is None
    referral = referrals.started(club, advocate, JIM, NOW)
    friend_change = referrals.reward_friend(club, friend, referral, NOW)
    assert friend_change.account.balance == 50
    started = [n for n in friend_change.notices if n.kind == "referral_started"]
    assert started[0].data["referral_url"] == referral.url
    advocate_change = referrals.reward_advocate(club, advocate, referral, NOW)
    assert advocate_change.account.balance == 100
    assert advocate_change.account.referrals_completed == 1
    assert advocate_change.entries[0].key == f"referral-advocate:{JIM.id}"
    events = announce.notice_events(club, advocate_change.account, advocate_change.notices[-1])
    assert events[0].DETAIL_TYPE == "loyalty.referral.completed"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("self", "self_referral"),
        ("same_email", "self_referral"),
        ("repeat", "already_referred"),
        ("not_new", "not_a_new_customer"),
        ("unknown", "unknown_code"),
        ("limit", "limit_reached"),
    ],
)
def test_fraud_and_repeats_are_refused(case: str, expected: str) -> None:
    club = program({**REFERRING, "referral": {**REFERRING["referral"], "max_per_advocate": 2}})
    advocate = member(club)
    friend = JIM
    friend_account = None
    already, count = False, 0
    if case == "self":
        friend = MICHAEL
    elif case == "same_email":
        friend = CustomerRef(id="cust_other", source_id="other", email="MICHAEL@dundermifflin.com ")
    elif case == "repeat":
        already = True
    elif case == "not_new":
        friend_account = member(club, JIM).model_copy(update={"orders": 1})
    elif case == "limit":
        count = 2
    chosen = None if case == "unknown" else advocate
    assert (
        referrals.refusal(club, chosen, friend, friend_account, already_referred=already, advocate_referrals=count)
        == expected
    )


def test_a_program_without_referrals_refuses_every_code() -> None:
    club = program()
    assert (
        referrals.refusal(club, member(club), JIM, None, already_referred=False, advocate_referrals=0) == "unknown_code"
    )


def test_redeeming_spends_exactly_the_price_and_owes_the_reward() -> None:
    club = with_reward(with_rules(program(), ORDER_RULE), "$5 off", 40)
    reward = club.rewards[0]
    account = earn_order(club, member(club), order(100)).account
    change = engine.redeem(club, account, reward, redemption_id="r_1", points=None, now=NOW, metadata={})
    assert change.account.balance == 60
    assert change.entries[0].type == "POINTS_REDEMPTION"
    assert [owed.id for owed in change.fulfillments] == ["r_1"]
    poorer = change.account.model_copy(update={"balance": 30, "lots": {"never": 30}, "added": 130, "spent": 100})
    with pytest.raises(PointsExceeded):
        engine.redeem(club, poorer, reward, redemption_id="r_2", points=None, now=NOW, metadata={})
    done = engine.fulfilled(
        club, change.account, "r_1", reward, code="SAVE5-AB", expires_at=None, voucher_id="v_1", now=NOW
    )
    assert done.account.unfulfilled == {}
    redeemed = announce.notice_events(club, done.account, done.notices[0])[0]
    assert redeemed.DETAIL_TYPE == "loyalty.points.redeemed"
    assert redeemed.model_dump()["code"] == "SAVE5-AB"
    assert redeemed.model_dump()["balance"] == 60
    assert redeemed.model_dump()["points"] == 40


def test_a_reward_that_cannot_be_issued_gives_the_points_back() -> None:
    club = with_reward(with_rules(program({"expiry": {"type": "rolling", "days": 30}}), ORDER_RULE), "$5 off", 40)
    account = earn_order(club, member(club), order(100)).account
    change = engine.redeem(club, account, club.rewards[0], redemption_id="r_1", points=None, now=NOW, metadata={})
    failed = engine.unfulfillable(change.account, "r_1", change.entries[0], now=NOW, why="no codes left")
    assert failed.account.balance == 100
    assert failed.account.lots == account.lots  # back into the buckets they came from
    assert failed.account.consistent()
    assert failed.entries[0].type == "POINTS_REFUND"


def test_tier_prices_of_rewards() -> None:
    club = with_reward(program(), "$5 off", 40)
    reward = club.rewards[0]
    club = with_tiers(
        club, {"name": "Gold", "points": {"from": 0}, "rewards": {reward.id: {"type": "CUSTOM", "points": 25}}}
    )
    assert engine.reward_price(club, member(club), reward) == 25


def test_events_carry_the_change_and_the_state_after_it_with_stable_ids() -> None:
    club = with_tiers(
        with_rules(program({**REFERRING, "expiry": {"type": "rolling", "days": 30}}), ORDER_RULE),
        {"name": "Bronze", "points": {"from": 0}},
        {"name": "Gold", "points": {"from": 40}},
    )
    account = member(club)
    change = earn_order(club, account, order(54.99, shipping=4.99))
    write = prepare(club, change, NOW.date())
    earned = [event for _, announced in write.entries for event in announced.events]
    assert len(earned) == 1
    assert isinstance(earned[0], LoyaltyPointsEarned)
    assert (earned[0].points, earned[0].balance, earned[0].source) == (50, 50, "order")
    assert earned[0].order is not None
    assert earned[0].order.id == "ORD-1"
    assert earned[0].expires_at == datetime(2026, 12, 25, 0, 0, tzinfo=UTC)
    assert earned[0].referral_url == engine.referral_url(club, account)
    tiers = [event for _, announced in write.notices for event in announced.events]
    assert isinstance(tiers[0], LoyaltyTierAchieved)
    assert (tiers[0].tier.name, tiers[0].direction) == ("Gold", "up")
    assert [announced.activity.type for _, announced in write.entries] == ["customer.rewarded.loyalty_points"]
    assert [announced.activity.type for _, announced in write.notices] == ["customer.loyalty.tier.upgraded"]
    again = prepare(club, change, NOW.date())
    assert [e.event_id for _, a in again.entries for e in a.events] == [e.event_id for e in earned]
    assert write.profile["points"] == 50
    assert write.profile["tier_name"] == "Gold"
    assert write.profile["tier_rank"] == 1
    reminder = schedule.advance(club, change.account, NOW.date().replace(day=25 + 0), NOW)
    expiring = [
        event for notice in reminder.notices for event in announce.notice_events(club, reminder.account, notice)
    ]
    assert isinstance(expiring[0], LoyaltyPointsExpiring)
    assert expiring[0].reminder_days == 30


def test_perkflow_settings_are_validated() -> None:
    from perkflow.domain.loyalty.program import PerkflowSettings

    with pytest.raises(InvalidProgram):
        program({"timezone": "Mars/Olympus"})
    with pytest.raises(InvalidProgram):
        program({"expiry": {"type": "rolling"}})
    settings = parse(PerkflowSettings, {"reminders": [7, 30, 7]}, InvalidProgram, "x")
    assert settings.reminders == (30, 7)

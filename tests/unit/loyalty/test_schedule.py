"""The daily work: expiry with reminders, inactivity, tier reviews, birthdays, reward-code reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from perkflow.domain.loyalty import calendar, engine, schedule
from perkflow.domain.loyalty.engine import Change
from perkflow.domain.loyalty.ledger import Account, IssuedCode
from perkflow.domain.loyalty.program import LoyaltyProgram
from tests.unit.loyalty.factories import NOW, ORDER_RULE, earn_order, member, order, program, with_rules, with_tiers


def run_days(
    club: LoyaltyProgram, account: Account, first: date, last: date
) -> tuple[Account, list[tuple[date, Change]]]:
    """Advance day by day, as the hourly schedule does once per local day; what each day did."""
    log = []
    day = first
    while day <= last:
        change = schedule.advance(club, account, day, datetime.combine(day, datetime.min.time(), tzinfo=UTC))
        account = change.account
        if change.entries or change.notices:
            log.append((day, change))
        day += timedelta(days=1)
    return account, log


def test_rolling_expiry_with_both_reminders_on_their_days_and_none_twice() -> None:
    club = with_rules(program({"expiry": {"type": "rolling", "days": 60}, "reminders": [30, 7]}), ORDER_RULE)
    account = earn_order(club, member(club), order(80)).account
    expires_on = NOW.date() + timedelta(days=60)
    assert account.lots == {expires_on.isoformat(): 80}
    account, log = run_days(club, account, NOW.date(), expires_on + timedelta(days=3))
    what = [(day, [n.kind for n in change.notices], [e.type for e in change.entries]) for day, change in log]
    assert what == [
        (expires_on - timedelta(days=30), ["expiring"], []),
        (expires_on - timedelta(days=7), ["expiring"], []),
        (expires_on + timedelta(days=1), [], ["POINTS_EXPIRATION"]),
    ]
    warnings = [change.notices[0] for _, change in log[:2]]
    assert [(n.data["reminder_days"], n.data["points"], n.data["expires_on"]) for n in warnings] == [
        (30, 80, expires_on.isoformat()),
        (7, 80, expires_on.isoformat()),
    ]
    assert warnings[0].data["expires_at"] == calendar.expiry_instant(expires_on, "UTC").isoformat()
    assert (account.balance, account.expired) == (0, 80)
    # Running a day twice (a replayed hourly run) announces nothing more.
    again = schedule.advance(club, log[0][1].account, log[0][0], NOW)
    assert again.notices == []


def test_a_late_catch_up_sends_only_the_most_urgent_reminder() -> None:
    club = with_rules(program({"expiry": {"type": "rolling", "days": 60}}), ORDER_RULE)
    account = earn_order(club, member(club), order(10)).account
    expires_on = NOW.date() + timedelta(days=60)
    change = schedule.advance(club, account, expires_on - timedelta(days=5), NOW)
    assert [(n.kind, n.data["reminder_days"], n.data["days_left"]) for n in change.notices] == [("expiring", 7, 5)]
    assert schedule.advance(club, change.account, expires_on - timedelta(days=2), NOW).notices == []


def test_expiry_rounds_up_to_the_end_of_the_month_and_expires_in_the_program_zone() -> None:
    club = with_rules(
        program({"timezone": "America/New_York", "expiry": {"type": "rolling", "months": 1, "round_to": "month"}}),
        ORDER_RULE,
    )
    # 02:00 UTC on 1 December is still 30 November in New York.
    late = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    account = earn_order(club, member(club), order(10), now=late).account
    assert account.lots == {"2026-12-31": 10}
    assert calendar.expiry_instant(date(2026, 12, 31), club.zone) == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)


def test_voucherify_expiration_rules_are_a_rolling_policy_in_months() -> None:
    club = program(
        voucher={
            "loyalty_card": {
                "expiration_rules": {"period_type": "MONTH", "period_value": 3, "rounding_type": "END_OF_QUARTER"}
            }
        }
    )
    assert club.settings.expiry.type == "rolling"
    assert club.settings.expiry.expires_on(date(2026, 11, 24)) == date(2027, 3, 31)
    assert club.expiration_rules() == {
        "period_type": "MONTH",
        "period_value": 3,
        "rounding_type": "END_OF_QUARTER",
        "rounding_value": None,
    }


def test_the_inactivity_rule_expires_the_whole_balance_and_spending_resets_the_clock() -> None:
    club = with_rules(program({"expiry": {"type": "inactivity", "days": 30}, "reminders": [7]}), ORDER_RULE)
    account = earn_order(club, member(club), order(50)).account
    assert account.lots == {"never": 50}
    # A spend on day 20 restarts the 30 days.
    day20 = NOW + timedelta(days=20)
    account = engine.adjust(
        club, account, 50, key="adjust:more", now=day20, reason=None, expiration_type=None, expiration_date=None
    ).account
    account, log = run_days(club, account, NOW.date(), NOW.date() + timedelta(days=60))
    expires_on = day20.date() + timedelta(days=30)
    assert [(day, [n.kind for n in c.notices], [e.type for e in c.entries]) for day, c in log] == [
        (expires_on - timedelta(days=7), ["expiring"], []),
        (expires_on + timedelta(days=1), [], ["POINTS_EXPIRATION"]),
    ]
    assert log[0][1].notices[0].data["points"] == 100
    assert account.balance == 0


def tiered(downgrade: str, window: str = "lifetime", **settings: object) -> LoyaltyProgram:
    club = program({"tiers": {"basis": "points_earned", "window": window, "downgrade": downgrade, **settings}})
    club = with_rules(club, ORDER_RULE)
    return with_tiers(
        club,
        {"name": "Bronze", "points": {"from": 0}},
        {"name": "Silver", "points": {"from": 100}},
        {"name": "Gold", "points": {"from": 300}},
    )


def tier_name(club: LoyaltyProgram, account: Account) -> str | None:
    return club.tier(account.tier_id).name if account.tier_id else None


def test_upgrades_are_immediate_and_announced_once() -> None:
    club = tiered("never")
    account = member(club)
    assert tier_name(club, account) == "Bronze"
    change = earn_order(club, account, order(350))
    assert tier_name(club, change.account) == "Gold"
    assert [(n.data["tier"]["name"], n.data["previous_tier"]["name"], n.data["direction"]) for n in change.notices] == [
        ("Gold", "Bronze", "up")
    ]


def test_rolling_window_to_qualified_downgrades_when_points_fall_out_of_the_window() -> None:
    club = tiered("to_qualified", window="rolling", rolling_days=30)
    account = earn_order(club, member(club), order(150)).account
    assert tier_name(club, account) == "Silver"
    due = schedule.next_due(club, account, NOW.date())
    assert due == NOW.date() + timedelta(days=30)
    account, log = run_days(club, account, NOW.date(), NOW.date() + timedelta(days=40))
    assert [
        (day, change.notices[0].data["tier"]["name"], change.notices[0].data["direction"]) for day, change in log
    ] == [(NOW.date() + timedelta(days=30), "Bronze", "down")]


def test_never_keeps_the_tier() -> None:
    club = tiered("never", window="rolling", rolling_days=30)
    account = earn_order(club, member(club), order(150)).account
    account, log = run_days(club, account, NOW.date(), NOW.date() + timedelta(days=90))
    assert log == []
    assert tier_name(club, account) == "Silver"


def test_calendar_year_tiers_are_kept_through_the_following_year_then_reviewed_at_period_end() -> None:
    club = tiered("period_end", window="calendar_year")
    account = earn_order(club, member(club), order(350)).account  # 2026: Gold
    assert schedule.next_due(club, account, NOW.date()) == date(2027, 1, 1)
    kept = schedule.advance(club, account, date(2027, 1, 1), NOW)
    assert tier_name(club, kept.account) == "Gold"  # 2026 still counts through 2027
    assert kept.notices == []
    dropped = schedule.advance(club, kept.account, date(2028, 1, 1), NOW)
    assert [n.data["tier"]["name"] for n in dropped.notices] == ["Bronze"]


def test_one_step_goes_down_one_tier_per_period() -> None:
    club = tiered("one_step", window="calendar_year")
    account = earn_order(club, member(club), order(350)).account
    first = schedule.advance(club, account, date(2028, 1, 1), NOW)
    assert tier_name(club, first.account) == "Silver"
    second = schedule.advance(club, first.account, date(2029, 1, 1), NOW)
    assert tier_name(club, second.account) == "Bronze"


def test_a_manual_tier_is_a_floor() -> None:
    club = tiered("to_qualified", window="rolling", rolling_days=30)
    gold = club.tiers[2]
    account = engine.set_floor(club, member(club), gold.id, NOW).account
    assert tier_name(club, account) == "Gold"
    account, log = run_days(club, account, NOW.date(), NOW.date() + timedelta(days=40))
    assert tier_name(club, account) == "Gold"
    assert log == []


def test_a_refund_lowers_the_metric_and_to_qualified_reviews_it_the_next_day() -> None:
    club = tiered("to_qualified")
    earned = earn_order(club, member(club), order(150))
    refund = engine.reverse_order(club, earned.account, earned.entries[-1], "ORD-1", now=NOW, why="Order Refunded")
    assert tier_name(club, refund.account) == "Silver"  # not at once
    assert schedule.next_due(club, refund.account, NOW.date()) == NOW.date() + timedelta(days=1)
    review = schedule.advance(club, refund.account, NOW.date() + timedelta(days=1), NOW)
    assert tier_name(club, review.account) == "Bronze"


def test_amount_spent_tiers_count_order_totals_in_cents() -> None:
    club = program({"tiers": {"basis": "amount_spent"}})
    club = with_tiers(
        with_rules(club, ORDER_RULE),
        {"name": "Regular", "points": {"from": 0}},
        {"name": "VIP", "points": {"from": 10000}},
    )
    account = earn_order(club, member(club), order(60, shipping=5)).account
    assert tier_name(club, account) == "Regular"
    account = earn_order(club, account, order(40, order_id="ORD-2")).account
    assert tier_name(club, account) == "VIP"  # 6000 + 4000 cents, shipping included


@pytest.mark.parametrize(
    ("birthdate", "days_before", "issued_on"),
    [("1964-03-15", 0, date(2027, 3, 15)), ("1964-03-15", 3, date(2027, 3, 12)), ("1988-02-29", 0, date(2027, 2, 28))],
)
def test_birthday_points_once_a_year_on_the_day_or_days_before(
    birthdate: str, days_before: int, issued_on: date
) -> None:
    club = with_rules(
        program({"birthday": {"days_before": days_before}}),
        {"event": "customer.birthday", "loyalty": {"type": "FIXED", "points": 200}},
    )
    account = member(club, birthdate=birthdate)
    assert schedule.next_due(club, account, NOW.date()) == issued_on
    account, log = run_days(club, account, NOW.date(), issued_on + timedelta(days=10))
    assert [day for day, _ in log] == [issued_on]
    change = log[0][1]
    assert change.entries[0].key == f"birthday:{issued_on.year}"
    assert change.entries[0].details["earn_source"] == "birthday"
    assert [n.kind for n in change.notices] == ["reward_issued"]
    assert account.balance == 200
    assert account.birthday_year == issued_on.year
    month, day_of_month = int(birthdate[5:7]), int(birthdate[8:10])
    next_year = calendar.anniversary(month, day_of_month, issued_on.year + 1) - timedelta(days=days_before)
    assert schedule.next_due(club, account, issued_on + timedelta(days=10)) == next_year


def test_a_birthday_reward_code_is_owed_until_issued() -> None:
    from tests.unit.loyalty.factories import with_reward

    club = with_reward(program(), "Birthday cake", None)
    club = club.model_copy(
        update={
            "settings": club.settings.model_copy(
                update={"birthday": club.settings.birthday.model_copy(update={"reward_id": club.rewards[0].id})}
            )
        }
    )
    account = member(club, birthdate="1964-11-25")
    change = schedule.advance(club, account, date(2026, 11, 25), NOW)
    assert [owed.reason for owed in change.fulfillments] == ["birthday"]
    assert change.notices == []  # announced when the code is issued


def test_reward_codes_are_reminded_before_they_expire_once() -> None:
    club = program({"reward_reminder_days": 3})
    account = member(club)
    expires = datetime(2026, 12, 10, 12, tzinfo=UTC)
    account = account.model_copy(
        update={
            "codes": {
                "r1": IssuedCode(
                    fulfillment_id="r1", reward_id="rew_1", name="$5 off", code="SAVE-5", expires_at=expires
                )
            }
        }
    )
    assert schedule.next_due(club, account, NOW.date()) == date(2026, 12, 7)
    account, log = run_days(club, account, NOW.date(), date(2026, 12, 20))
    assert [(day, change.notices[0].kind, change.notices[0].data["code"]) for day, change in log] == [
        (date(2026, 12, 7), "reward_expiring", "SAVE-5")
    ]
    assert account.codes == {}


def test_nothing_due_means_no_schedule_entry() -> None:
    club = with_rules(program(), ORDER_RULE)
    account = earn_order(club, member(club), order(10)).account
    assert schedule.next_due(club, account, NOW.date()) is None

"""The daily work on a member, once per program-local day, and when that member is next due.

:func:`advance` brings an account up to the local day ``today`` in Voucherify's midnight order (activate
pending points, review tiers, expire points, then remind), plus birthdays and reward-code reminders. Everything
it does is keyed by the day or date it concerns, so running it twice for the same day, or catching up several
days at once, announces each thing once:

- pending points whose ``activates_on`` has come are activated;
- a tier is reviewed against the downgrade policy (:mod:`.tiers`);
- buckets whose expiry date has passed expire (``expire:<date>``); under the inactivity policy the whole
  balance expires once ``last_activity_on + days`` has passed;
- for points that expire on E, the reminder of offset k is due on E - k; only the most urgent reminder that
  is due is sent (a member the schedule catches up late gets one warning, not a burst), and a reminder is
  never sent twice for the same date (``warned``);
- the birthday reward is issued from ``days_before`` days before the birthday through the day itself, once per
  year (``birthday:<year>``);
- a reward code's ``loyalty.reward.expiring`` goes out ``reward_reminder_days`` before the code expires.

:func:`next_due` is the earliest later day on which any of that can happen (None: never); storage files the
member under that day in the schedule index.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from perkflow.domain.ids import stable_id
from perkflow.domain.loyalty import calendar, engine, ledger
from perkflow.domain.loyalty.engine import Change, Notice
from perkflow.domain.loyalty.ledger import Account, Fulfillment
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.loyalty.tiers import next_review, rank_of, review_target

MAX_ENTRIES_PER_DAY = 40  # a catch-up that has more to do finishes in the next pass of the same day


def advance(program: LoyaltyProgram, account: Account, today: date, now: datetime) -> Change:
    change = Change(before=account, account=account)
    for pending in sorted(account.pending.values(), key=lambda item: (item.activates_on, item.id)):
        if pending.activates_on <= today.isoformat() and len(change.entries) < MAX_ENTRIES_PER_DAY:
            engine.activate(program, change, pending.id, now)
    _review_tier(program, change, today, now)
    _expire(program, change, today, now)
    _remind(program, change, today, now)
    _birthday(program, change, today, now)
    _reward_reminders(program, change, today, now)
    return change


# -- tiers --------------------------------------------------------------------------------------------------------


def _period_over(program: LoyaltyProgram, since: date, today: date) -> bool:
    settings = program.settings.tiers
    if settings.window == "calendar_year":
        return since.year < today.year
    if settings.window == "rolling":
        return today >= since + timedelta(days=settings.rolling_days)
    return False


def _review_tier(program: LoyaltyProgram, change: Change, today: date, now: datetime) -> None:
    tiers = list(program.tiers)
    account = change.account
    current = rank_of(tiers, account.tier_id)
    if current < 0:
        return
    since = calendar.parse_day(account.tier_since) if account.tier_since else account.joined_at.date()
    settings = program.settings.tiers
    period_over = _period_over(program, since, today)
    metric = account.metrics.for_review(settings, today)
    floor = rank_of(tiers, account.floor_tier_id)
    target = review_target(settings, tiers, current, floor, metric, period_over)
    if target < current:
        engine.move_tier(program, change, target, now, f"review:{today.isoformat()}")
    elif period_over:
        change.account = change.account.model_copy(update={"tier_since": today.isoformat()})  # prolonged


# -- expiry and reminders -------------------------------------------------------------------------------------


def inactivity_expiry(program: LoyaltyProgram, account: Account) -> date | None:
    expiry = program.settings.expiry
    if expiry.type != "inactivity" or account.last_activity_on is None or account.balance <= 0:
        return None
    return calendar.parse_day(account.last_activity_on) + timedelta(days=int(expiry.days or 0))


def _expire(program: LoyaltyProgram, change: Change, today: date, now: datetime) -> None:
    day = today.isoformat()
    for bucket in sorted(change.account.lots):
        if bucket != calendar.NEVER and bucket < day and len(change.entries) < MAX_ENTRIES_PER_DAY:
            account, entry = ledger.expire(change.account, bucket, key=f"expire:{bucket}", now=now)
            change.add(account, entry)
    inactive_until = inactivity_expiry(program, change.account)
    if inactive_until is not None and inactive_until < today:
        account, entry = ledger.expire_all(
            change.account,
            key=f"expire-inactive:{inactive_until.isoformat()}",
            now=now,
            reason=f"no points earned or spent for {program.settings.expiry.days} days",
        )
        change.add(account, entry.model_copy(update={"details": {"expires_on": inactive_until.isoformat()}}))


def expiring(program: LoyaltyProgram, account: Account, today: date) -> list[tuple[date, int]]:
    """(expiry date, points) of everything that will expire, soonest first."""
    found = [
        (calendar.parse_day(bucket), points)
        for bucket, points in account.lots.items()
        if bucket != calendar.NEVER and bucket >= today.isoformat() and points > 0
    ]
    inactive_until = inactivity_expiry(program, account)
    if inactive_until is not None and inactive_until >= today:
        found.append((inactive_until, account.balance))
    return sorted(found)


def _remind(program: LoyaltyProgram, change: Change, today: date, now: datetime) -> None:
    offsets = program.settings.reminders
    warned = {key: value for key, value in change.account.warned.items() if key >= today.isoformat()}
    for expires_on, points in expiring(program, change.account, today):
        days_left = (expires_on - today).days
        due = [offset for offset in offsets if offset >= days_left]
        if not due:
            continue
        offset = min(due)
        key = expires_on.isoformat()
        if key in warned and warned[key] <= offset:
            continue
        warned[key] = offset
        change.notices.append(
            Notice(
                key=f"expiring:{key}:{offset}",
                kind="expiring",
                created_at=now,
                data={
                    "points": points,
                    "expires_on": key,
                    "expires_at": calendar.expiry_instant(expires_on, program.zone).isoformat(),
                    "reminder_days": offset,
                    "days_left": days_left,
                },
            )
        )
    if warned != change.account.warned:
        change.account = change.account.model_copy(update={"warned": warned})


def _next_reminder(offsets: tuple[int, ...], expires_on: date, sent: int | None, today: date) -> date | None:
    days = [expires_on - timedelta(days=offset) for offset in offsets if sent is None or offset < sent]
    later = [day for day in days if day > today]
    return min(later) if later else None


# -- birthdays ------------------------------------------------------------------------------------------------------


def _birthday_parts(birthdate: str | None) -> tuple[int, int] | None:
    if not birthdate or len(birthdate) < 5:
        return None
    try:
        month, day = int(birthdate[-5:-3]), int(birthdate[-2:])
        calendar.anniversary(month, day, 2000)
    except ValueError:
        return None
    return month, day


def birthday_window(program: LoyaltyProgram, account: Account, year: int) -> tuple[date, date] | None:
    parts = _birthday_parts(account.birthdate)
    if parts is None:
        return None
    birthday = calendar.anniversary(parts[0], parts[1], year)
    return birthday - timedelta(days=program.settings.birthday.days_before), birthday


def _birthday(program: LoyaltyProgram, change: Change, today: date, now: datetime) -> None:
    if not program.celebrates_birthdays():
        return
    account = change.account
    for year in (today.year, today.year + 1):
        window = birthday_window(program, account, year)
        if window is None or not window[0] <= today <= window[1]:
            continue
        if account.birthday_year is not None and account.birthday_year >= year:
            continue
        issue_birthday(program, change, year, now)
        return


def issue_birthday(program: LoyaltyProgram, change: Change, year: int, now: datetime) -> None:
    key = f"birthday:{year}"
    rules = engine.applicable(program, change.account, program.birthday_rules(now))
    points = sum(engine.rule_points(program, change.account, rule, rule.base_points()) for rule in rules)
    if rules:
        earned = engine.earn_fixed(
            program, change.account, rules, key=key, now=now, source="birthday", details={"birthday_year": year}
        )
        change.account = earned.account
        change.entries += earned.entries
        change.notices += earned.notices
    change.account = change.account.model_copy(update={"birthday_year": year})
    reward = program.find_reward(program.settings.birthday.reward_id)
    if reward is not None:
        owed = Fulfillment(
            id=stable_id("lrf_", program.id, change.account.customer_id, key),
            reward_id=reward.id,
            reason="birthday",
            created_at=now,
            context={"birthday_year": year, "points": points},
        )
        change.account = engine.owe(change.account, owed)
    elif points:
        change.notices.append(
            Notice(
                key=f"reward:{key}",
                kind="reward_issued",
                created_at=now,
                data={
                    "reason": "birthday",
                    "points": points,
                    "reward": {"id": f"birthday-points-{year}", "name": f"{points} birthday points", "type": "POINTS"},
                },
            )
        )


def _next_birthday(program: LoyaltyProgram, account: Account, today: date) -> date | None:
    if not program.celebrates_birthdays():
        return None
    for year in (today.year, today.year + 1, today.year + 2):
        window = birthday_window(program, account, year)
        if window is None:
            return None
        if window[1] < today or (account.birthday_year is not None and account.birthday_year >= year):
            continue
        return max(window[0], today + timedelta(days=1))
    return None


# -- reward codes -------------------------------------------------------------------------------------------------


def _reward_reminders(program: LoyaltyProgram, change: Change, today: date, now: datetime) -> None:
    codes = dict(change.account.codes)
    for fulfillment_id, issued in sorted(change.account.codes.items()):
        expires_on = calendar.local_date(issued.expires_at, program.zone)
        if expires_on < today:
            codes.pop(fulfillment_id)  # expired before it could be reminded
            continue
        if today < expires_on - timedelta(days=program.settings.reward_reminder_days):
            continue
        codes.pop(fulfillment_id)
        change.notices.append(
            Notice(
                key=f"reward-expiring:{fulfillment_id}",
                kind="reward_expiring",
                created_at=now,
                data={
                    "reward": {"id": issued.reward_id, "name": issued.name, "type": "CAMPAIGN"},
                    "code": issued.code,
                    "expires_at": issued.expires_at.isoformat(),
                },
            )
        )
    if codes != change.account.codes:
        change.account = change.account.model_copy(update={"codes": codes})


# -- when next ----------------------------------------------------------------------------------------------------


def next_due(program: LoyaltyProgram, account: Account, today: date) -> date | None:
    candidates: list[date] = [calendar.parse_day(item.activates_on) for item in account.pending.values()]
    offsets = program.settings.reminders
    for expires_on, _ in expiring(program, account, today):
        candidates.append(expires_on + timedelta(days=1))
        reminder = _next_reminder(offsets, expires_on, account.warned.get(expires_on.isoformat()), today)
        if reminder is not None:
            candidates.append(reminder)
    stale = [calendar.parse_day(key) for key in account.lots if key != calendar.NEVER and key < today.isoformat()]
    if stale:
        candidates.append(today)
    tiers = list(program.tiers)
    current = rank_of(tiers, account.tier_id)
    if current >= 0:
        since = calendar.parse_day(account.tier_since) if account.tier_since else today
        review = next_review(program.settings.tiers, tiers, account.metrics, current, since, today)
        if review is not None:
            candidates.append(review)
    birthday = _next_birthday(program, account, today)
    if birthday is not None:
        candidates.append(birthday)
    for issued in account.codes.values():
        expires_on = calendar.local_date(issued.expires_at, program.zone)
        candidates.append(max(expires_on - timedelta(days=program.settings.reward_reminder_days), today))
    if account.unfulfilled:
        candidates.append(today + timedelta(days=1))
    return min(candidates) if candidates else None

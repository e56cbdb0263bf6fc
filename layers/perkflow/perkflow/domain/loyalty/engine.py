"""What each trigger does to a member's account: earning, reversal, adjustment, reward redemption, tiers.

Every function here is pure: it takes the program, the member's :class:`Account` and the trigger, and returns a
:class:`Change`: the account after, the ledger entries and notices to append (each under its idempotency key),
and the rewards to issue once the change is stored. Storage writes a Change as one TransactWriteItems (the
account conditionally on the version it was read at, every entry and notice conditionally on its key being
new), so a replayed trigger writes nothing and a concurrent one is re-applied on the fresh account.

Idempotency keys (one member of one program): ``order:<order id>``, ``reverse:<order id>``,
``event:<message id>``, ``segment:<event id>``, ``signup``, ``join``, ``birthday:<year>``,
``redeem:<redemption id>``, ``refund:<redemption id>``, ``adjust:<source id>``, ``activate:<pending id>``,
``expire:<date>``; notices ``tier:...``, ``expiring:<date>:<days>``, ``referral-...``, ``reward:<id>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.events import CustomerRef
from perkflow.domain.ids import new_id, stable_id
from perkflow.domain.loyalty import calendar, ledger
from perkflow.domain.loyalty.errors import InvalidBalance, invalid
from perkflow.domain.loyalty.ledger import Account, Fulfillment, IssuedCode, LedgerEntry
from perkflow.domain.loyalty.orders import Order
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.loyalty.rewards import RewardAssignment
from perkflow.domain.loyalty.rules import ORDER, SIGNUP, EarningRule, multiplied
from perkflow.domain.loyalty.tiers import Tier, ordered, qualified_rank, rank_of
from perkflow.domain.promotions.codes import generate
from perkflow.domain.promotions.common import Instant

NoticeKind = Literal[
    "tier",
    "expiring",
    "referral_started",
    "referral_completed",
    "reward_issued",
    "reward_expiring",
    "redeemed",
]
EarnSource = Literal["order", "event", "segment", "birthday", "referral", "signup", "adjustment"]


class Notice(BaseModel):
    """Something to announce that moves no points (a tier change, a reminder, a reward given)."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: NoticeKind
    created_at: Instant
    data: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Change:
    """An account change and what it appends. ``before`` None: the member is created by it."""

    before: Account | None
    account: Account
    entries: list[LedgerEntry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    @property
    def fulfillments(self) -> list[Fulfillment]:
        before = self.before.unfulfilled if self.before is not None else {}
        return [item for key, item in self.account.unfulfilled.items() if key not in before]

    @property
    def empty(self) -> bool:
        return not self.entries and not self.notices and self.before == self.account

    def add(self, account: Account, entry: LedgerEntry | None = None) -> None:
        self.account = account
        if entry is not None:
            self.entries.append(entry)


# -- members ----------------------------------------------------------------------------------------------------


def member_id(program_id: str, customer_id: str) -> str:
    return stable_id("v_", "loyalty", program_id, customer_id)


def new_account(
    program: LoyaltyProgram,
    customer: CustomerRef,
    now: datetime,
    *,
    birthdate: str | None = None,
    avoid: frozenset[str] = frozenset(),
) -> Account:
    """A member who joins now, with a fresh card code (and referral code when the program refers)."""
    code = generate(program.code_config, 1, avoid=avoid)[0]
    referral_code = None
    if program.settings.referral.enabled:
        referral_code = generate(program.settings.referral.code_config, 1, avoid=avoid)[0]
    return Account(
        program_id=program.id,
        customer=customer,
        member_id=member_id(program.id, customer.id),
        code=code,
        referral_code=referral_code,
        joined_at=now,
        birthdate=birthdate,
    )


def joined(program: LoyaltyProgram, account: Account, now: datetime) -> Change:
    """The change that creates the member: the join points and the base tier, if any."""
    change = Change(before=None, account=account)
    if program.join_points:
        _credit_earned(program, change, key="join", points=program.join_points, now=now, source="signup", details={})
    _upgrade(program, change, now, key="join")
    return change


def referral_url(program: LoyaltyProgram, account: Account) -> str | None:
    return program.referral_url(account.referral_code) if account.referral_code else None


def refreshed(account: Account, customer: CustomerRef, birthdate: str | None) -> Account:
    """The account with the customer's current name, email and birthdate."""
    updates: dict[str, Any] = {}
    merged = CustomerRef(
        id=account.customer.id,
        source_id=customer.source_id or account.customer.source_id,
        email=customer.email or account.customer.email,
        name=customer.name or account.customer.name,
    )
    if merged != account.customer:
        updates["customer"] = merged
    if birthdate and birthdate != account.birthdate:
        updates["birthdate"] = birthdate
    return account.model_copy(update=updates) if updates else account


# -- earning ------------------------------------------------------------------------------------------------------


def current_tier(program: LoyaltyProgram, account: Account) -> Tier | None:
    if account.tier_id is None:
        return None
    return next((tier for tier in program.tiers if tier.id == account.tier_id), None)


def rule_points(program: LoyaltyProgram, account: Account, rule: EarningRule, base: int) -> int:
    """A rule's points for this member: its base points, with the member's tier mapping or multiplier."""
    tier = current_tier(program, account)
    if tier is None:
        return base
    multiplier, custom = tier.multiplier_for(rule.id)
    if custom is not None:
        return custom
    return multiplied(base, multiplier) if multiplier != Decimal(1) else base


def applicable(program: LoyaltyProgram, account: Account, rules: list[EarningRule]) -> list[EarningRule]:
    return [rule for rule in rules if rule.loyalty_tier_id in (None, account.tier_id)]


def expiry_bucket(program: LoyaltyProgram, credited_on: date) -> str:
    expires = program.settings.expiry.expires_on(credited_on)
    return calendar.text(expires) if expires is not None else calendar.NEVER


def count_toward_tier(program: LoyaltyProgram, account: Account, day: date, points: int, cents: int) -> Account:
    if not points and not cents:
        return account
    return account.model_copy(update={"metrics": account.metrics.counted(day, points, cents)})


def _credit_earned(
    program: LoyaltyProgram,
    change: Change,
    *,
    key: str,
    points: int,
    now: datetime,
    source: EarnSource,
    details: dict[str, Any],
    type: ledger.TxnType = "POINTS_ACCRUAL",
    pending: int = 0,
    origin: str = "automation",
) -> LedgerEntry:
    today = program.today(now)
    account = count_toward_tier(program, change.account, today, points, 0)
    account, entry = ledger.credit(
        account,
        key=key,
        points=points,
        bucket=expiry_bucket(program, today),
        now=now,
        type=type,
        active_on=today,
        pending=pending,
        source=origin,
        details={**details, "earn_source": source},
    )
    change.add(account, entry)
    return entry


def earn_fixed(
    program: LoyaltyProgram,
    account: Account,
    rules: list[EarningRule],
    *,
    key: str,
    now: datetime,
    source: EarnSource,
    details: dict[str, Any],
) -> Change:
    """Fixed points from every rule that applies (a custom event, a segment entry, sign-up, a birthday)."""
    change = Change(before=account, account=account)
    chosen = applicable(program, account, rules)
    awarded = [(rule, rule_points(program, account, rule, rule.base_points())) for rule in chosen]
    total = sum(points for _, points in awarded)
    if not awarded:
        return change
    rule_details = {"earning_rules": [{"id": rule.id, "points": points} for rule, points in awarded]}
    _credit_earned(program, change, key=key, points=total, now=now, source=source, details={**details, **rule_details})
    _upgrade(program, change, now, key=key)
    return change


def earn_order(
    program: LoyaltyProgram,
    account: Account,
    order: Order,
    *,
    key: str,
    now: datetime,
    details: dict[str, Any],
    reversed_already: bool = False,
) -> Change:
    """An ``Order Completed``: points from the order rules (some may be pending), the amount spent for tiers,
    one more order for referrals. An order refunded before it was seen earns nothing."""
    change = Change(before=account, account=account)
    today = program.today(now)
    account = account.model_copy(update={"orders": account.orders + 1})
    rules = applicable(
        program, account, [rule for rule in program.earning_rules if rule.kind == ORDER and rule.live(now)]
    )
    active_points = 0
    pending_groups: dict[int, int] = {}
    awarded: list[dict[str, Any]] = []
    if not reversed_already:
        for rule in rules:
            points = rule_points(program, account, rule, rule.base_points(order.base_cents))
            if points <= 0:
                continue
            awarded.append({"id": rule.id, "points": points})
            if rule.pending_days:
                pending_groups[rule.pending_days] = pending_groups.get(rule.pending_days, 0) + points
            else:
                active_points += points
        account = count_toward_tier(program, account, today, 0, order.total_cents)
    change.account = account
    order_details = {
        **details,
        "order": {"id": order.order_id, "source_id": order.order_id},
        "order_base": order.base_cents,
        "order_total": order.total_cents,
        "earning_rules": awarded,
        "reversed_before_earning": reversed_already,
    }
    pending_ids: list[str] = []
    pending_points: dict[str, int] = {}
    for days, points in sorted(pending_groups.items()):
        pending_key = f"{key}:pending:{days}"
        account, entry, item = ledger.add_pending(
            change.account,
            key=pending_key,
            points=points,
            activates_on=date.fromordinal(today.toordinal() + days),
            now=now,
            source={"earn_source": "order", "order": order_details["order"], "order_key": key},
            details=order_details,
        )
        change.add(account, entry)
        pending_ids.append(item.id)
        pending_points[item.id] = item.points
    order_details["pending_ids"] = pending_ids
    order_details["pending_points_by_id"] = pending_points
    _credit_earned(program, change, key=key, points=active_points, now=now, source="order", details=order_details)
    _upgrade(program, change, now, key=key)
    return change


def activate(program: LoyaltyProgram, change: Change, pending_id: str, now: datetime, *, manual: bool = False) -> None:
    """Pending points become active (on their day, or early through the API)."""
    account, item = ledger.drop_pending(change.account, pending_id)
    change.account = account
    entry = _credit_earned(
        program,
        change,
        key=f"activate:{pending_id}",
        points=item.points,
        now=now,
        source=item.source.get("earn_source", "order"),
        details={**item.source, "pending_points": {"id": item.id, "activates_on": item.activates_on}},
        type="PENDING_POINTS_ACTIVATION",
        pending=-item.points,
        origin="API" if manual else "automation",
    )
    _upgrade(program, change, now, key=entry.key)


def reverse_order(
    program: LoyaltyProgram, account: Account, earned: LedgerEntry | None, order_id: str, *, now: datetime, why: str
) -> Change:
    """``Order Refunded`` / ``Order Cancelled``: pending points of the order are cancelled; points it made
    active are removed, as far as the balance allows (a balance never goes negative; points already spent
    stay spent). The tier metric loses what the order counted; a downgrade waits for the tier review."""
    change = Change(before=account, account=account)
    key = f"reverse:{order_id}"
    today = program.today(now)
    details = {"order": {"id": order_id, "source_id": order_id}, "reason_event": why}
    if earned is None:
        # Refunded before the order was seen: remember it, so the late order earns nothing.
        account = account.model_copy(update={"sequence": account.sequence + 1})
        change.account = account
        entry = ledger.LedgerEntry(
            key=key,
            id=ledger.entry_id(account, key, now),
            type="POINTS_REMOVAL",
            points=0,
            balance=account.balance,
            created_at=now,
            reason=why,
            details={**details, "before_earning": True},
        )
        change.entries.append(entry)
        return change
    to_remove = max(0, earned.points)
    counted_points = to_remove
    for pending_id in earned.details.get("pending_ids", []):
        if pending_id in change.account.pending:
            account, entry = ledger.cancel_pending(
                change.account, pending_id, key=f"{key}:pending:{pending_id}", now=now, reason=why
            )
            change.add(account, entry)
        else:
            activated = _activated_points(earned, pending_id)
            to_remove += activated
            counted_points += activated
    removed = min(to_remove, change.account.balance)
    account = count_toward_tier(
        program, change.account, today, -counted_points, -int(earned.details.get("order_total", 0))
    )
    account, entry = ledger.debit(
        account,
        key=key,
        points=removed,
        counted_as="removed",
        type="POINTS_REMOVAL",
        now=now,
        buckets=[earned.expires_on] if earned.expires_on else None,
        reason=why,
        details={**details, "related_transaction_id": earned.id, "not_recovered": to_remove - removed},
    )
    change.add(account, entry)
    return change


def _activated_points(earned: LedgerEntry, pending_id: str) -> int:
    groups = earned.details.get("pending_points_by_id", {})
    if pending_id in groups:
        return int(groups[pending_id])
    return 0


def adjust(
    program: LoyaltyProgram,
    account: Account,
    points: int,
    *,
    key: str,
    now: datetime,
    reason: str | None,
    expiration_type: str | None,
    expiration_date: datetime | None,
) -> Change:
    """A manual balance change (``POST .../members/{id}/balance``): points added (``POINTS_ADDITION``, counted
    as earned for tiers) or removed (``POINTS_REMOVAL``; never more than the balance)."""
    if points == 0:
        raise InvalidBalance("points must not be 0", details="points")
    change = Change(before=account, account=account)
    today = program.today(now)
    details: dict[str, Any] = {"earn_source": "adjustment"}
    if points > 0:
        if expiration_type == "NON_EXPIRING":
            bucket = calendar.NEVER
        elif expiration_type == "CUSTOM_DATE":
            if expiration_date is None:
                raise InvalidBalance("expiration_date is required for CUSTOM_DATE", details="expiration_date")
            bucket = calendar.text(calendar.local_date(expiration_date, program.zone))
        else:
            bucket = expiry_bucket(program, today)
        counted = count_toward_tier(program, account, today, points, 0)
        after, entry = ledger.credit(
            counted,
            key=key,
            points=points,
            bucket=bucket,
            now=now,
            type="POINTS_ADDITION",
            active_on=today,
            reason=reason,
            source="API",
            details=details,
        )
        change.add(after, entry)
        _upgrade(program, change, now, key=key)
        return change
    counted = count_toward_tier(program, account, today, points, 0)
    after, entry = ledger.debit(
        counted,
        key=key,
        points=-points,
        counted_as="removed",
        type="POINTS_REMOVAL",
        now=now,
        reason=reason,
        source="API",
        details=details,
    )
    change.add(after, entry)
    return change


# -- rewards ------------------------------------------------------------------------------------------------------


def reward_price(program: LoyaltyProgram, account: Account, assignment: RewardAssignment) -> int | None:
    tier = current_tier(program, account)
    if tier is None:
        return assignment.points
    return tier.reward_points(assignment.id, assignment.points)


def redeem(
    program: LoyaltyProgram,
    account: Account,
    assignment: RewardAssignment,
    *,
    redemption_id: str,
    points: int | None,
    now: datetime,
    metadata: dict[str, Any],
) -> Change:
    """Spend points on a reward: one debit (never more than the balance) and the reward owed to the member."""
    price = reward_price(program, account, assignment)
    if price is None:
        raise invalid("This reward cannot be bought with points", details=assignment.id)
    if points is not None and points != price:
        raise invalid(f"The reward costs {price} points", details="reward.points")
    change = Change(before=account, account=account)
    after, entry = ledger.debit(
        account,
        key=f"redeem:{redemption_id}",
        points=price,
        counted_as="spent",
        type="POINTS_REDEMPTION",
        now=now,
        active_on=program.today(now),
        source="API",
        details={
            "reward": {"id": assignment.reward_id, "name": assignment.reward.name, "assignment_id": assignment.id},
            "redemption": {"id": redemption_id},
            "metadata": metadata,
        },
    )
    owed = Fulfillment(
        id=redemption_id,
        reward_id=assignment.id,
        reason="points",
        points=price,
        created_at=now,
        context={"transaction_id": entry.id, "metadata": metadata},
    )
    after = after.model_copy(
        update={"unfulfilled": {**after.unfulfilled, owed.id: owed}, "redeemed_rewards": after.redeemed_rewards + 1}
    )
    change.add(after, entry)
    return change


def owe(account: Account, fulfillment: Fulfillment) -> Account:
    return account.model_copy(update={"unfulfilled": {**account.unfulfilled, fulfillment.id: fulfillment}})


def fulfilled(
    program: LoyaltyProgram,
    account: Account,
    fulfillment_id: str,
    assignment: RewardAssignment,
    *,
    code: str | None,
    expires_at: datetime | None,
    voucher_id: str | None,
    now: datetime,
) -> Change:
    """The owed reward was issued: announce it (with its code) and remember the code's expiry."""
    owed = account.unfulfilled[fulfillment_id]
    left = {key: value for key, value in account.unfulfilled.items() if key != fulfillment_id}
    codes = dict(account.codes)
    if expires_at is not None:
        codes[fulfillment_id] = IssuedCode(
            fulfillment_id=fulfillment_id,
            reward_id=assignment.reward_id,
            name=assignment.reward.name,
            code=code,
            expires_at=expires_at,
        )
    after = account.model_copy(update={"unfulfilled": left, "codes": codes})
    kind: NoticeKind = {
        "points": "redeemed",
        "birthday": "reward_issued",
        "referral_friend": "referral_started",
        "referral_advocate": "referral_completed",
    }[owed.reason]  # type: ignore[assignment]
    notice = Notice(
        key=f"reward:{fulfillment_id}",
        kind=kind,
        created_at=now,
        data={
            **owed.context,
            "fulfillment_id": fulfillment_id,
            "reason": owed.reason,
            "points": owed.points if owed.reason == "points" else int(owed.context.get("points") or 0),
            "reward": {"id": assignment.reward_id, "name": assignment.reward.name, "type": assignment.reward.type},
            "assignment_id": assignment.id,
            "code": code,
            "voucher_id": voucher_id,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return Change(before=account, account=after, notices=[notice])


def unfulfillable(
    account: Account, fulfillment_id: str, spend: LedgerEntry | None, *, now: datetime, why: str
) -> Change:
    """The owed reward cannot be issued: forget it, and give the points back if they were paid."""
    left = {key: value for key, value in account.unfulfilled.items() if key != fulfillment_id}
    after = account.model_copy(update={"unfulfilled": left})
    change = Change(before=account, account=after)
    if spend is not None and spend.points < 0:
        refunded, entry = ledger.refund(after, spend, key=f"refund:{fulfillment_id}", now=now, reason=why)
        refunded = refunded.model_copy(update={"redeemed_rewards": max(0, refunded.redeemed_rewards - 1)})
        change.add(refunded, entry)
    return change


# -- tiers --------------------------------------------------------------------------------------------------------


def _tier_notice(
    program: LoyaltyProgram, account: Account, before_rank: int, after_rank: int, now: datetime, key: str
) -> Notice:
    tiers = ordered(list(program.tiers))
    previous = tiers[before_rank] if before_rank >= 0 else None
    tier = tiers[after_rank]
    return Notice(
        key=f"tier:{key}:{tier.id}",
        kind="tier",
        created_at=now,
        data={
            "tier": {"id": tier.id, "name": tier.name, "rank": after_rank},
            "previous_tier": {"id": previous.id, "name": previous.name, "rank": before_rank} if previous else None,
            "direction": "up" if after_rank > before_rank else "down",
        },
    )


def move_tier(program: LoyaltyProgram, change: Change, rank: int, now: datetime, key: str) -> None:
    account = change.account
    before = rank_of(list(program.tiers), account.tier_id)
    if rank == before or rank < 0:
        return
    tier = ordered(list(program.tiers))[rank]
    change.account = account.model_copy(update={"tier_id": tier.id, "tier_since": program.today(now).isoformat()})
    change.notices.append(_tier_notice(program, account, before, rank, now, key))


def _upgrade(program: LoyaltyProgram, change: Change, now: datetime, *, key: str) -> None:
    """Upgrades are immediate: the member moves up as soon as the metric (or the manual floor) allows."""
    if not program.tiers:
        return
    tiers = list(program.tiers)
    account = change.account
    today = program.today(now)
    metric = account.metrics.for_upgrade(program.settings.tiers, today)
    target = max(qualified_rank(tiers, metric), rank_of(tiers, account.floor_tier_id))
    if target > rank_of(tiers, account.tier_id):
        move_tier(program, change, target, now, key)


def set_floor(program: LoyaltyProgram, account: Account, tier_id: str | None, now: datetime) -> Change:
    """A manual tier: the member is at least in it (``None`` removes the floor; the tier stays until reviewed)."""
    if tier_id is not None:
        program.tier(tier_id)
    change = Change(before=account, account=account.model_copy(update={"floor_tier_id": tier_id}))
    _upgrade(program, change, now, key=f"manual:{now.isoformat()}")
    return change


# -- points with no earning rule ------------------------------------------------------------------------------------


def give_points(
    program: LoyaltyProgram,
    account: Account,
    points: int,
    *,
    key: str,
    now: datetime,
    source: EarnSource,
    details: dict[str, Any],
) -> Change:
    """Points from a program setting (referral rewards), tier multipliers not applied."""
    change = Change(before=account, account=account)
    if points > 0:
        _credit_earned(program, change, key=key, points=points, now=now, source=source, details=details)
        _upgrade(program, change, now, key=key)
    return change


def signup_rules(program: LoyaltyProgram, now: datetime) -> list[EarningRule]:
    return [rule for rule in program.earning_rules if rule.event == SIGNUP and rule.live(now)]


def new_redemption_id(program_id: str, customer_id: str, source_id: str | None) -> str:
    if source_id:
        return stable_id("r_", "loyalty", program_id, customer_id, source_id)
    return new_id("r_")

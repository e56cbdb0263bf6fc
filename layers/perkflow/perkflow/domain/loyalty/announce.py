"""What each ledger entry and notice announces: catalogue events for the bus (and so Klaviyo, Segment and
webhooks) and the customer activity it lists as.

Events carry the change and the state after it (points change, new balance, reward name and code, expiry date,
tier, referral URL), so flows render without a lookup. Event ids derive from the program, the member and the
entry's or notice's idempotency key: the one write that stores an entry is the only one that announces it.

Activity types are Voucherify's where one exists (``customer.rewarded.loyalty_points``,
``customer.voucher.loyalty_card.points_expired``, ``customer.loyalty.tier.upgraded``,
``customer.reward_redemptions.completed`` ...) and perkflow's otherwise (``customer.loyalty.points.expiring``,
``customer.referral.started`` ...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from perkflow.domain.activities import Activity, activity_id
from perkflow.domain.events import (
    CustomerRef,
    DomainEvent,
    LoyaltyPointsEarned,
    LoyaltyPointsExpired,
    LoyaltyPointsExpiring,
    LoyaltyPointsRedeemed,
    LoyaltyReferralCompleted,
    LoyaltyReferralStarted,
    LoyaltyRewardExpiring,
    LoyaltyRewardIssued,
    LoyaltyTierAchieved,
    OrderRef,
    RewardRef,
    TierRef,
)
from perkflow.domain.ids import stable_id
from perkflow.domain.loyalty import calendar, engine
from perkflow.domain.loyalty.engine import Notice
from perkflow.domain.loyalty.ledger import Account, LedgerEntry
from perkflow.domain.loyalty.program import LoyaltyProgram
from perkflow.domain.timeutil import parse_iso

ENTRY_ACTIVITIES = {
    "POINTS_ACCRUAL": "customer.rewarded.loyalty_points",
    "PENDING_POINTS_ADDITION": "customer.voucher.loyalty_card.pending_points.added",
    "PENDING_POINTS_ACTIVATION": "customer.voucher.loyalty_card.pending_points.activated",
    "PENDING_POINTS_CANCELLATION": "customer.voucher.loyalty_card.pending_points.canceled",
    "POINTS_ADDITION": "customer.voucher.loyalty_card.points_added",
    "POINTS_REMOVAL": "customer.voucher.loyalty_card.points_removed",
    "POINTS_EXPIRATION": "customer.voucher.loyalty_card.points_expired",
    "POINTS_REDEMPTION": "customer.reward_redemptions.created",
    "POINTS_REFUND": "customer.reward_redemptions.rolledback",
}
NOTICE_ACTIVITIES = {
    "expiring": "customer.loyalty.points.expiring",
    "referral_started": "customer.referral.started",
    "referral_completed": "customer.referral.completed",
    "reward_issued": "customer.rewarded",
    "reward_expiring": "customer.loyalty.reward.expiring",
    "redeemed": "customer.reward_redemptions.completed",
}
_EARNED_TYPES = ("POINTS_ACCRUAL", "PENDING_POINTS_ACTIVATION", "POINTS_ADDITION", "POINTS_REMOVAL")


def _event_id(program: LoyaltyProgram, account: Account, key: str, detail_type: str) -> str:
    return stable_id("evt_", program.id, account.customer_id, key, detail_type)


def _common(
    program: LoyaltyProgram, account: Account, key: str, model: type[DomainEvent], at: datetime
) -> dict[str, Any]:
    return {
        "event_id": _event_id(program, account, key, model.DETAIL_TYPE),
        "occurred_at": at,
        "customer": account.customer,
        "program": program.ref(),
        "referral_url": engine.referral_url(program, account),
    }


def _order(details: dict[str, Any]) -> OrderRef | None:
    order = details.get("order")
    if not isinstance(order, dict) or not order.get("id"):
        return None
    return OrderRef(id=order.get("id"), source_id=order.get("source_id"), amount=details.get("order_total"))


def entry_events(program: LoyaltyProgram, account: Account, entry: LedgerEntry) -> list[DomainEvent]:
    details = entry.details
    if entry.type in _EARNED_TYPES and entry.points != 0:
        source = details.get("earn_source", "adjustment")
        if entry.type in ("POINTS_ADDITION", "POINTS_REMOVAL"):
            source = "adjustment"
        rules = details.get("earning_rules") or []
        expires_at = None
        if entry.expires_on and entry.expires_on != calendar.NEVER and entry.points > 0:
            expires_at = calendar.expiry_instant(calendar.parse_day(entry.expires_on), program.zone)
        return [
            LoyaltyPointsEarned(
                **_common(program, account, entry.key, LoyaltyPointsEarned, entry.created_at),
                points=entry.points,
                balance=entry.balance,
                source=source,
                transaction_id=entry.id,
                order=_order(details),
                earning_rule_id=rules[0]["id"] if rules else None,
                event_name=details.get("event", {}).get("type") if isinstance(details.get("event"), dict) else None,
                expires_at=expires_at,
            )
        ]
    if entry.type == "POINTS_EXPIRATION" and entry.points != 0:
        return [
            LoyaltyPointsExpired(
                **_common(program, account, entry.key, LoyaltyPointsExpired, entry.created_at),
                points=-entry.points,
                balance=entry.balance,
                transaction_id=entry.id,
            )
        ]
    return []


def _reward(data: dict[str, Any]) -> RewardRef | None:
    reward = data.get("reward")
    if not isinstance(reward, dict):
        return None
    kind = reward.get("type") if reward.get("type") in ("CAMPAIGN", "COIN", "MATERIAL", "POINTS") else "CAMPAIGN"
    return RewardRef(id=str(reward["id"]), name=str(reward["name"]), type=kind)


def _when(value: Any) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) and value else None


def notice_events(program: LoyaltyProgram, account: Account, notice: Notice) -> list[DomainEvent]:
    data = notice.data

    def common(model: type[DomainEvent]) -> dict[str, Any]:
        return _common(program, account, notice.key, model, notice.created_at)

    if notice.kind == "tier":
        previous = data.get("previous_tier")
        return [
            LoyaltyTierAchieved(
                **common(LoyaltyTierAchieved),
                tier=TierRef(**data["tier"]),
                previous_tier=TierRef(**previous) if previous else None,
                direction=data["direction"],
            )
        ]
    if notice.kind == "expiring":
        return [
            LoyaltyPointsExpiring(
                **common(LoyaltyPointsExpiring),
                points=int(data["points"]),
                balance=account.balance,
                expires_at=parse_iso(data["expires_at"]),
                reminder_days=data.get("reminder_days"),
            )
        ]
    if notice.kind == "referral_started":
        return [
            LoyaltyReferralStarted(
                **{**common(LoyaltyReferralStarted), "referral_url": data["referral_url"]},
                referral_code=data["referral_code"],
                referee=CustomerRef(**data["referee"]),
                advocate=CustomerRef(**data["advocate"]),
                points=int(data.get("points") or 0),
                reward=_reward(data),
                code=data.get("code"),
            )
        ]
    if notice.kind == "referral_completed":
        return [
            LoyaltyReferralCompleted(
                **{**common(LoyaltyReferralCompleted), "referral_url": data["referral_url"]},
                referral_code=data["referral_code"],
                referee=CustomerRef(**data["referee"]),
                points=int(data.get("points") or 0),
                reward=_reward(data),
                code=data.get("code"),
            )
        ]
    if notice.kind == "reward_issued":
        reward = _reward(data)
        assert reward is not None
        reason = data.get("reason") if data.get("reason") in ("birthday", "referral", "points", "tier") else "other"
        return [
            LoyaltyRewardIssued(
                **common(LoyaltyRewardIssued),
                reward=reward,
                reason=reason,
                code=data.get("code"),
                points=int(data.get("points") or 0),
                expires_at=_when(data.get("expires_at")),
            )
        ]
    if notice.kind == "reward_expiring":
        reward = _reward(data)
        assert reward is not None
        return [
            LoyaltyRewardExpiring(
                **common(LoyaltyRewardExpiring),
                reward=reward,
                code=data.get("code"),
                expires_at=parse_iso(data["expires_at"]),
            )
        ]
    if notice.kind == "redeemed":
        return [
            LoyaltyPointsRedeemed(
                **common(LoyaltyPointsRedeemed),
                points=int(data.get("points") or 0),
                balance=account.balance,
                transaction_id=str(data.get("transaction_id") or ""),
                reward=_reward(data),
                code=data.get("code"),
                reward_expires_at=_when(data.get("expires_at")),
            )
        ]
    return []


def _loyalty_data(program: LoyaltyProgram, account: Account) -> dict[str, Any]:
    return {
        "campaign": {"id": program.id, "name": program.name},
        "loyalty_card": {"id": account.member_id, "code": account.code},
    }


def entry_activity(program: LoyaltyProgram, account: Account, entry: LedgerEntry) -> Activity:
    return Activity(
        id=activity_id(entry.created_at, program.id, account.customer_id, entry.key),
        type=ENTRY_ACTIVITIES[entry.type],
        customer=account.customer,
        created_at=entry.created_at,
        data={
            **_loyalty_data(program, account),
            "transaction": {
                "id": entry.id,
                "type": entry.type,
                "points": entry.points,
                "pending_points": entry.pending,
                "balance": entry.balance,
                "reason": entry.reason,
            },
            **{name: entry.details[name] for name in ("order", "reward", "earning_rules") if entry.details.get(name)},
        },
        group_id=entry.id,
    )


def notice_activity(program: LoyaltyProgram, account: Account, notice: Notice) -> Activity:
    if notice.kind == "tier":
        if notice.data.get("previous_tier") is None:
            kind = "customer.loyalty.tier.joined"
        else:
            kind = (
                "customer.loyalty.tier.upgraded"
                if notice.data["direction"] == "up"
                else "customer.loyalty.tier.downgraded"
            )
    else:
        kind = NOTICE_ACTIVITIES[notice.kind]
    return Activity(
        id=activity_id(notice.created_at, program.id, account.customer_id, notice.key),
        type=kind,
        customer=account.customer,
        created_at=notice.created_at,
        data={**_loyalty_data(program, account), "loyalty": notice.data},
        group_id=notice.key,
    )

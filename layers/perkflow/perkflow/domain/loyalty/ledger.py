"""The points ledger of one member: balances, expiry buckets, pending points, and the entries that move them.

An :class:`Account` is the member's whole loyalty state in one record; every change is a pure function from an
account to the next account plus the append-only :class:`LedgerEntry` that explains it (storage writes both in
one transaction, the entry conditionally on its idempotency key). Balances are never summed from entries; they
are materialised and kept consistent by construction:

- ``balance`` (active points) == the sum of the expiry buckets ``lots`` (expiry date, or ``never``, -> points);
- ``balance`` == ``added - spent - expired - removed`` (every credit and debit is counted in exactly one of them);
- ``pending`` points are separate (``pending``: id -> :class:`PendingPoints`) and count nowhere until activated;
- nothing is ever negative: a debit larger than the balance raises :class:`PointsExceeded` and changes nothing.

Debits consume the soonest-expiring bucket first (points that never expire last), so spending never lets
earlier-expiring points lapse (segments_loyalty.md §9). Earns that expire on the same day share a bucket, so a
member has few buckets (one per day at most; far fewer with rounding).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.events import CustomerRef
from perkflow.domain.ids import stable_id
from perkflow.domain.loyalty.calendar import NEVER
from perkflow.domain.loyalty.errors import PointsExceeded
from perkflow.domain.loyalty.tiers import Metrics
from perkflow.domain.promotions.common import Instant

TxnType = Literal[
    "POINTS_ACCRUAL",
    "PENDING_POINTS_ADDITION",
    "PENDING_POINTS_ACTIVATION",
    "PENDING_POINTS_CANCELLATION",
    "POINTS_REDEMPTION",
    "POINTS_REFUND",
    "POINTS_ADDITION",
    "POINTS_REMOVAL",
    "POINTS_EXPIRATION",
]
Bucket = Literal["spent", "expired", "removed"]


class PendingPoints(BaseModel):
    """Points earned that count only from ``activates_on`` (a program-local date)."""

    model_config = ConfigDict(frozen=True)

    id: str
    points: int = Field(ge=1)
    activates_on: str
    created_at: Instant
    key: str = Field(description="the idempotency key of the entry that added them")
    source: dict[str, Any] = Field(default_factory=dict, description="what earned them (order, rules)")


class Fulfillment(BaseModel):
    """A reward owed to the member whose code is not issued yet (issued right after the write that owes it)."""

    model_config = ConfigDict(frozen=True)

    id: str
    reward_id: str = Field(description="the reward assignment (rewa_) to issue")
    reason: Literal["points", "birthday", "referral_friend", "referral_advocate"]
    points: int = Field(default=0, description="points paid for it (refunded if it cannot be issued)")
    created_at: Instant
    context: dict[str, Any] = Field(default_factory=dict)


class IssuedCode(BaseModel):
    """A reward code given to the member, kept until its expiry reminder is sent."""

    model_config = ConfigDict(frozen=True)

    fulfillment_id: str
    reward_id: str
    name: str
    code: str | None = None
    expires_at: Instant


class LedgerEntry(BaseModel):
    """One append-only transaction (Voucherify's ``LoyaltyCardTransaction``)."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="idempotency key from the source: order id, message id, reward redemption id")
    id: str
    type: TxnType
    points: int = Field(description="change of the active balance (signed)")
    pending: int = Field(default=0, description="change of the pending points (signed)")
    balance: int = Field(description="active balance after the entry")
    created_at: Instant
    expires_on: str | None = Field(default=None, description="bucket credited, for a credit")
    allocations: dict[str, int] = Field(default_factory=dict, description="bucket -> points taken, for a debit")
    reason: str | None = None
    source: str = "automation"
    details: dict[str, Any] = Field(default_factory=dict)


class Account(BaseModel):
    model_config = ConfigDict(frozen=True)

    program_id: str
    customer: CustomerRef
    member_id: str
    code: str
    joined_at: Instant
    birthdate: str | None = None
    balance: int = 0
    lots: dict[str, int] = Field(default_factory=dict)
    pending: dict[str, PendingPoints] = Field(default_factory=dict)
    added: int = 0
    spent: int = 0
    expired: int = 0
    removed: int = 0
    metrics: Metrics = Field(default_factory=Metrics)
    tier_id: str | None = None
    tier_since: str | None = None
    floor_tier_id: str | None = None
    last_activity_on: str | None = None
    warned: dict[str, int] = Field(default_factory=dict, description="expiry date -> smallest reminder sent")
    orders: int = 0
    referral_code: str | None = None
    referred_by: str | None = None
    referrals_completed: int = 0
    birthday_year: int | None = None
    unfulfilled: dict[str, Fulfillment] = Field(default_factory=dict)
    codes: dict[str, IssuedCode] = Field(default_factory=dict)
    redeemed_rewards: int = 0
    sequence: int = Field(default=0, description="entries written so far (orders entries of one instant)")
    version: int = 0

    @property
    def customer_id(self) -> str:
        return self.customer.id

    @property
    def pending_points(self) -> int:
        return sum(item.points for item in self.pending.values())

    def next_expiry(self) -> tuple[str, int] | None:
        """The soonest expiry date and its points (None: nothing expires)."""
        dated = sorted(key for key, points in self.lots.items() if key != NEVER and points > 0)
        return (dated[0], self.lots[dated[0]]) if dated else None

    def consistent(self) -> bool:
        """The invariants every stored account satisfies (tests assert them after every operation)."""
        return (
            self.balance >= 0
            and all(points > 0 for points in self.lots.values())
            and sum(self.lots.values()) == self.balance
            and self.added - self.spent - self.expired - self.removed == self.balance
            and min(self.added, self.spent, self.expired, self.removed) >= 0
        )


def entry_id(account: Account, key: str, now: datetime) -> str:
    """Transaction id in the member's history order: the time, then the member's entry sequence number (so
    entries of the same millisecond keep their order), then a digest of the key."""
    millis = int(now.timestamp() * 1000)
    digest = stable_id("", account.program_id, account.customer_id, key)[:5]
    return f"vtx_{millis:011x}{account.sequence:08x}{digest}"


def pending_id(account: Account, key: str) -> str:
    return stable_id("lpp_", account.program_id, account.customer_id, key)


# -- the operations ----------------------------------------------------------------------------------------------


def _with_lot(lots: dict[str, int], bucket: str, delta: int) -> dict[str, int]:
    changed = dict(lots)
    value = changed.get(bucket, 0) + delta
    if value:
        changed[bucket] = value
    else:
        changed.pop(bucket, None)
    return changed


def _entry(account: Account, *, key: str, type: TxnType, points: int, now: datetime, **fields: Any) -> LedgerEntry:
    """The entry of a change already applied to ``account`` (whose sequence it then takes one further)."""
    return LedgerEntry(
        key=key,
        id=entry_id(account, key, now),
        type=type,
        points=points,
        balance=account.balance,
        created_at=now,
        **fields,
    )


def credit(
    account: Account,
    *,
    key: str,
    points: int,
    bucket: str,
    now: datetime,
    type: TxnType = "POINTS_ACCRUAL",
    active_on: date | None = None,
    pending: int = 0,
    reason: str | None = None,
    source: str = "automation",
    details: dict[str, Any] | None = None,
) -> tuple[Account, LedgerEntry]:
    """Add ``points`` to the active balance, in the bucket that expires on ``bucket`` (or ``never``)."""
    if points < 0:
        raise ValueError("a credit is positive")
    changes: dict[str, Any] = {
        "balance": account.balance + points,
        "lots": _with_lot(account.lots, bucket, points),
        "added": account.added + points,
        "sequence": account.sequence + 1,
    }
    if active_on is not None and points:
        changes["last_activity_on"] = active_on.isoformat()
    after = account.model_copy(update=changes)
    return after, _entry(
        after,
        key=key,
        type=type,
        points=points,
        now=now,
        pending=pending,
        expires_on=bucket,
        reason=reason,
        source=source,
        details=details or {},
    )


def debit(
    account: Account,
    *,
    key: str,
    points: int,
    counted_as: Bucket,
    type: TxnType,
    now: datetime,
    buckets: list[str] | None = None,
    active_on: date | None = None,
    reason: str | None = None,
    source: str = "automation",
    details: dict[str, Any] | None = None,
) -> tuple[Account, LedgerEntry]:
    """Take ``points`` from the active balance, soonest-expiring bucket first (or from ``buckets`` in that
    order first). Raises PointsExceeded when the balance is short; the account is then unchanged."""
    if points < 0:
        raise ValueError("a debit is positive")
    if points > account.balance:
        raise PointsExceeded(
            "Not enough points",
            details=f"balance {account.balance}, {points} requested",
            extra={"balance": account.balance},
        )
    order = [bucket for bucket in (buckets or []) if account.lots.get(bucket)]
    order += [bucket for bucket in sorted(account.lots) if bucket not in order]  # "never" sorts after dates
    lots = dict(account.lots)
    allocations: dict[str, int] = {}
    left = points
    for bucket in order:
        if left == 0:
            break
        take = min(left, lots[bucket])
        allocations[bucket] = take
        lots = _with_lot(lots, bucket, -take)
        left -= take
    changes: dict[str, Any] = {
        "balance": account.balance - points,
        "lots": lots,
        counted_as: getattr(account, counted_as) + points,
        "sequence": account.sequence + 1,
    }
    if active_on is not None and points:
        changes["last_activity_on"] = active_on.isoformat()
    after = account.model_copy(update=changes)
    return after, _entry(
        after,
        key=key,
        type=type,
        points=-points,
        now=now,
        allocations=allocations,
        reason=reason,
        source=source,
        details=details or {},
    )


def refund(
    account: Account, spend: LedgerEntry, *, key: str, now: datetime, reason: str | None = None
) -> tuple[Account, LedgerEntry]:
    """Give back what ``spend`` took, into the buckets it came from (a failed reward, a rolled-back redemption)."""
    lots = dict(account.lots)
    for bucket, points in spend.allocations.items():
        lots = _with_lot(lots, bucket, points)
    restored = -spend.points
    after = account.model_copy(
        update={
            "balance": account.balance + restored,
            "lots": lots,
            "spent": account.spent - restored,
            "sequence": account.sequence + 1,
        }
    )
    return after, _entry(
        after,
        key=key,
        type="POINTS_REFUND",
        points=restored,
        now=now,
        allocations=dict(spend.allocations),
        reason=reason,
        details={**spend.details, "related_transaction_id": spend.id},
    )


def add_pending(
    account: Account,
    *,
    key: str,
    points: int,
    activates_on: date,
    now: datetime,
    source: dict[str, Any],
    details: dict[str, Any] | None = None,
) -> tuple[Account, LedgerEntry, PendingPoints]:
    item = PendingPoints(
        id=pending_id(account, key),
        points=points,
        activates_on=activates_on.isoformat(),
        created_at=now,
        key=key,
        source=source,
    )
    after = account.model_copy(update={"pending": {**account.pending, item.id: item}, "sequence": account.sequence + 1})
    entry = _entry(
        after,
        key=key,
        type="PENDING_POINTS_ADDITION",
        points=0,
        now=now,
        pending=points,
        details={**(details or {}), "pending_points": {"id": item.id, "activates_on": item.activates_on}},
    )
    return after, entry, item


def drop_pending(account: Account, pending_id_: str) -> tuple[Account, PendingPoints]:
    item = account.pending[pending_id_]
    left = {name: value for name, value in account.pending.items() if name != pending_id_}
    return account.model_copy(update={"pending": left}), item


def cancel_pending(
    account: Account, pending_id_: str, *, key: str, now: datetime, reason: str | None = None
) -> tuple[Account, LedgerEntry]:
    after, item = drop_pending(account, pending_id_)
    after = after.model_copy(update={"sequence": after.sequence + 1})
    entry = _entry(
        after,
        key=key,
        type="PENDING_POINTS_CANCELLATION",
        points=0,
        now=now,
        pending=-item.points,
        reason=reason,
        details={**item.source, "pending_points": {"id": item.id, "activates_on": item.activates_on}},
    )
    return after, entry


def expire(
    account: Account, bucket: str, *, key: str, now: datetime, reason: str = "points expired"
) -> tuple[Account, LedgerEntry]:
    """Expire what is left in one bucket."""
    points = account.lots.get(bucket, 0)
    return debit(
        account,
        key=key,
        points=points,
        counted_as="expired",
        type="POINTS_EXPIRATION",
        now=now,
        buckets=[bucket],
        reason=reason,
        details={"expires_on": bucket},
    )


def expire_all(account: Account, *, key: str, now: datetime, reason: str) -> tuple[Account, LedgerEntry]:
    return debit(
        account,
        key=key,
        points=account.balance,
        counted_as="expired",
        type="POINTS_EXPIRATION",
        now=now,
        reason=reason,
    )

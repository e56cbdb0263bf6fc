"""The customer ``summary`` counters (Voucherify's ``summary.redemptions`` and ``summary.orders``).

Storage keeps them on ``CUST#<id>`` / ``SUMMARY`` and changes them with ``ADD`` inside the transaction of the
redemption, rollback, publication or balance change they count, so they are exact and never half-written.
This module says which counters a change moves, per customer (the redeemer and, for gift cards, the holder,
whose ``gift_amount_to_go`` is what is left on the cards they hold).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perkflow.domain.promotions.redemptions import RedemptionPlan, Refusal
from perkflow.domain.promotions.vouchers import Voucher
from perkflow.domain.timeutil import iso

TOTAL_REDEEMED = "redemptions_total_redeemed"
TOTAL_FAILED = "redemptions_total_failed"
TOTAL_SUCCEEDED = "redemptions_total_succeeded"
TOTAL_ROLLED_BACK = "redemptions_total_rolled_back"
TOTAL_ROLLBACK_FAILED = "redemptions_total_rollback_failed"
TOTAL_ROLLBACK_SUCCEEDED = "redemptions_total_rollback_succeeded"
GIFT_REDEEMED = "gift_redeemed_amount"
GIFT_TO_GO = "gift_amount_to_go"
ORDERS_AMOUNT = "orders_total_amount"
ORDERS_COUNT = "orders_total_count"
LAST_ORDER_AMOUNT = "orders_last_order_amount"
LAST_ORDER_DATE = "orders_last_order_date"
COUNTERS = (
    TOTAL_REDEEMED,
    TOTAL_FAILED,
    TOTAL_SUCCEEDED,
    TOTAL_ROLLED_BACK,
    TOTAL_ROLLBACK_FAILED,
    TOTAL_ROLLBACK_SUCCEEDED,
    GIFT_REDEEMED,
    GIFT_TO_GO,
    ORDERS_AMOUNT,
    ORDERS_COUNT,
)


@dataclass
class SummaryChange:
    adds: dict[str, int] = field(default_factory=dict)
    sets: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, amount: int) -> None:
        if amount:
            self.adds[name] = self.adds.get(name, 0) + amount

    def __bool__(self) -> bool:
        return bool(self.adds or self.sets)


Changes = dict[str, SummaryChange]  # customer id -> change


def _change(changes: Changes, customer_id: str) -> SummaryChange:
    return changes.setdefault(customer_id, SummaryChange())


def for_redemption(plan: RedemptionPlan, now: datetime) -> Changes:
    changes: Changes = {}
    customer = plan.stack.customer
    if customer is not None:
        mine = _change(changes, customer.id)
        count = len(plan.redemptions)
        mine.add(TOTAL_REDEEMED, count)
        mine.add(TOTAL_SUCCEEDED, count)
        mine.add(GIFT_REDEEMED, sum(record.amount or 0 for record in plan.redemptions))
        amount = plan.order.get("amount")
        if isinstance(amount, int):
            mine.add(ORDERS_AMOUNT, amount)
            mine.sets[LAST_ORDER_AMOUNT] = amount
        mine.add(ORDERS_COUNT, 1)
        mine.sets[LAST_ORDER_DATE] = iso(now)
    _gift_to_go(
        changes,
        ((voucher, -(record.amount or 0)) for voucher, record in zip(plan.vouchers, plan.redemptions, strict=True)),
    )
    return {key: change for key, change in changes.items() if change}


def for_refusal(refusal: Refusal) -> Changes:
    customer_id = refusal.redemption.customer_id
    if customer_id is None:
        return {}
    change = SummaryChange()
    change.add(TOTAL_REDEEMED, 1)
    change.add(TOTAL_FAILED, 1)
    return {customer_id: change}


def for_rollbacks(customer_id: str | None, restored: Iterable[tuple[Voucher, int]]) -> Changes:
    """Rollbacks of one customer's redemptions; ``restored``: each voucher (after) and the credits it got back."""
    changes: Changes = {}
    pairs = list(restored)
    if customer_id is not None:
        mine = _change(changes, customer_id)
        mine.add(TOTAL_ROLLED_BACK, len(pairs))
        mine.add(TOTAL_ROLLBACK_SUCCEEDED, len(pairs))
        mine.add(GIFT_REDEEMED, -sum(credits for _, credits in pairs))
    _gift_to_go(changes, pairs)
    return {key: change for key, change in changes.items() if change}


def for_publication(vouchers: Iterable[Voucher]) -> Changes:
    changes: Changes = {}
    _gift_to_go(changes, ((voucher, voucher.gift.balance if voucher.gift else 0) for voucher in vouchers))
    return changes


def for_balance(voucher: Voucher, amount: int) -> Changes:
    changes: Changes = {}
    _gift_to_go(changes, [(voucher, amount)])
    return changes


def _gift_to_go(changes: Changes, pairs: Iterable[tuple[Voucher, int]]) -> None:
    for voucher, amount in pairs:
        if voucher.holder_id and voucher.gift is not None and amount:
            _change(changes, voucher.holder_id).add(GIFT_TO_GO, amount)

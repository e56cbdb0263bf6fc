"""Orders as the CDP reports them (Segment's e-commerce spec): what one earns, and what reverses it.

The earning base (DESIGN §6): ``Order Completed``'s ``total`` (decimal currency units) converted to cents
half-up, minus ``shipping`` and ``tax`` when present (each converted the same way), never below zero. The
amount counted toward ``amount_spent`` tiers is the order's ``total`` in cents (Smile counts shipping and tax).
``Order Refunded`` and ``Order Cancelled`` (or ``Order Canceled``) name the order by ``order_id``; they reverse
whatever that order earned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perkflow.domain.money import to_cents

COMPLETED = "Order Completed"
REVERSING = ("Order Refunded", "Order Cancelled", "Order Canceled")


@dataclass(frozen=True)
class Order:
    order_id: str | None
    base_cents: int
    total_cents: int


def _cents(properties: dict[str, Any], name: str) -> int:
    value = properties.get(name)
    if value is None or value == "" or isinstance(value, bool):
        return 0
    try:
        return to_cents(value)
    except ValueError:
        return 0


def order_id(properties: dict[str, Any]) -> str | None:
    for name in ("order_id", "orderId", "checkout_id"):
        value = properties.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def completed_order(properties: dict[str, Any]) -> Order:
    total = _cents(properties, "total")
    if not total and properties.get("revenue") is not None:
        total = _cents(properties, "revenue")
    base = total - _cents(properties, "shipping") - _cents(properties, "tax")
    return Order(order_id=order_id(properties), base_cents=max(0, base), total_cents=max(0, total))


def referral_code(properties: dict[str, Any]) -> str | None:
    """A referral code an event carries: ``referral.code`` (Voucherify's events) or ``referral_code``."""
    referral = properties.get("referral")
    if isinstance(referral, dict) and isinstance(referral.get("code"), str) and referral["code"]:
        return str(referral["code"])
    value = properties.get("referral_code")
    return value if isinstance(value, str) and value else None

"""Money is integer cents everywhere; this is the one place decimal currency becomes cents."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


def to_cents(amount: float | int | str | Decimal) -> int:
    """Decimal currency units to cents, rounding half up (12.345 -> 1235)."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

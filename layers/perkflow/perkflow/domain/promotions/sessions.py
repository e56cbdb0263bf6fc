"""Validation sessions of type LOCK: a validation that reserves a code until the redemption that uses it.

Voucherify (reference/voucherify.md §3.9, segments_loyalty.md §5): ``session: {type: "LOCK", key?, ttl?,
ttl_unit?}`` on a validation reserves one redemption of each applicable voucher and, for a gift card, the
credits the validation computed. Reservations count against the voucher for every *other* request (extra
ones get ``quantity_exceeded`` or ``gift_amount_exceeded``); a redemption that names the session key uses
them. They end when that redemption consumes them, on ``DELETE /v1/vouchers/{code}/sessions/{key}``, or
when they expire (default: 7 days).

Storage keeps a voucher's reservations on the voucher itself, so one read gives the voucher and everything
reserved on it, and a change to either is one conditional write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from perkflow.domain.ids import new_id
from perkflow.domain.promotions.redemptions import SessionRequest
from perkflow.domain.promotions.vouchers import Voucher

_UNIT_SECONDS: dict[str, float] = {
    "DAYS": 86_400,
    "HOURS": 3_600,
    "MINUTES": 60,
    "SECONDS": 1,
    "MILLISECONDS": 1e-3,
    "MICROSECONDS": 1e-6,
    "NANOSECONDS": 1e-9,
}
DEFAULT_TTL = 7
DEFAULT_UNIT = "DAYS"
MAX_TTL = timedelta(days=365)


@dataclass(frozen=True)
class Reservation:
    """What one session holds on one voucher."""

    key: str
    credits: int
    expires_at: datetime
    customer_id: str | None = None

    def active(self, now: datetime) -> bool:
        return now < self.expires_at


def with_key(session: SessionRequest) -> SessionRequest:
    """The session with its key fixed (a new ``ssn_`` key when the client sent none)."""
    return session if session.key else session.model_copy(update={"key": new_id("ssn_")})


def expiry(session: SessionRequest, now: datetime) -> datetime:
    seconds = (session.ttl or DEFAULT_TTL) * _UNIT_SECONDS[session.ttl_unit or DEFAULT_UNIT]
    return now + min(timedelta(seconds=seconds), MAX_TTL)


def held_by_others(reservations: Iterable[Reservation], own_key: str | None, now: datetime) -> tuple[int, int]:
    """(redemptions, gift credits) that active sessions other than ``own_key`` hold."""
    others = [item for item in reservations if item.key != own_key and item.active(now)]
    return len(others), sum(item.credits for item in others)


def for_request(voucher: Voucher, reservations: Iterable[Reservation], own_key: str | None, now: datetime) -> Voucher:
    """The voucher as this request may use it: what other sessions hold is reserved."""
    quantity, credits = held_by_others(reservations, own_key, now)
    if not quantity and not credits:
        return voucher
    return voucher.model_copy(update={"reserved_quantity": quantity, "reserved_credits": credits})


def expired_keys(reservations: Iterable[Reservation], now: datetime) -> list[str]:
    return [item.key for item in reservations if not item.active(now)]

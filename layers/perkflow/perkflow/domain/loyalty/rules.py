"""Earning rules: what earns points, how many, and whether they wait (pending) before they count.

Voucherify's earning rule body (``POST /v1/loyalties/{id}/earning-rules``) with these ``event`` values:

- ``order.paid`` or ``Order Completed``: the order's earning base (DESIGN §6, :mod:`.orders`); ``loyalty.type``
  ``PROPORTIONAL`` with ``order.amount`` (or ``order.total_amount``) ``{every, points}`` gives
  ``floor(base / every) * points`` (``every`` in cents: ``{every: 100, points: 1}`` is one point per currency
  unit), ``FIXED`` gives ``points`` per order. Only order rules can keep points pending (``pending_points``,
  1 to 90 days, as Voucherify).
- ``customer.segment.entered`` with ``segment.id``: ``points`` each time the customer enters the segment.
- ``customer.created``: ``points`` once, on sign-up (perkflow's name for Smile's sign-up action).
- ``customer.birthday``: ``points`` once a year on the birthday (perkflow; the day is set in the program's
  ``perkflow.birthday``).
- any other name: a custom event of that name (``review_left``) earns ``points`` each time it is recorded.

A rule restricted to ``loyalty_tier.id`` applies only to members in that tier; a tier's ``earning_rules``
mapping multiplies (``MULTIPLY``) or replaces (``CUSTOM``) a rule's points for its members, and the tier's
``perkflow.multiplier`` multiplies every rule the mapping does not name. Points are whole: always floored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from perkflow.domain.ids import new_id
from perkflow.domain.loyalty.errors import InvalidEarningRule
from perkflow.domain.promotions.common import Instant, iso_or_none, parse

ORDER_EVENTS = ("order.paid", "Order Completed")
SEGMENT_ENTERED = "customer.segment.entered"
SIGNUP = "customer.created"
BIRTHDAY = "customer.birthday"
ORDER = "order"


class EveryPoints(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    every: int = Field(default=100, ge=1, description="cents per step")
    points: int = Field(default=1, ge=0)


class OrderFormula(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: EveryPoints | None = None
    total_amount: EveryPoints | None = None


class RuleLoyalty(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["FIXED", "PROPORTIONAL"] = "FIXED"
    points: int | None = Field(default=None, ge=0)
    calculation_type: Literal["ORDER_AMOUNT", "ORDER_TOTAL_AMOUNT"] | None = None
    order: OrderFormula | None = None

    @model_validator(mode="after")
    def _complete(self) -> RuleLoyalty:
        if self.type == "FIXED" and self.points is None:
            raise ValueError("a FIXED rule needs loyalty.points")
        if self.type == "PROPORTIONAL" and self.step() is None:
            raise ValueError("a PROPORTIONAL rule needs loyalty.order.amount {every, points}")
        return self

    def step(self) -> EveryPoints | None:
        if self.order is None:
            return None
        return self.order.amount or self.order.total_amount

    def as_voucherify(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"type": self.type}
        if self.type == "FIXED":
            shown["points"] = self.points
            return shown
        step = self.step()
        assert step is not None
        shown["calculation_type"] = self.calculation_type or "ORDER_AMOUNT"
        key = "total_amount" if shown["calculation_type"] == "ORDER_TOTAL_AMOUNT" else "amount"
        shown["order"] = {key: {"every": step.every, "points": step.points}}
        return shown


class _Ref(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)


class _Pending(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    period_type: Literal["DAY"] = "DAY"
    period_value: int = Field(ge=1, le=90)


class _Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    banner: str | None = None


class EarningRuleRequest(BaseModel):
    """The body of a create (one element of the array) or update."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event: str | None = Field(default=None, min_length=1)
    loyalty: RuleLoyalty | None = None
    segment: _Ref | None = None
    loyalty_tier: _Ref | None = None
    pending_points: _Pending | None = None
    source: _Source | None = None
    active: bool | None = None
    start_date: Instant | None = None
    expiration_date: Instant | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def parse(cls, body: Any) -> EarningRuleRequest:
        return parse(cls, body, InvalidEarningRule, "Invalid earning rule")


class EarningRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    event: str
    loyalty: RuleLoyalty
    segment_id: str | None = None
    loyalty_tier_id: str | None = None
    pending_days: int | None = None
    banner: str | None = None
    active: bool = True
    start_date: Instant | None = None
    expiration_date: Instant | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: Instant
    updated_at: Instant | None = None

    @classmethod
    def create(cls, request: EarningRuleRequest, now: datetime) -> EarningRule:
        if request.event is None or request.loyalty is None:
            raise InvalidEarningRule("Invalid earning rule", details="event and loyalty are required")
        rule = cls(
            id=new_id("ern_"),
            event=request.event,
            loyalty=request.loyalty,
            created_at=now,
        )
        return rule.updated(request, now, created=True)

    def updated(self, request: EarningRuleRequest, now: datetime, *, created: bool = False) -> EarningRule:
        changes: dict[str, Any] = {} if created else {"updated_at": now}
        for name in ("loyalty", "active", "start_date", "expiration_date", "metadata"):
            value = getattr(request, name)
            if value is not None:
                changes[name] = value
        if request.event is not None:
            changes["event"] = request.event
        if request.segment is not None:
            changes["segment_id"] = request.segment.id
        if request.loyalty_tier is not None:
            changes["loyalty_tier_id"] = request.loyalty_tier.id
        if request.pending_points is not None:
            changes["pending_days"] = request.pending_points.period_value
        if request.source is not None:
            changes["banner"] = request.source.banner
        rule = self.model_copy(update=changes)
        rule.check()
        return rule

    def check(self) -> None:
        if self.event == SEGMENT_ENTERED and not self.segment_id:
            raise InvalidEarningRule("Invalid earning rule", details="customer.segment.entered needs segment.id")
        if self.loyalty.type == "PROPORTIONAL" and self.kind != ORDER:
            raise InvalidEarningRule("Invalid earning rule", details="only order rules can be PROPORTIONAL")
        if self.pending_days is not None and self.kind != ORDER:
            raise InvalidEarningRule("Invalid earning rule", details="only order rules can keep points pending")

    @property
    def kind(self) -> str:
        """``order``, ``customer.segment.entered``, ``customer.created``, ``customer.birthday`` or ``event``."""
        if self.event in ORDER_EVENTS:
            return ORDER
        if self.event in (SEGMENT_ENTERED, SIGNUP, BIRTHDAY):
            return self.event
        return "event"

    def live(self, at: datetime) -> bool:
        if not self.active:
            return False
        if self.start_date is not None and at < self.start_date:
            return False
        return self.expiration_date is None or at <= self.expiration_date

    def base_points(self, earning_base_cents: int = 0) -> int:
        if self.loyalty.type == "FIXED":
            return int(self.loyalty.points or 0)
        step = self.loyalty.step()
        assert step is not None
        return max(0, earning_base_cents) // step.every * step.points

    def as_voucherify(self, program_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": iso_or_none(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
            "event": self.event,
            "loyalty": self.loyalty.as_voucherify(),
            "segment": {"id": self.segment_id} if self.segment_id else None,
            "loyalty_tier": {"id": self.loyalty_tier_id} if self.loyalty_tier_id else None,
            "custom_event": {"schema_id": None} if self.kind == "event" else None,
            "pending_points": {"period_type": "DAY", "period_value": self.pending_days} if self.pending_days else None,
            "source": {"banner": self.banner, "object_id": program_id, "object_type": "campaign"},
            "active": self.active,
            "start_date": iso_or_none(self.start_date),
            "expiration_date": iso_or_none(self.expiration_date),
            "validity_timeframe": None,
            "validity_day_of_week": None,
            "metadata": self.metadata,
            "automation_id": None,
            "object": "earning_rule",
        }


def multiplied(points: int, multiplier: Decimal) -> int:
    """``points`` times a tier multiplier, floored to whole points."""
    return int((Decimal(points) * multiplier).to_integral_value(rounding=ROUND_FLOOR))

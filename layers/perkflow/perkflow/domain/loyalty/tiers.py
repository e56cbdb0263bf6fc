"""VIP tiers: which tier a member qualifies for, when it is reviewed, and how far it may fall.

Tiers are Voucherify's ``LoyaltyTier`` (``points: {from, to}``); ``from`` is the threshold in the program's
basis unit (``perkflow.tiers.basis``): points earned, or cents spent on orders. Rank 0 is the tier with the
lowest threshold. The metric is counted per program-local day (:class:`Metrics`), so any window can be read:

- ``lifetime``: everything ever counted;
- ``calendar_year``: upgrades count the current year; a tier, once reached, is kept through the following
  calendar year (Smile's rule): reviews read the larger of the previous and the current year;
- ``rolling``: the last ``rolling_days`` days.

Upgrades happen at once, whenever the metric grows. Downgrades follow ``perkflow.tiers.downgrade``:
``never``; ``period_end`` (at the end of the tier's period, to the qualified tier); ``one_step`` (at the end of
the period, at most one tier down); ``to_qualified`` (at the first daily review that finds the member below
the tier). A period ends on 1 January for ``calendar_year`` and ``rolling_days`` after the tier was reached
(or last prolonged) for ``rolling``; a ``lifetime`` tier has no period end. A manual tier is a floor: reviews
never go below it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.ids import new_id
from perkflow.domain.loyalty.errors import InvalidTier
from perkflow.domain.promotions.common import Instant, iso_or_none, parse

Basis = Literal["points_earned", "amount_spent"]
Window = Literal["lifetime", "calendar_year", "rolling"]
Downgrade = Literal["never", "period_end", "one_step", "to_qualified"]
MAX_DAYS_KEPT = 800  # per-day metrics older than this are folded away (two calendar years and a margin)


class TierSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    basis: Basis = "points_earned"
    window: Window = "lifetime"
    rolling_days: int = Field(default=365, ge=1, le=730)
    downgrade: Downgrade = "never"


class Mapping(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["MULTIPLY", "CUSTOM"] = "MULTIPLY"
    multiplier: Decimal | None = Field(default=None, gt=0)
    points: int | None = Field(default=None, ge=0)

    def as_voucherify(self) -> dict[str, Any]:
        if self.type == "CUSTOM":
            return {"type": "CUSTOM", "points": self.points}
        return {"type": "MULTIPLY", "multiplier": float(self.multiplier or 1)}


class _Range(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    from_: int = Field(alias="from", ge=0)
    to: int | None = Field(default=None, ge=0)


class _TierExtras(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    multiplier: Decimal = Field(default=Decimal(1), gt=0)


class TierRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1)
    points: _Range
    earning_rules: dict[str, Mapping] = Field(default_factory=dict)
    rewards: dict[str, Mapping] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    perkflow: _TierExtras = Field(default_factory=_TierExtras)

    @classmethod
    def parse_many(cls, body: Any) -> list[TierRequest]:
        items = body if isinstance(body, list) else [body]
        if not items:
            raise InvalidTier("Invalid loyalty tiers", details="send at least one tier")
        return [parse(cls, item, InvalidTier, "Invalid loyalty tier") for item in items]


class Tier(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    threshold: int
    upper: int | None = None
    earning_rules: dict[str, Mapping] = Field(default_factory=dict)
    rewards: dict[str, Mapping] = Field(default_factory=dict)
    multiplier: Decimal = Decimal(1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: Instant
    updated_at: Instant | None = None

    @classmethod
    def create(cls, request: TierRequest, now: datetime) -> Tier:
        return cls(
            id=new_id("ltr_"),
            name=request.name,
            threshold=request.points.from_,
            upper=request.points.to,
            earning_rules=request.earning_rules,
            rewards=request.rewards,
            multiplier=request.perkflow.multiplier,
            metadata=request.metadata,
            created_at=now,
        )

    def multiplier_for(self, rule_id: str) -> tuple[Decimal, int | None]:
        """(multiplier, custom points) this tier applies to a rule."""
        mapping = self.earning_rules.get(rule_id)
        if mapping is None:
            return self.multiplier, None
        if mapping.type == "CUSTOM":
            return Decimal(1), mapping.points
        return mapping.multiplier or Decimal(1), None

    def reward_points(self, assignment_id: str, default: int | None) -> int | None:
        mapping = self.rewards.get(assignment_id)
        if mapping is None or mapping.type != "CUSTOM" or mapping.points is None:
            return default
        return mapping.points

    def as_voucherify(self, program_id: str, expiration: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "campaign_id": program_id,
            "earning_rules": {key: value.as_voucherify() for key, value in self.earning_rules.items()},
            "rewards": {key: value.as_voucherify() for key, value in self.rewards.items()},
            "points": {"from": self.threshold, "to": self.upper},
            "config": {"points": {"from": self.threshold, "to": self.upper}},
            "expiration": expiration,
            "metadata": self.metadata,
            "created_at": iso_or_none(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
            "object": "loyalty_tier",
        }


def ordered(tiers: list[Tier]) -> list[Tier]:
    return sorted(tiers, key=lambda tier: (tier.threshold, tier.created_at, tier.id))


def rank_of(tiers: list[Tier], tier_id: str | None) -> int:
    """The rank of ``tier_id`` (-1: no tier)."""
    for rank, tier in enumerate(ordered(tiers)):
        if tier.id == tier_id:
            return rank
    return -1


def qualified_rank(tiers: list[Tier], metric: int) -> int:
    """The highest rank whose threshold ``metric`` reaches (-1: none)."""
    rank = -1
    for index, tier in enumerate(ordered(tiers)):
        if metric >= tier.threshold:
            rank = index
    return rank


class Metrics(BaseModel):
    """The tier metric (points earned and cents spent) per program-local day, plus lifetime totals."""

    model_config = ConfigDict(frozen=True)

    lifetime_points: int = 0
    lifetime_cents: int = 0
    days: dict[str, tuple[int, int]] = Field(default_factory=dict, description="YYYY-MM-DD -> (points, cents)")

    def counted(self, day: date, points: int, cents: int) -> Metrics:
        key = day.isoformat()
        old_points, old_cents = self.days.get(key, (0, 0))
        days = dict(self.days)
        days[key] = (old_points + points, old_cents + cents)
        cutoff = (day - timedelta(days=MAX_DAYS_KEPT)).isoformat()
        days = {name: value for name, value in days.items() if name >= cutoff}
        return Metrics(
            lifetime_points=self.lifetime_points + points, lifetime_cents=self.lifetime_cents + cents, days=days
        )

    def _sum(self, basis: Basis, first: date, last: date) -> int:
        index = 0 if basis == "points_earned" else 1
        low, high = first.isoformat(), last.isoformat()
        return sum(value[index] for key, value in self.days.items() if low <= key <= high)

    def lifetime(self, basis: Basis) -> int:
        return self.lifetime_points if basis == "points_earned" else self.lifetime_cents

    def for_upgrade(self, settings: TierSettings, today: date) -> int:
        if settings.window == "lifetime":
            return self.lifetime(settings.basis)
        if settings.window == "calendar_year":
            return self._sum(settings.basis, date(today.year, 1, 1), today)
        return self._sum(settings.basis, today - timedelta(days=settings.rolling_days - 1), today)

    def for_review(self, settings: TierSettings, today: date) -> int:
        if settings.window == "calendar_year":
            previous = self._sum(settings.basis, date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
            return max(previous, self.for_upgrade(settings, today))
        return self.for_upgrade(settings, today)


def period_end(settings: TierSettings, tier_since: date, today: date) -> date | None:
    """The first day after the current tier period (None: a lifetime tier has no period)."""
    if settings.window == "calendar_year":
        return date(today.year + 1, 1, 1)
    if settings.window == "rolling":
        end = tier_since + timedelta(days=settings.rolling_days)
        while end <= today:
            end += timedelta(days=settings.rolling_days)
        return end
    return None


def review_target(
    settings: TierSettings, tiers: list[Tier], current: int, floor: int, metric: int, period_over: bool
) -> int:
    """The rank a review moves a member at ``current`` to (never above ``current``: upgrades are not reviews)."""
    qualified = max(qualified_rank(tiers, metric), floor)
    if qualified >= current or settings.downgrade == "never":
        return current
    if settings.downgrade == "to_qualified":
        return qualified
    if not period_over:
        return current
    if settings.downgrade == "one_step":
        return max(current - 1, qualified)
    return qualified


def next_review(
    settings: TierSettings, tiers: list[Tier], metrics: Metrics, current: int, tier_since: date, today: date
) -> date | None:
    """The next local day a review could move the member down (None: nothing to review)."""
    if current <= 0 or settings.downgrade == "never":
        return None
    if settings.downgrade in ("period_end", "one_step"):
        return period_end(settings, tier_since, today)
    threshold = ordered(tiers)[current].threshold
    if metrics.for_review(settings, today) < threshold:
        return today + timedelta(days=1)
    if settings.window == "lifetime":
        return None  # a lifetime metric only falls with a reversal, which schedules its own review
    if settings.window == "calendar_year":
        return date(today.year + 1, 1, 1)
    # rolling: the first day on which what falls out of the window takes the sum under the threshold
    index = 0 if settings.basis == "points_earned" else 1
    first = (today - timedelta(days=settings.rolling_days - 1)).isoformat()
    remaining = metrics.for_review(settings, today)
    for key in sorted(key for key in metrics.days if first <= key <= today.isoformat()):
        remaining -= metrics.days[key][index]
        if remaining < threshold:
            return date.fromisoformat(key) + timedelta(days=settings.rolling_days)
    return today + timedelta(days=settings.rolling_days)

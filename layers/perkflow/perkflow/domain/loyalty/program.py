"""A loyalty program: Voucherify's ``LOYALTY_PROGRAM`` campaign plus perkflow's own settings.

The body of ``POST /v1/loyalties`` is Voucherify's (``name``, ``voucher.loyalty_card.points`` given on
joining, ``voucher.loyalty_card.expiration_rules``, ``voucher.code_config`` of the member cards, ``auto_join``,
``start_date``/``expiration_date``, ``metadata``) with a ``perkflow`` object for what Voucherify configures
elsewhere or not at all (DESIGN §6)::

    "perkflow": {
      "timezone": "Europe/Warsaw",               # the program's local day (expiry, reminders, birthdays)
      "shop_domain": "shop.example.com",
      "expiry": {"type": "never"}                # or {"type": "rolling", "days"|"months": N,
                                                 #     "round_to": "month"|"quarter"|"half_year"|"year"}
                                                 # or {"type": "inactivity", "days": N} (Smile's rule)
      "reminders": [30, 7],                      # days before expiry that warn (loyalty.points.expiring)
      "tiers": {"basis": "points_earned"|"amount_spent", "window": "lifetime"|"calendar_year"|"rolling",
                "rolling_days": 365, "downgrade": "never"|"period_end"|"one_step"|"to_qualified"},
      "referral": {"enabled": true, "url_template": "https://{shop_domain}/r/{code}",
                   "friend": {"trigger": "signup"|"first_order", "points": 0, "reward_id": null},
                   "advocate": {"points": 0, "reward_id": null}, "max_per_advocate": null},
      "birthday": {"days_before": 0, "reward_id": null},   # birthday points: a customer.birthday rule
      "reward_reminder_days": 3                  # loyalty.reward.expiring that many days before a code expires
    }

Voucherify's ``expiration_rules`` (``period_type: MONTH``, ``period_value``, ``rounding_type``) are read as a
rolling policy in months when ``perkflow.expiry`` is absent. Earning rules, tiers and rewards belong to the
program and are stored with it (one item: every trigger reads the whole program once).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from perkflow.domain.events import ProgramRef
from perkflow.domain.ids import new_id
from perkflow.domain.loyalty import calendar
from perkflow.domain.loyalty.errors import InvalidProgram, not_found
from perkflow.domain.loyalty.rewards import RewardAssignment
from perkflow.domain.loyalty.rules import BIRTHDAY, EarningRule
from perkflow.domain.loyalty.tiers import Tier, TierSettings, ordered
from perkflow.domain.promotions.codes import CodeConfig
from perkflow.domain.promotions.common import Instant, iso_or_none, parse

DEFAULT_CARD_CODES = CodeConfig(pattern="LC-########", charset="ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
DEFAULT_REFERRAL_CODES = CodeConfig(pattern="########", charset="ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
DEFAULT_URL_TEMPLATE = "https://{shop_domain}/r/{code}"
_ROUNDING_IN = {
    "END_OF_MONTH": "month",
    "END_OF_QUARTER": "quarter",
    "END_OF_HALF_YEAR": "half_year",
    "END_OF_YEAR": "year",
}
_ROUNDING_OUT = {value: key for key, value in _ROUNDING_IN.items()}


class ExpiryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["never", "rolling", "inactivity"] = "never"
    days: int | None = Field(default=None, ge=1, le=3650)
    months: int | None = Field(default=None, ge=1, le=120)
    round_to: calendar.Rounding | None = None

    @model_validator(mode="after")
    def _complete(self) -> ExpiryPolicy:
        if self.type == "rolling" and (self.days is None) == (self.months is None):
            raise ValueError("a rolling expiry needs exactly one of days or months")
        if self.type == "inactivity" and self.days is None:
            raise ValueError("an inactivity expiry needs days")
        return self

    def expires_on(self, credited_on: date) -> date | None:
        """When points credited on ``credited_on`` expire (None: never, or by inactivity)."""
        if self.type != "rolling":
            return None
        if self.months is not None:
            end = calendar.add_months(credited_on, self.months)
        else:
            end = credited_on + timedelta(days=int(self.days or 0))
        return calendar.round_up(end, self.round_to)


class ReferralReward(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    points: int = Field(default=0, ge=0)
    reward_id: str | None = None


class FriendReward(ReferralReward):
    trigger: Literal["signup", "first_order"] = "signup"


class ReferralSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    enabled: bool = False
    url_template: str = DEFAULT_URL_TEMPLATE
    code_config: CodeConfig = DEFAULT_REFERRAL_CODES
    friend: FriendReward = Field(default_factory=FriendReward)
    advocate: ReferralReward = Field(default_factory=ReferralReward)
    max_per_advocate: int | None = Field(default=None, ge=1)

    @field_validator("url_template")
    @classmethod
    def _has_code(cls, value: str) -> str:
        if "{code}" not in value:
            raise ValueError("url_template must contain {code}")
        return value


class BirthdaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    days_before: int = Field(default=0, ge=0, le=60)
    reward_id: str | None = None


class PerkflowSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    timezone: str = "UTC"
    shop_domain: str | None = None
    expiry: ExpiryPolicy = Field(default_factory=ExpiryPolicy)
    reminders: tuple[int, ...] = (30, 7)
    tiers: TierSettings = Field(default_factory=TierSettings)
    referral: ReferralSettings = Field(default_factory=ReferralSettings)
    birthday: BirthdaySettings = Field(default_factory=BirthdaySettings)
    reward_reminder_days: int = Field(default=3, ge=0, le=60)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        calendar.zone(value)
        return value

    @field_validator("reminders")
    @classmethod
    def _offsets(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(offset < 0 or offset > 365 for offset in value):
            raise ValueError("reminder offsets are 0 to 365 days")
        return tuple(sorted(set(value), reverse=True))


class _ExpirationRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    period_type: Literal["MONTH", "FIXED_DAY_OF_YEAR"] | None = None
    period_value: int | None = Field(default=None, ge=1)
    rounding_type: str | None = None


class _LoyaltyCard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    points: int | None = Field(default=None, ge=0)
    expiration_rules: _ExpirationRules | None = None


class _CardVoucher(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["LOYALTY_CARD"] = "LOYALTY_CARD"
    loyalty_card: _LoyaltyCard = Field(default_factory=_LoyaltyCard)
    code_config: CodeConfig | None = None


class ProgramRequest(BaseModel):
    """``POST /v1/loyalties`` and ``PUT /v1/loyalties/{id}`` (absent fields keep their value on update)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    campaign_type: Literal["LOYALTY_PROGRAM"] | None = None
    type: Literal["AUTO_UPDATE", "STATIC"] | None = None
    auto_join: bool | None = None
    join_once: bool | None = None
    start_date: Instant | None = None
    expiration_date: Instant | None = None
    metadata: dict[str, Any] | None = None
    voucher: _CardVoucher | None = None
    perkflow: dict[str, Any] | None = None

    @classmethod
    def parse(cls, body: Any) -> ProgramRequest:
        return parse(cls, body, InvalidProgram, "Invalid loyalty program")


def _expiry_from_rules(rules: _ExpirationRules | None) -> ExpiryPolicy | None:
    if rules is None or rules.period_type is None:
        return None
    if rules.period_type != "MONTH" or rules.period_value is None:
        raise InvalidProgram("Invalid loyalty program", details="expiration_rules: only period_type MONTH is supported")
    rounding = _ROUNDING_IN.get(rules.rounding_type or "")
    if rules.rounding_type and rounding is None:
        raise InvalidProgram("Invalid loyalty program", details=f"rounding_type {rules.rounding_type} is not supported")
    return ExpiryPolicy(type="rolling", months=rules.period_value, round_to=rounding)


class LoyaltyProgram(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str | None = None
    active: bool = True
    auto_join: bool = True
    join_points: int = 0
    code_config: CodeConfig = DEFAULT_CARD_CODES
    start_date: Instant | None = None
    expiration_date: Instant | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    settings: PerkflowSettings = Field(default_factory=PerkflowSettings)
    earning_rules: tuple[EarningRule, ...] = ()
    tiers: tuple[Tier, ...] = ()
    rewards: tuple[RewardAssignment, ...] = ()
    created_at: Instant
    updated_at: Instant | None = None
    version: int = 0

    # -- creation and change ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, request: ProgramRequest, now: datetime) -> LoyaltyProgram:
        if request.name is None:
            raise InvalidProgram("Invalid loyalty program", details="name is required")
        program = cls(id=new_id("camp_"), name=request.name, created_at=now)
        return program.updated(request, now, created=True)

    def updated(self, request: ProgramRequest, now: datetime, *, created: bool = False) -> LoyaltyProgram:
        changes: dict[str, Any] = {} if created else {"updated_at": now}
        for name in ("name", "description", "auto_join", "start_date", "expiration_date", "metadata"):
            value = getattr(request, name)
            if value is not None:
                changes[name] = value
        settings = self.settings
        if request.voucher is not None:
            card = request.voucher.loyalty_card
            if card.points is not None:
                changes["join_points"] = card.points
            if request.voucher.code_config is not None:
                request.voucher.code_config.shape()
                changes["code_config"] = request.voucher.code_config
            expiry = _expiry_from_rules(card.expiration_rules)
            if expiry is not None and not (request.perkflow or {}).get("expiry"):
                settings = settings.model_copy(update={"expiry": expiry})
        if request.perkflow is not None:
            merged = {**settings.model_dump(), **request.perkflow}
            settings = parse(PerkflowSettings, merged, InvalidProgram, "Invalid perkflow settings")
            settings.referral.code_config.shape()
        changes["settings"] = settings
        return self.model_copy(update=changes)

    def with_rules(self, rules: tuple[EarningRule, ...], now: datetime) -> LoyaltyProgram:
        return self.model_copy(update={"earning_rules": rules, "updated_at": now})

    def with_tiers(self, tiers: tuple[Tier, ...], now: datetime) -> LoyaltyProgram:
        if len({tier.threshold for tier in tiers}) != len(tiers):
            raise InvalidProgram("Invalid loyalty tiers", key="invalid_loyalty_tier", details="thresholds must differ")
        return self.model_copy(update={"tiers": tuple(ordered(list(tiers))), "updated_at": now})

    def with_rewards(self, rewards: tuple[RewardAssignment, ...], now: datetime) -> LoyaltyProgram:
        return self.model_copy(update={"rewards": rewards, "updated_at": now})

    # -- reading ---------------------------------------------------------------------------------------------
    def ref(self) -> ProgramRef:
        return ProgramRef(id=self.id, name=self.name)

    @property
    def zone(self) -> str:
        return self.settings.timezone

    def today(self, now: datetime) -> date:
        return calendar.local_date(now, self.zone)

    def live(self, now: datetime) -> bool:
        if not self.active:
            return False
        if self.start_date is not None and now < self.start_date:
            return False
        return self.expiration_date is None or now <= self.expiration_date

    def rule(self, rule_id: str) -> EarningRule:
        for rule in self.earning_rules:
            if rule.id == rule_id:
                return rule
        raise not_found("earning_rule", rule_id)

    def tier(self, tier_id: str) -> Tier:
        for tier in self.tiers:
            if tier.id == tier_id:
                return tier
        raise not_found("loyalty_tier", tier_id)

    def reward(self, assignment_or_reward_id: str) -> RewardAssignment:
        for assignment in self.rewards:
            if assignment_or_reward_id in (assignment.id, assignment.reward_id):
                return assignment
        raise not_found("reward", assignment_or_reward_id)

    def find_reward(self, assignment_or_reward_id: str | None) -> RewardAssignment | None:
        if not assignment_or_reward_id:
            return None
        for assignment in self.rewards:
            if assignment_or_reward_id in (assignment.id, assignment.reward_id):
                return assignment
        return None

    def birthday_rules(self, now: datetime) -> list[EarningRule]:
        return [rule for rule in self.earning_rules if rule.event == BIRTHDAY and rule.live(now)]

    def celebrates_birthdays(self) -> bool:
        return bool(self.settings.birthday.reward_id) or any(rule.event == BIRTHDAY for rule in self.earning_rules)

    def referral_url(self, code: str) -> str:
        template = self.settings.referral.url_template
        return template.replace("{shop_domain}", self.settings.shop_domain or "shop.example.com").replace(
            "{code}", code
        )

    def expiration_rules(self) -> dict[str, Any] | None:
        expiry = self.settings.expiry
        if expiry.type != "rolling" or expiry.months is None:
            return None
        return {
            "period_type": "MONTH",
            "period_value": expiry.months,
            "rounding_type": _ROUNDING_OUT.get(expiry.round_to or ""),
            "rounding_value": None,
        }

    def as_voucherify(self, members: int | None = None) -> dict[str, Any]:
        shown = {
            "id": self.id,
            "name": self.name,
            "campaign_type": "LOYALTY_PROGRAM",
            "type": "AUTO_UPDATE",
            "voucher": {
                "type": "LOYALTY_CARD",
                "loyalty_card": {"points": self.join_points, "expiration_rules": self.expiration_rules()},
                "code_config": self.code_config.model_dump(exclude_none=True),
                "is_referral_code": False,
                "start_date": None,
                "expiration_date": None,
            },
            "auto_join": self.auto_join,
            "join_once": True,
            "use_voucher_metadata_schema": False,
            "vouchers_count": members,
            "start_date": iso_or_none(self.start_date),
            "expiration_date": iso_or_none(self.expiration_date),
            "active": self.active,
            "metadata": self.metadata,
            "created_at": iso_or_none(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
            "creation_status": "DONE",
            "vouchers_generation_status": "DONE",
            "protected": False,
            "category_id": None,
            "categories": [],
            "object": "campaign",
            "perkflow": self.settings.model_dump(mode="json"),
        }
        if self.description is not None:
            shown["description"] = self.description
        return shown

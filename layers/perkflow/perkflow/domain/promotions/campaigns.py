"""Campaigns: bulk gift-card and discount-code campaigns (``POST /v1/campaigns``, reference/voucherify.md §3.5).

A campaign is a voucher template (gift or discount, redemption limit, ``code_config``) plus when and how its
codes may be used. Generating its ``vouchers_count`` codes is asynchronous (``creation_status`` goes from
``IN_PROGRESS`` to ``DONE``); the service draws them with :func:`codes.generate` in chunks and stores them
with conditional writes. ``type`` AUTO_UPDATE campaigns also mint a code whenever a publication needs one.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.events import CampaignRef
from perkflow.domain.ids import new_id
from perkflow.domain.promotions.codes import CodeConfig, check_capacity
from perkflow.domain.promotions.common import Instant, iso_or_none, voucherify_list
from perkflow.domain.promotions.errors import InvalidCampaign
from perkflow.domain.promotions.vouchers import (
    Discount,
    Gift,
    GiftRequest,
    RedemptionLimit,
    Voucher,
    VoucherType,
    check_code,
    check_window,
    money_of,
)
from perkflow.domain.timeutil import iso

CampaignType = Literal["GIFT_VOUCHERS", "DISCOUNT_COUPONS"]
CampaignKind = Literal["AUTO_UPDATE", "STATIC"]
GenerationStatus = Literal["IN_PROGRESS", "DONE", "FAILED"]
_VOUCHER_TYPE: dict[str, VoucherType] = {"GIFT_VOUCHERS": "GIFT_VOUCHER", "DISCOUNT_COUPONS": "DISCOUNT_VOUCHER"}
_CAMPAIGN_TYPE: dict[str, CampaignType] = {"GIFT_VOUCHER": "GIFT_VOUCHERS", "DISCOUNT_VOUCHER": "DISCOUNT_COUPONS"}
# Restrictions perkflow does not enforce: refused, so a code is never valid when its owner thinks it is not.
_UNSUPPORTED = ("validity_timeframe", "validity_day_of_week", "validity_hours")
_DURATION = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def add_duration(start: datetime, duration: str) -> datetime:
    """``start`` + an ISO-8601 duration (``P30D``, ``P1M``, ``PT12H`` ...); months and years are calendar
    months (Jan 31 + P1M = Feb 28/29). ValueError if ``duration`` is not one."""
    match = _DURATION.fullmatch(duration)
    if match is None or not any(match.groups()):
        raise ValueError(f"not an ISO-8601 duration: {duration!r}")
    years, months, weeks, days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    month_index = start.month - 1 + months + 12 * years
    year, month = start.year + month_index // 12, month_index % 12 + 1
    moved = start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))
    return moved + timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


class VoucherTemplateRequest(BaseModel):
    """A campaign's ``voucher``: what every code of the campaign is."""

    model_config = ConfigDict(extra="ignore")

    type: str | None = None
    gift: GiftRequest | None = None
    discount: Discount | None = None
    redemption: RedemptionLimit | None = None
    code_config: CodeConfig | None = None


class CampaignCreateRequest(BaseModel):
    """``POST /v1/campaigns`` as the v2 SDK's ``campaigns.create`` sends it."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    description: str | None = None
    campaign_type: str | None = None
    type: str | None = None
    join_once: bool | None = None
    auto_join: bool | None = None
    vouchers_count: int | None = Field(default=None, ge=0)
    start_date: Instant | None = None
    expiration_date: Instant | None = None
    activity_duration_after_publishing: str | None = None
    validity_timeframe: dict[str, Any] | None = None
    validity_day_of_week: list[int] | None = None
    validity_hours: dict[str, Any] | None = None
    category: str | None = None
    metadata: dict[str, Any] | None = None
    validation_rules: list[str] | None = None
    voucher: VoucherTemplateRequest | None = None


class VoucherTemplate(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: VoucherType
    gift: Gift | None = None
    discount: Discount | None = None
    redemption_quantity: int | None = None
    code_config: CodeConfig = Field(description="normalized: every field set")

    def as_voucherify(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "redemption": {"quantity": self.redemption_quantity},
            "code_config": self.code_config.as_voucherify(),
            "is_referral_code": False,
        }
        if self.gift is not None:
            body["gift"] = {"amount": self.gift.amount, "balance": self.gift.balance, "effect": self.gift.effect}
        if self.discount is not None:
            body["discount"] = self.discount.as_voucherify()
        return body


class Campaign(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str | None = None
    campaign_type: CampaignType
    type: CampaignKind = "AUTO_UPDATE"
    join_once: bool = False
    vouchers_count: int = 0
    start_date: Instant | None = None
    expiration_date: Instant | None = None
    activity_duration_after_publishing: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    active: bool = True
    category: str | None = None
    validation_rules: tuple[str, ...] = Field(default=(), description="rule ids given at creation")
    voucher: VoucherTemplate
    generation_status: GenerationStatus = "DONE"
    created_at: Instant
    updated_at: Instant | None = None

    @classmethod
    def create(cls, request: CampaignCreateRequest, now: datetime, *, existing_codes: int = 0) -> Campaign:
        """A campaign from a create request, checked (``invalid_campaign_params``, ``invalid_voucher``,
        ``invalid_code_config``). ``existing_codes``: codes of the same shape already issued, which count
        against the code_config's capacity."""
        for name in _UNSUPPORTED:
            if getattr(request, name):
                raise InvalidCampaign(f"{name} is not supported by perkflow", details=name)
        campaign_type, voucher_type = _types(request)
        kind = request.type or "AUTO_UPDATE"
        if kind not in ("AUTO_UPDATE", "STATIC"):
            raise InvalidCampaign("type must be AUTO_UPDATE or STATIC", details=kind)
        check_window(request.start_date, request.expiration_date, InvalidCampaign)
        duration = request.activity_duration_after_publishing
        if duration is not None:
            try:
                add_duration(now, duration)
            except ValueError as exc:
                raise InvalidCampaign("activity_duration_after_publishing is not an ISO-8601 duration") from exc
        template = request.voucher or VoucherTemplateRequest()
        gift, discount = money_of(voucher_type, template.gift, template.discount)
        code_config = (template.code_config or CodeConfig()).normalized()
        count = request.vouchers_count or 0
        check_capacity(code_config, count, existing=existing_codes)
        return cls(
            id=new_id("camp_"),
            name=request.name,
            description=request.description,
            campaign_type=campaign_type,
            type="STATIC" if kind == "STATIC" else "AUTO_UPDATE",
            join_once=bool(request.join_once),
            vouchers_count=count,
            start_date=request.start_date,
            expiration_date=request.expiration_date,
            activity_duration_after_publishing=duration,
            metadata=request.metadata or {},
            category=request.category,
            validation_rules=tuple(request.validation_rules or ()),
            voucher=VoucherTemplate(
                type=voucher_type,
                gift=gift,
                discount=discount,
                redemption_quantity=template.redemption.quantity if template.redemption else None,
                code_config=code_config,
            ),
            generation_status="IN_PROGRESS" if count else "DONE",
            created_at=now,
        )

    def generation_finished(self, now: datetime, *, failed: bool = False) -> Campaign:
        return self.model_copy(update={"generation_status": "FAILED" if failed else "DONE", "updated_at": now})

    def with_active(self, active: bool, now: datetime) -> Campaign:
        """``POST /v1/campaigns/{id}/enable|disable``: a disabled campaign's codes answer ``voucher_disabled``."""
        return self.model_copy(update={"active": active, "updated_at": now})

    def new_voucher(self, code: str, now: datetime) -> Voucher:
        """A code of this campaign, as the template and the campaign's dates make it."""
        check_code(code)
        template = self.voucher
        return Voucher(
            id=new_id("v_"),
            code=code,
            campaign=self.name,
            campaign_id=self.id,
            category=self.category,
            type=template.type,
            gift=template.gift,
            discount=template.discount,
            start_date=self.start_date,
            expiration_date=self.expiration_date,
            redemption_quantity=template.redemption_quantity,
            created_at=now,
        )

    def expiration_for(self, published_at: datetime) -> datetime | None:
        """When a code published at ``published_at`` expires: ``activity_duration_after_publishing`` later,
        but never after the campaign's own ``expiration_date``."""
        if self.activity_duration_after_publishing is None:
            return self.expiration_date
        deadline = add_duration(published_at.astimezone(UTC), self.activity_duration_after_publishing)
        return min(deadline, self.expiration_date) if self.expiration_date is not None else deadline

    def ref(self) -> CampaignRef:
        return CampaignRef(id=self.id, name=self.name, type=self.campaign_type)

    def as_voucherify(self, assignments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """``GET /v1/campaigns/{id}``; ``assignments``: its validation rule assignment objects."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "campaign_type": self.campaign_type,
            "type": self.type,
            "voucher": self.voucher.as_voucherify(),
            "auto_join": False,
            "join_once": self.join_once,
            "use_voucher_metadata_schema": False,
            "validity_timeframe": None,
            "validity_day_of_week": None,
            "activity_duration_after_publishing": self.activity_duration_after_publishing,
            "vouchers_count": self.vouchers_count,
            "start_date": iso_or_none(self.start_date),
            "expiration_date": iso_or_none(self.expiration_date),
            "active": self.active,
            "metadata": self.metadata,
            "created_at": iso(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
            "category": self.category,
            "category_id": None,
            "categories": [],
            "creation_status": self.generation_status,
            "vouchers_generation_status": self.generation_status,
            "readonly": False,
            "protected": False,
            "validation_rules_assignments": voucherify_list(assignments or []),
            "object": "campaign",
        }


def _types(request: CampaignCreateRequest) -> tuple[CampaignType, VoucherType]:
    """The campaign type and its voucher type; either may be left out and follows from the other."""
    voucher_type = request.voucher.type if request.voucher else None
    campaign_type = request.campaign_type or (_CAMPAIGN_TYPE.get(voucher_type) if voucher_type else None)
    if campaign_type is None:
        raise InvalidCampaign("campaign_type is required (GIFT_VOUCHERS or DISCOUNT_COUPONS)")
    if campaign_type not in _VOUCHER_TYPE:
        raise InvalidCampaign(
            "perkflow supports campaign_type GIFT_VOUCHERS and DISCOUNT_COUPONS", details=str(campaign_type)
        )
    expected = _VOUCHER_TYPE[campaign_type]
    if voucher_type not in (None, expected):
        raise InvalidCampaign(f"a {campaign_type} campaign makes {expected} vouchers", details=str(voucher_type))
    return _CAMPAIGN_TYPE[expected], expected

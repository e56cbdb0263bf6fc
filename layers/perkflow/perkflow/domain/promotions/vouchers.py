"""Vouchers: gift cards and discount codes, their state, Voucherify shape and gift balance changes.

A voucher is ``GIFT_VOUCHER`` (a stored-value card: ``gift{amount, subtracted_amount, balance}``) or
``DISCOUNT_VOUCHER`` (``discount`` of type AMOUNT, PERCENT or FIXED). perkflow applies both to the order as a
whole (effect ``APPLY_TO_ORDER``); item-level effects and UNIT discounts are refused with ``invalid_voucher``
rather than silently computed at order level.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.errors import PerkflowError
from perkflow.domain.events import VoucherRef
from perkflow.domain.ids import new_id
from perkflow.domain.promotions.codes import MAX_CODE_LENGTH, CodeConfig, generate
from perkflow.domain.promotions.common import Instant, iso_or_none, voucherify_list
from perkflow.domain.promotions.errors import Failure, InvalidBalance, InvalidVoucher, gift_amount_exceeded
from perkflow.domain.timeutil import iso

VoucherType = Literal["GIFT_VOUCHER", "DISCOUNT_VOUCHER"]
DiscountType = Literal["AMOUNT", "PERCENT", "FIXED"]
ORDER_EFFECT = "APPLY_TO_ORDER"
_DISCOUNT_FIELD: dict[str, str] = {"AMOUNT": "amount_off", "PERCENT": "percent_off", "FIXED": "fixed_amount"}


class Discount(BaseModel):
    """A discount as clients send it and as vouchers carry it (cents, ``percent_off`` a plain percent)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: DiscountType
    amount_off: int | None = Field(default=None, ge=0)
    percent_off: int | float | None = Field(default=None, gt=0, le=100)  # int stays int when echoed
    amount_limit: int | None = Field(default=None, ge=0, description="PERCENT: the most it takes off")
    fixed_amount: int | None = Field(default=None, ge=0, description="FIXED: the order's new price")
    effect: str | None = None

    def checked(self) -> Discount:
        """The discount with only the fields its type uses; :class:`InvalidVoucher` if one is missing."""
        field = _DISCOUNT_FIELD[self.type]
        if getattr(self, field) is None:
            raise InvalidVoucher(f"a {self.type} discount needs {field}")
        if self.effect not in (None, ORDER_EFFECT):
            raise InvalidVoucher("perkflow applies discounts to the whole order only", details=f"effect {self.effect}")
        fields: dict[str, Any] = {"type": self.type, field: getattr(self, field), "effect": ORDER_EFFECT}
        if self.type == "PERCENT":
            fields["amount_limit"] = self.amount_limit
        return Discount(**fields)

    def amount_for(self, amount: int) -> int:
        """What this discount takes off an order of ``amount`` cents (never more than the amount)."""
        if self.type == "AMOUNT":
            off = self.amount_off or 0
        elif self.type == "PERCENT":
            exact = Decimal(amount) * Decimal(str(self.percent_off)) / 100
            off = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            if self.amount_limit is not None:
                off = min(off, self.amount_limit)
        else:  # FIXED: the order costs fixed_amount, unless it already costs less
            off = amount - (self.fixed_amount or 0)
        return max(0, min(off, amount))

    def as_voucherify(self) -> dict[str, Any]:
        body = self.model_dump(exclude_none=True)
        body["is_dynamic"] = False  # perkflow has no formulas
        return body


class GiftRequest(BaseModel):
    """``gift`` in a create request; ``balance`` is only echoed by Voucherify, so it is not read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: int | None = Field(default=None, ge=0)
    effect: str | None = None

    def checked_amount(self) -> int:
        if self.amount is None:
            raise InvalidVoucher("a gift voucher needs gift.amount")
        if self.effect not in (None, ORDER_EFFECT):
            raise InvalidVoucher(
                "perkflow applies gift credits to the whole order only", details=f"effect {self.effect}"
            )
        return self.amount


class Gift(BaseModel):
    """A gift card's money. ``amount`` is the lifetime income (initial amount + top-ups); ``balance`` what is
    left to spend; ``subtracted_amount`` what negative balance adjustments removed."""

    model_config = ConfigDict(frozen=True)

    amount: int
    subtracted_amount: int = 0
    balance: int
    effect: str = ORDER_EFFECT

    def as_voucherify(self) -> dict[str, Any]:
        return self.model_dump()


class RedemptionLimit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    quantity: int | None = Field(default=None, ge=1, description="how many times it can be redeemed; null: no limit")


class VoucherCreateRequest(BaseModel):
    """``POST /v1/vouchers[/{code}]`` (the v2 SDK's ``vouchers.create`` sends ``code`` in the body too).

    A request naming ``campaign``/``campaign_id`` adds a code to that campaign: the service resolves it and
    uses :meth:`Campaign.new_voucher`. This model is the standalone voucher.
    """

    model_config = ConfigDict(extra="ignore")

    code: str | None = None
    code_config: CodeConfig | None = None
    campaign: str | None = None
    campaign_id: str | None = None
    category: str | None = None
    type: VoucherType
    gift: GiftRequest | None = None
    discount: Discount | None = None
    start_date: Instant | None = None
    expiration_date: Instant | None = None
    active: bool | None = None
    metadata: dict[str, Any] | None = None
    additional_info: str | None = None
    redemption: RedemptionLimit | None = None
    validation_rules: list[str] | None = None


class Voucher(BaseModel):
    """A code and its state. Storage keeps it; redemption changes ``gift.balance`` and ``redeemed_quantity``
    under conditions (balance >= credits, redeemed_quantity < quantity) so concurrent redemptions stay exact."""

    model_config = ConfigDict(frozen=True)

    id: str
    code: str
    campaign: str | None = None
    campaign_id: str | None = None
    category: str | None = None
    type: VoucherType
    gift: Gift | None = None
    discount: Discount | None = None
    start_date: Instant | None = None
    expiration_date: Instant | None = None
    active: bool = True
    redemption_quantity: int | None = None
    redeemed_quantity: int = 0
    redeemed_amount: int = 0
    publish_count: int = 0
    holder_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    additional_info: str | None = None
    validation_rules: tuple[str, ...] = Field(default=(), description="rule ids assigned to this voucher")
    created_at: Instant
    updated_at: Instant | None = None
    # What LOCK validation sessions of *other* requests hold (see sessions.py); never part of the answer.
    reserved_quantity: int = Field(default=0, exclude=True)
    reserved_credits: int = Field(default=0, exclude=True)

    @property
    def available_balance(self) -> int:
        """The gift balance this request may spend: the balance minus what other sessions reserved."""
        return 0 if self.gift is None else self.gift.balance - self.reserved_credits

    @classmethod
    def create(cls, request: VoucherCreateRequest, now: datetime) -> Voucher:
        """A standalone voucher; without ``code`` it draws one from ``code_config`` (storage may find it taken:
        then call again)."""
        code = request.code if request.code is not None else generate(request.code_config or CodeConfig(), 1)[0]
        check_code(code)
        gift, discount = money_of(request.type, request.gift, request.discount)
        check_window(request.start_date, request.expiration_date, InvalidVoucher)
        return cls(
            id=new_id("v_"),
            code=code,
            category=request.category,
            type=request.type,
            gift=gift,
            discount=discount,
            start_date=request.start_date,
            expiration_date=request.expiration_date,
            active=True if request.active is None else request.active,
            redemption_quantity=request.redemption.quantity if request.redemption else None,
            metadata=request.metadata or {},
            additional_info=request.additional_info,
            validation_rules=tuple(request.validation_rules or ()),
            created_at=now,
        )

    def unusable(self, now: datetime) -> Failure | None:
        """Why the voucher cannot be used at ``now`` (state, time window, redemption limit), or None."""
        if not self.active:
            return Failure("voucher_disabled", "voucher is disabled", details=self.code)
        if self.start_date is not None and now < self.start_date:
            return Failure("voucher_not_active", "voucher not active", details=self.code)
        if self.expiration_date is not None and now >= self.expiration_date:
            return Failure("voucher_expired", "voucher expired", details=self.code)
        used = self.redeemed_quantity + self.reserved_quantity
        if self.redemption_quantity is not None and used >= self.redemption_quantity:
            return Failure("quantity_exceeded", "quantity exceeded", details=self.code)
        return None

    def published_to(self, customer_id: str, now: datetime, expiration_date: datetime | None = None) -> Voucher:
        """The voucher after a publication to ``customer_id`` (``expiration_date``: the campaign's
        ``activity_duration_after_publishing`` deadline, see :meth:`Campaign.expiration_for`)."""
        update: dict[str, Any] = {"holder_id": customer_id, "publish_count": self.publish_count + 1, "updated_at": now}
        if expiration_date is not None:
            update["expiration_date"] = expiration_date
        return self.model_copy(update=update)

    def redeemed(self, credits: int, now: datetime) -> Voucher:
        """The voucher after one redemption spending ``credits`` (0 for a discount)."""
        update: dict[str, Any] = {
            "redeemed_quantity": self.redeemed_quantity + 1,
            "redeemed_amount": self.redeemed_amount + credits,
            "updated_at": now,
        }
        if self.gift is not None:
            update["gift"] = self.gift.model_copy(update={"balance": self.gift.balance - credits})
        return self.model_copy(update=update)

    def rolled_back(self, credits: int, now: datetime) -> Voucher:
        """The voucher after a redemption that spent ``credits`` is rolled back."""
        update: dict[str, Any] = {
            "redeemed_quantity": max(0, self.redeemed_quantity - 1),
            "redeemed_amount": max(0, self.redeemed_amount - credits),
            "updated_at": now,
        }
        if self.gift is not None:
            update["gift"] = self.gift.model_copy(update={"balance": self.gift.balance + credits})
        return self.model_copy(update=update)

    def ref(self) -> VoucherRef:
        return VoucherRef(
            id=self.id,
            code=self.code,
            type=self.type,
            campaign_id=self.campaign_id,
            gift_amount=self.gift.amount if self.gift else None,
            gift_balance=self.gift.balance if self.gift else None,
            discount=self.discount.as_voucherify() if self.discount else None,
            expiration_date=self.expiration_date,
        )

    def as_voucherify(self, assignments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """``GET /v1/vouchers/{code}``; ``assignments``: its validation rule assignment objects."""
        path = f"/v1/vouchers/{quote(self.code, safe='')}"
        redemption: dict[str, Any] = {
            "quantity": self.redemption_quantity,
            "redeemed_quantity": self.redeemed_quantity,
            "object": "list",
            "url": f"{path}/redemptions?page=1&limit=10",
        }
        if self.gift is not None:
            redemption["redeemed_amount"] = self.redeemed_amount
        return {
            "id": self.id,
            "code": self.code,
            "campaign": self.campaign,
            "campaign_id": self.campaign_id,
            "category": self.category,
            "category_id": None,
            "categories": [],
            "type": self.type,
            "discount": self.discount.as_voucherify() if self.discount else None,
            "gift": self.gift.as_voucherify() if self.gift else None,
            "loyalty_card": None,
            "start_date": iso_or_none(self.start_date),
            "expiration_date": iso_or_none(self.expiration_date),
            "validity_timeframe": None,
            "validity_day_of_week": None,
            "active": self.active,
            "additional_info": self.additional_info,
            "metadata": self.metadata,
            "is_referral_code": False,
            "holder_id": self.holder_id,
            "referrer_id": None,
            "created_at": iso(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
            "validation_rules_assignments": voucherify_list(assignments or []),
            "redemption": redemption,
            "publish": {"object": "list", "count": self.publish_count, "url": f"{path}/publications?page=1&limit=10"},
            "object": "voucher",
        }


def check_code(code: str) -> None:
    if not code or not code.isprintable() or len(code) > MAX_CODE_LENGTH:
        raise InvalidVoucher(f"a code is 1 to {MAX_CODE_LENGTH} printable characters", details=repr(code))


def money_of(
    voucher_type: VoucherType, gift: GiftRequest | None, discount: Discount | None
) -> tuple[Gift | None, Discount | None]:
    """The gift or the discount a voucher of ``voucher_type`` carries; :class:`InvalidVoucher` if missing."""
    if voucher_type == "GIFT_VOUCHER":
        if gift is None:
            raise InvalidVoucher("a GIFT_VOUCHER needs gift")
        amount = gift.checked_amount()
        return Gift(amount=amount, balance=amount), None
    if discount is None:
        raise InvalidVoucher("a DISCOUNT_VOUCHER needs discount")
    return None, discount.checked()


def check_window(start: datetime | None, end: datetime | None, error: type[PerkflowError]) -> None:
    if start is not None and end is not None and end <= start:
        raise error("expiration_date must be after start_date", details=f"{iso(start)} .. {iso(end)}")


class BalanceRequest(BaseModel):
    """``POST /v1/vouchers/{code}/balance``: ``amount`` cents to add (negative: to remove)."""

    model_config = ConfigDict(extra="ignore")

    amount: int
    source_id: str | None = None
    reason: str | None = None


class BalanceChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    voucher: Voucher
    amount: int

    def as_voucherify(self) -> dict[str, Any]:
        gift = self.voucher.gift
        assert gift is not None  # change_balance only makes these for gift cards
        return {
            "amount": self.amount,
            "total": gift.amount,
            "balance": gift.balance,
            "type": "gift_voucher",
            "operation_type": "MANUAL",
            "object": "balance",
            "related_object": {"type": "voucher", "id": self.voucher.id},
        }


def change_balance(voucher: Voucher, request: BalanceRequest, now: datetime) -> BalanceChange:
    """The gift card after adding (or removing) ``request.amount``. Removing more than the balance is
    ``gift_amount_exceeded``; storage applies the change under the same condition."""
    if voucher.gift is None:
        raise InvalidBalance("only a gift voucher has a balance", details=voucher.code)
    if request.amount == 0:
        raise InvalidBalance("amount must not be 0")
    gift = voucher.gift
    if request.amount > 0:
        gift = gift.model_copy(
            update={"amount": gift.amount + request.amount, "balance": gift.balance + request.amount}
        )
    elif -request.amount > gift.balance:
        raise gift_amount_exceeded(voucher.code).to_error()
    else:
        removed = -request.amount
        gift = gift.model_copy(
            update={"subtracted_amount": gift.subtracted_amount + removed, "balance": gift.balance - removed}
        )
    return BalanceChange(voucher=voucher.model_copy(update={"gift": gift, "updated_at": now}), amount=request.amount)

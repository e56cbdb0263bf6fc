"""Builders for the promotion tests: one clock, one customer, campaigns and vouchers as the story has them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from perkflow.domain.customers import Customer, Profile
from perkflow.domain.promotions.campaigns import Campaign, CampaignCreateRequest
from perkflow.domain.promotions.orders import OrderRequest
from perkflow.domain.promotions.redemptions import Candidate, Mode, RedeemableRequest, Stack, evaluate
from perkflow.domain.promotions.rules import ValidationRule, ValidationRuleCreateRequest
from perkflow.domain.promotions.vouchers import Discount, Gift, Voucher

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PATTERN = "GIFT-####-####"
CHARSET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

# reference/voucherify.md §4.4 step 4: the body the v2 SDK's campaigns.create sends in the story.
STORY_CAMPAIGN: dict[str, Any] = {
    "name": "Review gift card",
    "campaign_type": "GIFT_VOUCHERS",
    "type": "AUTO_UPDATE",
    "join_once": True,
    "vouchers_count": 100,
    "voucher": {
        "type": "GIFT_VOUCHER",
        "gift": {"amount": 2500, "effect": "APPLY_TO_ORDER"},
        "redemption": {"quantity": None},
        "code_config": {"pattern": PATTERN, "charset": CHARSET},
    },
    "validation_rules": ["val_reviewers"],
}


def michael() -> Customer:
    return Customer.new("michael.scott", Profile(name="Michael Scott", metadata={"plan": "gold"}), NOW)


def story_campaign(**changes: Any) -> Campaign:
    return Campaign.create(CampaignCreateRequest.model_validate({**STORY_CAMPAIGN, **changes}), NOW)


def gift_card(balance: int = 2500, *, code: str = "GIFT-AAAA-BBBB", **changes: Any) -> Voucher:
    fields: dict[str, Any] = {
        "id": f"v_{code}",
        "code": code,
        "campaign": "Review gift card",
        "campaign_id": "camp_1",
        "type": "GIFT_VOUCHER",
        "gift": Gift(amount=max(balance, 2500), balance=balance),
        "created_at": NOW,
    }
    return Voucher(**{**fields, **changes})


def coupon(discount: dict[str, Any], *, code: str = "SAVE", **changes: Any) -> Voucher:
    fields: dict[str, Any] = {
        "id": f"v_{code}",
        "code": code,
        "type": "DISCOUNT_VOUCHER",
        "discount": Discount.model_validate(discount).checked(),
        "created_at": NOW,
    }
    return Voucher(**{**fields, **changes})


def rule_set(rules: dict[str, Any], **fields: Any) -> ValidationRule:
    request = ValidationRuleCreateRequest.model_validate({"name": "rules", "rules": rules, **fields})
    return ValidationRule.create(request, NOW)


def candidate(
    voucher: Voucher | None, *, code: str | None = None, credits: int | None = None, **fields: Any
) -> Candidate:
    request: dict[str, Any] = {"object": "voucher", "id": code or (voucher.code if voucher else "NOPE")}
    if credits is not None:
        request["gift"] = {"credits": credits}
    return Candidate(request=RedeemableRequest.model_validate(request), voucher=voucher, **fields)


def stack(
    *candidates: Candidate,
    amount: int | None = 4000,
    order: dict[str, Any] | None = None,
    customer: Customer | None = None,
    segments: frozenset[str] = frozenset(),
    mode: Mode = "ALL",
    now: datetime = NOW,
) -> Stack:
    order_request = OrderRequest.model_validate(order if order is not None else {"amount": amount})
    return evaluate(
        candidates,
        order=order_request if (order is not None or amount is not None) else None,
        customer=customer,
        segment_ids=segments,
        now=now,
        mode=mode,
    )

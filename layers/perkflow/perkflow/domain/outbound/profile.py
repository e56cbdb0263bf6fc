"""Loyalty profile properties: what an event says about the customer's current loyalty state.

Each loyalty event carries the state after it (balance, tier, referral URL), so the profile properties that
Klaviyo and Segment hold stay current without a lookup. Klaviyo gets them under DESIGN §6's names, or under
Smile.io's for merchants moving from Smile (``property_names: "smile"``); Segment gets snake_case traits.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from perkflow.domain.events import (
    DomainEvent,
    LoyaltyPointsEarned,
    LoyaltyPointsExpired,
    LoyaltyPointsExpiring,
    LoyaltyPointsRedeemed,
    LoyaltyReferralCompleted,
    LoyaltyReferralStarted,
    LoyaltyRewardExpiring,
    LoyaltyRewardIssued,
    LoyaltyTierAchieved,
)

PropertyNames = Literal["perkflow", "smile"]

KLAVIYO_PROPERTY_NAMES: dict[str, dict[str, str]] = {
    "perkflow": {
        "points_balance": "Loyalty Points Balance",
        "tier_name": "Loyalty VIP Tier Name",
        "tier_id": "Loyalty VIP Tier ID",
        "referral_url": "Loyalty Referral URL",
        "state": "Loyalty State",
    },
    "smile": {
        "points_balance": "Smile Points Balance",
        "tier_name": "Smile VIP Tier Name",
        "tier_id": "Smile VIP Tier ID",
        "referral_url": "Smile Referral URL",
        "state": "Smile State",
    },
}

SEGMENT_TRAIT_NAMES: dict[str, str] = {
    "points_balance": "loyalty_points_balance",
    "tier_name": "loyalty_vip_tier_name",
    "tier_id": "loyalty_vip_tier_id",
    "referral_url": "loyalty_referral_url",
    "state": "loyalty_state",
}

_LOYALTY_EVENTS = (
    LoyaltyPointsEarned,
    LoyaltyPointsRedeemed,
    LoyaltyReferralCompleted,
    LoyaltyPointsExpiring,
    LoyaltyPointsExpired,
    LoyaltyTierAchieved,
    LoyaltyReferralStarted,
    LoyaltyReferralCompleted,
    LoyaltyRewardIssued,
    LoyaltyRewardExpiring,
)


@dataclass(frozen=True)
class LoyaltyProfile:
    """The loyalty properties an event sets; None means "this event says nothing about it"."""

    points_balance: int | None = None
    tier_name: str | None = None
    tier_id: str | None = None
    referral_url: str | None = None
    state: str | None = None

    def values(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self) if getattr(self, item.name) is not None}

    def klaviyo_properties(self, naming: PropertyNames) -> dict[str, Any]:
        names = KLAVIYO_PROPERTY_NAMES[naming]
        return {names[key]: value for key, value in self.values().items()}

    def segment_traits(self) -> dict[str, Any]:
        return {SEGMENT_TRAIT_NAMES[key]: value for key, value in self.values().items()}


def _own_referral_url(event: DomainEvent) -> str | None:
    """The customer's own referral link. In ``loyalty.referral.started`` the customer may be the referred
    friend (``advocate`` names the referrer): the link there is the advocate's, not the friend's."""
    url = getattr(event, "referral_url", None)
    if isinstance(event, LoyaltyReferralStarted):
        advocate = event.advocate
        customer = event.customer
        if advocate is not None and advocate.id != customer.id:
            return None
    return url if isinstance(url, str) and url else None


def profile_update(event: DomainEvent) -> LoyaltyProfile | None:
    """The loyalty properties ``event`` changes, or None when it changes none (promotion events)."""
    if not isinstance(event, _LOYALTY_EVENTS):
        return None
    balance: int | None = None
    if isinstance(event, LoyaltyPointsEarned | LoyaltyPointsRedeemed | LoyaltyPointsExpiring | LoyaltyPointsExpired):
        balance = event.balance
    tier = event.tier if isinstance(event, LoyaltyTierAchieved) else None
    return LoyaltyProfile(
        points_balance=balance,
        tier_name=tier.name if tier else None,
        tier_id=tier.id if tier else None,
        referral_url=_own_referral_url(event),
        state="member",
    )

"""Which catalogue events leave perkflow, and under which names (DESIGN §6, "Outbound").

Every detail-type of :data:`OUTBOUND_DETAIL_TYPES` goes to all three destinations (unless one is disabled).
The EventBridge rules in template.yaml route exactly these detail-types into each destination's queue; a
test holds the template's patterns against this module and the catalogue.
"""

from __future__ import annotations

from perkflow.domain.events import DomainEvent, LoyaltyPointsEarned, LoyaltyRewardIssued

DESTINATIONS: tuple[str, ...] = ("segment", "klaviyo", "webhook")

# detail-type -> the one name Segment (track event) and Klaviyo (metric) know it by.
NAMES: dict[str, str] = {
    "publication.succeeded": "Customer Publication Succeeded",
    "redemption.succeeded": "Customer Redemption Succeeded",
    "redemption.failed": "Customer Redemption Failed",
    "redemption.rollback.succeeded": "Customer Redemption Rollback Succeeded",
    "voucher.gift.balance_added": "Customer Gift Balance Added",
    "customer.segment.entered": "Customer Segment Entered",
    "customer.segment.left": "Customer Segment Left",
    "loyalty.points.earned": "Points Earned",
    "loyalty.points.redeemed": "Points Redeemed",
    "loyalty.points.expiring": "Points Expiring",
    "loyalty.points.expired": "Points Expired",
    "loyalty.tier.achieved": "VIP Tier Achieved",
    "loyalty.referral.started": "Referral Started",
    "loyalty.referral.completed": "Referral Completed",
    "loyalty.reward.issued": "Reward Issued",
    "loyalty.reward.expiring": "Reward Expiring",
}

# The detail-types each destination's queue receives (the same set for all three, DESIGN §6).
OUTBOUND_DETAIL_TYPES: tuple[str, ...] = tuple(NAMES)
ROUTES: dict[str, tuple[str, ...]] = dict.fromkeys(DESTINATIONS, OUTBOUND_DETAIL_TYPES)


def outbound_name(event: DomainEvent) -> str:
    """The Segment event / Klaviyo metric name, with Smile's names where the event says which variant."""
    if isinstance(event, LoyaltyPointsEarned) and event.source == "order":
        return "Points Earned on Order"
    if isinstance(event, LoyaltyRewardIssued) and event.reason == "birthday":
        return "Birthday Reward Issued"
    return NAMES[event.DETAIL_TYPE]


def webhook_type(event: DomainEvent) -> str:
    """Voucherify's project webhook ``type`` for the event (perkflow's detail-type names follow them)."""
    return event.DETAIL_TYPE


def all_names() -> set[str]:
    """Every name an outbound event can carry (both variants where there are two)."""
    return {*NAMES.values(), "Points Earned on Order", "Birthday Reward Issued"}

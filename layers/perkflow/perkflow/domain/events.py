"""The event catalogue: every EventBridge detail-type of DESIGN §2, one versioned model each.

This module is the only place a detail-type name or a detail shape is defined. Producers build these models
and hand them to the outbox; consumers parse ``detail`` back with :func:`parse_detail`. Every detail carries
a stable ``event_id`` that consumers dedupe on, the model ``version`` and the UTC ``occurred_at``.

Versioning rule: adding an optional field keeps the version; renaming, removing or retyping a field bumps
``VERSION`` and consumers must accept both until every producer is upgraded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from perkflow.domain.timeutil import iso

Timestamp = Annotated[datetime, PlainSerializer(iso, return_type=str)]
Cents = Annotated[int, Field(description="money in integer cents")]


class _Ref(BaseModel):
    # Consumers ignore fields they do not know, so producers can add optional fields without a version bump.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CustomerRef(_Ref):
    id: str
    source_id: str | None = None
    email: str | None = None
    name: str | None = None


class SegmentRef(_Ref):
    id: str
    name: str


class CampaignRef(_Ref):
    id: str
    name: str
    type: str | None = None


class VoucherRef(_Ref):
    id: str
    code: str
    type: Literal["GIFT_VOUCHER", "DISCOUNT_VOUCHER", "LOYALTY_CARD"]
    campaign_id: str | None = None
    gift_amount: Cents | None = None
    gift_balance: Cents | None = None
    discount: dict[str, Any] | None = None
    expiration_date: Timestamp | None = None


class OrderRef(_Ref):
    id: str | None = None
    source_id: str | None = None
    amount: Cents | None = None


class ProgramRef(_Ref):
    id: str
    name: str


class TierRef(_Ref):
    id: str
    name: str
    rank: int = Field(description="0 is the lowest tier; a higher rank is a better tier")


class RewardRef(_Ref):
    id: str
    name: str
    type: Literal["CAMPAIGN", "COIN", "MATERIAL", "POINTS"] = "CAMPAIGN"


class RecordedEvent(_Ref):
    name: str
    kind: Literal["track", "page", "screen", "custom"] = "track"
    message_id: str | None = None
    timestamp: Timestamp
    properties: dict[str, Any] = Field(default_factory=dict)


class DomainEvent(BaseModel):
    """Base of every detail. Subclasses set DETAIL_TYPE and VERSION."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    DETAIL_TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    event_id: str
    version: int = 1
    occurred_at: Timestamp

    def detail(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["version"] = self.VERSION
        return data


class CustomerEvent(DomainEvent):
    customer: CustomerRef


class CustomerCreated(CustomerEvent):
    DETAIL_TYPE = "customer.created"
    profile: dict[str, Any] = Field(default_factory=dict, description="the profile snapshot, as segments read it")


class CustomerUpdated(CustomerEvent):
    DETAIL_TYPE = "customer.updated"
    changed: list[str] = Field(default_factory=list, description="profile paths that changed")
    merged_from: list[str] = Field(default_factory=list, description="source ids merged into this customer")
    profile: dict[str, Any] = Field(default_factory=dict, description="the profile snapshot after the change")


class CustomerEventRecorded(CustomerEvent):
    DETAIL_TYPE = "customer.event.recorded"
    activity_id: str
    event: RecordedEvent


class CustomerSegmentEntered(CustomerEvent):
    DETAIL_TYPE = "customer.segment.entered"
    segment: SegmentRef


class CustomerSegmentLeft(CustomerEvent):
    DETAIL_TYPE = "customer.segment.left"
    segment: SegmentRef


class PublicationSucceeded(CustomerEvent):
    DETAIL_TYPE = "publication.succeeded"
    publication_id: str
    source_id: str | None = None
    voucher: VoucherRef
    campaign: CampaignRef | None = None
    distribution_id: str | None = None


class _Redemption(DomainEvent):
    customer: CustomerRef | None = None
    redemption_id: str
    parent_redemption_id: str | None = None
    order: OrderRef | None = None
    voucher: VoucherRef | None = None
    campaign: CampaignRef | None = None
    amount: Cents = 0


class RedemptionSucceeded(_Redemption):
    DETAIL_TYPE = "redemption.succeeded"


class RedemptionFailed(_Redemption):
    DETAIL_TYPE = "redemption.failed"
    failure_key: str
    failure_message: str


class RedemptionRollbackSucceeded(_Redemption):
    DETAIL_TYPE = "redemption.rollback.succeeded"
    rollback_id: str
    reason: str | None = None


class VoucherGiftBalanceAdded(DomainEvent):
    DETAIL_TYPE = "voucher.gift.balance_added"
    customer: CustomerRef | None = None
    voucher: VoucherRef
    amount: Cents
    balance: Cents
    transaction_id: str


class CampaignVouchersGenerationCompleted(DomainEvent):
    DETAIL_TYPE = "campaign.vouchers.generation.completed"
    campaign: CampaignRef
    vouchers_count: int


class _Loyalty(CustomerEvent):
    program: ProgramRef
    referral_url: str | None = Field(default=None, description="the member's referral URL, when the program refers")


class LoyaltyPointsEarned(_Loyalty):
    DETAIL_TYPE = "loyalty.points.earned"
    points: int
    balance: int
    source: Literal["order", "event", "segment", "birthday", "referral", "signup", "adjustment"]
    transaction_id: str
    order: OrderRef | None = None
    earning_rule_id: str | None = None
    event_name: str | None = None
    expires_at: Timestamp | None = Field(default=None, description="when the points earned expire (None: never)")


class LoyaltyPointsRedeemed(_Loyalty):
    DETAIL_TYPE = "loyalty.points.redeemed"
    points: int
    balance: int
    transaction_id: str
    reward: RewardRef | None = None
    code: str | None = None
    reward_expires_at: Timestamp | None = Field(default=None, description="when the reward's code expires")


class LoyaltyPointsExpiring(_Loyalty):
    DETAIL_TYPE = "loyalty.points.expiring"
    points: int
    balance: int
    expires_at: Timestamp
    reminder_days: int | None = Field(default=None, description="which reminder: days before the expiry")


class LoyaltyPointsExpired(_Loyalty):
    DETAIL_TYPE = "loyalty.points.expired"
    points: int
    balance: int
    transaction_id: str


class LoyaltyTierAchieved(_Loyalty):
    DETAIL_TYPE = "loyalty.tier.achieved"
    tier: TierRef
    previous_tier: TierRef | None = None
    direction: Literal["up", "down"]


class LoyaltyReferralStarted(_Loyalty):
    DETAIL_TYPE = "loyalty.referral.started"
    referral_code: str
    referral_url: str
    referee: CustomerRef | None = None
    advocate: CustomerRef | None = None
    points: int = 0
    reward: RewardRef | None = None
    code: str | None = None


class LoyaltyReferralCompleted(_Loyalty):
    DETAIL_TYPE = "loyalty.referral.completed"
    referral_code: str
    referral_url: str
    referee: CustomerRef
    points: int = 0
    reward: RewardRef | None = None
    code: str | None = None


class LoyaltyRewardIssued(_Loyalty):
    DETAIL_TYPE = "loyalty.reward.issued"
    reward: RewardRef
    reason: Literal["birthday", "referral", "points", "tier", "other"]
    code: str | None = None
    points: int = 0
    expires_at: Timestamp | None = None


class LoyaltyRewardExpiring(_Loyalty):
    DETAIL_TYPE = "loyalty.reward.expiring"
    reward: RewardRef
    code: str | None = None
    expires_at: Timestamp


CATALOGUE: dict[str, type[DomainEvent]] = {
    model.DETAIL_TYPE: model
    for model in (
        CustomerCreated,
        CustomerUpdated,
        CustomerEventRecorded,
        CustomerSegmentEntered,
        CustomerSegmentLeft,
        PublicationSucceeded,
        RedemptionSucceeded,
        RedemptionFailed,
        RedemptionRollbackSucceeded,
        VoucherGiftBalanceAdded,
        CampaignVouchersGenerationCompleted,
        LoyaltyPointsEarned,
        LoyaltyPointsRedeemed,
        LoyaltyPointsExpiring,
        LoyaltyPointsExpired,
        LoyaltyTierAchieved,
        LoyaltyReferralStarted,
        LoyaltyReferralCompleted,
        LoyaltyRewardIssued,
        LoyaltyRewardExpiring,
    )
}


def parse_detail(detail_type: str, detail: dict[str, Any]) -> DomainEvent:
    """Parse a bus detail into its catalogue model (KeyError for an unknown detail-type)."""
    return CATALOGUE[detail_type].model_validate(detail)


class OutboxEntry(BaseModel):
    """An event waiting on a stored item for the outbox relay to put it on the bus."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="perkflow.<function> that made the change")
    detail_type: str
    detail: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.detail["event_id"])

    @classmethod
    def of(cls, source: str, event: DomainEvent) -> OutboxEntry:
        return cls(source=source, detail_type=event.DETAIL_TYPE, detail=event.detail())

"""Publications: assigning codes to a customer (``POST /v1/publications``, reference/voucherify.md §3.7).

A request names the customer and either a campaign (by name or ``camp_`` id, as a string or ``{name,
count}``) or one ``voucher`` code. ``join_once`` comes in the body (v2 SDK) or the query (v3 SDK).
``source_id`` makes the request replay-safe: a repeat answers the first publication. Picking the code and
keeping "one code per customer" for join-once campaigns is storage's job (conditional writes); this module
decides what a publication is and how it is answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.activities import Activity, activity_id
from perkflow.domain.customers import Customer
from perkflow.domain.errors import InvalidPayload
from perkflow.domain.events import PublicationSucceeded
from perkflow.domain.ids import stable_id
from perkflow.domain.promotions.campaigns import Campaign
from perkflow.domain.promotions.common import Instant, parse
from perkflow.domain.promotions.customer_input import CustomerInput, simple
from perkflow.domain.promotions.errors import InvalidPublication
from perkflow.domain.promotions.vouchers import Voucher
from perkflow.domain.timeutil import iso

MAX_COUNT = 50  # Voucherify's limit on campaign.count
ACTIVITY = "customer.publication.succeeded"
_LISTED_VOUCHER = ("code", "object", "campaign", "gift", "loyalty_card", "discount", "is_referral_code")


class CampaignChoice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, description="campaign name or camp_ id")
    count: int | None = Field(default=None, ge=1)


class PublicationRequest(BaseModel):
    """The body of ``POST /v1/publications`` (and of ``/client/v1/publish``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    customer: Any = None
    campaign: str | CampaignChoice | None = None
    voucher: str | None = None
    source_id: str | None = Field(default=None, min_length=1)
    channel: str | None = None
    metadata: dict[str, Any] | None = None
    join_once: bool | None = None

    @classmethod
    def parse(cls, body: Any) -> PublicationRequest:
        return parse(cls, body, InvalidPayload, "Invalid payload")

    def order(self, join_once_query: bool | None = None) -> PublicationOrder:
        """The checked request (``missing_customer``, ``missing_vouchers``, ``too_many_vouchers_requested``)."""
        customer = CustomerInput.of(self.customer)
        if customer is None:
            raise InvalidPublication("Customer is required", key="missing_customer", details="customer")
        campaign = CampaignChoice(name=self.campaign) if isinstance(self.campaign, str) else self.campaign
        if campaign is None and not self.voucher:
            raise InvalidPublication(
                "Missing vouchers", key="missing_vouchers", details="Specify a campaign or a voucher to publish"
            )
        count = campaign.count or 1 if campaign is not None else 1
        if count > MAX_COUNT:
            raise InvalidPublication(
                "Too many vouchers requested",
                key="too_many_vouchers_requested",
                details=f"count is at most {MAX_COUNT}",
            )
        return PublicationOrder(
            customer=customer,
            campaign=campaign.name if campaign is not None and not self.voucher else None,
            voucher=self.voucher,
            count=1 if self.source_id or self.voucher else count,  # a source_id publishes one code
            source_id=self.source_id,
            channel=self.channel or "API",
            metadata=self.metadata or {},
            join_once=bool(join_once_query or self.join_once),
        )


@dataclass(frozen=True)
class PublicationOrder:
    customer: CustomerInput
    campaign: str | None  # name or camp_ id
    voucher: str | None  # a specific code
    count: int
    source_id: str | None
    channel: str
    metadata: dict[str, Any]
    join_once: bool
    distribution_id: str | None = None

    def publication_id(self) -> str | None:
        """A replay-safe request has a fixed publication id (so its records can be written once)."""
        return stable_id("pub_", "source", self.source_id) if self.source_id else None


class Publication(BaseModel):
    """A stored publication and the answer it gave (replays answer the same)."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: Instant
    customer_id: str
    campaign_id: str | None = None
    source_id: str | None = None
    channel: str = "API"
    distribution_id: str | None = None
    codes: tuple[str, ...]
    answer: dict[str, Any] = Field(description="the POST /v1/publications body")


def publish(
    order: PublicationOrder,
    *,
    publication_id: str,
    customer: Customer,
    campaign: Campaign | None,
    vouchers: list[Voucher],
    now: datetime,
) -> tuple[Publication, list[Voucher]]:
    """The publication of ``vouchers`` to ``customer``, and the vouchers as they are after it."""
    expiration = campaign.expiration_for(now) if campaign is not None else None
    published = [voucher.published_to(customer.id, now, expiration) for voucher in vouchers]
    answer: dict[str, Any] = {
        "id": publication_id,
        "object": "publication",
        "created_at": iso(now),
        "customer_id": customer.id,
        "tracking_id": customer.source_id,
        "metadata": order.metadata,
        "channel": order.channel,
        "source_id": order.source_id,
        "result": "SUCCESS",
        "customer": simple(customer),
        "vouchers_id": [voucher.id for voucher in published],
    }
    if len(published) == 1:
        answer["voucher"] = published[0].as_voucherify()
    else:
        answer["vouchers"] = [voucher.code for voucher in published]
    publication = Publication(
        id=publication_id,
        created_at=now,
        customer_id=customer.id,
        campaign_id=campaign.id if campaign is not None else published[0].campaign_id,
        source_id=order.source_id,
        channel=order.channel,
        distribution_id=order.distribution_id,
        codes=tuple(voucher.code for voucher in published),
        answer=answer,
    )
    return publication, published


def succeeded_events(
    publication: Publication, customer: Customer, vouchers: list[Voucher], campaign: Campaign | None, now: datetime
) -> list[PublicationSucceeded]:
    return [
        PublicationSucceeded(
            event_id=stable_id("evt_", publication.id, voucher.id, PublicationSucceeded.DETAIL_TYPE),
            occurred_at=now,
            customer=customer.ref(),
            publication_id=publication.id,
            source_id=publication.source_id,
            voucher=voucher.ref(),
            campaign=campaign.ref() if campaign is not None else None,
            distribution_id=publication.distribution_id,
        )
        for voucher in vouchers
    ]


def activity(publication: Publication, customer: Customer, vouchers: list[Voucher], now: datetime) -> Activity:
    return Activity(
        id=activity_id(now, publication.id),
        type=ACTIVITY,
        customer=customer.ref(),
        created_at=now,
        data={
            "publication": {
                "id": publication.id,
                "source_id": publication.source_id,
                "channel": publication.channel,
                "vouchers": [{"id": voucher.id, "code": voucher.code} for voucher in vouchers],
            },
            "campaign": {"id": publication.campaign_id},
        },
        group_id=publication.id,
    )


def redeemable(
    voucher: Voucher, *, customer_id: str, created_at: datetime, campaign_type: str | None, now: datetime
) -> dict[str, Any]:
    """One entry of ``GET /v1/customers/{id}/redeemables`` (the wallet)."""
    active = voucher.unusable(now) is None
    shown = voucher.as_voucherify()
    del shown["validation_rules_assignments"]  # the wallet's voucher schema has none
    return {
        "id": stable_id("rh_", customer_id, voucher.id),
        "created_at": iso(created_at),
        "redeemable_id": voucher.id,
        "redeemable_object": "voucher",
        "customer_id": customer_id,
        "holder_role": "OWNER",
        "campaign_id": voucher.campaign_id,
        "campaign_type": campaign_type,
        "voucher_type": voucher.type,
        "redeemable": {"type": "voucher", "voucher": shown, "status": "ACTIVE" if active else "INACTIVE"},
    }


def listed(answer: dict[str, Any]) -> dict[str, Any]:
    """A publication as ``GET /v1/publications`` lists it: its voucher in the list's short form."""
    item = dict(answer)
    voucher = item.get("voucher")
    if isinstance(voucher, dict):
        item["voucher"] = {key: voucher.get(key) for key in _LISTED_VOUCHER}
    return item

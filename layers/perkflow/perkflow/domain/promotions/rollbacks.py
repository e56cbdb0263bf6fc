"""Rollbacks: undoing a successful redemption (``POST /v1/redemptions/{id}/rollback`` and, for a stacked
redemption, ``POST /v1/redemptions/{parentId}/rollbacks``; reference/voucherify.md §3.10).

A rollback gives the gift credits back, frees the redemption it used (``redeemed_quantity`` - 1) and marks
the redemption ``ROLLED_BACK``; storage does all of that in one transaction, conditional on the redemption
still being ``SUCCEEDED``, so a redemption is rolled back at most once (``already_rolled_back``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.activities import Activity, activity_id
from perkflow.domain.events import CampaignRef, CustomerRef, OrderRef, RedemptionRollbackSucceeded
from perkflow.domain.ids import new_id, stable_id
from perkflow.domain.promotions.common import Instant
from perkflow.domain.promotions.errors import InvalidRollback
from perkflow.domain.promotions.redemptions import Redemption
from perkflow.domain.promotions.vouchers import Voucher
from perkflow.domain.timeutil import iso

ACTIVITY = "customer.redemption.rollback.succeeded"


class RollbackRequest(BaseModel):
    """Body of a rollback (v3 SDK); v2 and legacy SDKs put ``reason`` and ``tracking_id`` in the query."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    reason: str | None = None
    tracking_id: str | None = None
    customer: Any = None
    metadata: dict[str, Any] | None = None


class RedemptionRollback(BaseModel):
    """A rollback record (``rr_``)."""

    model_config = ConfigDict(frozen=True)

    id: str
    date: Instant
    customer_id: str | None = None
    tracking_id: str | None = None
    metadata: dict[str, Any] | None = None
    amount: int | None = Field(default=None, description="gift credits given back, negative (Voucherify's sign)")
    redemption: str = Field(description="the redemption rolled back")
    reason: str | None = None
    order: dict[str, Any] | None = None
    customer: dict[str, Any] | None = None
    related_object_type: Literal["voucher", "redemption"]
    related_object_id: str
    voucher: dict[str, Any] | None = Field(default=None, description="the voucher after the rollback")
    parent_rollback_id: str | None = None

    def as_voucherify(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "redemption_rollback",
            "date": iso(self.date),
            "customer_id": self.customer_id,
            "tracking_id": self.tracking_id,
            "metadata": self.metadata,
            "redemption": self.redemption,
            "reason": self.reason,
            "result": "SUCCESS",
            "status": "SUCCEEDED",
            "order": self.order,
            "channel": {"channel_id": None, "channel_type": "API"},
            "customer": self.customer,
            "related_object_type": self.related_object_type,
            "related_object_id": self.related_object_id,
        }
        if self.amount is not None:
            body["amount"] = self.amount
            body["gift"] = {"amount": self.amount}
        if self.voucher is not None:
            body["voucher"] = self.voucher
        return body


def refusal(redemption: Redemption, *, stacked: bool) -> InvalidRollback | None:
    """Why ``redemption`` cannot be rolled back by this endpoint (None: it can)."""
    is_parent = redemption.related_object_type == "redemption"
    if is_parent and not stacked:
        return InvalidRollback(
            "Invalid redemption",
            key="invalid_redemption",
            details=f"{redemption.id} is stacked: roll it back with /v1/redemptions/{redemption.id}/rollbacks",
        )
    if stacked and not is_parent:
        return InvalidRollback(
            "Invalid redemption parent",
            key="invalid_redemption_parent",
            details=f"{redemption.id} is not stacked: roll it back with /v1/redemptions/{redemption.id}/rollback",
        )
    if redemption.status == "ROLLED_BACK":
        return InvalidRollback("Already rolled back", key="already_rolled_back", details=redemption.id)
    if redemption.status != "SUCCEEDED":
        return InvalidRollback(
            "Invalid redemption", key="invalid_redemption", details=f"{redemption.id} did not succeed"
        )
    return None


def roll_back(
    redemption: Redemption,
    voucher: Voucher | None,
    *,
    now: datetime,
    reason: str | None,
    tracking_id: str | None,
    metadata: dict[str, Any] | None,
    parent_rollback_id: str | None = None,
) -> tuple[RedemptionRollback, Voucher | None]:
    """The rollback record of one (child or legacy) redemption and its voucher after it."""
    credits = redemption.amount or 0
    after = voucher.rolled_back(credits, now) if voucher is not None else None
    order = dict(redemption.order) if redemption.order else None
    if order is not None:
        order["status"] = "CANCELED"
    record = RedemptionRollback(
        id=new_id("rr_"),
        date=now,
        customer_id=redemption.customer_id,
        tracking_id=tracking_id or redemption.tracking_id,
        metadata=metadata,
        amount=-credits if redemption.amount is not None else None,
        redemption=redemption.id,
        reason=reason,
        order=order,
        customer=redemption.customer,
        related_object_type="voucher",
        related_object_id=redemption.related_object_id,
        voucher=after.as_voucherify() if after is not None else redemption.voucher,
        parent_rollback_id=parent_rollback_id,
    )
    return record, after


def parent_rollback(
    parent: Redemption,
    children: list[RedemptionRollback],
    *,
    now: datetime,
    reason: str | None,
    tracking_id: str | None,
) -> RedemptionRollback:
    order = dict(parent.order) if parent.order else None
    if order is not None:
        order["status"] = "CANCELED"
    return RedemptionRollback(
        id=children[0].parent_rollback_id or new_id("rr_"),
        date=now,
        customer_id=parent.customer_id,
        tracking_id=tracking_id or parent.tracking_id,
        metadata=parent.metadata,
        redemption=parent.id,
        reason=reason,
        order=order,
        customer=parent.customer,
        related_object_type="redemption",
        related_object_id=parent.id,
    )


def stacked_answer(parent: RedemptionRollback, children: list[RedemptionRollback]) -> dict[str, Any]:
    """The ``POST /v1/redemptions/{parentId}/rollbacks`` body."""
    return {
        "rollbacks": [child.as_voucherify() for child in children],
        "parent_rollback": parent.as_voucherify(),
        "order": parent.order,
    }


def succeeded_event(
    record: RedemptionRollback, redemption: Redemption, voucher: Voucher | None, now: datetime
) -> RedemptionRollbackSucceeded:
    order = redemption.order or {}
    campaign_id = voucher.campaign_id if voucher is not None else None
    return RedemptionRollbackSucceeded(
        event_id=stable_id("evt_", record.id, RedemptionRollbackSucceeded.DETAIL_TYPE),
        occurred_at=now,
        customer=customer_ref(redemption),
        redemption_id=redemption.id,
        parent_redemption_id=redemption.parent_id,
        order=OrderRef(id=order.get("id"), source_id=order.get("source_id"), amount=order.get("amount")),
        voucher=voucher.ref() if voucher is not None else None,
        campaign=CampaignRef(id=campaign_id, name=voucher.campaign or "")
        if voucher is not None and campaign_id
        else None,
        amount=redemption.amount or 0,
        rollback_id=record.id,
        reason=record.reason,
    )


def activity(record: RedemptionRollback, customer_ref: CustomerRef, now: datetime) -> Activity:
    return Activity(
        id=activity_id(now, record.id),
        type=ACTIVITY,
        customer=customer_ref,
        created_at=now,
        data={"redemption_rollback": {"id": record.id, "redemption": record.redemption, "amount": record.amount}},
        group_id=record.id,
    )


def customer_ref(redemption: Redemption) -> CustomerRef | None:
    customer = redemption.customer or {}
    if not customer.get("id"):
        return None
    return CustomerRef(
        id=customer["id"], source_id=customer.get("source_id"), email=customer.get("email"), name=customer.get("name")
    )

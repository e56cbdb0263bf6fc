"""What a redemption announces: one ``redemption.succeeded`` per redeemed voucher (``redemption.failed`` for a
refusal), and the customer activity each record lists itself as (``customer.redemption.succeeded`` /
``.failed``). Event ids derive from the record ids, so a re-stored record re-announces nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from perkflow.domain.activities import Activity, activity_id
from perkflow.domain.customers import Customer
from perkflow.domain.events import CampaignRef, CustomerRef, OrderRef, RedemptionFailed, RedemptionSucceeded
from perkflow.domain.ids import stable_id
from perkflow.domain.promotions.redemptions import Redemption, RedemptionPlan, Refusal
from perkflow.domain.promotions.vouchers import Voucher

SUCCEEDED = "customer.redemption.succeeded"
FAILED = "customer.redemption.failed"


@dataclass(frozen=True)
class Announced:
    record: Redemption
    event: RedemptionSucceeded | RedemptionFailed
    activity: Activity | None


def _order_ref(order: dict[str, Any] | None) -> OrderRef | None:
    if not order:
        return None
    amount = order.get("amount")
    return OrderRef(
        id=order.get("id"), source_id=order.get("source_id"), amount=amount if isinstance(amount, int) else None
    )


def _campaign_ref(voucher: Voucher | None) -> CampaignRef | None:
    if voucher is None or voucher.campaign_id is None:
        return None
    return CampaignRef(id=voucher.campaign_id, name=voucher.campaign or "")


def _activity(record: Redemption, customer: CustomerRef | None, kind: str, now: datetime) -> Activity | None:
    if customer is None:
        return None
    summary: dict[str, Any] = {
        "id": record.id,
        "result": record.result,
        "amount": record.amount,
        "voucher": {"id": record.related_object_id, "code": (record.voucher or {}).get("code")},
    }
    if record.failure_code:
        summary["failure_code"] = record.failure_code
    return Activity(
        id=activity_id(now, record.id),
        type=kind,
        customer=customer,
        created_at=now,
        data={"redemption": summary},
        group_id=record.parent_id or record.id,
    )


def succeeded(plan: RedemptionPlan, now: datetime) -> list[Announced]:
    customer: Customer | None = plan.stack.customer
    ref = customer.ref() if customer is not None else None
    announced = []
    for record, voucher in zip(plan.redemptions, plan.vouchers, strict=True):
        event = RedemptionSucceeded(
            event_id=stable_id("evt_", record.id, RedemptionSucceeded.DETAIL_TYPE),
            occurred_at=now,
            customer=ref,
            redemption_id=record.id,
            parent_redemption_id=record.parent_id,
            order=_order_ref(record.order),
            voucher=voucher.ref(),
            campaign=_campaign_ref(voucher),
            amount=record.amount or 0,
        )
        announced.append(Announced(record, event, _activity(record, ref, SUCCEEDED, now)))
    return announced


def failed(refusal: Refusal, voucher: Voucher | None, customer: Customer | None, now: datetime) -> Announced:
    record = refusal.redemption
    ref = customer.ref() if customer is not None else None
    event = RedemptionFailed(
        event_id=stable_id("evt_", record.id, RedemptionFailed.DETAIL_TYPE),
        occurred_at=now,
        customer=ref,
        redemption_id=record.id,
        order=_order_ref(record.order),
        voucher=voucher.ref() if voucher is not None else None,
        campaign=_campaign_ref(voucher),
        failure_key=refusal.failure.key,
        failure_message=refusal.failure.message,
    )
    return Announced(record, event, _activity(record, ref, FAILED, now))

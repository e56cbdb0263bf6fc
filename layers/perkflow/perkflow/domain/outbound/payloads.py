"""Wire shapes of one outbound event for each destination, built from its catalogue model.

- Segment (as a source, reference/segment.md §1, §5.3): a ``track`` with the §6 name, ``userId`` = the
  customer's ``source_id`` (an anonymous customer is sent by ``anonymousId``), ``messageId`` = the event id
  (``<event id>-identify`` for the ``identify`` that carries loyalty traits), ``context.integration``.
- Klaviyo (reference/klaviyo_smile.md §2): an ``event`` resource with the §6 metric name, ``unique_id`` = the
  event id, the profile by email and ``external_id`` (= source_id), and the loyalty profile properties the
  event changes riding on the same call.
- Webhooks (reference/voucherify.md §3.11): Voucherify's envelope with ``id`` = ``event.id`` = the event id,
  serialised compactly so that the signature covers exactly the bytes sent.

Every builder is deterministic: the same event always gives the same payload, so a retry sends the same
dedupe key (and, for webhooks, the same bytes and signature).
"""

from __future__ import annotations

import json
from typing import Any

from perkflow.domain.customers import ANONYMOUS_PREFIX
from perkflow.domain.events import (
    CATALOGUE,
    CustomerRef,
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
    PublicationSucceeded,
    RedemptionFailed,
    RedemptionRollbackSucceeded,
    RedemptionSucceeded,
    VoucherGiftBalanceAdded,
    parse_detail,
)
from perkflow.domain.outbound.catalogue import OUTBOUND_DETAIL_TYPES, outbound_name, webhook_type
from perkflow.domain.outbound.profile import PropertyNames, profile_update
from perkflow.domain.timeutil import iso

INTEGRATION = {"name": "perkflow", "version": "1.0.0"}
_INTERNAL_FIELDS = ("version", "occurred_at")


class InvalidOutboundMessage(ValueError):
    """A queued message that is not an outbound catalogue event (a permanent failure)."""


def parse_envelope(body: str) -> DomainEvent:
    """The catalogue event in an EventBridge envelope, as the rule's SQS target delivers it."""
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise InvalidOutboundMessage("the message body is not JSON") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("detail"), dict):
        raise InvalidOutboundMessage("the message is not an EventBridge event")
    detail_type = str(envelope.get("detail-type"))
    if detail_type not in OUTBOUND_DETAIL_TYPES or detail_type not in CATALOGUE:
        raise InvalidOutboundMessage(f"{detail_type} is not an outbound event")
    try:
        return parse_detail(detail_type, envelope["detail"])
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidOutboundMessage(f"the {detail_type} detail does not match its model: {exc}") from exc


def customer_of(event: DomainEvent) -> CustomerRef | None:
    customer = getattr(event, "customer", None)
    return customer if isinstance(customer, CustomerRef) else None


def event_properties(event: DomainEvent) -> dict[str, Any]:
    """The event's properties: the detail's objects (as Voucherify's Segment source nests them) plus flat,
    segmentable values (points change and balance, tier, codes) that flows can use without a lookup."""
    detail = event.model_dump(mode="json", exclude_none=True)
    for name in _INTERNAL_FIELDS:
        detail.pop(name, None)
    return {**detail, **_flat_values(event)}


def _flat_values(event: DomainEvent) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    customer = customer_of(event)
    if customer is not None:
        flat["customer_id"] = customer.id
    if isinstance(event, PublicationSucceeded):
        flat.update(voucher_code=event.voucher.code, voucher_type=event.voucher.type)
        if event.campaign:
            flat.update(campaign_id=event.campaign.id, campaign_name=event.campaign.name)
    elif isinstance(event, RedemptionSucceeded | RedemptionFailed | RedemptionRollbackSucceeded):
        flat["amount"] = event.amount
        if event.voucher:
            flat["voucher_code"] = event.voucher.code
        if event.campaign:
            flat.update(campaign_id=event.campaign.id, campaign_name=event.campaign.name)
        if event.order and (event.order.source_id or event.order.id):
            flat["order_id"] = event.order.source_id or event.order.id
    elif isinstance(event, VoucherGiftBalanceAdded):
        flat.update(voucher_code=event.voucher.code, amount=event.amount, balance=event.balance)
    elif isinstance(event, LoyaltyPointsEarned):
        flat.update(points_change=event.points, points_balance=event.balance)
        if event.order and (event.order.source_id or event.order.id):
            flat["order_id"] = event.order.source_id or event.order.id
        if event.expires_at:
            flat["points_expire_at"] = iso(event.expires_at)
    elif isinstance(event, LoyaltyPointsRedeemed):
        flat.update(points_change=-event.points, points_balance=event.balance)
        if event.reward:
            flat["reward_name"] = event.reward.name
        if event.reward_expires_at:
            flat["expires_at"] = iso(event.reward_expires_at)
    elif isinstance(event, LoyaltyPointsExpired):
        flat.update(points_change=-event.points, points_balance=event.balance)
    elif isinstance(event, LoyaltyPointsExpiring):
        flat.update(points_expiring=event.points, points_balance=event.balance, points_expire_at=iso(event.expires_at))
    elif isinstance(event, LoyaltyTierAchieved):
        flat.update(tier_name=event.tier.name, tier_id=event.tier.id, direction=event.direction)
        if event.previous_tier:
            flat["previous_tier_name"] = event.previous_tier.name
    elif isinstance(event, LoyaltyReferralStarted | LoyaltyReferralCompleted):
        flat.update(referral_code=event.referral_code, referral_url=event.referral_url)
        if event.reward:
            flat["reward_name"] = event.reward.name
        if event.points:
            flat["points_change"] = event.points
    elif isinstance(event, LoyaltyRewardIssued | LoyaltyRewardExpiring):
        flat.update(reward_name=event.reward.name, reward_id=event.reward.id)
        if event.expires_at:
            flat["expires_at"] = iso(event.expires_at)
    program = getattr(event, "program", None)
    if program is not None:
        flat.update(program_id=program.id, program_name=program.name)
    code = getattr(event, "code", None)
    if isinstance(code, str):
        flat["code"] = code
    return flat


# -- Segment --------------------------------------------------------------------------------------------------


def _segment_identity(customer: CustomerRef) -> dict[str, str]:
    source_id = customer.source_id or ""
    if source_id.startswith(ANONYMOUS_PREFIX):
        return {"anonymousId": source_id.removeprefix(ANONYMOUS_PREFIX)}
    return {"userId": source_id}


def segment_messages(event: DomainEvent) -> list[dict[str, Any]]:
    """The Segment messages for ``event`` (none when it has no customer with a source id: Segment needs
    an identity, reference/voucherify.md §5.2)."""
    customer = customer_of(event)
    if customer is None or not customer.source_id:
        return []
    identity = _segment_identity(customer)
    context = {"integration": dict(INTEGRATION), "perkflow": {"customer_id": customer.id}}
    timestamp = iso(event.occurred_at)
    messages: list[dict[str, Any]] = [
        {
            "type": "track",
            **identity,
            "event": outbound_name(event),
            "properties": event_properties(event),
            "timestamp": timestamp,
            "messageId": event.event_id,
            "context": context,
        }
    ]
    profile = profile_update(event)
    if profile is not None:
        messages.append(
            {
                "type": "identify",
                **identity,
                "traits": profile.segment_traits(),
                "timestamp": timestamp,
                "messageId": f"{event.event_id}-identify",
                "context": context,
            }
        )
    return messages


# -- Klaviyo --------------------------------------------------------------------------------------------------


def klaviyo_profile(customer: CustomerRef, properties: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """A profile resource identified by email and external_id (None without either)."""
    attributes: dict[str, Any] = {}
    if customer.email:
        attributes["email"] = customer.email
    if customer.source_id and not customer.source_id.startswith(ANONYMOUS_PREFIX):
        attributes["external_id"] = customer.source_id
    if not attributes:
        return None
    if properties:
        attributes["properties"] = properties
    return {"type": "profile", "attributes": attributes}


def klaviyo_time(event: DomainEvent) -> str:
    """ISO-8601 truncated to the second, as Klaviyo stores it."""
    return iso(event.occurred_at.replace(microsecond=0)).replace(".000Z", "Z")


def klaviyo_event(event: DomainEvent, naming: PropertyNames) -> dict[str, Any] | None:
    """The ``event`` resource of create_event (None when the event names no identifiable customer)."""
    customer = customer_of(event)
    if customer is None:
        return None
    update = profile_update(event)
    profile = klaviyo_profile(customer, update.klaviyo_properties(naming) if update else None)
    if profile is None:
        return None
    attributes: dict[str, Any] = {
        "properties": event_properties(event),
        "time": klaviyo_time(event),
        "unique_id": event.event_id,
        "metric": {"data": {"type": "metric", "attributes": {"name": outbound_name(event)}}},
        "profile": {"data": profile},
    }
    if isinstance(event, RedemptionSucceeded | RedemptionRollbackSucceeded) and event.amount:
        attributes["value"] = event.amount / 100  # Klaviyo's value is monetary, in currency units
    return {"type": "event", "attributes": attributes}


def klaviyo_create_event_body(resource: dict[str, Any]) -> dict[str, Any]:
    return {"data": resource}


# -- Webhooks -------------------------------------------------------------------------------------------------

_OBJECT_NAMES = {
    "customer": "customer",
    "referee": "customer",
    "campaign": "campaign",
    "voucher": "voucher",
    "order": "order",
    "segment": "segment",
    "program": "loyalty_program",
    "tier": "loyalty_tier",
    "previous_tier": "loyalty_tier",
    "reward": "reward",
}


def _webhook_data(event: DomainEvent) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, value in event.model_dump(mode="json", exclude_none=True).items():
        if name in _INTERNAL_FIELDS or name == "event_id":
            continue
        if isinstance(value, dict) and name in _OBJECT_NAMES:
            value = {**value, "object": _OBJECT_NAMES[name]}
        data[name] = value
    return data


def _entity_id(event: DomainEvent) -> str:
    customer = customer_of(event)
    if customer is not None:
        return customer.id
    voucher = getattr(event, "voucher", None)
    return str(getattr(voucher, "id", "") or event.event_id)


def webhook_envelope(event: DomainEvent, *, project_id: str, target_url: str) -> dict[str, Any]:
    """Voucherify's project webhook envelope; ``id`` and ``event.id`` are the catalogue event id."""
    created_at = iso(event.occurred_at)
    kind = webhook_type(event)
    return {
        "id": event.event_id,
        "project_id": project_id,
        "created_at": created_at,
        "type": kind,
        "data": _webhook_data(event),
        "source": {"id": "perkflow", "object": "webhook", "target_url": target_url},
        "event": {
            "id": event.event_id,
            "type": kind,
            "created_at": created_at,
            "entity_id": _entity_id(event),
            "group_id": event.event_id,
            "event_source": {"channel": "INTERNAL"},
        },
    }


def compact_json(value: Any) -> bytes:
    """JSON with insignificant whitespace removed: what a webhook body is and what its signature covers."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

"""What the segment engine is fed: bus events and stored activities, as occurrences or profile snapshots.

Custom events are occurrences under their own name; internal events under their catalogue name
(``redemption.succeeded``, ``loyalty.tier.achieved`` ...) with the event's detail as properties. A live event
and the same event read back from the activity log carry the same occurrence id (the activity id), so a
backfill never counts what was already applied live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perkflow.domain.activities import CUSTOM_EVENT, Activity
from perkflow.domain.segments.engine import Occurrence
from perkflow.domain.timeutil import parse_iso

PROFILE_EVENTS = frozenset({"customer.created", "customer.updated"})
# The engine's own output never feeds it back (segment references are evaluated inside one state).
IGNORED = frozenset({"customer.segment.entered", "customer.segment.left"})


@dataclass(frozen=True)
class SegmentInput:
    customer_id: str
    occurrence: Occurrence | None = None
    profile: dict[str, Any] | None = None
    merged_from: tuple[str, ...] = ()
    # Loyalty state carried by loyalty events: the reserved ``loyalty.*`` traits of the profile.
    loyalty: dict[str, Any] | None = None


def loyalty_traits(detail_type: str, detail: dict[str, Any]) -> dict[str, Any] | None:
    """``loyalty.points`` / ``loyalty.tier_rank`` / ``loyalty.tier_id`` as a loyalty event leaves them."""
    if detail_type == "loyalty.tier.achieved" and isinstance(detail.get("tier"), dict):
        return {"tier_rank": detail["tier"].get("rank"), "tier_id": detail["tier"].get("id")}
    if detail_type.startswith("loyalty.points.") and isinstance(detail.get("balance"), int):
        return {"points": detail["balance"]}
    return None


def from_bus(detail_type: str, detail: dict[str, Any]) -> SegmentInput | None:
    """The engine input a catalogue event makes (None: not about one customer, or not for segments)."""
    if detail_type in IGNORED:
        return None
    customer = detail.get("customer") or {}
    customer_id = customer.get("id") if isinstance(customer, dict) else None
    if not customer_id:
        return None
    if detail_type in PROFILE_EVENTS:
        return SegmentInput(
            customer_id=customer_id,
            profile=dict(detail.get("profile") or {}),
            merged_from=tuple(detail.get("merged_from") or ()),
        )
    if detail_type == "customer.event.recorded":
        event = detail["event"]
        return SegmentInput(
            customer_id=customer_id,
            occurrence=Occurrence(
                event_id=detail.get("activity_id") or detail["event_id"],
                name=event["name"],
                timestamp=parse_iso(event["timestamp"]),
                properties=event.get("properties") or {},
            ),
        )
    properties = {key: value for key, value in detail.items() if key not in ("event_id", "version", "customer")}
    return SegmentInput(
        customer_id=customer_id,
        loyalty=loyalty_traits(detail_type, detail),
        occurrence=Occurrence(
            event_id=detail.get("activity_id") or detail["event_id"],
            name=detail_type,
            timestamp=parse_iso(detail["occurred_at"]),
            properties=properties,
        ),
    )


def from_activity(activity: Activity) -> list[Occurrence]:
    """The occurrences a stored activity stands for: its custom event, or the bus events its change
    published (recorded with the activity by the adapters), under the same ids the live path used."""
    if activity.type == CUSTOM_EVENT:
        event = activity.data.get("event") or {}
        return [
            Occurrence(
                event_id=activity.id,
                name=str(event.get("type")),
                timestamp=activity.created_at,
                properties=event.get("metadata") or {},
            )
        ]
    return [
        Occurrence(
            event_id=str(occurrence["event_id"]),
            name=str(occurrence["name"]),
            timestamp=activity.created_at,
            properties=occurrence.get("properties") or {},
        )
        for occurrence in activity.data.get("occurrences") or ()
        if isinstance(occurrence, dict) and occurrence.get("name") and occurrence.get("event_id")
    ]

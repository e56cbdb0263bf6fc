"""Customer activities: what happened to a customer, listed newest or oldest first (Voucherify's shape).

Activity ids sort by time: ``evcus_`` + 11 hex digits of the epoch millisecond + 13 characters of a hash, so
the id itself is the listing's sort key and its pagination cursor (``starting_after_id``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.events import CustomerRef, DomainEvent
from perkflow.domain.ids import stable_id
from perkflow.domain.timeutil import iso

PREFIX = "evcus_"
CUSTOM_EVENT = "customer.custom_event"


def activity_id(moment: datetime, *natural_key: str) -> str:
    millis = int(moment.timestamp() * 1000)
    digest = stable_id("", *natural_key)[:13]
    return f"{PREFIX}{millis:011x}{digest}"


def activity_time(identifier: str) -> datetime:
    """The instant encoded in an activity id (ValueError if it is not one)."""
    if not identifier.startswith(PREFIX) or len(identifier) < len(PREFIX) + 11:
        raise ValueError(f"not an activity id: {identifier}")
    millis = int(identifier[len(PREFIX) : len(PREFIX) + 11], 16)
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


class Activity(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    type: str = Field(description="Voucherify activity type, e.g. customer.custom_event")
    customer: CustomerRef
    created_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)
    group_id: str | None = Field(default=None, description="the request or message that caused it")

    def as_voucherify(self) -> dict[str, Any]:
        customer = self.customer.model_dump()
        customer["object"] = "customer"
        return {
            "id": self.id,
            "type": self.type,
            "data": {"customer": customer, **self.data},
            "created_at": iso(self.created_at),
            "group_id": self.group_id,
        }


def event_occurrence(event: DomainEvent) -> dict[str, Any]:
    """What an activity keeps of the bus event its change published: enough to count it again later."""
    detail = event.detail()
    properties = {key: value for key, value in detail.items() if key not in ("event_id", "version", "customer")}
    return {"name": event.DETAIL_TYPE, "event_id": event.event_id, "properties": properties}

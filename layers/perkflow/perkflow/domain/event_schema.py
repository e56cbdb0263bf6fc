"""The event schema registry: every recorded event name, its properties and their JSON types.

Like Segment's Source Schema: counts, first and last seen (receipt) times, and per property the types seen.
Counts come from a per-request aggregate (:class:`SchemaDelta`) so a batch of messages costs one write per
distinct event name, not one per message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perkflow.domain.timeutil import iso

MAX_PROPERTIES = 300  # Segment lists at most 300 properties per event; the rest still flow, unlisted.


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass
class EventDelta:
    count: int = 0
    property_counts: Counter[str] = field(default_factory=Counter)
    property_types: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class SchemaDelta:
    """What one request adds to the registry."""

    events: dict[str, EventDelta] = field(default_factory=dict)

    def add(self, event: str, properties: dict[str, Any]) -> None:
        delta = self.events.setdefault(event, EventDelta())
        delta.count += 1
        for name, value in list(properties.items())[:MAX_PROPERTIES]:
            delta.property_counts[name] += 1
            delta.property_types.setdefault(name, set()).add(json_type(value))


@dataclass(frozen=True)
class PropertySchema:
    types: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class EventSchema:
    event: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    properties: dict[str, PropertySchema]

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "count": self.count,
            "first_seen_at": iso(self.first_seen_at),
            "last_seen_at": iso(self.last_seen_at),
            "properties": {
                name: {"types": list(prop.types), "count": prop.count} for name, prop in sorted(self.properties.items())
            },
        }

"""A segment as the project stores and shows it: Voucherify's segment object plus perkflow's definition,
computation status and backfill progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.activities import Activity
from perkflow.domain.errors import InvalidPayload
from perkflow.domain.ids import new_id
from perkflow.domain.segments.definition import Instant, Node, SegmentDefinition, SegmentType, parse_node
from perkflow.domain.segments.engine import CustomerSegmentState
from perkflow.domain.segments.voucherify_filter import translate_filter
from perkflow.domain.timeutil import iso

TYPES: tuple[SegmentType, ...] = ("static", "passive", "auto-update")
MAX_STATIC_CUSTOMERS = 20_000  # Voucherify's limit for a hand-picked list


@dataclass(frozen=True)
class StoredState:
    """A customer's segment state as read: ``version`` 0 means no state stored yet."""

    state: CustomerSegmentState
    version: int
    defs_version: int


@dataclass(frozen=True)
class MembershipChange:
    """A customer entering or leaving a segment: a member item to write or remove, and its activity."""

    segment_id: str
    entered: bool
    activity: Activity


class SegmentRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    type: SegmentType
    filter: dict[str, Any] | None = Field(default=None, description="the Voucherify filter, as given")
    definition: Node | None = Field(default=None, description="what is computed (given, or the filter translated)")
    created_at: Instant
    updated_at: Instant | None = None
    status: Literal["computing", "ready"] = "ready"
    pending_shards: tuple[int, ...] = ()
    shards: int = Field(default=0, description="how many listing shards the current backfill covers")
    revision: int = Field(default=1, description="bumped by every definition change; old backfills stop")
    defs_version: int = Field(
        default=0,
        description="the definitions' version this definition was written at (the store sets it); states "
        "filled up to an older version wait for its backfill (SegmentSet ``since``)",
    )

    @classmethod
    def create(cls, body: dict[str, Any], now: datetime, shards: int) -> SegmentRecord:
        """From POST /v1/segments: Voucherify's ``{name, type, filter | customers}`` or perkflow's
        ``definition``. Computed segments start ``computing`` with every backfill shard pending."""
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidPayload("name is required", details="name")
        kind = body.get("type", "auto-update")
        if kind not in TYPES:
            raise InvalidPayload(f"type must be one of {', '.join(TYPES)}", details="type")
        given_filter, given_definition = body.get("filter"), body.get("definition")
        if kind == "static":
            if given_filter is not None or given_definition is not None:
                raise InvalidPayload("a static segment lists its customers; it takes no filter", details="filter")
            return cls(id=new_id("seg_"), name=name, type=kind, created_at=now)
        if (given_filter is None) == (given_definition is None):
            raise InvalidPayload("give exactly one of filter or definition", details="filter, definition")
        definition = translate_filter(given_filter) if given_filter is not None else parse_node(given_definition)
        return cls(
            id=new_id("seg_"),
            name=name,
            type=kind,
            filter=given_filter if isinstance(given_filter, dict) else None,
            definition=definition,
            created_at=now,
            status="computing",
            pending_shards=tuple(range(shards)),
            shards=shards,
        )

    def engine_definition(self) -> SegmentDefinition:
        return SegmentDefinition(id=self.id, type=self.type, root=self.definition)

    def computed(self) -> bool:
        return self.type != "static"

    def as_voucherify(self, size: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at) if self.updated_at else None,
            "type": self.type,
            "filter": self.filter,
            "initial_sync_status": "IN_PROGRESS" if self.status == "computing" else "DONE",
            "object": "segment",
            # perkflow's own fields
            "status": self.status,
            "progress": round(1 - len(self.pending_shards) / self.shards, 3) if self.shards else 1.0,
            "definition": self.definition.model_dump(mode="json") if self.definition is not None else None,
        }
        if size is not None:
            body["size"] = size
        return body


def static_customers(body: dict[str, Any]) -> list[str]:
    customers = body.get("customers") or []
    if not isinstance(customers, list) or not all(isinstance(item, str) and item for item in customers):
        raise InvalidPayload("customers must be an array of customer ids", details="customers")
    if len(customers) > MAX_STATIC_CUSTOMERS:
        raise InvalidPayload(f"a static segment lists at most {MAX_STATIC_CUSTOMERS} customers", details="customers")
    return list(dict.fromkeys(customers))

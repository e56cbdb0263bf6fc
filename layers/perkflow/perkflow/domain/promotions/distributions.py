"""Distributions: "when a customer enters segment S, publish a code from campaign C" (DESIGN §6).

Voucherify configures distributions only in its dashboard (reference/voucherify.md §3.8), so perkflow has
its own endpoints: ``/v1/distributions`` with ``{name, trigger: {type: "customer.segment.entered",
segment_id}, action: {type: "publish", campaign}}``. The ``distribution`` function runs them.

Each trigger event publishes at most once per distribution: the publication's ``source_id`` is derived from
the distribution and the event's id, so a redelivered event replays the first publication. A join-once
campaign gives a customer one code however many times they enter the segment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.errors import InvalidPayload
from perkflow.domain.ids import new_id
from perkflow.domain.promotions.common import Instant, iso_or_none, parse
from perkflow.domain.promotions.errors import InvalidDistribution
from perkflow.domain.timeutil import iso

TRIGGER = "customer.segment.entered"


class Trigger(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["customer.segment.entered"]
    segment_id: str = Field(min_length=1)


class CampaignName(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str | None = None
    name: str | None = None


class Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["publish"] = "publish"
    campaign: str | CampaignName

    def campaign_key(self) -> str:
        """The campaign's id or name, as the request gave it."""
        if isinstance(self.campaign, str):
            return self.campaign
        key = self.campaign.id or self.campaign.name
        if not key:
            raise InvalidDistribution("action.campaign needs an id or a name", details="action.campaign")
        return key


class DistributionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1)
    trigger: Trigger
    action: Action
    active: bool | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def parse(cls, body: Any) -> DistributionRequest:
        return parse(cls, body, InvalidPayload, "Invalid payload")


class Distribution(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    segment_id: str
    campaign_id: str
    campaign_name: str
    active: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: Instant
    updated_at: Instant | None = None

    @classmethod
    def create(
        cls, request: DistributionRequest, *, campaign_id: str, campaign_name: str, now: datetime
    ) -> Distribution:
        return cls(
            id=new_id("dist_"),
            name=request.name,
            segment_id=request.trigger.segment_id,
            campaign_id=campaign_id,
            campaign_name=campaign_name,
            active=True if request.active is None else request.active,
            metadata=request.metadata or {},
            created_at=now,
        )

    def updated(
        self, request: DistributionRequest, *, campaign_id: str, campaign_name: str, now: datetime
    ) -> Distribution:
        return self.model_copy(
            update={
                "name": request.name,
                "segment_id": request.trigger.segment_id,
                "campaign_id": campaign_id,
                "campaign_name": campaign_name,
                "active": self.active if request.active is None else request.active,
                "metadata": request.metadata if request.metadata is not None else self.metadata,
                "updated_at": now,
            }
        )

    def source_id(self, event_id: str) -> str:
        """The publication source id for one trigger event (replays of the event publish nothing new)."""
        return f"{self.id}:{event_id}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "distribution",
            "name": self.name,
            "trigger": {"type": TRIGGER, "segment_id": self.segment_id},
            "action": {"type": "publish", "campaign": {"id": self.campaign_id, "name": self.campaign_name}},
            "active": self.active,
            "metadata": self.metadata,
            "created_at": iso(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
        }

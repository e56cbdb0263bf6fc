"""Rewards of a program: what members buy with points, or receive on a birthday or a referral.

Voucherify keeps rewards as their own resources (``/v1/rewards``) and assigns them to a program with a price
in points. perkflow has no ``/v1/rewards``: ``POST /v1/loyalties/{id}/rewards`` takes the reward inline,
``{reward: {name, type, parameters}, parameters: {loyalty: {points}}}``, and creates the reward and its
assignment together. Types:

- ``CAMPAIGN``: a code from a discount or gift-card campaign (``parameters.campaign.id``), published to the
  member through the promotions machinery (a gift-card campaign is how gift credits are given);
- ``MATERIAL``: a product (``parameters.product.{id, sku_id}``) the shop fulfils; no code.

An assignment without ``parameters.loyalty.points`` cannot be bought; it can still be the birthday or a
referral reward.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from perkflow.domain.events import RewardRef
from perkflow.domain.ids import new_id
from perkflow.domain.loyalty.errors import InvalidReward
from perkflow.domain.promotions.common import Instant, iso_or_none, parse


class _CampaignParameter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)


class _ProductParameter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str | None = None
    sku_id: str | None = None


class _RewardParameters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    campaign: _CampaignParameter | None = None
    product: _ProductParameter | None = None


class _Attributes(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    image_url: str | None = None
    description: str | None = None


class RewardDefinition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1)
    type: Literal["CAMPAIGN", "MATERIAL"] = "CAMPAIGN"
    parameters: _RewardParameters = Field(default_factory=_RewardParameters)
    attributes: _Attributes = Field(default_factory=_Attributes)
    stock: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete(self) -> RewardDefinition:
        if self.type == "CAMPAIGN" and self.parameters.campaign is None:
            raise ValueError("a CAMPAIGN reward needs parameters.campaign.id")
        return self


class _LoyaltyPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    points: int | None = Field(default=None, ge=1)


class _AssignmentParameters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    loyalty: _LoyaltyPrice = Field(default_factory=_LoyaltyPrice)


class RewardAssignmentRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    reward: RewardDefinition | None = None
    parameters: _AssignmentParameters | None = None

    @classmethod
    def parse_many(cls, body: Any) -> list[RewardAssignmentRequest]:
        items = body if isinstance(body, list) else [body]
        if not items:
            raise InvalidReward("Invalid reward assignment", details="send at least one reward")
        requests = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("reward"), str):
                raise InvalidReward(
                    "Rewards are defined inline",
                    details="perkflow has no /v1/rewards: send reward as {name, type, parameters}",
                )
            requests.append(parse(cls, item, InvalidReward, "Invalid reward assignment"))
        return requests


class RewardAssignment(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    reward_id: str
    reward: RewardDefinition
    points: int | None = None
    created_at: Instant
    updated_at: Instant | None = None

    @classmethod
    def create(cls, request: RewardAssignmentRequest, now: datetime) -> RewardAssignment:
        if request.reward is None:
            raise InvalidReward("Invalid reward assignment", details="reward is required")
        points = request.parameters.loyalty.points if request.parameters else None
        return cls(id=new_id("rewa_"), reward_id=new_id("rew_"), reward=request.reward, points=points, created_at=now)

    def updated(self, request: RewardAssignmentRequest, now: datetime) -> RewardAssignment:
        changes: dict[str, Any] = {"updated_at": now}
        if request.reward is not None:
            changes["reward"] = request.reward
        if request.parameters is not None:
            changes["points"] = request.parameters.loyalty.points
        return self.model_copy(update=changes)

    @property
    def campaign_id(self) -> str | None:
        campaign = self.reward.parameters.campaign
        return campaign.id if campaign is not None else None

    def ref(self) -> RewardRef:
        return RewardRef(id=self.reward_id, name=self.reward.name, type=self.reward.type)

    def reward_as_voucherify(self) -> dict[str, Any]:
        parameters: dict[str, Any] = {}
        if self.reward.parameters.campaign is not None:
            parameters["campaign"] = {"id": self.reward.parameters.campaign.id}
        if self.reward.parameters.product is not None:
            parameters["product"] = self.reward.parameters.product.model_dump()
        return {
            "id": self.reward_id,
            "name": self.reward.name,
            "stock": self.reward.stock,
            "redeemed": None,
            "attributes": {"image_url": self.reward.attributes.image_url},
            "metadata": self.reward.metadata,
            "type": self.reward.type,
            "parameters": parameters,
            "created_at": iso_or_none(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
            "object": "reward",
        }

    def as_voucherify(self, program_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "reward_id": self.reward_id,
            "created_at": iso_or_none(self.created_at),
            "updated_at": iso_or_none(self.updated_at),
            "object": "reward_assignment",
            "related_object_id": program_id,
            "related_object_type": "campaign",
            "parameters": {"loyalty": {"points": self.points}},
        }

"""Loyalty errors under Voucherify's keys where one exists (reference/voucherify.md §6)."""

from __future__ import annotations

from typing import Any

from perkflow.domain.errors import InvalidPayload, NotFound, PerkflowError


class InvalidProgram(InvalidPayload):
    key = "invalid_campaign"


class InvalidEarningRule(InvalidPayload):
    key = "invalid_earning_rule"


class InvalidTier(InvalidPayload):
    key = "invalid_loyalty_tier"


class InvalidReward(InvalidPayload):
    key = "invalid_reward"


class InvalidBalance(InvalidPayload):
    key = "invalid_add_balance_params"


class PointsExceeded(PerkflowError):
    """A spend or removal larger than the balance (nothing is written)."""

    status = 400
    key = "loyalty_card_points_exceeded"


class NotEnoughRewardStock(PerkflowError):
    status = 400
    key = "reward_out_of_stock"


class InactiveProgram(PerkflowError):
    status = 423
    key = "non_active_program"


class Contended(PerkflowError):
    """The member kept changing under every attempt (very high concurrency on one member)."""

    status = 409
    key = "multiple_requests"


def not_found(resource_type: str, resource_id: str) -> NotFound:
    return NotFound(
        f"Resource not found: {resource_type} {resource_id}",
        details=resource_id,
        extra={"resource_id": resource_id, "resource_type": resource_type},
    )


def invalid(message: str, details: str = "", **extra: Any) -> InvalidPayload:
    return InvalidPayload(message, details=details, extra=extra or None)

"""Loyalty programs (Voucherify's ``/v1/loyalties`` API): programs, earning rules, tiers, rewards.

The members' routes (cards, balance, transactions, pending points, expiring points, rewards and reward
redemption) are in :mod:`perkflow.entrypoints.api.loyalties_members`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.promotions import body, no_content, number, path, query

router = Router()


# -- programs ---------------------------------------------------------------------------------------------------
@router.post("/v1/loyalties")
@router.post("/v1/loyalties/")
def create_program() -> dict[str, Any]:
    return wiring.loyalty().programs.create(body(router))


@router.get("/v1/loyalties")
@router.get("/v1/loyalties/")
def list_programs() -> dict[str, Any]:
    params = query(router)
    return wiring.loyalty().programs.list_programs(
        number(params, "limit", 10, 1, 100), number(params, "page", 1, 1, 1000)
    )


@router.get("/v1/loyalties/<campaign_id>")
def get_program(campaign_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.get(path(campaign_id))


@router.put("/v1/loyalties/<campaign_id>")
def update_program(campaign_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.update(path(campaign_id), body(router))


@router.delete("/v1/loyalties/<campaign_id>")
def delete_program(campaign_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.delete(path(campaign_id))


# -- earning rules ------------------------------------------------------------------------------------------------
@router.post("/v1/loyalties/<campaign_id>/earning-rules")
def create_earning_rules(campaign_id: str) -> list[dict[str, Any]]:
    return wiring.loyalty().programs.create_rules(path(campaign_id), body(router))


@router.get("/v1/loyalties/<campaign_id>/earning-rules")
def list_earning_rules(campaign_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.list_rules(path(campaign_id))


@router.get("/v1/loyalties/<campaign_id>/earning-rules/<rule_id>")
def get_earning_rule(campaign_id: str, rule_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.get_rule(path(campaign_id), path(rule_id))


@router.put("/v1/loyalties/<campaign_id>/earning-rules/<rule_id>")
def update_earning_rule(campaign_id: str, rule_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.update_rule(path(campaign_id), path(rule_id), body(router))


@router.delete("/v1/loyalties/<campaign_id>/earning-rules/<rule_id>")
def delete_earning_rule(campaign_id: str, rule_id: str) -> Response[str]:
    wiring.loyalty().programs.delete_rule(path(campaign_id), path(rule_id))
    return no_content()


@router.post("/v1/loyalties/<campaign_id>/earning-rules/<rule_id>/enable")
def enable_earning_rule(campaign_id: str, rule_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.set_rule_active(path(campaign_id), path(rule_id), True)


@router.post("/v1/loyalties/<campaign_id>/earning-rules/<rule_id>/disable")
def disable_earning_rule(campaign_id: str, rule_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.set_rule_active(path(campaign_id), path(rule_id), False)


# -- tiers ------------------------------------------------------------------------------------------------------
@router.post("/v1/loyalties/<campaign_id>/tiers")
def create_tiers(campaign_id: str) -> list[dict[str, Any]]:
    return wiring.loyalty().programs.create_tiers(path(campaign_id), body(router))


@router.get("/v1/loyalties/<campaign_id>/tiers")
def list_tiers(campaign_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.list_tiers(path(campaign_id))


@router.get("/v1/loyalties/<campaign_id>/tiers/<tier_id>")
def get_tier(campaign_id: str, tier_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.get_tier(path(campaign_id), path(tier_id))


@router.get("/v1/loyalties/<campaign_id>/tiers/<tier_id>/earning-rules")
def list_tier_earning_rules(campaign_id: str, tier_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.list_rules(path(campaign_id), tier_id=path(tier_id))


@router.get("/v1/loyalties/<campaign_id>/tiers/<tier_id>/rewards")
def list_tier_rewards(campaign_id: str, tier_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.tier_rewards(path(campaign_id), path(tier_id))


# -- rewards ----------------------------------------------------------------------------------------------------
@router.post("/v1/loyalties/<campaign_id>/rewards")
def assign_rewards(campaign_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.assign_rewards(path(campaign_id), body(router))


@router.get("/v1/loyalties/<campaign_id>/rewards")
@router.get("/v1/loyalties/<campaign_id>/reward-assignments")
def list_rewards(campaign_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.list_rewards(path(campaign_id))


@router.get("/v1/loyalties/<campaign_id>/rewards/<assignment_id>")
@router.get("/v1/loyalties/<campaign_id>/reward-assignments/<assignment_id>")
def get_reward(campaign_id: str, assignment_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.get_reward(path(campaign_id), path(assignment_id))


@router.get("/v1/loyalties/<campaign_id>/reward-assignments/<assignment_id>/reward")
def get_reward_definition(campaign_id: str, assignment_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.get_reward_definition(path(campaign_id), path(assignment_id))


@router.put("/v1/loyalties/<campaign_id>/rewards/<assignment_id>")
def update_reward(campaign_id: str, assignment_id: str) -> dict[str, Any]:
    return wiring.loyalty().programs.update_reward(path(campaign_id), path(assignment_id), body(router))


@router.delete("/v1/loyalties/<campaign_id>/rewards/<assignment_id>")
def delete_reward(campaign_id: str, assignment_id: str) -> Response[str]:
    wiring.loyalty().programs.delete_reward(path(campaign_id), path(assignment_id))
    return no_content()

"""Loyalty members (Voucherify's ``/v1/loyalties/.../members`` API), each route with and without the program
in the path: cards, balance changes, transactions, pending and expiring points, tiers, rewards and reward
redemption; perkflow's ``PUT .../members/{id}/tier`` sets a manual tier (a floor)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.promotions import body, flag, no_content, number, path, query

router = Router()


@router.post("/v1/loyalties/<campaign_id>/members")
def add_member(campaign_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.add(path(campaign_id), body(router))


@router.get("/v1/loyalties/<campaign_id>/members")
def list_members(campaign_id: str) -> dict[str, Any]:
    params = query(router)
    members = wiring.loyalty().members
    return members.list_members(
        path(campaign_id), number(params, "limit", 10, 1, 100), number(params, "page", 1, 1, 1000)
    )


@router.get("/v1/loyalties/<campaign_id>/members/<member_id>")
def get_member_of_program(campaign_id: str, member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.get(path(campaign_id), path(member_id))


@router.get("/v1/loyalties/members/<member_id>")
def get_member(member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.get(None, path(member_id))


@router.post("/v1/loyalties/<campaign_id>/members/<member_id>/balance")
def adjust_balance_of_program(campaign_id: str, member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.adjust(path(campaign_id), path(member_id), body(router))


@router.post("/v1/loyalties/members/<member_id>/balance")
def adjust_balance(member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.adjust(None, path(member_id), body(router))


def _transactions(campaign_id: str | None, member_id: str) -> dict[str, Any]:
    params = query(router)
    limit = number(params, "limit", 10, 1, 100)
    return wiring.loyalty().members.transactions(campaign_id, member_id, limit, params.get("starting_after_id"))


@router.get("/v1/loyalties/<campaign_id>/members/<member_id>/transactions")
def list_transactions_of_program(campaign_id: str, member_id: str) -> dict[str, Any]:
    return _transactions(path(campaign_id), path(member_id))


@router.get("/v1/loyalties/members/<member_id>/transactions")
def list_transactions(member_id: str) -> dict[str, Any]:
    return _transactions(None, path(member_id))


@router.get("/v1/loyalties/<campaign_id>/members/<member_id>/pending-points")
def list_pending_points_of_program(campaign_id: str, member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.pending(path(campaign_id), path(member_id))


@router.get("/v1/loyalties/members/<member_id>/pending-points")
def list_pending_points(member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.pending(None, path(member_id))


@router.post("/v1/loyalties/members/<member_id>/pending-points/<pending_id>/activate")
def activate_pending_points(member_id: str, pending_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.activate(path(member_id), path(pending_id))


@router.post("/v1/loyalties/members/<member_id>/pending-points/<pending_id>/cancel")
def cancel_pending_points(member_id: str, pending_id: str) -> Response[str]:
    wiring.loyalty().members.cancel_pending(path(member_id), path(pending_id))
    return no_content()


@router.get("/v1/loyalties/<campaign_id>/members/<member_id>/points-expiration")
def list_points_expiration(campaign_id: str, member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.expiration(path(campaign_id), path(member_id))


@router.get("/v1/loyalties/members/<member_id>/tiers")
def list_member_tiers(member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.tiers(path(member_id))


@router.put("/v1/loyalties/<campaign_id>/members/<member_id>/tier")
def set_member_tier(campaign_id: str, member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.set_tier(path(campaign_id), path(member_id), body(router))


@router.get("/v1/loyalties/members/<member_id>/rewards")
def list_member_rewards(member_id: str) -> dict[str, Any]:
    affordable = flag(query(router).get("affordable_only")) or False
    return wiring.loyalty().members.rewards(path(member_id), affordable)


@router.post("/v1/loyalties/<campaign_id>/members/<member_id>/redemption")
def redeem_reward_of_program(campaign_id: str, member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.redeem(path(campaign_id), path(member_id), body(router))


@router.post("/v1/loyalties/members/<member_id>/redemption")
def redeem_reward(member_id: str) -> dict[str, Any]:
    return wiring.loyalty().members.redeem(None, path(member_id), body(router))

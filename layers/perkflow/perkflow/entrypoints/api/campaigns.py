"""Campaigns: create (codes generated synchronously up to 1,000, else in the background), read, list,
enable/disable, add codes (``campaigns.create|get|list|enable|disable|addVoucher|addCertainVoucher``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.promotions import body, number, path, query

router = Router()


@router.post("/v1/campaigns")
@router.post("/v1/campaigns/")
def create_campaign() -> dict[str, Any]:
    return wiring.promotions().campaigns.create(body(router))


@router.get("/v1/campaigns")
@router.get("/v1/campaigns/")
def list_campaigns() -> dict[str, Any]:
    params = query(router)
    limit = number(params, "limit", 10, 1, 100)
    return wiring.promotions().campaigns.list(limit, number(params, "page", 1, 1, 1000))


@router.get("/v1/campaigns/<campaign_id>")
def get_campaign(campaign_id: str) -> dict[str, Any]:
    return wiring.promotions().campaigns.get(path(campaign_id))


@router.get("/v1/campaigns/<campaign_id>/generation")
def get_generation(campaign_id: str) -> dict[str, Any]:
    """perkflow's own: a code generation's progress (``perkflow codes generate`` draws its bar from it)."""
    return wiring.promotions().campaigns.generation(path(campaign_id))


@router.post("/v1/campaigns/<campaign_id>/enable")
def enable_campaign(campaign_id: str) -> dict[str, Any]:
    return wiring.promotions().campaigns.set_active(path(campaign_id), True)


@router.post("/v1/campaigns/<campaign_id>/disable")
def disable_campaign(campaign_id: str) -> dict[str, Any]:
    return wiring.promotions().campaigns.set_active(path(campaign_id), False)


@router.post("/v1/campaigns/<campaign_id>/vouchers")
def add_vouchers(campaign_id: str) -> dict[str, Any]:
    """One code (the voucher answers) or, with ``vouchers_count`` > 1, a background job."""
    params = query(router)
    count = number(params, "vouchers_count", 1, 1, 5_000_000)
    payload = body(router)
    if count > 1:
        return wiring.promotions().campaigns.add_codes(path(campaign_id), count)
    code = payload.get("code") if isinstance(payload, dict) else None
    return wiring.promotions().vouchers.add_to_campaign(
        path(campaign_id), code, payload if isinstance(payload, dict) else {}
    )


@router.post("/v1/campaigns/<campaign_id>/vouchers/<code>")
def add_voucher_with_code(campaign_id: str, code: str) -> dict[str, Any]:
    payload = body(router)
    return wiring.promotions().vouchers.add_to_campaign(
        path(campaign_id), path(code), payload if isinstance(payload, dict) else {}
    )

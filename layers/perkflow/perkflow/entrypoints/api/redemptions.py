"""Redemptions: stackable ``POST /v1/redemptions``, legacy ``POST /v1/vouchers/{code}/redemption``, reads,
and rollbacks (``/rollback`` for one redemption, ``/rollbacks`` for a stacked parent)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.domain.errors import InvalidPayload
from perkflow.entrypoints.promotions import body, number, path, query, request_id

router = Router()


@router.post("/v1/redemptions")
@router.post("/v1/redemptions/")
def redeem_stackable() -> dict[str, Any]:
    return wiring.promotions().checkout.redeem(body(router), request_id=request_id(router))


@router.post("/v1/vouchers/<code>/redemption")
def redeem_voucher(code: str) -> dict[str, Any]:
    payload = body(router)
    tracking_id = query(router).get("tracking_id")
    if tracking_id and isinstance(payload, dict):
        payload.setdefault("tracking_id", tracking_id)  # legacy SDKs send it in the query
    return wiring.promotions().checkout.redeem(payload, request_id=request_id(router), legacy_code=path(code))


@router.get("/v1/vouchers/<code>/redemption")
def voucher_redemptions(code: str) -> dict[str, Any]:
    promotions = wiring.promotions()
    stored = promotions.vouchers.stored(path(code))
    limit = number(query(router), "limit", 100, 1, 100)
    return promotions.checkout.voucher_redemptions(stored.voucher.code, stored, limit)


@router.get("/v1/redemptions")
@router.get("/v1/redemptions/")
def list_redemptions() -> dict[str, Any]:
    params = query(router)
    customer = params.get("customer")
    if not customer:
        raise InvalidPayload(
            "perkflow lists redemptions per customer (?customer=) or per voucher (/v1/vouchers/{code}/redemption)",
            key="invalid_query_params",
            details="customer",
        )
    limit = number(params, "limit", 10, 1, 100)
    return wiring.promotions().checkout.customer_redemptions(customer, limit)


@router.get("/v1/redemptions/<redemption_id>")
def get_redemption(redemption_id: str) -> dict[str, Any]:
    return wiring.promotions().checkout.get_redemption(path(redemption_id))


@router.post("/v1/redemptions/<redemption_id>/rollback")
def rollback(redemption_id: str) -> dict[str, Any]:
    return wiring.promotions().checkout.rollback(path(redemption_id), body(router), dict(query(router)), stacked=False)


@router.post("/v1/redemptions/<redemption_id>/rollbacks")
def rollback_stacked(redemption_id: str) -> dict[str, Any]:
    return wiring.promotions().checkout.rollback(path(redemption_id), body(router), dict(query(router)), stacked=True)

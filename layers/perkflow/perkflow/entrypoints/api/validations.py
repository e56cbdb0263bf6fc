"""Validations: stackable ``POST /v1/validations`` and legacy ``POST /v1/vouchers/{code}/validate``; a rule or
balance failure is HTTP 200 with ``valid: false``, as Voucherify answers."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.promotions import body, path, request_id

router = Router()


@router.post("/v1/validations")
@router.post("/v1/validations/")
def validate_stackable() -> dict[str, Any]:
    return wiring.promotions().checkout.validate(body(router), request_id=request_id(router))


@router.post("/v1/vouchers/<code>/validate")
def validate_voucher(code: str) -> dict[str, Any]:
    return wiring.promotions().checkout.validate(body(router), request_id=request_id(router), legacy_code=path(code))

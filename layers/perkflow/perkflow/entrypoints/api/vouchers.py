"""Vouchers: get by code or id, create with a given or a random code (``/v1/vouchers`` and ``/v1/vouchers/``),
enable/disable, gift balance and its ledger, LOCK session release."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.promotions import body, no_content, number, path, query

router = Router()


@router.post("/v1/vouchers")
@router.post("/v1/vouchers/")
def create_voucher() -> dict[str, Any]:
    return wiring.promotions().vouchers.create(None, body(router))


@router.post("/v1/vouchers/<code>")
def create_voucher_with_code(code: str) -> dict[str, Any]:
    return wiring.promotions().vouchers.create(path(code), body(router))


@router.get("/v1/vouchers/<code>")
def get_voucher(code: str) -> dict[str, Any]:
    return wiring.promotions().vouchers.get(path(code))


@router.post("/v1/vouchers/<code>/enable")
def enable_voucher(code: str) -> dict[str, Any]:
    return wiring.promotions().vouchers.set_active(path(code), True)


@router.post("/v1/vouchers/<code>/disable")
def disable_voucher(code: str) -> dict[str, Any]:
    return wiring.promotions().vouchers.set_active(path(code), False)


@router.post("/v1/vouchers/<code>/balance")
def change_balance(code: str) -> dict[str, Any]:
    return wiring.promotions().vouchers.change_balance(path(code), body(router))


@router.get("/v1/vouchers/<code>/transactions")
def list_transactions(code: str) -> dict[str, Any]:
    limit = number(query(router), "limit", 10, 1, 100)
    return wiring.promotions().vouchers.transactions(path(code), limit)


@router.delete("/v1/vouchers/<code>/sessions/<session_key>")
def release_session(code: str, session_key: str) -> Response[str]:
    wiring.promotions().vouchers.release_session(path(code), path(session_key))
    return no_content()

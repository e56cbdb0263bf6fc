"""Publications and the wallet: ``POST /v1/publications`` (``join_once`` in the body or the query),
``GET /v1/publications?customer=``, ``GET /v1/customers/{id}/redeemables``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.domain.errors import InvalidPayload
from perkflow.entrypoints.promotions import body, flag, number, path, query

router = Router()


@router.post("/v1/publications")
@router.post("/v1/publications/")
def create_publication() -> dict[str, Any]:
    return wiring.promotions().publications.publish(body(router), flag(query(router).get("join_once")))


@router.get("/v1/publications")
@router.get("/v1/publications/")
def list_publications() -> dict[str, Any]:
    params = query(router)
    customer = params.get("customer")
    if not customer:
        raise InvalidPayload(
            "perkflow lists publications per customer: give ?customer=<id or source_id>",
            key="invalid_query_params",
            details="customer",
        )
    return wiring.promotions().publications.of_customer(customer, number(params, "limit", 100, 1, 100))


@router.get("/v1/customers/<customer_id>/redeemables")
def list_redeemables(customer_id: str) -> dict[str, Any]:
    limit = number(query(router), "limit", 100, 1, 100)
    return wiring.promotions().publications.redeemables(path(customer_id), limit)

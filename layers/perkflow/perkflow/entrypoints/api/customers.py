"""Customers: the Voucherify customer object and its activity list."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from perkflow import wiring
from perkflow.domain.customers import Customer
from perkflow.entrypoints.http import json_object, query_instant

router = Router()


def _shown(customer: Customer) -> dict[str, Any]:
    return wiring.customer_directory().shown(customer)


@router.post("/v1/customers")
@router.post("/v1/customers/")
def upsert_customer() -> dict[str, Any]:
    return _shown(wiring.customer_admin().upsert(json_object(router)))


@router.get("/v1/customers/<customer_id>")
def get_customer(customer_id: str) -> dict[str, Any]:
    return _shown(wiring.customer_directory().get(unquote(customer_id)))


@router.put("/v1/customers/<customer_id>")
def update_customer(customer_id: str) -> dict[str, Any]:
    return _shown(wiring.customer_admin().update(unquote(customer_id), json_object(router)))


@router.delete("/v1/customers/<customer_id>")
def delete_customer(customer_id: str) -> Response[str]:
    wiring.customer_admin().delete(unquote(customer_id))
    return Response(status_code=204, body="")


@router.get("/v1/customers/<customer_id>/activity")
@router.get("/v1/customers/<customer_id>/activities")
def list_customer_activity(
    customer_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    order: Annotated[str, Query(pattern="^-?created_at$")] = "-created_at",
    starting_after_id: Annotated[str | None, Query()] = None,
    start_date: Annotated[str | None, Query()] = None,
    end_date: Annotated[str | None, Query()] = None,
    type: Annotated[str | None, Query()] = None,  # Voucherify names this query parameter "type"
) -> dict[str, Any]:
    page = wiring.customer_directory().activities(
        unquote(customer_id),
        limit=limit,
        newest_first=order.startswith("-"),
        starting_after_id=starting_after_id,
        start=query_instant("start_date", start_date),
        end=query_instant("end_date", end_date),
        activity_type=type,
    )
    return {
        "object": "list",
        "data_ref": "data",
        "data": [activity.as_voucherify() for activity in page.activities],
        "has_more": page.has_more,
        "more_starting_after": page.more_starting_after,
    }

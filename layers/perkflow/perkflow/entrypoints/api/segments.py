"""Segments: Voucherify's segment endpoints, perkflow's definition language and membership listings."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from perkflow import wiring
from perkflow.entrypoints.http import json_object

router = Router()


@router.post("/v1/segments")
@router.post("/v1/segments/")
def create_segment() -> dict[str, Any]:
    record = wiring.segment_catalogue().create(json_object(router))
    return record.as_voucherify(size=0)


@router.get("/v1/segments")
def list_segments() -> dict[str, Any]:
    catalogue = wiring.segment_catalogue()
    records = catalogue.list()
    return {
        "object": "list",
        "data_ref": "data",
        "data": [record.as_voucherify(size=catalogue.size(record.id)) for record in records],
        "total": len(records),
    }


@router.get("/v1/segments/<segment_id>")
def get_segment(segment_id: str) -> dict[str, Any]:
    catalogue = wiring.segment_catalogue()
    record = catalogue.get(unquote(segment_id))
    return record.as_voucherify(size=catalogue.size(record.id))


@router.delete("/v1/segments/<segment_id>")
def delete_segment(segment_id: str) -> Response[str]:
    wiring.segment_catalogue().delete(unquote(segment_id))
    return Response(status_code=204, body="")


@router.post("/v1/segments/<segment_id>/backfill")
def backfill_segment(segment_id: str) -> dict[str, Any]:
    """perkflow's own: recompute a segment over every customer (``perkflow segments backfill``)."""
    return wiring.segment_catalogue().rerun_backfill(unquote(segment_id)).as_voucherify()


@router.get("/v1/segments/<segment_id>/customers")
def list_segment_customers(
    segment_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    catalogue = wiring.segment_catalogue()
    record = catalogue.get(unquote(segment_id))
    after = f"MEMBER#{starting_after}" if starting_after else None
    items, cursor = wiring.segment_states().members(record.id, after=after, limit=limit)
    found = wiring.customer_store().load([str(item["customer_id"]) for item in items])
    customers = [
        {**customer.ref().model_dump(), "object": "customer", "member_since": item.get("since")}
        for item in items
        if (customer := found.get(str(item["customer_id"]))) is not None
    ]
    return {
        "object": "list",
        "data_ref": "data",
        "data": customers,
        "has_more": cursor is not None,
        "more_starting_after": cursor.removeprefix("MEMBER#") if cursor else None,
    }


@router.get("/v1/customers/<customer_id>/segments")
def list_customer_segments(customer_id: str) -> dict[str, Any]:
    customer = wiring.customer_directory().get(unquote(customer_id))
    member_of = wiring.segment_memberships().segment_ids(customer.id)
    records = {record.id: record for record in wiring.segment_catalogue().list()}
    data = [
        {"id": segment_id, "name": records[segment_id].name, "object": "segment"}
        for segment_id in sorted(member_of)
        if segment_id in records
    ]
    return {"object": "list", "data_ref": "data", "data": data, "total": len(data)}

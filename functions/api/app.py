"""The promotions API (Voucherify API v1 compatible subset) behind the HTTP API's ``$default`` route."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import clock, wiring
from perkflow.domain.errors import InvalidPayload
from perkflow.domain.timeutil import iso, parse_iso
from perkflow.entrypoints.http import create_resolver
from perkflow.observability import logger

app = create_resolver(public_paths=("/health",))


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "now": iso(clock.now())}


# -- customers -----------------------------------------------------------------------------------------------


@app.get("/v1/customers/<customer_id>")
def get_customer(customer_id: str) -> dict[str, Any]:
    return wiring.customer_directory().get(unquote(customer_id)).as_voucherify()


@app.get("/v1/customers/<customer_id>/activity")
@app.get("/v1/customers/<customer_id>/activities")
def list_customer_activity(
    customer_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    order: Annotated[str, Query(pattern="^-?created_at$")] = "-created_at",
    starting_after_id: Annotated[str | None, Query()] = None,
    start_date: Annotated[str | None, Query()] = None,
    end_date: Annotated[str | None, Query()] = None,
    type: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    page = wiring.customer_directory().activities(
        unquote(customer_id),
        limit=limit,
        newest_first=order.startswith("-"),
        starting_after_id=starting_after_id,
        start=_instant("start_date", start_date),
        end=_instant("end_date", end_date),
        activity_type=type,
    )
    return {
        "object": "list",
        "data_ref": "data",
        "data": [activity.as_voucherify() for activity in page.activities],
        "has_more": page.has_more,
        "more_starting_after": page.more_starting_after,
    }


# -- event schema (perkflow) -----------------------------------------------------------------------------------


@app.get("/v1/event-schema")
def list_event_schema() -> dict[str, Any]:
    schemas = wiring.event_schema_catalogue().list()
    return {
        "object": "list",
        "data_ref": "data",
        "data": [schema.as_json() for schema in schemas],
        "total": len(schemas),
    }


@app.get("/v1/event-schema/<event>")
def get_event_schema(event: str) -> dict[str, Any]:
    return {"object": "event_schema", **wiring.event_schema_catalogue().get(unquote(event)).as_json()}


def _instant(name: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise InvalidPayload(f"{name} is not an ISO-8601 timestamp", key="invalid_query_params", details=name) from exc


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

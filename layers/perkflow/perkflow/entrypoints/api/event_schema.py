"""perkflow's event schema registry: every recorded event name, its properties and their types."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring

router = Router()


@router.get("/v1/event-schema")
def list_event_schema() -> dict[str, Any]:
    schemas = wiring.event_schema_catalogue().list()
    return {
        "object": "list",
        "data_ref": "data",
        "data": [schema.as_json() for schema in schemas],
        "total": len(schemas),
    }


@router.get("/v1/event-schema/<event>")
def get_event_schema(event: str) -> dict[str, Any]:
    return {"object": "event_schema", **wiring.event_schema_catalogue().get(unquote(event)).as_json()}

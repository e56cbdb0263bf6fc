"""Custom events through the API (POST /v1/events), recorded exactly as ingest records a track."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.http import json_object

router = Router()


@router.post("/v1/events")
@router.post("/v1/events/")
def track_custom_event() -> dict[str, Any]:
    return wiring.customer_admin().track(json_object(router))

"""Outbound destinations (DESIGN §6): ``/v1/destinations/{segment|klaviyo|webhook}``.

GET shows the effective settings (environment overrides applied) and whether a credential is set; PUT
changes them (credentials are write-only: ``write_key``, ``api_key``, ``secret``); DELETE forgets what was
stored. Pausing parks the destination's messages; resuming releases them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.http import json_object

router = Router()
NAMES = ("segment", "klaviyo", "webhook")


@router.get("/v1/destinations")
def list_destinations() -> dict[str, Any]:
    directory = wiring.outbound().directory
    data = [directory.describe(name) for name in NAMES]
    return {"object": "list", "data_ref": "data", "data": data, "total": len(data)}


@router.get("/v1/destinations/<name>")
def get_destination(name: str) -> dict[str, Any]:
    return wiring.outbound().directory.describe(name)


@router.put("/v1/destinations/<name>")
def put_destination(name: str) -> dict[str, Any]:
    return wiring.outbound().directory.update(name, json_object(router))


@router.delete("/v1/destinations/<name>")
def delete_destination(name: str) -> Response[str]:
    wiring.outbound().directory.reset(name)
    return Response(status_code=204, body="")

"""The Klaviyo integration (DESIGN §6): OAuth connect, callback, status, disconnect, and the customer sync.

The callback carries no app credentials (Klaviyo's redirect brings the merchant's browser there): it is
checked by the single-use ``state`` and the PKCE verifier stored with it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.entrypoints.http import json_response

router = Router()
CALLBACK = "/v1/integrations/klaviyo/callback"


def _api_base_url() -> str:
    """This API's own URL as the caller reached it (the default OAuth redirect URI is built on it)."""
    headers = router.current_event.headers
    scheme = (headers.get("x-forwarded-proto") or "https").split(",")[0].strip()
    context = router.current_event.get("requestContext") or {}
    host = headers.get("host") or str(context.get("domainName", ""))
    return f"{scheme}://{host}"


@router.post("/v1/integrations/klaviyo/connect")
def connect() -> dict[str, Any]:
    return wiring.outbound().klaviyo_integration.connect(_api_base_url())


@router.get(CALLBACK)
def callback() -> dict[str, Any]:
    query = router.current_event.query_string_parameters or {}
    return wiring.outbound().klaviyo_integration.callback(query.get("state"), query.get("code"), query.get("error"))


@router.get("/v1/integrations/klaviyo")
def status() -> dict[str, Any]:
    return wiring.outbound().klaviyo_integration.status()


@router.delete("/v1/integrations/klaviyo")
def disconnect() -> dict[str, Any]:
    return wiring.outbound().klaviyo_integration.disconnect()


@router.post("/v1/integrations/klaviyo/sync")
def start_sync() -> Response[str]:
    return json_response(202, wiring.outbound().klaviyo_integration.start_sync())


@router.get("/v1/integrations/klaviyo/sync")
def sync_status() -> dict[str, Any]:
    return wiring.outbound().klaviyo_integration.status()["sync"] or {"object": "klaviyo_sync", "status": "never_run"}

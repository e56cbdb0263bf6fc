"""The client-side API (``/client/v1``): what a browser or app may call with publishable keys.

Credentials are ``X-Client-Application-Id`` / ``X-Client-Token`` (``PERKFLOW_CLIENT_APP_ID`` /
``PERKFLOW_CLIENT_TOKEN``) and the request's ``Origin`` must be one of ``PERKFLOW_CLIENT_ORIGINS``; the
server-side X-App auth does not apply here (the api resolver lists ``/client/v1/`` as public). Answers carry
CORS headers for the allowed origin; preflight ``OPTIONS`` answers 204.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from perkflow import wiring
from perkflow.config import get_settings
from perkflow.domain.errors import Forbidden, InvalidPayload, Unauthorized
from perkflow.entrypoints.http import secret_matches
from perkflow.entrypoints.promotions import body, flag, nested, query, request_id

router = Router()
PREFIX = "/client/v1/"
_ALLOWED_HEADERS = "Content-Type, X-Client-Application-Id, X-Client-Token, X-Voucherify-Channel"


def _origin() -> str:
    """The request's origin, checked with its credentials (401 unauthorized, 403 forbidden)."""
    headers = router.current_event.headers
    settings = get_settings()
    if not (
        secret_matches(headers.get("x-client-application-id"), settings.client_app_id)
        and secret_matches(headers.get("x-client-token"), settings.client_token)
    ):
        raise Unauthorized()
    origin = (headers.get("origin") or "").rstrip("/")
    if origin not in settings.client_origins:
        raise Forbidden("Origin not allowed", details=origin or "no Origin header")
    return origin


def _answer(origin: str, payload: dict[str, Any]) -> Response[str]:
    return Response(
        status_code=200,
        content_type="application/json",
        body=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        headers={"Access-Control-Allow-Origin": origin, "Vary": "Origin"},
    )


@router.route("/client/v1/<operation>", method=["OPTIONS"])
def preflight(operation: str) -> Response[str]:
    origin = (router.current_event.headers.get("origin") or "").rstrip("/")
    headers = {"Vary": "Origin"}
    if origin in get_settings().client_origins:
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            }
        )
    return Response(status_code=204, body="", headers=headers)


@router.get("/client/v1/validate")
def validate() -> Response[str]:
    """``client.validate(code | params)``: the legacy validation, its parameters in the query (qs format)."""
    origin = _origin()
    params = nested(query(router))
    code = params.get("code")
    if not isinstance(code, str) or not code:
        raise InvalidPayload("code is required", key="invalid_query_params", details="code")
    order: dict[str, Any] = {}
    if params.get("amount") not in (None, ""):
        try:
            order["amount"] = int(str(params["amount"]))
        except ValueError as exc:
            raise InvalidPayload("amount must be an integer", key="invalid_query_params", details="amount") from exc
    if isinstance(params.get("item"), dict):
        order["items"] = [
            params["item"][key] for key in sorted(params["item"], key=lambda key: int(key) if key.isdigit() else 0)
        ]
    if isinstance(params.get("order"), dict) and isinstance(params["order"].get("metadata"), dict):
        order["metadata"] = params["order"]["metadata"]
    request: dict[str, Any] = {"customer": params.get("customer"), "metadata": params.get("metadata")}
    if order:
        request["order"] = order
    if params.get("tracking_id"):
        request["tracking_id"] = params["tracking_id"]
    if params.get("session_type") or params.get("session_key"):
        session: dict[str, Any] = {"type": params.get("session_type") or "LOCK", "key": params.get("session_key")}
        if params.get("session_ttl"):
            session["ttl"] = params["session_ttl"]
        if params.get("session_ttl_unit"):
            session["ttl_unit"] = params["session_ttl_unit"]
        request["session"] = session
    answer = wiring.promotions().checkout.validate(request, request_id=request_id(router), legacy_code=code)
    return _answer(origin, answer)


@router.post("/client/v1/redeem")
def redeem() -> Response[str]:
    origin = _origin()
    code = query(router).get("code")
    if not code:
        raise InvalidPayload("code is required", key="invalid_query_params", details="code")
    answer = wiring.promotions().checkout.redeem(body(router), request_id=request_id(router), legacy_code=code)
    return _answer(origin, answer)


@router.post("/client/v1/publish")
def publish() -> Response[str]:
    origin = _origin()
    params = query(router)
    payload = body(router)
    if not isinstance(payload, dict):
        raise InvalidPayload("Body must be a JSON object")
    if params.get("campaign") and not payload.get("campaign") and not payload.get("voucher"):
        payload["campaign"] = params["campaign"]
    answer = wiring.promotions().publications.publish(payload, flag(params.get("join_once")))
    return _answer(origin, answer)


@router.post("/client/v1/events")
def track() -> Response[str]:
    origin = _origin()
    payload = body(router)
    if not isinstance(payload, dict):
        raise InvalidPayload("Body must be a JSON object")
    return _answer(origin, wiring.customer_admin().track(payload))


@router.post("/client/v1/validations")
def validate_stackable() -> Response[str]:
    origin = _origin()
    return _answer(origin, wiring.promotions().checkout.validate(body(router), request_id=request_id(router)))


@router.post("/client/v1/redemptions")
def redeem_stackable() -> Response[str]:
    origin = _origin()
    return _answer(origin, wiring.promotions().checkout.redeem(body(router), request_id=request_id(router)))

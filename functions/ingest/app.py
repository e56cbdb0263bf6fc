"""Customer events in: the Segment HTTP Tracking API, Segment webhook destinations, and the endpoints of
Segment's Voucherify (Actions) destination. Each route checks its own credentials, then hands the messages
to the ingest service."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from perkflow import wiring
from perkflow.config import get_settings
from perkflow.domain.errors import InvalidPayload, PerkflowError, Unauthorized
from perkflow.domain.signatures import segment_signature_valid
from perkflow.domain.tracking import MAX_BATCH_BYTES
from perkflow.entrypoints.http import (
    basic_auth_user,
    create_resolver,
    decoded_body,
    json_response,
    parse_json,
    request_id,
    secret_matches,
)
from perkflow.observability import logger
from perkflow.services.ingest import IngestResult

app = create_resolver(app_auth=False)


def _answer(result: IngestResult) -> Response[str]:
    """DESIGN §6: all accepted 200; some rejected 200 + list; all rejected 400 + list."""
    rejected = [rejection.as_json() for rejection in result.rejected]
    if not rejected:
        return json_response(200, {"success": True})
    if result.accepted:
        return json_response(200, {"success": True, "rejected": rejected})
    error = InvalidPayload("Every message was rejected", details=rejected[0]["message"])
    return json_response(400, {**error.body(request_id(app)), "rejected": rejected})


def _tracking_request(kind: str | None) -> Response[str]:
    body = decoded_body(app, MAX_BATCH_BYTES)
    header_key = basic_auth_user(app.current_event.headers.get("authorization"))
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidPayload("Body must be a JSON object")
    write_key = header_key or payload.get("writeKey")
    if not secret_matches(write_key if isinstance(write_key, str) else None, get_settings().write_key):
        raise Unauthorized()
    if kind is not None:
        return _answer(wiring.ingest_service().ingest([payload], kind=kind))
    batch = payload.get("batch")
    if not isinstance(batch, list):
        raise InvalidPayload("batch must be an array of messages", details="batch")
    return _answer(wiring.ingest_service().ingest(batch, envelope=payload))


@app.post("/v1/batch")
def batch() -> Response[str]:
    return _tracking_request(None)


@app.post("/v1/import")
def import_() -> Response[str]:
    """The legacy alias of /v1/batch that segment-import and some partners still use."""
    return _tracking_request(None)


@app.post("/v1/<kind>")
def single(kind: str) -> Response[str]:
    if kind not in ("identify", "track", "page", "screen", "group", "alias"):
        raise PerkflowError("Resource not found", key="not_found", status=404, details=f"/v1/{kind}")
    return _tracking_request(kind)


@app.post("/v1/webhooks/segment")
def segment_webhook() -> Response[str]:
    body = decoded_body(app, MAX_BATCH_BYTES)
    secret = get_settings().segment_shared_secret
    signature = app.current_event.headers.get("x-signature")
    if secret is None or not segment_signature_valid(body, signature, secret.get_secret_value()):
        raise Unauthorized("Unauthorized", details="X-Signature does not match the body")
    payload = parse_json(body)
    messages = payload if isinstance(payload, list) else [payload]
    return _answer(wiring.ingest_service().ingest(messages))


# -- Segment's Voucherify (Actions) destination -----------------------------------------------------------------


def _b64(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip()
    if text.lower().startswith("basic "):
        text = text[6:].strip()
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _check_destination_auth() -> None:
    """``authorization: Basic base64(<application id>)`` and ``secret-key: base64(<secret key>)``."""
    headers = app.current_event.headers
    settings = get_settings()
    app_id_ok = secret_matches(_b64(headers.get("authorization")), settings.app_id)
    secret_ok = secret_matches(_b64(headers.get("secret-key")), settings.app_token)
    if not (app_id_ok and secret_ok):
        raise Unauthorized()


def _destination_payload() -> dict[str, Any]:
    _check_destination_auth()
    payload = parse_json(decoded_body(app, MAX_BATCH_BYTES))
    if not isinstance(payload, dict):
        raise InvalidPayload("Body must be a JSON object")
    return payload


def _customer_source_id(payload: dict[str, Any]) -> Any:
    customer = payload.get("customer")
    return customer.get("source_id") if isinstance(customer, dict) else None


@app.route("/segmentio/test-authentication", method=["GET", "POST"])
def test_authentication() -> Response[str]:
    _check_destination_auth()
    return json_response(200, {"success": True})


@app.post("/segmentio/customer-processing")
def customer_processing() -> Response[str]:
    payload = _destination_payload()
    traits = {key: value for key, value in payload.items() if key not in ("source_id", "type")}
    message = {"type": "identify", "userId": payload.get("source_id"), "traits": traits}
    return _answer(wiring.ingest_service().ingest([message]))


@app.post("/segmentio/event-processing")
def event_processing() -> Response[str]:
    payload = _destination_payload()
    source_id = _customer_source_id(payload)
    properties = dict(payload.get("metadata") or {})
    for extra in ("referral", "loyalty"):
        if payload.get(extra):
            properties[extra] = payload[extra]
    messages: list[dict[str, Any]] = []
    customer = payload.get("customer")
    if isinstance(customer, dict) and customer.get("email"):
        messages.append({"type": "identify", "userId": source_id, "traits": {"email": customer["email"]}})
    messages.append({"type": "track", "userId": source_id, "event": payload.get("event"), "properties": properties})
    return _answer(wiring.ingest_service().ingest(messages))


@app.post("/segmentio/group-processing")
def group_processing() -> Response[str]:
    payload = _destination_payload()
    message = {
        "type": "group",
        "userId": _customer_source_id(payload),
        "groupId": payload.get("group_id"),
        "traits": payload.get("traits") or {},
    }
    return _answer(wiring.ingest_service().ingest([message]))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

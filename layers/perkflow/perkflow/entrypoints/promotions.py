"""HTTP glue the promotion routers share: bodies, path and query parameters as the SDKs send them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from aws_lambda_powertools.event_handler import Response

from perkflow.domain.errors import InvalidPayload
from perkflow.entrypoints.http import HasRequest, decoded_body, parse_json

MAX_BODY = 1_000_000


def body(app: HasRequest) -> Any:
    """The JSON body (an empty body is ``{}``); 400 ``invalid_payload`` when it is not JSON."""
    raw = decoded_body(app, MAX_BODY)
    return parse_json(raw) if raw.strip() else {}


def request_id(app: HasRequest) -> str:
    context = app.current_event.get("requestContext") or {}
    return str(context.get("requestId") or "")


def path(value: str) -> str:
    """A path parameter as the client meant it (SDKs encodeURIComponent codes: ``%``, ``/``, spaces)."""
    return unquote(value)


def query(app: HasRequest) -> dict[str, str]:
    """The query string, decoded, last value wins (from the raw string: values may contain commas)."""
    raw = app.current_event.get("rawQueryString") or ""
    if raw:
        return dict(parse_qsl(str(raw), keep_blank_values=True))
    return dict(app.current_event.query_string_parameters or {})


def flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidPayload(f"{value!r} is not a boolean", key="invalid_query_params", details=value)


def number(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        parsed = int(value)
    except ValueError as exc:
        raise InvalidPayload(f"{name} must be an integer", key="invalid_query_params", details=name) from exc
    if not low <= parsed <= high:
        raise InvalidPayload(f"{name} must be {low} to {high}", key="invalid_query_params", details=name)
    return parsed


def nested(params: dict[str, str]) -> dict[str, Any]:
    """``a[b][c]=v`` query keys (the ``qs`` format the JS SDKs use) as nested objects."""
    result: dict[str, Any] = {}
    for key, value in params.items():
        parts = key.replace("]", "").split("[")
        target = result
        for part in parts[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        target[parts[-1]] = value
    return result


def no_content() -> Response[str]:
    return Response(status_code=204, body="")

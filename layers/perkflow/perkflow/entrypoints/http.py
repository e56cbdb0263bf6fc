"""HTTP API glue shared by the functions behind API Gateway (``api``, ``ingest``).

One resolver factory so every HTTP function answers errors in the one shape of DESIGN §6:
- :class:`PerkflowError` -> its status and key;
- Powertools' request validation (422) -> 400 ``invalid_payload``;
- an unknown route -> 404 ``not_found``;
- anything unexpected -> 500 ``internal_error``, logged with the request id, never with request secrets.
"""

from __future__ import annotations

import base64
import hmac
import json
import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from pydantic import SecretStr

from perkflow.config import get_settings
from perkflow.domain.errors import InvalidPayload, NotFound, PayloadTooLarge, PerkflowError, Unauthorized
from perkflow.domain.timeutil import parse_iso
from perkflow.observability import logger

JSON = "application/json"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        headers=headers,
    )


def request_id(app: APIGatewayHttpResolver) -> str:
    try:
        return str(app.current_event.request_context.request_id)
    except (AttributeError, KeyError, TypeError):
        return ""


def error_response(app: APIGatewayHttpResolver, error: PerkflowError) -> Response[str]:
    return json_response(error.status, error.body(request_id(app)))


def _describe_validation(errors: Iterable[Any]) -> str:
    parts = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body",))
        parts.append(f"{location}: {error.get('msg', 'invalid')}" if location else str(error.get("msg")))
    return "; ".join(parts)


def create_resolver(
    *, public_paths: Iterable[str] = ("/health",), public_prefixes: Iterable[str] = (), app_auth: bool = True
) -> APIGatewayHttpResolver:
    """A resolver with perkflow's error mapping and, when ``app_auth``, X-App-Id/X-App-Token auth on every
    non-public route (functions with their own credentials, like ingest, check those in their routes)."""
    app = APIGatewayHttpResolver(enable_validation=True)
    public = frozenset(public_paths)
    prefixes = tuple(public_prefixes)

    @app.exception_handler(PerkflowError)
    def _perkflow_error(error: PerkflowError) -> Response[str]:
        return error_response(app, error)

    @app.exception_handler(RequestValidationError)
    def _validation_error(error: RequestValidationError) -> Response[str]:
        errors = list(error.errors())
        in_query = any(tuple(item.get("loc", ()))[:1] == ("query",) for item in errors)
        key = "invalid_query_params" if in_query else "invalid_payload"
        details = _describe_validation(errors)
        return error_response(app, InvalidPayload("Invalid payload", key=key, details=details))

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        return error_response(app, NotFound("Resource not found", details=app.current_event.path))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error", extra={"request_id": request_id(app)})
        failure = PerkflowError("Internal error", key="internal_error", status=500)
        return error_response(app, failure)

    def authenticate(router: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        path = router.current_event.path
        route = router.context.get("_route")
        # Powertools runs middlewares for unmatched paths too (its not_found_handler route); DESIGN §6 answers
        # those 404 not_found whatever the credentials.
        unmatched = getattr(getattr(route, "func", None), "__name__", "") == "not_found_handler"
        if unmatched or path in public or path.startswith(prefixes):
            return next_middleware(router)
        headers = router.current_event.headers
        if not app_credentials_valid(headers.get("x-app-id"), headers.get("x-app-token")):
            return error_response(router, Unauthorized())
        return next_middleware(router)

    if app_auth:
        app.use(middlewares=[authenticate])
    return app


def app_credentials_valid(app_id: str | None, app_token: str | None) -> bool:
    """Constant-time check of the server-side credentials (X-App-Id / X-App-Token)."""
    settings = get_settings()
    same_id = secret_matches(app_id, settings.app_id)
    same_token = secret_matches(app_token, settings.app_token)
    return same_id and same_token


class HasRequest(Protocol):
    """A resolver or a Router: anything that holds the current API Gateway event."""

    @property
    def current_event(self) -> BaseProxyEvent: ...


def raw_body(app: HasRequest) -> bytes:
    """The request body as the client sent it (API Gateway base64-encodes binary and encoded bodies)."""
    body = app.current_event.get("body") or ""
    if app.current_event.is_base64_encoded:
        return base64.b64decode(body)
    return str(body).encode("utf-8")


def decoded_body(app: HasRequest, limit: int) -> bytes:
    """The body after Content-Encoding, refusing more than ``limit`` bytes (before or after gunzip) with
    413 ``payload_too_large``, without ever inflating more than ``limit`` + 1 bytes."""
    body = raw_body(app)
    encoding = (app.current_event.headers.get("content-encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: accept gzip and zlib headers
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise InvalidPayload("Body is not valid gzip", details=str(exc)) from exc
    elif encoding not in ("", "identity"):
        raise PerkflowError(f"Unsupported Content-Encoding {encoding}", key="unsupported_media_type", status=415)
    if len(body) > limit:
        raise PayloadTooLarge(f"Body is over {limit} bytes", details=f"limit {limit} bytes")
    return body


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload("Body is not valid JSON", details=str(exc)) from exc


def json_object(app: HasRequest, limit: int = 1_000_000) -> dict[str, Any]:
    """The request body as a JSON object, or 400 ``invalid_payload``."""
    payload = parse_json(decoded_body(app, limit) or b"{}")
    if not isinstance(payload, dict):
        raise InvalidPayload("Body must be a JSON object")
    return payload


def basic_auth_user(authorization: str | None) -> str | None:
    """The user part of an HTTP Basic ``Authorization`` header (Segment sends ``writeKey:``)."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0]


def secret_matches(given: str | None, expected: SecretStr | str | None) -> bool:
    if not given or expected is None:
        return False
    value = expected.get_secret_value() if isinstance(expected, SecretStr) else expected
    return bool(value) and hmac.compare_digest(given.encode(), value.encode())


def query_instant(name: str, value: str | None) -> datetime | None:
    """An ISO-8601 query parameter, or 400 ``invalid_query_params`` naming it."""
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise InvalidPayload(f"{name} is not an ISO-8601 timestamp", key="invalid_query_params", details=name) from exc

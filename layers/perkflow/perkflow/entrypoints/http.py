"""HTTP API glue shared by the functions behind API Gateway (``api``, ``ingest``).

One resolver factory so every HTTP function answers errors in the one shape of DESIGN §6:
- :class:`PerkflowError` -> its status and key;
- Powertools' request validation (422) -> 400 ``invalid_payload``;
- an unknown route -> 404 ``not_found``;
- anything unexpected -> 500 ``internal_error``, logged with the request id, never with request secrets.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from perkflow.config import get_settings
from perkflow.domain.errors import InvalidPayload, NotFound, PerkflowError, Unauthorized
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
    *, public_paths: Iterable[str] = ("/health",), public_prefixes: Iterable[str] = ()
) -> APIGatewayHttpResolver:
    """A resolver with perkflow's error mapping and X-App-Id/X-App-Token auth on every non-public route."""
    app = APIGatewayHttpResolver(enable_validation=True)
    public = frozenset(public_paths)
    prefixes = tuple(public_prefixes)

    @app.exception_handler(PerkflowError)
    def _perkflow_error(error: PerkflowError) -> Response[str]:
        return error_response(app, error)

    @app.exception_handler(RequestValidationError)
    def _validation_error(error: RequestValidationError) -> Response[str]:
        return error_response(
            app, InvalidPayload("Invalid payload", details=_describe_validation(error.errors()))
        )

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
        if path in public or path.startswith(prefixes):
            return next_middleware(router)
        headers = router.current_event.headers
        if not app_credentials_valid(headers.get("x-app-id"), headers.get("x-app-token")):
            return error_response(router, Unauthorized())
        return next_middleware(router)

    app.use(middlewares=[authenticate])
    return app


def app_credentials_valid(app_id: str | None, app_token: str | None) -> bool:
    """Constant-time check of the server-side credentials (X-App-Id / X-App-Token)."""
    settings = get_settings()
    if not settings.app_id or settings.app_token is None or not app_id or not app_token:
        return False
    same_id = hmac.compare_digest(app_id.encode(), settings.app_id.encode())
    same_token = hmac.compare_digest(app_token.encode(), settings.app_token.get_secret_value().encode())
    return same_id and same_token

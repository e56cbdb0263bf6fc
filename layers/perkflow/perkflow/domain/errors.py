"""One error shape everywhere (DESIGN §6): ``{code, key, message, details, request_id}``.

Domain and service code raise :class:`PerkflowError` (or a subclass); the HTTP entry points turn it into the
body. ``key`` uses Voucherify's error keys where one exists, so SDK users see the keys they know.
"""

from __future__ import annotations

from typing import Any


class PerkflowError(Exception):
    status: int = 400
    key: str = "invalid_payload"

    def __init__(
        self,
        message: str,
        *,
        details: str | None = None,
        key: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or ""
        if key is not None:
            self.key = key
        if status is not None:
            self.status = status
        self.extra = extra or {}

    def body(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.status,
            "key": self.key,
            "message": self.message,
            "details": self.details,
            "request_id": request_id,
        }
        body.update(self.extra)
        return body


class InvalidPayload(PerkflowError):
    status = 400
    key = "invalid_payload"


class Unauthorized(PerkflowError):
    status = 401
    key = "unauthorized"

    def __init__(self, message: str = "Unauthorized", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class Forbidden(PerkflowError):
    status = 403
    key = "forbidden"


class NotFound(PerkflowError):
    status = 404
    key = "not_found"

    def __init__(self, message: str = "Resource not found", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class Conflict(PerkflowError):
    status = 409
    key = "duplicate_found"


class PayloadTooLarge(PerkflowError):
    status = 413
    key = "payload_too_large"


class StaleWrite(Exception):
    """A stored item changed between read and conditional write (optimistic concurrency): read again."""

"""Request bodies checked against Klaviyo's published OpenAPI document (the copied subset in specs/)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

SUBSET = Path(__file__).parent / "specs" / "klaviyo-openapi-subset.json"


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SUBSET.read_text())
    return loaded


def revision() -> str:
    return str(document()["info"]["version"])


def operation(path: str, method: str) -> dict[str, Any] | None:
    found = document()["paths"].get(path, {}).get(method.lower())
    return found if isinstance(found, dict) else None


def rate_limit(operation_id: str) -> tuple[str, str]:
    for methods in document()["paths"].values():
        for op in methods.values():
            if op.get("operationId") == operation_id:
                limit = op["x-klaviyo-ratelimit"]
                return str(limit["burst"]), str(limit["steady"])
    raise KeyError(operation_id)


@cache
def _validator(path: str, method: str) -> OAS30Validator | None:
    op = operation(path, method)
    if op is None or "requestBody" not in op:
        return None
    schema = op["requestBody"]["content"]["application/vnd.api+json"]["schema"]
    return OAS30Validator({**schema, "components": document()["components"]})


def body_errors(path: str, method: str, body: Any) -> list[tuple[str, str]]:
    """``(JSON pointer, message)`` for every way ``body`` breaks the operation's request schema."""
    validator = _validator(path, method)
    if validator is None:
        return []
    found = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        pointer = "/" + "/".join(str(part) for part in error.absolute_path)
        found.append((pointer, error.message[:300]))
    return found

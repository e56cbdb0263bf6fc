"""A checker for the OpenAPI 3.0 subset the Voucherify fragments use: ``$ref``, ``allOf``, ``oneOf``/``anyOf``,
``type``, ``enum``, ``required``, ``properties``, ``additionalProperties``, ``items``, ``format: date-time``.

Null passes for any field: the spec marks almost every field ``nullable`` and Voucherify itself answers null
for fields it documents as plain strings. :func:`unknown_fields` reports fields no schema of their level
names, so a misspelt or invented field fails too.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

# Fields Voucherify answers that its schemas do not name (reference/voucherify.md §3.6 and §3.10; the gift voucher
# of the legacy redemption example in documentation/openapi/redemptions.json carries redemption.redeemed_amount).
EXTRAS = (".redemption.redeemed_amount", "$.redeemed_amount")
FRAGMENTS: dict[str, Any] = json.loads((Path(__file__).parent / "spec" / "voucherify_fragments.json").read_text())
SCHEMAS: dict[str, Any] = FRAGMENTS["schemas"]
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _utc(text: str) -> bool:
    try:
        return text.endswith("Z") and datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def problems(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    schema = _resolve(schema)
    found: list[str] = []
    for part in schema.get("allOf", []):
        found += problems(part, value, path)
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema and value is not None:
            attempts = [problems(option, value, path) for option in schema[combinator]]
            if all(attempts):
                found.append(f"{path}: matches no {combinator} option; closest: {min(attempts, key=len)}")
    if value is None:
        return found
    expected = schema.get("type")
    if expected is not None:
        if isinstance(value, bool) and expected in ("integer", "number"):
            return [*found, f"{path}: boolean where {expected} is expected"]
        if not isinstance(value, _TYPES[expected]):
            return [*found, f"{path}: {type(value).__name__} where {expected} is expected"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not in {schema['enum']}")
    if schema.get("format") == "date-time" and isinstance(value, str) and not _utc(value):
        found.append(f"{path}: {value!r} is not a UTC date-time")
    if isinstance(value, dict):
        found += [f"{path}: missing required {name!r}" for name in schema.get("required", []) if name not in value]
        properties, others = schema.get("properties", {}), schema.get("additionalProperties")
        for name, item in value.items():
            sub = properties.get(name, others if isinstance(others, dict) else None)
            if sub is not None:
                found += problems(sub, item, f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(schema["items"], item, f"{path}[{index}]")
    return found


def _level(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema)
    merged = [schema]
    for combinator in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(combinator, []):
            merged += _level(part)
    return merged


def unknown_fields(candidates: list[dict[str, Any]], value: Any, path: str = "$") -> list[str]:
    level = [part for schema in candidates for part in _level(schema)]
    found: list[str] = []
    if isinstance(value, dict):
        named = {name for part in level for name in part.get("properties", {})}
        others = [part["additionalProperties"] for part in level if part.get("additionalProperties")]
        if not named and not others:
            return []  # a free-form object (metadata ...)
        for name, item in value.items():
            subs = [part["properties"][name] for part in level if name in part.get("properties", {})]
            subs = subs or [other for other in others if isinstance(other, dict)]
            if name not in named and not others and not f"{path}.{name}".endswith(EXTRAS):
                found.append(f"{path}.{name}: not in the spec")
            found += unknown_fields(subs, item, f"{path}.{name}")
    elif isinstance(value, list):
        subs = [part["items"] for part in level if "items" in part]
        for index, item in enumerate(value):
            found += unknown_fields(subs, item, f"{path}[{index}]")
    return found


def check(endpoint: str, body: Any) -> list[str]:
    """Every way ``body`` departs from the response schema of ``endpoint`` (``"POST /v1/redemptions"``)."""
    root = {"$ref": f"#/components/schemas/{FRAGMENTS['roots'][endpoint]}"}
    return problems(root, body) + unknown_fields([root], body)

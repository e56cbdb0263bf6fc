"""Checks an answer against Voucherify's response schema (copied into spec_fragments.json, source noted there).

It reads the OpenAPI 3.0 subset the fragments use ($ref, allOf, oneOf/anyOf, type, enum, required, properties,
additionalProperties, items, format date-time) and allows null anywhere (Voucherify sends null for fields its
schema types as plain strings). ``unknown`` lists fields no schema names, so a misspelt field fails too;
perkflow's own additions live under a ``perkflow`` key, which is the one extension allowed.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

FRAGMENTS = json.loads((Path(__file__).parent / "spec_fragments.json").read_text())
SCHEMAS: dict[str, Any] = FRAGMENTS["schemas"]
EXTENSION = "perkflow"
# RedemptionRewardResult marks "reward" required although it has no such property (a spec slip): not enforced.
IGNORED_REQUIRED = {("RedemptionRewardResult", "reward")}
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _resolve(schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return name, SCHEMAS[name]
    return None, schema


def problems(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    name, schema = _resolve(schema)
    found: list[str] = []
    for part in schema.get("allOf", []):
        found += problems(part, value, path)
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            attempts = [problems(option, value, path) for option in schema[combinator]]
            if all(attempts):
                found.append(f"{path}: matches no {combinator} option: {min(attempts, key=len)}")
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
    if schema.get("format") == "date-time" and isinstance(value, str):
        try:
            if not value.endswith("Z") or datetime.fromisoformat(value).tzinfo is None:
                found.append(f"{path}: {value!r} is not a UTC date-time")
        except ValueError:
            found.append(f"{path}: {value!r} is not a date-time")
    if isinstance(value, dict):
        for required in schema.get("required", []):
            if required not in value and (name, required) not in IGNORED_REQUIRED:
                found.append(f"{path}: missing required {required!r}")
        properties = schema.get("properties", {})
        others = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, others if isinstance(others, dict) else None)
            if sub is not None:
                found += problems(sub, item, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(schema["items"], item, f"{path}[{index}]")
    return found


def _level(schema: dict[str, Any]) -> list[dict[str, Any]]:
    _, schema = _resolve(schema)
    merged = [schema]
    for combinator in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(combinator, []):
            merged += _level(part)
    return merged


def unknown(candidates: list[dict[str, Any]], value: Any, path: str = "$") -> list[str]:
    level = [part for schema in candidates for part in _level(schema)]
    found: list[str] = []
    if isinstance(value, dict):
        named = {name for part in level for name in part.get("properties", {})}
        others = [part["additionalProperties"] for part in level if part.get("additionalProperties")]
        if not named and not others:
            return []  # free-form (metadata)
        for key, item in value.items():
            if key == EXTENSION:
                continue
            subs = [part["properties"][key] for part in level if key in part.get("properties", {})]
            subs = subs or [other for other in others if isinstance(other, dict)]
            if key not in named and not others:
                found.append(f"{path}.{key}: not in the spec")
            found += unknown(subs, item, f"{path}.{key}")
    elif isinstance(value, list):
        subs = [part["items"] for part in level if "items" in part]
        for index, item in enumerate(value):
            found += unknown(subs, item, f"{path}[{index}]")
    return found


def check(root: str, body: Any) -> None:
    assert root in FRAGMENTS["roots"]
    schema = {"$ref": f"#/components/schemas/{root}"}
    found = problems(schema, body) + unknown([schema], body)
    if found:
        raise AssertionError(f"{root}: " + "; ".join(found))

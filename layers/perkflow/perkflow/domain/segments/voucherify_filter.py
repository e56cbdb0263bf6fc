"""Voucherify segment ``filter`` JSON -> the definition language, so the SDKs' ``POST /v1/segments`` works.

Voucherify's grammar (reference/voucherify.md §3.3, the create-segment examples of the OpenAPI spec):
``{"junction": "and"|"or", "<path>": {"conditions": {"$op": [values] | value}}, ...}``. Each path may carry
several operators (joined by the field's own ``junction``, ``and`` by default); values come as arrays or
scalars, and numbers may come as strings (``"$more_than": ["0"]``).

Paths: ``events.<event name>.count`` is the all-time count of that event (the name is everything between
the first ``events.`` and the last ``.count``, so it may hold dots and spaces); anything else is a trait path
into the profile snapshot: the customer fields, ``address.*``, ``metadata.*``, ``system_metadata.*``,
``summary.*``, ``loyalty.*``, ``loyalty_points.*``, ``referrals.*``.

Operators outside the table below (``$timeframe``, ``$dow``, ``$is_days_ago``, ``$more_than_future`` ...) and
unknown paths are rejected with InvalidPayload naming them, rather than half-understood. Durations of
``$more_than_ago``/``$less_than_ago`` are days (a number, as Voucherify's date filters count them) or an
ISO-8601 duration of weeks/days/hours/minutes/seconds (``"P30D"``, ``"PT12H"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from perkflow.domain.errors import InvalidPayload
from perkflow.domain.segments.conditions import instant_ms, number
from perkflow.domain.segments.definition import Node, parse_node

_FIELDS = {"id", "source_id", "name", "email", "phone", "description", "birthdate", "created_at", "updated_at"}
_OBJECTS = {"address", "metadata", "system_metadata", "summary", "loyalty", "loyalty_points", "referrals"}
_ALIASES = {"birthday": "birthdate"}  # Voucherify's older name of the field

_COUNT_OPS = {
    "$is": "eq", "$count": "eq", "$is_not": "ne",
    "$more_than": "gt", "$count_more": "gt", "$more_than_equal": "gte", "$more_than_or_equal": "gte",
    "$less_than": "lt", "$count_less": "lt", "$less_than_equal": "lte", "$less_than_or_equal": "lte",
}  # fmt: skip
_ORDER_OPS = {
    "$more_than": "gt", "$more_than_equal": "gte", "$more_than_or_equal": "gte",
    "$less_than": "lt", "$less_than_equal": "lte", "$less_than_or_equal": "lte",
}  # fmt: skip
_TEXT_OPS = {"$contains": "contains", "$starts_with": "starts_with", "$ends_with": "ends_with"}
_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_UNIT_SECONDS = (604_800, 86_400, 3600, 60, 1)  # the duration's W, D, H, M, S

Json = dict[str, Any]


def translate_filter(filter_: Any) -> Node:
    """The definition tree equivalent to a Voucherify segment filter; InvalidPayload if it cannot be."""
    if not isinstance(filter_, Mapping):
        raise InvalidPayload("Invalid segment filter", details="filter must be an object")
    junction = _junction(filter_.get("junction", "and"), "junction")
    conditions = [_field(path, spec) for path, spec in filter_.items() if path != "junction"]
    if not conditions:
        raise InvalidPayload("Invalid segment filter", details="filter has no conditions")
    return parse_node(_combine(junction, conditions))


def _junction(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or raw.lower() not in ("and", "or"):
        raise InvalidPayload("Invalid segment filter", details=f"{where}: must be 'and' or 'or', got {raw!r}")
    return raw.lower()


def _combine(junction: str, nodes: list[Json]) -> Json:
    return nodes[0] if len(nodes) == 1 else {"type": junction, "children": nodes}


def _field(path: str, spec: Any) -> Json:
    conditions = spec.get("conditions") if isinstance(spec, Mapping) else None
    if not isinstance(conditions, Mapping) or not conditions:
        raise InvalidPayload("Invalid segment filter", details=f"{path}: expected {{'conditions': {{'$op': ...}}}}")
    junction = _junction(spec.get("junction", "and"), f"{path}.junction")
    if path.startswith("events.") and path.endswith(".count") and len(path) > len("events..count"):
        event = path[len("events.") : -len(".count")]
        nodes = [_event_count(path, event, op, raw) for op, raw in conditions.items()]
    else:
        trait_path = _trait_path(path)
        nodes = [_trait(path, trait_path, op, raw) for op, raw in conditions.items()]
    return _combine(junction, nodes)


def _trait_path(path: str) -> str:
    head, _, rest = path.partition(".")
    head = _ALIASES.get(head, head)
    if (head in _FIELDS and not rest) or (head in _OBJECTS and rest):
        return f"{head}.{rest}" if rest else head
    raise InvalidPayload("Unsupported segment filter path", details=f"unknown path {path!r}")


def _values(raw: Any) -> list[Any]:
    return list(raw) if isinstance(raw, list | tuple) else [raw]


def _single(path: str, op: str, raw: Any) -> Any:
    values = _values(raw)
    if len(values) != 1:
        raise InvalidPayload("Invalid segment filter", details=f"{path}: {op} takes exactly one value")
    return values[0]


def _unsupported(path: str, op: str) -> InvalidPayload:
    return InvalidPayload("Unsupported segment filter operator", details=f"{path}: operator {op!r} is not supported")


def _event_count(path: str, event: str, op: str, raw: Any) -> Json:
    def count(count_op: str, value: Any) -> Json:
        amount = number(value)
        if amount is None or amount < 0 or amount != amount.to_integral_value():
            raise InvalidPayload("Invalid segment filter", details=f"{path}: {op} needs a whole count, got {value!r}")
        return {"type": "event_count", "event": event, "window": {"kind": "all_time"}, "op": count_op,
                "value": int(amount)}  # fmt: skip

    if op == "$in":
        return _combine("or", [count("eq", value) for value in _values(raw)])
    if op == "$not_in":
        return _combine("and", [count("ne", value) for value in _values(raw)])
    if op in _COUNT_OPS:
        return count(_COUNT_OPS[op], _single(path, op, raw))
    raise _unsupported(path, op)


def _trait(path: str, trait: str, op: str, raw: Any) -> Json:
    def leaf(trait_op: str, value: Any = None, **extra: Any) -> Json:
        node: Json = {"type": "trait", "path": trait, "op": trait_op, **extra}
        if value is not None:
            node["value"] = value
        return node

    values = _values(raw)
    if op in ("$is", "$is_not"):
        if not values:
            raise InvalidPayload("Invalid segment filter", details=f"{path}: {op} needs a value")
        many = "in" if op == "$is" else "not_in"
        return leaf("eq" if op == "$is" else "ne", values[0]) if len(values) == 1 else leaf(many, values)
    if op in ("$in", "$not_in"):
        return leaf(op[1:], values)
    if op in _TEXT_OPS:
        return _combine("or", [leaf(_TEXT_OPS[op], value) for value in values])
    if op == "$not_contain":
        return {"type": "not", "child": _combine("or", [leaf("contains", value) for value in values])}
    if op in _ORDER_OPS:
        value = _single(path, op, raw)
        amount = number(value) if isinstance(value, str) else None
        return leaf(_ORDER_OPS[op], _plain(amount) if amount is not None else value)
    if op in ("$after", "$before"):
        moment = _single(path, op, raw)
        if instant_ms(moment) is None:
            raise InvalidPayload("Invalid segment filter", details=f"{path}: {op} needs an ISO-8601 timestamp")
        return leaf("gt" if op == "$after" else "lt", moment)
    if op in ("$has_value", "$is_unknown"):
        return leaf("exists" if op == "$has_value" else "not_exists")
    if op in ("$more_than_ago", "$less_than_ago"):
        seconds = _duration_seconds(path, op, _single(path, op, raw))
        return leaf("before_last" if op == "$more_than_ago" else "within_last", seconds=seconds)
    if op == "$next_month":
        return leaf("anniversary_next_month")
    raise _unsupported(path, op)


def _plain(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _duration_seconds(path: str, op: str, raw: Any) -> int:
    amount = number(raw)
    if amount is not None and amount > 0:
        return int(amount * 86_400)
    match = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
    if match:
        seconds = sum(int(part) * unit for unit, part in zip(_UNIT_SECONDS, match.groups(), strict=True) if part)
        if seconds > 0:
            return seconds
    raise InvalidPayload(
        "Invalid segment filter", details=f"{path}: {op} needs a positive number of days or an ISO-8601 duration"
    )

"""Predicates over JSON documents (profile snapshots, event properties) and the time arithmetic of segments.

Both the incremental engine and the from-scratch reference evaluator use these functions, so a property,
trait or timestamp means one thing everywhere. Instants are integer UTC milliseconds since the epoch.

Comparison rules (what a shop's loosely typed JSON needs):

* a path walks nested objects by dots; a key that itself contains dots is found too (longest key first);
  a missing value and ``null`` are the same: absent;
* ``ne`` and ``not_in`` hold for an absent value; every other value operator needs a present one;
* numbers compare by value, and a numeric string compares as a number against a number or another numeric
  string (Voucherify sends ``"$more_than": ["0"]``); booleans are never numbers;
* two strings that both read as ISO-8601 timestamps (``YYYY-MM-DD...``) compare as instants, other strings
  by code point.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from typing import Any, Final

from perkflow.domain.segments.definition import PropertyFilter, TraitNode
from perkflow.domain.timeutil import parse_iso

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}")

# Enough digits to add any finite floats exactly, so a sum never depends on the order events arrive in.
EXACT = Context(prec=1000)


class _Absent:
    """The value of a path that leads nowhere (or to ``null``)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


def to_ms(moment: datetime) -> int:
    """Whole UTC milliseconds since the epoch (floored). A naive datetime is a bug upstream, not UTC."""
    if moment.tzinfo is None:
        raise ValueError("segments work with timezone-aware datetimes")
    return (moment - EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * _MS


def resolve(document: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or ABSENT."""
    found = _walk(document, path.split("."))
    return ABSENT if found is None else found


def _walk(value: Any, parts: list[str]) -> Any:
    if not parts:
        return value
    if not isinstance(value, Mapping):
        return None
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key in value:
            found = _walk(value[key], parts[cut:])
            if found is not None:
                return found
    return None


def number(value: Any) -> Decimal | None:
    """A JSON number or numeric string as an exact Decimal (floats by their shortest repr), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):
        return Decimal(value.strip())
    return None


def instant_ms(value: Any) -> int | None:
    """A timestamp trait (ISO-8601 string, ``YYYY-MM-DD`` = UTC midnight, or aware datetime) in ms."""
    if isinstance(value, datetime):
        return to_ms(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, str) and _DATE_LIKE.match(value.strip()):
        try:
            return to_ms(parse_iso(value))
        except ValueError:
            return None
    return None


def calendar_date(value: Any) -> date | None:
    """The UTC calendar date of a date or timestamp trait (birthdate ``YYYY-MM-DD``, ``created_at`` ...)."""
    moment = instant_ms(value)
    return None if moment is None else from_ms(moment).date()


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, int | float) or isinstance(expected, int | float):
        left, right = number(actual), number(expected)
        return left is not None and right is not None and left == right
    if isinstance(actual, str) and isinstance(expected, str):
        if actual == expected:
            return True
        left_ms, right_ms = instant_ms(actual), instant_ms(expected)
        return left_ms is not None and left_ms == right_ms
    return bool(actual == expected)


def _order(actual: Any, expected: Any) -> int | None:
    """-1/0/1 comparing actual with expected, or None when they do not compare."""
    left, right = number(actual), number(expected)
    if left is not None and right is not None:
        return (left > right) - (left < right)
    if isinstance(actual, str) and isinstance(expected, str):
        left_ms, right_ms = instant_ms(actual), instant_ms(expected)
        if left_ms is not None and right_ms is not None:
            return (left_ms > right_ms) - (left_ms < right_ms)
        return (actual > expected) - (actual < expected)
    return None


def holds(op: str, actual: Any, expected: Any) -> bool:
    """A value operator (``eq`` ... ``ends_with``) applied to a resolved value (possibly ABSENT)."""
    present = actual is not ABSENT
    if op == "exists":
        return present
    if op == "not_exists":
        return not present
    if op == "ne":
        return not (present and _equal(actual, expected))
    if op == "not_in":
        return not (present and any(_equal(actual, item) for item in expected))
    if not present:
        return False
    if op == "eq":
        return _equal(actual, expected)
    if op == "in":
        return any(_equal(actual, item) for item in expected)
    if op in ("gt", "gte", "lt", "lte"):
        order = _order(actual, expected)
        return order is not None and _ORDER_OPS[op](order)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        return isinstance(actual, list) and any(_equal(item, expected) for item in actual)
    if op == "starts_with":
        return isinstance(actual, str) and actual.startswith(expected)
    if op == "ends_with":
        return isinstance(actual, str) and actual.endswith(expected)
    raise ValueError(f"unknown operator {op!r}")


_ORDER_OPS: dict[str, Callable[[int], bool]] = {
    "gt": lambda order: order > 0,
    "gte": lambda order: order >= 0,
    "lt": lambda order: order < 0,
    "lte": lambda order: order <= 0,
}


def compare(op: str, actual: Decimal | int, expected: Decimal | int) -> bool:
    """A count/aggregate operator (``eq ne gt gte lt lte``) on two numbers."""
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    return _ORDER_OPS[op]((actual > expected) - (actual < expected))


def matches(filters: Iterable[PropertyFilter], document: Mapping[str, Any]) -> bool:
    return all(holds(item.op, resolve(document, item.path), item.value) for item in filters)


def event_hash(event_id: str) -> str:
    """64-bit digest of an event id: what the state remembers for dedupe and last-event tie-breaks."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:16]


def value_hash(value: Any) -> str:
    """64-bit digest of a property value for ``count_distinct``; numbers hash by value (1 == 1.0 == "1")."""
    amount = number(value) if not isinstance(value, str) else None
    text = "n:" + format(amount.normalize(), "f") if amount is not None else "j:" + json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


# -- traits ----------------------------------------------------------------------------------------------------


def anniversary(birth: date, year: int) -> date:
    """The date's anniversary in ``year``; 29 February falls on 28 February in a common year."""
    if birth.month == 2 and birth.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, birth.month, birth.day)


def next_anniversary(birth: date, today: date) -> date:
    this_year = anniversary(birth, today.year)
    return this_year if this_year >= today else anniversary(birth, today.year + 1)


def _midnight_ms(day: date) -> int:
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def trait_holds(node: TraitNode, profile: Mapping[str, Any], at: int) -> bool:
    value = resolve(profile, node.path)
    if node.op in ("within_last", "before_last"):
        moment = instant_ms(value)
        if moment is None:
            return False
        recent = moment + (node.seconds or 0) * 1000 > at
        return recent if node.op == "within_last" else not recent
    if node.op in ("anniversary_within_next", "anniversary_next_month"):
        birth = calendar_date(value)
        if birth is None:
            return False
        today = from_ms(at).date()
        if node.op == "anniversary_next_month":
            return birth.month == today.month % 12 + 1
        return (next_anniversary(birth, today) - today).days <= (node.days or 0)
    return holds(node.op, value, node.value)


def trait_next_flip(node: TraitNode, profile: Mapping[str, Any], now: int) -> int | None:
    """The first instant after ``now`` at which time alone changes the trait leaf, or None."""
    value = resolve(profile, node.path)
    if node.op in ("within_last", "before_last"):
        moment = instant_ms(value)
        if moment is None:
            return None
        boundary = moment + (node.seconds or 0) * 1000
        return boundary if boundary > now else None
    if node.op not in ("anniversary_within_next", "anniversary_next_month"):
        return None
    birth = calendar_date(value)
    if birth is None:
        return None
    today = from_ms(now).date()
    candidates: list[date] = []
    if node.op == "anniversary_next_month":
        # The answer changes only on the 1st of a month; a year of them covers every case.
        first = today.replace(day=1)
        for _ in range(12):
            first = (first + timedelta(days=32)).replace(day=1)
            candidates.append(first)
    else:
        # The answer changes when the window reaches an anniversary (A - days) and the day after it (A + 1).
        # Three successive anniversaries cover every window up to 365 days.
        upcoming = next_anniversary(birth, today)
        for _ in range(3):
            candidates += [upcoming - timedelta(days=node.days or 0), upcoming + timedelta(days=1)]
            upcoming = next_anniversary(birth, upcoming + timedelta(days=1))
    current = trait_holds(node, profile, now)
    for day in sorted(day for day in candidates if day > today):
        moment = _midnight_ms(day)
        if trait_holds(node, profile, moment) != current:
            return moment
    return None

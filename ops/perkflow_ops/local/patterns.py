"""EventBridge-style patterns (rule patterns and event-source FilterCriteria), matched by moto's matcher.

moto's ``EventPattern`` handles exact, prefix, suffix, numeric, anything-but, exists, wildcard, cidr and
equals-ignore-case; loading a pattern here also validates it, so a malformed pattern fails at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from moto.events.models import EventPattern
from moto.events.utils import EventMessageType


class Pattern:
    def __init__(self, pattern: str | Mapping[str, Any]) -> None:
        raw = pattern if isinstance(pattern, str) else json.dumps(pattern)
        self._matcher = EventPattern.load(raw)
        self.raw = raw

    def matches(self, event: Mapping[str, Any]) -> bool:
        return bool(self._matcher.matches_event(cast(EventMessageType, dict(event))))


def filters(properties: Mapping[str, Any]) -> list[Pattern]:
    """The patterns of an event source's FilterCriteria (none: every record passes)."""
    return [Pattern(item["Pattern"]) for item in properties.get("FilterCriteria", {}).get("Filters", [])]


def passes(patterns: list[Pattern], record: Mapping[str, Any]) -> bool:
    """Lambda keeps a record when any filter matches it (or when there are no filters)."""
    return not patterns or any(pattern.matches(record) for pattern in patterns)

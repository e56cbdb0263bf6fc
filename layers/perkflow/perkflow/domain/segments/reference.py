"""Reference evaluation: membership straight from the definitions and the customer's full event history.

No state, no caps, no pruning: every leaf is computed from the whole list of events the obvious way. The
property test holds the incremental engine to this function; a backfill can use it to answer "is this
customer in S now" without building state. It shares only the primitive meanings (``conditions``:
comparisons, digests, traits; ``definition``: the sum bucket rule) with the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from perkflow.domain.segments.compiled import SegmentSet
from perkflow.domain.segments.conditions import (
    ABSENT,
    EXACT,
    compare,
    event_hash,
    matches,
    number,
    resolve,
    to_ms,
    trait_holds,
    value_hash,
)
from perkflow.domain.segments.definition import (
    Absolute,
    AllTime,
    AndNode,
    EventAggNode,
    EventCountNode,
    LastEventNode,
    Node,
    NotNode,
    OrNode,
    SegmentRefNode,
    Sliding,
    TraitNode,
    bucket_width_ms,
)
from perkflow.domain.segments.engine import Occurrence


def evaluate_history(
    segments: SegmentSet,
    history: Iterable[Occurrence],
    profile: Mapping[str, Any],
    now: datetime,
    static_segment_ids: Iterable[str] = (),
) -> frozenset[str]:
    """Ids of the computed segments the customer is in at ``now`` (events deduplicated by id, first wins)."""
    unique: dict[str, Occurrence] = {}
    for occurrence in history:
        unique.setdefault(occurrence.event_id, occurrence)
    evaluator = _Reference(list(unique.values()), profile, frozenset(static_segment_ids), to_ms(now))
    for segment_id in segments.order:
        root = segments.definitions[segment_id].root
        assert root is not None
        evaluator.results[segment_id] = evaluator.holds(root)
    return frozenset(segment_id for segment_id, inside in evaluator.results.items() if inside)


class _Reference:
    def __init__(self, events: list[Occurrence], profile: Mapping[str, Any], static: frozenset[str], at: int) -> None:
        self.events = events
        self.profile = profile
        self.static = static
        self.at = at
        self.results: dict[str, bool] = {}

    def holds(self, node: Node) -> bool:
        if isinstance(node, AndNode):
            return all(self.holds(child) for child in node.children)
        if isinstance(node, OrNode):
            return any(self.holds(child) for child in node.children)
        if isinstance(node, NotNode):
            return not self.holds(node.child)
        if isinstance(node, SegmentRefNode):
            if node.segment_id in self.results:
                return self.results[node.segment_id]
            return node.segment_id in self.static
        if isinstance(node, TraitNode):
            return trait_holds(node, self.profile, self.at)
        if isinstance(node, LastEventNode):
            return self._last_event(node)
        if isinstance(node, EventCountNode):
            count = sum(1 for event in self._matching(node) if self._in_window(node.window, event))
            return compare(node.op, count, Decimal(node.value))
        return self._aggregate(node)

    def _matching(self, node: EventCountNode | EventAggNode | LastEventNode) -> list[Occurrence]:
        return [event for event in self.events if event.name == node.event and matches(node.where, event.properties)]

    def _in_window(self, window: AllTime | Sliding | Absolute, event: Occurrence) -> bool:
        ts = to_ms(event.timestamp)
        if isinstance(window, Sliding):
            return ts > self.at - window.seconds * 1000
        if isinstance(window, Absolute):
            return to_ms(window.start) <= ts < to_ms(window.end)
        return True

    def _aggregate(self, node: EventAggNode) -> bool:
        threshold = number(node.value)
        assert threshold is not None
        raws = [resolve(event.properties, node.property) for event in self._matching(node) if self._kept(node, event)]
        if node.agg == "count_distinct":
            distinct = {value_hash(raw) for raw in raws if raw is not ABSENT}
            return compare(node.op, len(distinct), threshold)
        amounts = [amount for amount in map(number, raws) if amount is not None]
        if node.agg == "count":
            return compare(node.op, len(amounts), threshold)
        if node.agg == "sum":
            total = Decimal(0)
            for amount in amounts:
                total = EXACT.add(total, amount)
            return compare(node.op, total, threshold)
        if not amounts:
            return False
        return compare(node.op, min(amounts) if node.agg == "min" else max(amounts), threshold)

    def _kept(self, node: EventAggNode, event: Occurrence) -> bool:
        # A sliding sum keeps each event until its time bucket's end + W (the documented tolerance).
        if node.agg == "sum" and isinstance(node.window, Sliding):
            width = bucket_width_ms(node.window.seconds)
            bucket_end = (to_ms(event.timestamp) // width + 1) * width
            return bucket_end + node.window.seconds * 1000 > self.at
        return self._in_window(node.window, event)

    def _last_event(self, node: LastEventNode) -> bool:
        candidates = self._matching(node)
        if not candidates:
            return False
        latest = max(candidates, key=lambda event: (to_ms(event.timestamp), event_hash(event.event_id)))
        if node.within_seconds is not None and to_ms(latest.timestamp) + node.within_seconds * 1000 <= self.at:
            return False
        return matches(node.has, latest.properties)

"""What each event-dependent leaf keeps per customer, how one event updates it, and what it says at an instant.

A *feature* is the measuring half of a leaf (segments_loyalty.md §8): which events (name + ``where``), over
which window, reduced how. Its key digests exactly what its state holds, so identical leaves in different
segments share one entry, and a change that alters what the state means yields a new key (a fresh entry the
caller backfills) instead of silently reinterpreting old state.

| kind       | leaves                                        | state kept                                      |
|------------|-----------------------------------------------|-------------------------------------------------|
| ``count``    | event_count / agg count, all_time or absolute | a counter                                       |
| ``recent``   | event_count / agg count, sliding              | the newest ``value + 1`` timestamps             |
| ``sum``      | agg sum, all_time or absolute                 | the exact decimal total                         |
| ``buckets``  | agg sum, sliding                              | ~11 (bucket, total) pairs, see bucket_width_ms  |
| ``extremes`` | agg min / max                                 | latest timestamp of a value <, = and > value    |
| ``distinct`` | agg count_distinct                            | the newest ``value + 1`` distinct values' times |
| ``last``     | last_event                                    | timestamp, id digest and ``has`` of the latest  |

Why keeping ``value + 1`` items is exact: a comparison of a count c with v gives the same answer for every
c > v, so only min(c, floor(v) + 1) matters, and the newest floor(v) + 1 items are the last to leave a
sliding window. Min/max comparisons with a fixed v only need to know whether a value below, equal to or
above v is still in the window, i.e. the newest timestamp of each class. Everything but the bucketed sum is
therefore exact; ``count_distinct`` relies on 64-bit value digests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.segments.conditions import (
    ABSENT,
    EXACT,
    canonical,
    compare,
    matches,
    number,
    resolve,
    to_ms,
    value_hash,
)
from perkflow.domain.segments.definition import (
    Absolute,
    AllTime,
    CountOp,
    EventAggNode,
    EventCountNode,
    EventLeaf,
    LastEventNode,
    PropertyFilter,
    Sliding,
    bucket_width_ms,
)

Kind = Literal["count", "recent", "sum", "buckets", "extremes", "distinct", "last"]


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CountState(_State):
    k: Literal["count"] = "count"
    n: int = 0


class RecentState(_State):
    k: Literal["recent"] = "recent"
    ts: tuple[int, ...] = Field(default=(), description="newest first, at most the spec's cap")


class SumState(_State):
    k: Literal["sum"] = "sum"
    total: str = "0"


class BucketsState(_State):
    k: Literal["buckets"] = "buckets"
    b: tuple[tuple[int, str], ...] = Field(default=(), description="(bucket index, decimal total), ascending")


class ExtremesState(_State):
    k: Literal["extremes"] = "extremes"
    lt: int | None = None
    eq: int | None = None
    gt: int | None = None


class DistinctState(_State):
    k: Literal["distinct"] = "distinct"
    v: tuple[tuple[str, int], ...] = Field(default=(), description="(value digest, latest timestamp), newest first")


class LastState(_State):
    k: Literal["last"] = "last"
    ts: int | None = None
    id: str = ""
    ok: bool = False


AnyState = CountState | RecentState | SumState | BucketsState | ExtremesState | DistinctState | LastState
FeatureState = Annotated[AnyState, Field(discriminator="k")]


@dataclass(frozen=True, eq=False)
class FeatureSpec:
    key: str
    kind: Kind
    event: str
    where: tuple[PropertyFilter, ...]
    window: AllTime | Sliding | Absolute
    prop: str | None = None
    cap: int = 0
    threshold: Decimal | None = None
    has: tuple[PropertyFilter, ...] = ()

    @property
    def sliding_ms(self) -> int | None:
        return self.window.seconds * 1000 if isinstance(self.window, Sliding) else None

    def admits(self, ts: int, now: int) -> bool:
        """Whether an event stamped ``ts`` can still matter: inside an absolute window, not yet slid out."""
        if isinstance(self.window, Absolute):
            return to_ms(self.window.start) <= ts < to_ms(self.window.end)
        width = self.sliding_ms
        if width is None:
            return True
        if self.kind == "buckets":
            ts = bucket_end(ts, self.window_seconds)
        return ts + width > now

    @property
    def window_seconds(self) -> int:
        return self.window.seconds if isinstance(self.window, Sliding) else 0


@dataclass(frozen=True, eq=False)
class FeatureLeaf:
    """A leaf as the engine evaluates it: a feature plus the comparison the leaf makes."""

    key: str
    spec: FeatureSpec
    op: CountOp
    value: Decimal
    agg: str = ""
    within_ms: int | None = None


def bucket_end(ts: int, window_seconds: int) -> int:
    width = bucket_width_ms(window_seconds)
    return (ts // width + 1) * width


def _window_json(window: AllTime | Sliding | Absolute) -> dict[str, Any]:
    if isinstance(window, Absolute):
        return {"kind": "absolute", "start": to_ms(window.start), "end": to_ms(window.end)}
    return window.model_dump(mode="json")


def _filters_json(filters: tuple[PropertyFilter, ...]) -> list[str]:
    # Order-free: ``where`` [a, b] and [b, a] select the same events and share a feature.
    return sorted(canonical(item.model_dump(mode="json")) for item in filters)


def _cap(value: Decimal) -> int:
    return max(0, int(value.to_integral_value(rounding="ROUND_FLOOR"))) + 1


def compile_leaf(node: EventLeaf) -> FeatureLeaf:
    """The feature a leaf measures and the comparison it makes."""
    prop: str | None = None
    cap = 0
    threshold: Decimal | None = None
    has: tuple[PropertyFilter, ...] = ()
    agg = ""
    within_ms: int | None = None
    op: CountOp = "eq"
    value = Decimal(0)
    if isinstance(node, LastEventNode):
        kind: Kind = "last"
        window: AllTime | Sliding | Absolute = AllTime()
        has = node.has
        within_ms = node.within_seconds * 1000 if node.within_seconds else None
    else:
        window = node.window
        op = node.op
        value = Decimal(node.value) if isinstance(node.value, int) else Decimal(repr(node.value))
        sliding = isinstance(window, Sliding)
        if isinstance(node, EventCountNode) or node.agg == "count":
            kind = "recent" if sliding else "count"
            cap = _cap(value) if sliding else 0
            prop = node.property if isinstance(node, EventAggNode) else None
        elif node.agg == "sum":
            kind, prop = ("buckets" if sliding else "sum"), node.property
        elif node.agg == "count_distinct":
            kind, prop, cap = "distinct", node.property, _cap(value)
        else:
            kind, prop, threshold, agg = "extremes", node.property, value, node.agg
    content = {
        "kind": kind,
        "event": node.event,
        "where": _filters_json(node.where),
        "window": _window_json(window),
        "property": prop,
        "cap": cap,
        "threshold": None if threshold is None else str(threshold.normalize()),
        "has": _filters_json(has),
    }
    key = hashlib.sha256(canonical(content).encode()).hexdigest()[:16]
    spec = FeatureSpec(key, kind, node.event, node.where, window, prop, cap, threshold, has)
    leaf_key = canonical({"f": key, "op": op, "value": str(value), "agg": agg, "within": within_ms})
    return FeatureLeaf(leaf_key, spec, op, value, agg, within_ms)


_EMPTY: dict[Kind, AnyState] = {
    "count": CountState(),
    "recent": RecentState(),
    "sum": SumState(),
    "buckets": BucketsState(),
    "extremes": ExtremesState(),
    "distinct": DistinctState(),
    "last": LastState(),
}


def empty_state(spec: FeatureSpec) -> AnyState:
    return _EMPTY[spec.kind]


def update(spec: FeatureSpec, state: AnyState, ts: int, properties: dict[str, Any], event: str, now: int) -> AnyState:
    """The state after one matching-or-not event (``event`` is the id digest). Unchanged states are returned
    as they are, so applying an event twice is the same as once whenever the first changed nothing."""
    if not spec.admits(ts, now) or not matches(spec.where, properties):
        return state
    raw = resolve(properties, spec.prop) if spec.prop else ABSENT
    amount = number(raw)
    if isinstance(state, CountState | RecentState):
        if spec.prop and amount is None:
            return state
        if isinstance(state, CountState):
            return CountState(n=state.n + 1)
        return RecentState(ts=tuple(sorted((*state.ts, ts), reverse=True)[: spec.cap]))
    if isinstance(state, LastState):
        if state.ts is not None and (ts, event) <= (state.ts, state.id):
            return state
        return LastState(ts=ts, id=event, ok=matches(spec.has, properties))
    if isinstance(state, DistinctState):
        if raw is ABSENT:
            return state
        latest = dict(state.v)
        digest = value_hash(raw)
        latest[digest] = max(ts, latest.get(digest, ts))
        ordered = sorted(latest.items(), key=lambda item: (item[1], item[0]), reverse=True)
        return DistinctState(v=tuple(ordered[: spec.cap]))
    if amount is None:
        return state
    if isinstance(state, SumState):
        return SumState(total=str(EXACT.add(Decimal(state.total), amount)))
    if isinstance(state, BucketsState):
        index = ts // bucket_width_ms(spec.window_seconds)
        totals = {bucket: Decimal(total) for bucket, total in state.b}
        totals[index] = EXACT.add(totals.get(index, Decimal(0)), amount)
        return BucketsState(b=tuple((bucket, str(total)) for bucket, total in sorted(totals.items())))
    assert spec.threshold is not None
    side = "lt" if amount < spec.threshold else "eq" if amount == spec.threshold else "gt"
    current = getattr(state, side)
    if current is not None and current >= ts:
        return state
    return state.model_copy(update={side: ts})


def prune(spec: FeatureSpec, state: AnyState, now: int) -> AnyState:
    """Drop what has slid out of the window for good (``now`` never goes back, see engine)."""
    width = spec.sliding_ms
    if width is None:
        return state
    if isinstance(state, RecentState):
        kept = tuple(ts for ts in state.ts if ts + width > now)
        return state if kept == state.ts else RecentState(ts=kept)
    if isinstance(state, BucketsState):
        size = bucket_width_ms(spec.window_seconds)
        buckets = tuple(item for item in state.b if (item[0] + 1) * size + width > now)
        return state if buckets == state.b else BucketsState(b=buckets)
    if isinstance(state, DistinctState):
        values = tuple(item for item in state.v if item[1] + width > now)
        return state if values == state.v else DistinctState(v=values)
    if isinstance(state, ExtremesState):
        stale = [side for side in ("lt", "eq", "gt") if _expired(getattr(state, side), width, now)]
        return state.model_copy(update=dict.fromkeys(stale)) if stale else state
    return state


def _expired(ts: int | None, width: int, now: int) -> bool:
    return ts is not None and ts + width <= now


def _extreme(agg: str, op: str, below: bool, equal: bool, above: bool) -> bool:
    """max(values) <op> v from which sides of v hold a value; min mirrors it (below <-> above, lt <-> gt)."""
    if agg == "min":
        below, above = above, below
        op = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}.get(op, op)
    some = below or equal or above
    if op == "gt":
        return above
    if op == "gte":
        return above or equal
    if op == "eq":
        return equal and not above
    if op == "ne":
        return some and not (equal and not above)
    if op == "lt":
        return some and not (above or equal)
    return some and not above  # lte


def leaf_holds(leaf: FeatureLeaf, state: AnyState, at: int) -> bool:
    """The leaf's answer at instant ``at`` from its feature state."""
    spec = leaf.spec
    width = spec.sliding_ms

    def live(ts: int | None) -> bool:
        return ts is not None and (width is None or ts + width > at)

    if isinstance(state, CountState):
        return compare(leaf.op, state.n, leaf.value)
    if isinstance(state, RecentState):
        return compare(leaf.op, sum(1 for ts in state.ts if live(ts)), leaf.value)
    if isinstance(state, DistinctState):
        return compare(leaf.op, sum(1 for _, ts in state.v if live(ts)), leaf.value)
    if isinstance(state, SumState):
        return compare(leaf.op, Decimal(state.total), leaf.value)
    if isinstance(state, BucketsState):
        size = bucket_width_ms(spec.window_seconds)
        total = Decimal(0)
        for bucket, amount in state.b:
            if live((bucket + 1) * size):
                total = EXACT.add(total, Decimal(amount))
        return compare(leaf.op, total, leaf.value)
    if isinstance(state, ExtremesState):
        return _extreme(leaf.agg, leaf.op, live(state.lt), live(state.eq), live(state.gt))
    if state.ts is None or not state.ok:
        return False
    return leaf.within_ms is None or state.ts + leaf.within_ms > at


def _change_times(leaf: FeatureLeaf, state: AnyState, now: int) -> list[int]:
    """Instants after ``now`` at which a bucketed sum, an extreme or a last event can change by time alone."""
    width = leaf.spec.sliding_ms
    if isinstance(state, LastState):
        ends = [state.ts + leaf.within_ms] if state.ts is not None and leaf.within_ms is not None else []
    elif width is None:
        ends = []
    elif isinstance(state, BucketsState):
        size = bucket_width_ms(leaf.spec.window_seconds)
        ends = [(bucket + 1) * size + width for bucket, _ in state.b]
    elif isinstance(state, ExtremesState):
        ends = [ts + width for ts in (state.lt, state.eq, state.gt) if ts is not None]
    else:
        ends = []
    return sorted({end for end in ends if end > now})


def next_flip(leaf: FeatureLeaf, state: AnyState, now: int) -> int | None:
    """The first instant after ``now`` at which time alone changes the leaf's answer, or None."""
    current = leaf_holds(leaf, state, now)
    width = leaf.spec.sliding_ms
    if width is not None and isinstance(state, RecentState | DistinctState):
        # Counts only fall as entries expire: walk the expiries once instead of recounting at each.
        stamps = state.ts if isinstance(state, RecentState) else tuple(ts for _, ts in state.v)
        expiries = sorted(ts + width for ts in stamps if ts + width > now)
        for index, moment in enumerate(expiries):
            last_at_moment = index + 1 == len(expiries) or expiries[index + 1] != moment
            if last_at_moment and compare(leaf.op, len(expiries) - index - 1, leaf.value) != current:
                return moment
        return None
    for moment in _change_times(leaf, state, now):
        if leaf_holds(leaf, state, moment) != current:
            return moment
    return None

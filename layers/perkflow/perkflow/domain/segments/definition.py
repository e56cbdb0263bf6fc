"""The segment definition language (DESIGN §6, reference/segments_loyalty.md §7).

A definition is a typed boolean tree. Inner nodes are ``and``/``or``/``not``; leaves are ``trait`` (the
profile), ``event_count``/``event_agg``/``last_event`` (the customer's events) and ``segment`` (another
segment). Every model is frozen and rejects unknown fields, so a typo in a stored definition is an error on
save rather than a silently ignored condition.

The limits below keep per-customer state bounded (one DynamoDB item per customer, see ``engine``):

* at most ``MAX_DEPTH`` levels and ``MAX_LEAVES`` leaves per definition (Segment's query language allows 50);
* sliding windows and ``within_seconds`` are longer than 0 and at most 400 days;
* a sliding count (``event_count``, ``event_agg`` ``count``) and any ``count_distinct`` compare with at most
  ``MAX_TRACKED`` events, because the engine keeps that many timestamps or values to stay exact.

Time semantics, shared by the engine and the reference evaluator:

* instants are whole UTC milliseconds (anything finer is floored);
* a sliding window of W seconds holds, at instant ``now``, every event stamped after ``now - W``. An event
  stamped in the future (sender clock skew) therefore counts at once and leaves at its timestamp + W;
* an absolute window ``[start, end)`` holds the events stamped inside it, whenever they arrive: its result
  depends on event timestamps only, never on ``now``;
* a sliding ``sum`` adds events by time bucket (:func:`bucket_width_ms`); see that function for the tolerance.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from perkflow.domain.errors import InvalidPayload
from perkflow.domain.timeutil import iso

MAX_DEPTH = 8
MAX_LEAVES = 50
MAX_WINDOW_SECONDS = 400 * 86_400
MAX_TRACKED = 1000
MAX_FILTERS = 10
MAX_LIST_VALUES = 100
MAX_ANNIVERSARY_DAYS = 365
SUM_BUCKETS_PER_WINDOW = 10


def _utc(moment: datetime) -> datetime:
    # A timestamp without an offset is UTC, as timeutil.parse_iso reads client input.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Instant = Annotated[datetime, AfterValidator(_utc), PlainSerializer(iso, return_type=str)]
Path = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^.]+(\.[^.]+)*$")]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=200)]

ValueOp = Literal[
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "not_exists", "contains", "starts_with",
    "ends_with",
]  # fmt: skip
TimeOp = Literal["within_last", "before_last", "anniversary_within_next", "anniversary_next_month"]
CountOp = Literal["eq", "ne", "gt", "gte", "lt", "lte"]
Agg = Literal["sum", "min", "max", "count", "count_distinct"]
SegmentType = Literal["static", "passive", "auto-update"]

TIME_OPS: frozenset[str] = frozenset(get_args(TimeOp))


def bucket_width_ms(window_seconds: int) -> int:
    """Width of the time buckets a sliding ``sum`` keeps: max(1 s, W / 10).

    An event counts from its arrival until the END of its bucket + W, so at any instant the bucketed sum
    covers every event stamped after ``now - W`` (none is dropped early) plus, at worst, the events of one
    bucket that are up to ``bucket_width_ms`` older than that (kept up to W/10 too long). With non-negative
    amounts: exact_sum(W) <= bucketed_sum <= exact_sum(W + W/10). The state stays at ~11 buckets per leaf.
    """
    return max(1000, window_seconds * 1000 // SUM_BUCKETS_PER_WINDOW)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_operand(op: str, value: Any) -> None:
    """The value each value operator takes; raises ValueError naming what is wrong."""
    scalar = (str, int, float, bool)
    if op in ("exists", "not_exists"):
        if value is not None:
            raise ValueError(f"op {op!r} takes no value")
    elif op in ("in", "not_in"):
        if not isinstance(value, list | tuple) or not all(isinstance(item, scalar) for item in value):
            raise ValueError(f"op {op!r} takes a list of strings, numbers or booleans")
        if len(value) > MAX_LIST_VALUES:
            raise ValueError(f"op {op!r} takes at most {MAX_LIST_VALUES} values")
    elif op in ("starts_with", "ends_with"):
        if not isinstance(value, str):
            raise ValueError(f"op {op!r} takes a string")
    elif op in ("gt", "gte", "lt", "lte"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"op {op!r} takes a number or a string (an ISO-8601 timestamp compares as time)")
    elif not isinstance(value, scalar):  # eq, ne, contains
        raise ValueError(f"op {op!r} takes a string, number or boolean")


class PropertyFilter(_Model):
    """A condition on an event's properties (``where``/``has``); paths use dots for nesting."""

    path: Path
    op: ValueOp
    value: Any = None

    @model_validator(mode="after")
    def _operand(self) -> PropertyFilter:
        _check_operand(self.op, self.value)
        return self


Filters = Annotated[tuple[PropertyFilter, ...], Field(max_length=MAX_FILTERS)]
WindowSeconds = Annotated[int, Field(gt=0, le=MAX_WINDOW_SECONDS)]


class AllTime(_Model):
    kind: Literal["all_time"] = "all_time"


class Sliding(_Model):
    kind: Literal["sliding"] = "sliding"
    seconds: WindowSeconds


class Absolute(_Model):
    kind: Literal["absolute"] = "absolute"
    start: Instant
    end: Instant

    @model_validator(mode="after")
    def _ordered(self) -> Absolute:
        if self.start >= self.end:
            raise ValueError("an absolute window needs start < end")
        return self


Window = Annotated[AllTime | Sliding | Absolute, Field(discriminator="kind")]


class TraitNode(_Model):
    """A condition on the profile snapshot: ``email``, ``address.city``, ``metadata.<key>``, ``loyalty.points`` ...

    Time operators read the trait as a timestamp (ISO-8601 or ``YYYY-MM-DD``, UTC):
    ``within_last {seconds}`` holds while the timestamp is after ``now - seconds``; ``before_last {seconds}``
    holds once it is at or before that (a missing or unreadable timestamp satisfies neither);
    ``anniversary_within_next {days}`` holds when the yearly anniversary (month and day; 29 February falls
    on 28 February in common years) is today or within the next ``days`` UTC days;
    ``anniversary_next_month`` holds when it falls in the next calendar month (Voucherify's ``$next_month``).
    """

    type: Literal["trait"] = "trait"
    path: Path
    op: ValueOp | TimeOp
    value: Any = None
    seconds: WindowSeconds | None = None
    days: Annotated[int, Field(ge=0, le=MAX_ANNIVERSARY_DAYS)] | None = None

    @model_validator(mode="after")
    def _operands(self) -> TraitNode:
        wants_seconds = self.op in ("within_last", "before_last")
        wants_days = self.op == "anniversary_within_next"
        if wants_seconds != (self.seconds is not None):
            raise ValueError(f"op {self.op!r} {'needs' if wants_seconds else 'takes no'} 'seconds'")
        if wants_days != (self.days is not None):
            raise ValueError(f"op {self.op!r} {'needs' if wants_days else 'takes no'} 'days'")
        if self.op in TIME_OPS:
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no 'value'")
        else:
            _check_operand(self.op, self.value)
        return self


class EventCountNode(_Model):
    """How many matching events fall in the window, compared with ``value``."""

    type: Literal["event_count"] = "event_count"
    event: EventName
    where: Filters = ()
    window: Window
    op: CountOp
    value: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _bounded(self) -> EventCountNode:
        if isinstance(self.window, Sliding) and self.value > MAX_TRACKED:
            raise ValueError(f"a sliding event_count compares with at most {MAX_TRACKED} events")
        return self


class EventAggNode(_Model):
    """An aggregate of a numeric ``property`` over the matching events in the window, compared with ``value``.

    ``sum`` of no events is 0; ``min``/``max`` of no events satisfy no comparison; ``count`` counts matching
    events that carry a numeric ``property``; ``count_distinct`` counts distinct non-null values (numbers
    compare by value, so 1 and 1.0 are one value).
    """

    type: Literal["event_agg"] = "event_agg"
    event: EventName
    property: Path
    agg: Agg
    where: Filters = ()
    window: Window
    op: CountOp
    value: Annotated[int | float, Field(allow_inf_nan=False)]

    @model_validator(mode="after")
    def _bounded(self) -> EventAggNode:
        tracked = self.agg == "count_distinct" or (self.agg == "count" and isinstance(self.window, Sliding))
        if tracked and self.value > MAX_TRACKED:
            raise ValueError(f"agg {self.agg!r} here compares with at most {MAX_TRACKED}")
        return self


class LastEventNode(_Model):
    """The customer's latest event matching ``where`` exists, also satisfies ``has``, and (with
    ``within_seconds``) is stamped after ``now - within_seconds``. Ties on timestamp go to the larger
    :func:`perkflow.domain.segments.conditions.event_hash`, so every evaluation picks the same event."""

    type: Literal["last_event"] = "last_event"
    event: EventName
    where: Filters = ()
    has: Filters = ()
    within_seconds: WindowSeconds | None = None


class SegmentRefNode(_Model):
    """Membership of another segment (static, passive or auto-update)."""

    type: Literal["segment"] = "segment"
    segment_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class AndNode(_Model):
    type: Literal["and"] = "and"
    children: Annotated[tuple[Node, ...], Field(min_length=1)]


class OrNode(_Model):
    type: Literal["or"] = "or"
    children: Annotated[tuple[Node, ...], Field(min_length=1)]


class NotNode(_Model):
    type: Literal["not"] = "not"
    child: Node


Leaf = TraitNode | EventCountNode | EventAggNode | LastEventNode | SegmentRefNode
Node = Annotated[
    AndNode | OrNode | NotNode | TraitNode | EventCountNode | EventAggNode | LastEventNode | SegmentRefNode,
    Field(discriminator="type"),
]
EventLeaf = EventCountNode | EventAggNode | LastEventNode

AndNode.model_rebuild()
OrNode.model_rebuild()
NotNode.model_rebuild()


def iter_leaves(node: Node) -> Iterator[Leaf]:
    if isinstance(node, AndNode | OrNode):
        for child in node.children:
            yield from iter_leaves(child)
    elif isinstance(node, NotNode):
        yield from iter_leaves(node.child)
    else:
        yield node


def depth(node: Node) -> int:
    if isinstance(node, AndNode | OrNode):
        return 1 + max(depth(child) for child in node.children)
    if isinstance(node, NotNode):
        return 1 + depth(node.child)
    return 1


def references(node: Node) -> frozenset[str]:
    """Ids of the segments this tree refers to."""
    return frozenset(leaf.segment_id for leaf in iter_leaves(node) if isinstance(leaf, SegmentRefNode))


def check_limits(node: Node) -> None:
    """Raise ValueError when a tree is deeper than MAX_DEPTH or has more than MAX_LEAVES leaves."""
    levels = depth(node)
    if levels > MAX_DEPTH:
        raise ValueError(f"the definition is {levels} levels deep; at most {MAX_DEPTH} are allowed")
    leaves = sum(1 for _ in iter_leaves(node))
    if leaves > MAX_LEAVES:
        raise ValueError(f"the definition has {leaves} conditions; at most {MAX_LEAVES} are allowed")


class SegmentDefinition(_Model):
    """A segment as the engine sees it. ``static`` segments list their customers elsewhere and have no root;
    ``passive`` and ``auto-update`` segments are computed from ``root``, and only ``auto-update`` ones make
    the caller publish ``customer.segment.entered``/``left``."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    type: SegmentType
    root: Node | None = None

    @model_validator(mode="after")
    def _shape(self) -> SegmentDefinition:
        if self.type == "static":
            if self.root is not None:
                raise ValueError("a static segment lists its customers; it takes no definition")
        elif self.root is None:
            raise ValueError(f"a {self.type} segment needs a definition")
        else:
            check_limits(self.root)
        return self

    @property
    def computed(self) -> bool:
        return self.type != "static"

    @property
    def emits(self) -> bool:
        return self.type == "auto-update"


_NODE: TypeAdapter[Node] = TypeAdapter(Node)


def _invalid(what: str, error: ValidationError) -> InvalidPayload:
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return InvalidPayload(f"Invalid {what}", details="; ".join(problems))


def parse_node(data: Any) -> Node:
    """A definition tree from JSON, within the limits; InvalidPayload (``invalid_payload``) otherwise."""
    try:
        node = _NODE.validate_python(data)
    except ValidationError as error:
        raise _invalid("segment definition", error) from None
    try:
        check_limits(node)
    except ValueError as error:
        raise InvalidPayload("Invalid segment definition", details=str(error)) from None
    return node


def parse_segment(data: Mapping[str, Any]) -> SegmentDefinition:
    """``{id, type, root?}`` from JSON; InvalidPayload with every problem in ``details`` otherwise."""
    try:
        return SegmentDefinition.model_validate(data)
    except ValidationError as error:
        raise _invalid("segment", error) from None


def validate_references(definition: SegmentDefinition, others: Iterable[SegmentDefinition]) -> None:
    """Raise InvalidPayload unless every segment ``definition`` refers to exists and no reference cycle forms.

    ``others`` are the stored segments; one with ``definition``'s id is replaced by ``definition`` (an edit).
    """
    known = {other.id: other for other in others}
    known[definition.id] = definition
    edges = {seg.id: sorted(references(seg.root)) if seg.root is not None else [] for seg in known.values()}
    missing = [ref for ref in edges[definition.id] if ref not in known]
    if missing:
        raise InvalidPayload(
            f"Segment {definition.id} refers to unknown segments", details=f"unknown segment ids: {', '.join(missing)}"
        )
    cycle = _cycle_through(definition.id, edges)
    if cycle:
        raise InvalidPayload("Segment references form a cycle", details=" -> ".join(cycle))


def _cycle_through(start: str, edges: Mapping[str, list[str]]) -> list[str]:
    """A path start -> ... -> start along references, or [] when none exists."""
    trail: list[str] = [start]
    visited: set[str] = set()

    def walk(current: str) -> bool:
        for nxt in edges.get(current, []):
            if nxt == start:
                trail.append(nxt)
                return True
            if nxt in visited:
                continue
            visited.add(nxt)
            trail.append(nxt)
            if walk(nxt):
                return True
            trail.pop()
        return False

    return trail if walk(start) else []

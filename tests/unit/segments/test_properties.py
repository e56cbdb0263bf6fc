"""Property: the incremental engine agrees with the from-scratch reference at every instant.

Random definitions (every node type, references, sliding/absolute/all-time windows, every aggregate) among
definitions nothing ever feeds (``not`` of them holds for everybody), random event streams (late, early, out of
order, redelivered), random profile and static-list changes, and definition changes at any point (segments
added, dropped, redefined, irrelevant ones piled on) with the backfill coming some steps later, on a controlled
clock that sometimes jumps hours or months (birthdays, year ends).
After every call: membership == ``evaluate_history`` for every segment not waiting for a backfill, and the
waiting ones keep their membership; the transitions are exactly the membership diff; no membership can change
strictly before ``next_check_at`` (probed with the reference); the state holds only non-empty features of the
current definitions; ``initial_state`` over the same history gives the same membership and timer. Sliding
sums are compared under their documented bucket rule here, and held to the tolerance against exact sums by
the last test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perkflow.domain.segments import (
    CustomerSegmentState,
    Occurrence,
    Outcome,
    SegmentDefinition,
    SegmentSet,
    apply_event,
    apply_profile,
    backfill,
    evaluate_history,
    initial_state,
    parse_segment,
    set_static_membership,
    sweep,
)
from perkflow.domain.segments.conditions import to_ms
from perkflow.domain.segments.definition import bucket_width_ms
from perkflow.domain.segments.definition import references as referred_ids
from perkflow.domain.segments.features import empty_state
from perkflow.domain.timeutil import iso

T0 = datetime(2027, 12, 31, 23, 58, tzinfo=UTC)  # two minutes to a new year; 2028 has a 29 February
STATIC = "seg_static"
EVENTS = ("a", "b")
MS = timedelta(milliseconds=1)

CI = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

where = st.sampled_from([
    [], [{"path": "k", "op": "eq", "value": "x"}], [{"path": "v", "op": "gte", "value": 2}],
    [{"path": "k", "op": "not_exists"}],
])  # fmt: skip
windows = st.one_of(
    st.just({"kind": "all_time"}),
    st.sampled_from([3, 7, 20, 60]).map(lambda seconds: {"kind": "sliding", "seconds": seconds}),
    st.tuples(st.integers(-120, 60), st.integers(1, 90)).map(
        lambda span: {
            "kind": "absolute",
            "start": iso(T0 + timedelta(seconds=span[0])),
            "end": iso(T0 + timedelta(seconds=span[0] + span[1])),
        }
    ),
)
count_ops = st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"])
event_count = st.builds(
    lambda event, filters, window, op, value: {"type": "event_count", "event": event, "where": filters,
                                               "window": window, "op": op, "value": value},
    st.sampled_from(EVENTS), where, windows, count_ops, st.integers(0, 3),
)  # fmt: skip
event_agg = st.builds(
    lambda event, filters, window, op, agg, value: {"type": "event_agg", "event": event, "property": "v",
                                                    "agg": agg, "where": filters, "window": window, "op": op,
                                                    "value": value},
    st.sampled_from(EVENTS), where, windows, count_ops,
    st.sampled_from(["sum", "min", "max", "count", "count_distinct"]), st.sampled_from([0, 1, 2, 2.5, 3, 6]),
)  # fmt: skip
last_event = st.builds(
    lambda event, filters, has, within: {"type": "last_event", "event": event, "where": filters, "has": has,
                                         "within_seconds": within},
    st.sampled_from(EVENTS), where,
    st.sampled_from([[], [{"path": "v", "op": "gt", "value": 1}], [{"path": "k", "op": "eq", "value": "y"}]]),
    st.sampled_from([None, 5, 20]),
)  # fmt: skip
traits = st.sampled_from([
    {"type": "trait", "path": "metadata.plan", "op": "eq", "value": "gold"},
    {"type": "trait", "path": "metadata.plan", "op": "in", "value": ["gold", "silver"]},
    {"type": "trait", "path": "metadata.plan", "op": "not_exists"},
    {"type": "trait", "path": "metadata.n", "op": "gt", "value": 2},
    {"type": "trait", "path": "birthdate", "op": "anniversary_within_next", "days": 0},
    {"type": "trait", "path": "birthdate", "op": "anniversary_within_next", "days": 1},
    {"type": "trait", "path": "birthdate", "op": "anniversary_next_month"},
    {"type": "trait", "path": "last_seen", "op": "within_last", "seconds": 10},
    {"type": "trait", "path": "last_seen", "op": "before_last", "seconds": 30},
])  # fmt: skip
references = st.integers(0, 3).map(lambda n: {"type": "segment", "segment_id": f"@{n}"})
trees = st.recursive(
    st.one_of(event_count, event_agg, last_event, traits, references),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda nodes: {"type": "and", "children": nodes}),
        st.lists(children, min_size=1, max_size=3).map(lambda nodes: {"type": "or", "children": nodes}),
        children.map(lambda node: {"type": "not", "child": node}),
    ),
    max_leaves=4,
)


def _bind(node: Any, position: int) -> Any:
    """Point reference placeholders at earlier segments (so the set stays acyclic) or at the static list."""
    if isinstance(node, dict):
        if node.get("type") == "segment":
            target = int(node["segment_id"][1:])
            return {"type": "segment", "segment_id": f"seg_{target}" if target < position else STATIC}
        return {key: _bind(value, position) for key, value in node.items()}
    if isinstance(node, list):
        return [_bind(item, position) for item in node]
    return node


def _depth(node: dict[str, Any]) -> int:
    if node["type"] in ("and", "or"):
        return 1 + max(_depth(child) for child in node["children"])
    return 1 + _depth(node["child"]) if node["type"] == "not" else 1


def _leaves(node: dict[str, Any]) -> list[dict[str, Any]]:
    if node["type"] in ("and", "or"):
        return [leaf for child in node["children"] for leaf in _leaves(child)]
    return _leaves(node["child"]) if node["type"] == "not" else [node]


def _definitions(drawn: list[tuple[dict[str, Any], str]], prefix: str = "") -> list[SegmentDefinition]:
    """The drawn segments, plus one passive segment per leaf: a wrong leaf cannot hide inside and/or/not."""
    trees = [_rename(_bind(tree, n), prefix) for n, (tree, _) in enumerate(drawn)]
    definitions = [
        parse_segment({"id": f"{prefix}seg_{n}", "type": kind, "root": trees[n]}) for n, (_, kind) in enumerate(drawn)
    ]
    leaves = [leaf for tree in trees for leaf in _leaves(tree) if leaf["type"] != "segment"]
    definitions += [
        parse_segment({"id": f"{prefix}leaf_{n}", "type": "passive", "root": leaf}) for n, leaf in enumerate(leaves)
    ]
    return definitions


def _rename(node: Any, prefix: str) -> Any:
    """Segment references moved to ``prefix``-ed ids (the static list stays)."""
    if isinstance(node, dict):
        if node.get("type") == "segment" and node["segment_id"] != STATIC:
            return {**node, "segment_id": prefix + node["segment_id"]}
        return {key: _rename(value, prefix) for key, value in node.items()}
    if isinstance(node, list):
        return [_rename(item, prefix) for item in node]
    return node


def _irrelevant(count: int, prefix: str = "") -> list[SegmentDefinition]:
    """Definitions on events never sent and traits never set; the ``not`` ones hold for every customer."""
    all_time = {"kind": "all_time"}
    shapes = [
        lambda n: {"type": "event_count", "event": f"zz{n}", "window": all_time, "op": "gte", "value": 1},
        lambda n: {"type": "not", "child": {"type": "event_count", "event": f"zz{n}", "window": all_time,
                                            "op": "gte", "value": 1}},
        lambda n: {"type": "event_agg", "event": f"zz{n}", "property": "v", "agg": "sum",
                   "window": {"kind": "sliding", "seconds": 7}, "op": "lt", "value": 1},
        lambda n: {"type": "trait", "path": f"metadata.unused{n}", "op": "not_exists"},
        lambda n: {"type": "last_event", "event": f"zz{n}", "within_seconds": 5},
    ]  # fmt: skip
    return [
        parse_segment({"id": f"{prefix}irr_{n}", "type": "auto-update", "root": shapes[n % len(shapes)](n)})
        for n in range(count)
    ]


drawn_segments = st.lists(
    st.tuples(trees.filter(lambda tree: _depth(tree) <= 8), st.sampled_from(["passive", "auto-update"])),
    min_size=2,
    max_size=4,
)
definition_sets = st.tuples(drawn_segments, st.integers(0, 8)).map(
    lambda drawn: _definitions(drawn[0]) + _irrelevant(drawn[1])
)
properties = st.fixed_dictionaries(
    {"v": st.sampled_from([0, 1, 2, 2.5, 3, 4, "3", None, "n/a", 1.0])},
    optional={"k": st.sampled_from(["x", "y"])},
)
# Mostly steps and lateness on the scale of the windows (3-60 s), sometimes jumps across days and months.
# Quarter seconds make equal timestamps and exact window boundaries common, where off-by-one bugs live.
QUARTER = 250 * MS
advances = st.one_of(
    st.integers(0, 12).map(lambda n: n * QUARTER),
    st.integers(0, 3_000).map(lambda ms: ms * MS),
    st.integers(0, 120).map(lambda n: n * QUARTER),
    st.sampled_from([3_600_000, 86_400_000, 31 * 86_400_000, 59 * 86_400_000]).map(lambda ms: ms * MS),
)
event_offsets = st.one_of(
    st.integers(-100, 8).map(lambda n: n * QUARTER),
    st.integers(-25_000, 2_000).map(lambda ms: ms * MS),
    st.integers(-280, 0).map(lambda n: n * QUARTER),
    st.just(-10 * timedelta(days=1)),
)
steps = st.sampled_from(
    ["event"] * 6 + ["dup"] * 3 + ["sweep"] * 2 + ["due"] * 2 + ["profile", "static", "redefine", "backfill"]
)


def profiles(now: datetime) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            # Mostly an object; sometimes null or a plain value (every path inside it goes at once).
            "metadata": st.one_of(
                st.fixed_dictionaries(
                    {}, optional={"plan": st.sampled_from(["gold", "silver"]), "n": st.integers(0, 4)}
                ),
                st.sampled_from([None, "gold"]),
            ),
            "metadata.plan": st.sampled_from(["gold", "silver"]),  # a key holding dots: the path reads it too
            "birthdate": st.sampled_from(["2000-02-29", "1990-01-01", "1990-12-31", "1985-01-02", "1999-02-01"]),
            "last_seen": st.integers(-40, 5).map(lambda seconds: iso(now + timedelta(seconds=seconds))),
        },
    )


class World:
    """The customer as the reference sees it (full history, current profile) next to the engine's state, and
    the definitions as the catalogue keeps them (each with the definitions version it was written at)."""

    def __init__(self, definitions: list[SegmentDefinition], profile: dict[str, Any]) -> None:
        self.version = 1
        self.since = {definition.id: self.version for definition in definitions}
        self.segments = SegmentSet(definitions, since=self.since)
        self.profile = profile
        self.history: list[Occurrence] = []
        self.static: set[str] = set()
        self.now = T0
        self.state: CustomerSegmentState = initial_state(self.segments, [], profile, T0)

    def redefine(self, definitions: list[SegmentDefinition]) -> None:
        """A new set: unchanged definitions keep their version, new or changed ones get the next one."""
        self.version += 1
        previous = self.segments.definitions
        self.since = {d.id: self.since[d.id] if previous.get(d.id) == d else self.version for d in definitions}
        self.segments = SegmentSet(definitions, since=self.since)

    def waiting(self) -> frozenset[str]:
        return frozenset(self.segments.segments_after(self.state.revision))

    def expected(self, at: datetime) -> frozenset[str]:
        return evaluate_history(self.segments, self.history, self.profile, at, self.static)

    def take(self, outcome: Outcome, before: frozenset[str]) -> None:
        segments = self.segments
        since = {sid: at for sid, at in self.state.members.items() if segments.is_computed(sid)}
        before = frozenset(sid for sid in before if segments.is_computed(sid))  # dropped ids go silently
        self.state = outcome.state
        after = self.state.member_ids()
        waiting = self.waiting()
        # Staying members keep their entry time; newcomers entered now.
        assert self.state.members == {sid: since.get(sid, to_ms(self.now)) for sid in after}
        assert after - waiting == self.expected(self.now) - waiting
        assert after & waiting == before & waiting  # waiting segments keep their answer
        entered = frozenset(t.segment_id for t in outcome.transitions if t.kind == "entered")
        left = frozenset(t.segment_id for t in outcome.transitions if t.kind == "left")
        assert entered == after - before
        assert left == before - after
        assert all(t.emit == segments.emits(t.segment_id) for t in outcome.transitions)
        assert outcome.changed or not outcome.transitions
        # Only what this customer has, under the current definitions.
        for key, feature in self.state.features.items():
            assert feature != empty_state(segments.features[key])
        assert set(self.state.timers) <= set(segments.order) - waiting
        self._timer_is_sound(after, waiting)

    def _timer_is_sound(self, members: frozenset[str], waiting: frozenset[str]) -> None:
        due = self.state.next_check_at
        if due is None:
            probes = [self.now + timedelta(hours=1), self.now + timedelta(days=500)]
        else:
            assert due > self.now
            probes = [due - MS, self.now + (due - self.now) / 2]
        for probe in probes:
            assert self.expected(probe) - waiting == members - waiting, (self.now, due, probe)


@CI
@given(data=st.data())
def test_incremental_membership_equals_the_reference_at_every_instant(data: st.DataObject) -> None:
    world = World(data.draw(definition_sets), data.draw(profiles(T0)))
    assert world.state.member_ids() == world.expected(T0)
    for _ in range(data.draw(st.integers(5, 40))):
        before = world.state.member_ids()
        step = data.draw(steps)
        if step == "due" and world.state.next_check_at is not None:
            world.now = max(world.now, world.state.next_check_at)
        else:
            world.now += data.draw(advances)
        if step == "event" or (step == "dup" and not world.history):
            occurrence = Occurrence(
                event_id=f"e{len(world.history)}",
                name=data.draw(st.sampled_from(EVENTS)),
                timestamp=world.now + data.draw(event_offsets),
                properties=data.draw(properties),
            )
            world.history.append(occurrence)
            world.take(apply_event(world.segments, world.state, occurrence, world.now), before)
        elif step == "dup":
            again = data.draw(st.sampled_from(world.history[-20:]))
            world.history.append(again)
            world.take(apply_event(world.segments, world.state, again, world.now), before)
        elif step == "profile":
            world.profile = data.draw(profiles(world.now))
            world.take(apply_profile(world.segments, world.state, world.profile, world.now), before)
        elif step == "static":
            member = data.draw(st.booleans())
            world.static = {STATIC} if member else set()
            world.take(set_static_membership(world.segments, world.state, STATIC, member, world.now), before)
        elif step == "redefine":
            world.redefine(data.draw(redefinitions(world.segments, world.version)))
            world.take(sweep(world.segments, world.state, world.now), before)
        elif step == "backfill":
            world.take(backfill(world.segments, world.state, world.history, world.now), before)
            assert world.waiting() == frozenset()
            assert world.state.revision >= world.segments.revision  # dropping the newest lowers the set's
        else:
            world.take(sweep(world.segments, world.state, world.now), before)
    if world.waiting():
        world.take(backfill(world.segments, world.state, world.history, world.now), world.state.member_ids())
    assert world.state.member_ids() == world.expected(world.now)
    rebuilt = initial_state(world.segments, world.history, world.profile, world.now, world.static)
    assert rebuilt.member_ids() == world.state.member_ids()
    assert rebuilt.next_check == world.state.next_check


def redefinitions(current: SegmentSet, version: int) -> st.SearchStrategy[list[SegmentDefinition]]:
    """What the catalogue can do to the definitions between two calls: replace them all (unchanged ones keep
    their version), add segments, drop segments nothing refers to, pile on irrelevant ones."""
    existing = list(current.definitions.values())
    prefix = f"v{version}_"
    replaced = definition_sets
    added = drawn_segments.map(lambda drawn: existing + _definitions(drawn, prefix))
    irrelevant = st.integers(1, 30).map(lambda count: existing + _irrelevant(count, prefix))
    if not existing:
        return st.one_of(replaced, added, irrelevant)
    dropped = st.sets(st.sampled_from([d.id for d in existing])).map(lambda gone: _drop(existing, gone))
    return st.one_of(replaced, added, irrelevant, dropped)


def _drop(definitions: list[SegmentDefinition], gone: set[str]) -> list[SegmentDefinition]:
    """Drop ``gone`` except what a kept segment refers to (the catalogue refuses to delete those)."""
    while True:
        kept = [d for d in definitions if d.id not in gone]
        used = {ref for d in kept if d.root is not None for ref in referred_ids(d.root)}
        if not used & gone:
            return kept
        gone = gone - used


event_leaves = st.one_of(event_count, event_agg, event_agg, event_agg, last_event, last_event)


@settings(CI, max_examples=2000)  # one leaf per example is cheap: spend the budget on variety
@given(
    leaf=event_leaves,
    events=st.lists(st.tuples(st.sampled_from(EVENTS), st.integers(-160, 8), properties), max_size=12),
    deliveries=st.lists(st.integers(0, 11), max_size=16),
    probes=st.lists(st.integers(0, 280), min_size=1, max_size=4),
)
def test_each_event_leaf_alone_matches_the_reference(
    leaf: dict[str, Any],
    events: list[tuple[str, int, dict[str, Any]]],
    deliveries: list[int],
    probes: list[int],
) -> None:
    """One leaf, nothing to mask it: events delivered in any order, some twice, then time passes."""
    segments = SegmentSet([parse_segment({"id": "seg_leaf", "type": "auto-update", "root": leaf})])
    history = [
        Occurrence(event_id=f"e{n}", name=name, timestamp=T0 + offset * QUARTER, properties=props)
        for n, (name, offset, props) in enumerate(events)
    ]
    # Every event once, in the drawn order, with the drawn redeliveries mixed in.
    order = [history[n] for n in deliveries if n < len(history)] + history
    state = initial_state(segments, [], {}, T0)
    for delivered, occurrence in enumerate(order, start=1):
        state = apply_event(segments, state, occurrence, T0).state
        assert state.member_ids() == evaluate_history(segments, order[:delivered], {}, T0)
    for probe in sorted(probes):
        now = T0 + probe * QUARTER
        state = sweep(segments, state, now).state
        members = state.member_ids()
        assert members == evaluate_history(segments, history, {}, now)
        # With a single leaf the timer is exact: the answer holds until next_check_at and changes there.
        due = state.next_check_at
        if due is not None:
            assert evaluate_history(segments, history, {}, due - MS) == members
            assert evaluate_history(segments, history, {}, due) != members


WINDOW = 50
BUCKET = bucket_width_ms(WINDOW) * MS


@CI
@given(
    orders=st.lists(st.tuples(st.integers(-60_000, 0), st.integers(0, 50)), max_size=12),
    threshold=st.integers(1, 200),
    later=st.integers(0, 60_000),
)
def test_sliding_sums_stay_within_one_bucket_of_the_exact_window(
    orders: list[tuple[int, int]], threshold: int, later: int
) -> None:
    spenders = parse_segment({"id": "seg_sum", "type": "auto-update", "root": {
        "type": "event_agg", "event": "Order Completed", "property": "total", "agg": "sum",
        "window": {"kind": "sliding", "seconds": WINDOW}, "op": "gte", "value": threshold,
    }})  # fmt: skip
    segments = SegmentSet([spenders])
    history = [
        Occurrence(event_id=f"o{n}", name="Order Completed", timestamp=T0 + offset * MS, properties={"total": amount})
        for n, (offset, amount) in enumerate(orders)
    ]
    state = initial_state(segments, [], {}, T0)
    for occurrence in history:
        state = apply_event(segments, state, occurrence, T0).state
    now = T0 + later * MS
    inside = "seg_sum" in sweep(segments, state, now).state.member_ids()

    def exact(window: timedelta) -> int:
        return sum(amount for offset, amount in orders if T0 + offset * MS > now - window)

    if exact(timedelta(seconds=WINDOW)) >= threshold:
        assert inside  # never drops an order before W
    if exact(timedelta(seconds=WINDOW) + BUCKET) < threshold:
        assert not inside  # never keeps one longer than W + W/10

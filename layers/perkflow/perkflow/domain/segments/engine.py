"""The incremental engine: one customer's segment state, moved forward by events, profile changes and time.

Every operation takes the compiled :class:`SegmentSet`, the customer's :class:`CustomerSegmentState` and the
function's clock ``now``, and returns an :class:`Outcome`: the new state, the entered/left transitions, and
whether anything needs writing. Nothing here does I/O; the caller loads the state item, calls one function,
writes the state back with an optimistic version check when ``changed``, publishes the transitions flagged
``emit``, and files the customer under ``next_check_at`` for the sweep (segments_loyalty.md §8).

Guarantees and their conditions:

* Membership equals :func:`perkflow.domain.segments.reference.evaluate_history` over the customer's events
  (deduplicated by id) and current profile, at every call, whatever order events arrive in.
* A redelivered event is ignored while it is among the last ``SEEN_EVENTS`` events that changed the state;
  the platform dedupes by event id before this point, so this is the second line of defence.
* ``now`` never goes back: the state remembers the latest clock it was written at and uses the later of the
  two, so two containers with slightly different clocks cannot resurrect an event that slid out.
* Definitions may change between calls: features no longer used are dropped; new ones start empty and
  *pending*, and the segments that need them keep their previous membership (no transitions) until
  :func:`backfill` replays the customer's history into them. A fresh customer's state comes from
  :func:`initial_state` (its history may be empty), which leaves nothing pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.segments.compiled import AllOf, AnyOf, Compiled, Negation, RefLeaf, SegmentSet, TraitLeaf
from perkflow.domain.segments.conditions import event_hash, from_ms, to_ms, trait_holds, trait_next_flip
from perkflow.domain.segments.definition import Instant
from perkflow.domain.segments.features import (
    AnyState,
    FeatureLeaf,
    FeatureState,
    empty_state,
    leaf_holds,
    next_flip,
    prune,
    update,
)

SEEN_EVENTS = 64


class Occurrence(BaseModel):
    """One event of the customer: a custom event by its own name or an internal one by its catalogue name
    (``redemption.succeeded``, ``loyalty.tier.achieved`` ...) with its detail as ``properties``."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(min_length=1)
    name: str
    timestamp: Instant
    properties: dict[str, Any] = Field(default_factory=dict)


class CustomerSegmentState(BaseModel):
    """Everything segments know about one customer, sized for one DynamoDB item (typically 1-5 KB).

    Instants are epoch milliseconds to keep the item small; the properties below give datetimes. Store it as
    ``model_dump(mode="json")`` (profile values may be floats, so a JSON string attribute is simplest) and read
    it back with ``model_validate``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    profile: dict[str, Any] = Field(default_factory=dict, description="the profile snapshot trait leaves read")
    static: tuple[str, ...] = Field(default=(), description="static segments listing this customer")
    features: dict[str, FeatureState] = Field(default_factory=dict, description="feature key -> state")
    pending: tuple[str, ...] = Field(default=(), description="feature keys waiting for a backfill")
    members: dict[str, int] = Field(default_factory=dict, description="computed segment id -> member since")
    seen: tuple[str, ...] = Field(default=(), description="digests of the last events applied, oldest first")
    next_check: int | None = Field(default=None, description="earliest instant time alone can flip a leaf")
    as_of: int = Field(default=0, description="the clock of the last write; later calls never go before it")

    def member_ids(self) -> frozenset[str]:
        return frozenset(self.members)

    def members_since(self) -> dict[str, datetime]:
        return {segment_id: from_ms(since) for segment_id, since in self.members.items()}

    @property
    def next_check_at(self) -> datetime | None:
        return None if self.next_check is None else from_ms(self.next_check)


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True)

    segment_id: str
    kind: Literal["entered", "left"]
    at: Instant
    emit: bool = Field(description="auto-update segment: publish customer.segment.entered/left")


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: CustomerSegmentState
    transitions: tuple[Transition, ...] = ()
    changed: bool = Field(description="False when the stored state is still right and the write can be skipped")

    @property
    def next_check_at(self) -> datetime | None:
        return self.state.next_check_at


# -- public operations ------------------------------------------------------------------------------------------


def apply_event(segments: SegmentSet, state: CustomerSegmentState, occurrence: Occurrence, now: datetime) -> Outcome:
    """Fold one event into the features it feeds, then re-evaluate every segment at ``now``."""
    at = _clock(state, now)
    features, pending = _reconcile(segments, state)
    seen = state.seen
    digest = event_hash(occurrence.event_id)
    if digest not in seen and _fold(segments, features, occurrence, digest, at):
        seen = (*seen, digest)[-SEEN_EVENTS:]
    return _finish(segments, state, at, features=features, pending=pending, seen=seen)


def apply_profile(
    segments: SegmentSet, state: CustomerSegmentState, profile: Mapping[str, Any], now: datetime
) -> Outcome:
    """Replace the profile snapshot (``Customer.snapshot()`` plus any ``loyalty.*``) and re-evaluate."""
    at = _clock(state, now)
    features, pending = _reconcile(segments, state)
    return _finish(segments, state, at, features=features, pending=pending, profile=dict(profile))


def set_static_membership(
    segments: SegmentSet, state: CustomerSegmentState, segment_id: str, member: bool, now: datetime
) -> Outcome:
    """Record that a static segment lists (or no longer lists) the customer; segments referring to it follow."""
    at = _clock(state, now)
    features, pending = _reconcile(segments, state)
    static = (set(state.static) | {segment_id}) if member else (set(state.static) - {segment_id})
    return _finish(segments, state, at, features=features, pending=pending, static=tuple(sorted(static)))


def sweep(segments: SegmentSet, state: CustomerSegmentState, now: datetime) -> Outcome:
    """Let time pass: windows slide, timestamps age, anniversaries come round."""
    at = _clock(state, now)
    features, pending = _reconcile(segments, state)
    return _finish(segments, state, at, features=features, pending=pending)


def initial_state(
    segments: SegmentSet,
    history: Iterable[Occurrence],
    profile: Mapping[str, Any],
    now: datetime,
    static_segment_ids: Iterable[str] = (),
) -> CustomerSegmentState:
    """The state of a customer the engine has not tracked yet, from the full event history (deduplicated by
    id, any order). Membership equals applying the same history event by event; ``since`` is ``now``."""
    at = to_ms(now)
    features = {key: empty_state(spec) for key, spec in segments.features.items()}
    seen = _replay(segments, features, history, at)
    blank = CustomerSegmentState()
    outcome = _finish(
        segments,
        blank,
        at,
        features=features,
        pending=set(),
        seen=seen,
        profile=dict(profile),
        static=tuple(sorted(set(static_segment_ids))),
    )
    return outcome.state


def backfill(
    segments: SegmentSet, state: CustomerSegmentState, history: Iterable[Occurrence], now: datetime
) -> Outcome:
    """Fill the pending features (new segments or changed definitions) from the customer's full history and
    evaluate the segments that waited for them; their entries show up as ``entered`` transitions."""
    at = _clock(state, now)
    features, pending = _reconcile(segments, state)
    fresh = {key: empty_state(segments.features[key]) for key in pending}
    replayed = _replay(segments, fresh, history, at)
    features.update(fresh)
    # Live digests go last so they survive the trim: they are the likeliest to be redelivered.
    seen = tuple(dict.fromkeys((*replayed, *state.seen)))[-SEEN_EVENTS:]
    return _finish(segments, state, at, features=features, pending=set(), seen=seen)


# -- internals --------------------------------------------------------------------------------------------------


def _clock(state: CustomerSegmentState, now: datetime) -> int:
    return max(to_ms(now), state.as_of)


def _reconcile(segments: SegmentSet, state: CustomerSegmentState) -> tuple[dict[str, AnyState], set[str]]:
    """The state's features for the current definitions: unused ones dropped, new ones empty and pending."""
    features: dict[str, AnyState] = {}
    pending = {key for key in state.pending if key in segments.features}
    for key, spec in segments.features.items():
        current = state.features.get(key)
        if current is None or current.k != spec.kind:
            features[key] = empty_state(spec)
            pending.add(key)
        else:
            features[key] = current
    return features, pending


def _fold(segments: SegmentSet, features: dict[str, AnyState], occurrence: Occurrence, digest: str, at: int) -> bool:
    """Apply one event to ``features`` in place (only keys present); True when any feature changed."""
    ts = to_ms(occurrence.timestamp)
    touched = False
    for spec in segments.features_for(occurrence.name):
        if spec.key not in features:
            continue
        before = features[spec.key]
        after = update(spec, before, ts, occurrence.properties, digest, at)
        if after != before:
            features[spec.key] = after
            touched = True
    return touched


def _replay(
    segments: SegmentSet, features: dict[str, AnyState], history: Iterable[Occurrence], at: int
) -> tuple[str, ...]:
    """Apply a history to ``features`` in place, each event id once; the digests of the events that mattered."""
    applied: dict[str, None] = {}
    done: set[str] = set()
    for occurrence in history:
        if occurrence.event_id in done:
            continue
        done.add(occurrence.event_id)
        digest = event_hash(occurrence.event_id)
        if _fold(segments, features, occurrence, digest, at):
            applied[digest] = None
    return tuple(applied)[-SEEN_EVENTS:]


def _finish(
    segments: SegmentSet,
    before: CustomerSegmentState,
    at: int,
    *,
    features: dict[str, AnyState],
    pending: set[str],
    seen: tuple[str, ...] | None = None,
    profile: dict[str, Any] | None = None,
    static: tuple[str, ...] | None = None,
) -> Outcome:
    for key, feature in features.items():
        features[key] = prune(segments.features[key], feature, at)
    evaluation = _Evaluation(
        segments,
        features,
        pending,
        before.profile if profile is None else profile,
        before.static if static is None else static,
        at,
    )
    members, transitions, next_check = evaluation.run(before.members)
    after = CustomerSegmentState(
        profile=evaluation.profile,
        static=evaluation.static,
        features=features,
        pending=tuple(sorted(pending)),
        members=members,
        seen=before.seen if seen is None else seen,
        next_check=next_check,
        as_of=before.as_of,
    )
    changed = after != before
    if changed:
        after = after.model_copy(update={"as_of": at})
    return Outcome(state=after, transitions=tuple(transitions), changed=changed)


class _Evaluation:
    """One pass over the computed segments at one instant, each leaf computed once."""

    def __init__(
        self,
        segments: SegmentSet,
        features: Mapping[str, AnyState],
        pending: set[str],
        profile: dict[str, Any],
        static: tuple[str, ...],
        at: int,
    ) -> None:
        self.segments = segments
        self.features = features
        self.pending = pending
        self.profile = profile
        self.static = static
        self.at = at
        self._results: dict[str, bool] = {}
        self._leaves: dict[str, bool] = {}

    def run(self, previous: Mapping[str, int]) -> tuple[dict[str, int], list[Transition], int | None]:
        members: dict[str, int] = {}
        transitions: list[Transition] = []
        flips: dict[str, int | None] = {}
        for segment_id in self.segments.order:
            was_member = segment_id in previous
            if self.segments.needs(segment_id) & self.pending:
                # Waiting for a backfill: keep the last known answer rather than guess from partial state.
                self._results[segment_id] = was_member
                if was_member:
                    members[segment_id] = previous[segment_id]
                continue
            inside = self._holds(self.segments.root(segment_id))
            self._results[segment_id] = inside
            if inside:
                members[segment_id] = previous.get(segment_id, self.at)
            if inside != was_member:
                transitions.append(
                    Transition(
                        segment_id=segment_id,
                        kind="entered" if inside else "left",
                        at=from_ms(self.at),
                        emit=self.segments.emits(segment_id),
                    )
                )
            for leaf in self.segments.leaves(segment_id):
                if leaf.key not in flips:
                    flips[leaf.key] = self._next_flip(leaf)
        upcoming = [moment for moment in flips.values() if moment is not None]
        return members, transitions, min(upcoming, default=None)

    def _holds(self, node: Compiled) -> bool:
        if isinstance(node, AllOf):
            return all(self._holds(child) for child in node.children)
        if isinstance(node, AnyOf):
            return any(self._holds(child) for child in node.children)
        if isinstance(node, Negation):
            return not self._holds(node.child)
        if isinstance(node, RefLeaf):
            if self.segments.is_computed(node.segment_id):
                return self._results[node.segment_id]
            return node.segment_id in self.static
        if node.key not in self._leaves:
            if isinstance(node, TraitLeaf):
                self._leaves[node.key] = trait_holds(node.node, self.profile, self.at)
            else:
                self._leaves[node.key] = leaf_holds(node, self.features[node.spec.key], self.at)
        return self._leaves[node.key]

    def _next_flip(self, leaf: TraitLeaf | FeatureLeaf) -> int | None:
        if isinstance(leaf, TraitLeaf):
            return trait_next_flip(leaf.node, self.profile, self.at)
        return next_flip(leaf, self.features[leaf.spec.key], self.at)

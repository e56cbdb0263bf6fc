"""The incremental engine: one customer's segment state, moved forward by events, profile changes and time.

Every operation takes the compiled :class:`SegmentSet`, the customer's :class:`CustomerSegmentState` and the
function's clock ``now``, and returns an :class:`Outcome`: the new state, the entered/left transitions, and
whether anything needs writing. Nothing here does I/O; the caller loads the state item, calls one function,
writes the state back with an optimistic version check when ``changed``, publishes the transitions flagged
``emit``, and files the customer under ``next_check_at`` for the sweep (segments_loyalty.md §8).

What a call costs follows what it touches, never the number of definitions: an event updates the features
of its name and re-evaluates the segments reading them (and, when a membership changes, the segments
referring to it); a profile change re-evaluates the segments reading a changed trait path; a static list
change, the segments referring to that list; every call also re-evaluates the segments whose timer is due.
The state stores only non-empty features (absent = empty) and timers only for segments that have one.

Guarantees and their conditions:

* Membership equals :func:`perkflow.domain.segments.reference.evaluate_history` over the customer's events
  (deduplicated by id) and current profile, at every call, whatever order events arrive in — for every
  segment that is not *waiting* (below). Conditions: the state started from :func:`initial_state` (or was
  brought up by :func:`backfill`); every event and profile change of the customer since then went through
  this engine with a set holding the features it feeds; a segment referred to by another is not deleted
  (the catalogue refuses it).
* ``next_check_at`` is the earliest instant at which time alone can change a condition of a segment that is
  not waiting; no membership changes before it without an event, profile or static change.
* A redelivered event is ignored while it is among the last ``SEEN_EVENTS`` events that changed the state;
  the platform dedupes by event id before this point, so this is the second line of defence.
* ``now`` never goes back: the state remembers the latest clock it was written at and uses the later of the
  two, so two containers with slightly different clocks cannot resurrect an event that slid out.
* Definitions may change between calls (:class:`SegmentSet` ``since``): the state records the ``revision``
  it was initialised or backfilled at. Features newer than that are *pending* (events do not feed them; the
  backfill fills them from the history) and segments newer than that (or referring to newer ones) *wait*:
  they keep their previous membership, with no transitions and no timer, until :func:`backfill`, which
  evaluates them and brings the state to the set's revision. Features and segments no longer defined are
  dropped from the state the next time it is touched. The state must not be used with a set older than
  its revision (the caller reloads definitions at least as new as the state's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from heapq import heapify, heappop, heappush
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.segments.compiled import SegmentSet, TimedLeaf, TraitLeaf, evaluate
from perkflow.domain.segments.conditions import event_hash, from_ms, to_ms, trait_holds, trait_next_flip
from perkflow.domain.segments.definition import Instant
from perkflow.domain.segments.features import (
    AnyState,
    FeatureSpec,
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
    """Everything segments know about one customer, sized for one DynamoDB item (typically 1-5 KB, whatever
    the number of definitions: only what this customer has is stored).

    Instants are epoch milliseconds to keep the item small; the properties below give datetimes. Store it as
    ``model_dump(mode="json")`` (profile values may be floats, so a JSON string attribute is simplest) and read
    it back with ``model_validate``.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    profile: dict[str, Any] = Field(default_factory=dict, description="the profile snapshot trait leaves read")
    static: tuple[str, ...] = Field(default=(), description="static segments listing this customer")
    features: dict[str, FeatureState] = Field(
        default_factory=dict, description="feature key -> state, non-empty ones only (absent = empty)"
    )
    revision: int = Field(
        default=-1,
        description="definitions revision the features are filled up to (initial_state, backfill); -1: never",
    )
    members: dict[str, int] = Field(default_factory=dict, description="computed segment id -> member since")
    timers: dict[str, int] = Field(
        default_factory=dict,
        description="computed segment id -> earliest instant time alone can change one of its own conditions",
    )
    seen: tuple[str, ...] = Field(default=(), description="digests of the last events applied, oldest first")
    as_of: int = Field(default=0, description="the clock of the last write; later calls never go before it")

    def member_ids(self) -> frozenset[str]:
        return frozenset(self.members)

    def members_since(self) -> dict[str, datetime]:
        return {segment_id: from_ms(since) for segment_id, since in self.members.items()}

    @property
    def next_check(self) -> int | None:
        """Earliest instant time alone can change a condition of some segment (epoch ms)."""
        return min(self.timers.values(), default=None)

    @property
    def next_check_at(self) -> datetime | None:
        due = self.next_check
        return None if due is None else from_ms(due)


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
    """Fold one event into the features it feeds and re-evaluate the segments that read them."""
    run = _Run(segments, state, now)
    digest = event_hash(occurrence.event_id)
    if digest not in state.seen and run.fold(occurrence, digest):
        run.seen = (*state.seen, digest)[-SEEN_EVENTS:]
    return run.finish()


def apply_profile(
    segments: SegmentSet, state: CustomerSegmentState, profile: Mapping[str, Any], now: datetime
) -> Outcome:
    """Replace the profile snapshot (``Customer.snapshot()`` plus any ``loyalty.*``) and re-evaluate the
    segments reading a trait whose value changed."""
    run = _Run(segments, state, now)
    run.set_profile(dict(profile))
    return run.finish()


def set_static_membership(
    segments: SegmentSet, state: CustomerSegmentState, segment_id: str, member: bool, now: datetime
) -> Outcome:
    """Record that a static segment lists (or no longer lists) the customer; segments referring to it follow."""
    run = _Run(segments, state, now)
    static = (set(state.static) | {segment_id}) if member else (set(state.static) - {segment_id})
    run.set_static(tuple(sorted(static)))
    return run.finish()


def sweep(segments: SegmentSet, state: CustomerSegmentState, now: datetime) -> Outcome:
    """Let time pass: windows slide, timestamps age, anniversaries come round (the due segments only)."""
    return _Run(segments, state, now).finish()


def initial_state(
    segments: SegmentSet,
    history: Iterable[Occurrence],
    profile: Mapping[str, Any],
    now: datetime,
    static_segment_ids: Iterable[str] = (),
) -> CustomerSegmentState:
    """The state of a customer the engine has not tracked yet, from the full event history (deduplicated by
    id, any order). Membership equals applying the same history event by event; ``since`` is ``now``.

    Starts from the segments a blank customer is in (computed once per set) and re-evaluates only those whose
    features, traits or static lists this customer has."""
    run = _Run(segments, CustomerSegmentState(revision=segments.revision), now)
    run.members = dict.fromkeys(segments.blank_members(), run.at)
    run.seen = run.replay(history, None)
    run.set_profile(dict(profile))
    run.set_static(tuple(sorted(set(static_segment_ids))))
    return run.finish().state.model_copy(update={"as_of": run.at})


def backfill(
    segments: SegmentSet, state: CustomerSegmentState, history: Iterable[Occurrence], now: datetime
) -> Outcome:
    """Fill the pending features (new segments or changed definitions) from the customer's full history and
    evaluate the segments that waited; their entries show up as ``entered`` transitions. A state already at
    the set's revision only lets time pass (as :func:`sweep`)."""
    run = _Run(segments, state, now)
    behind = run.revision
    if behind < segments.revision:
        pending = set(segments.features_after(behind))
        replayed = run.replay(history, pending) if pending else ()
        run.revision = segments.revision
        run.dirty.update(segments.segments_after(behind))
        # Live digests go last so they survive the trim: they are the likeliest to be redelivered.
        run.seen = tuple(dict.fromkeys((*replayed, *state.seen)))[-SEEN_EVENTS:]
    return run.finish()


# -- internals --------------------------------------------------------------------------------------------------


def _same(left: Any, right: Any) -> bool:
    """Structural equality that tells booleans, integers and floats apart (``True == 1`` in Python, not here)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(value, right[key]) for key, value in left.items())
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


def _changes(before: dict[str, Any], after: dict[str, Any], prefix: str, found: list[tuple[str, bool]]) -> None:
    """Where two profile objects differ, as (dotted location, whole value replaced) pairs: objects are
    compared key by key (a missing key or null is an empty object there), anything else as a whole."""
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if _same(old, new):
            continue
        location = f"{prefix}.{key}" if prefix else key
        if isinstance(old, dict | None) and isinstance(new, dict | None):
            if (old is None) != (new is None):
                found.append((location, False))  # the object itself appeared or went
            _changes(old or {}, new or {}, location, found)
        else:
            found.append((location, True))


class _Run:
    """One operation on one customer: the parts of the state it changes and the segments to re-evaluate.

    Construction forgets what the definitions no longer hold and marks the segments whose timer is due;
    ``finish`` re-evaluates the marked segments in reference order (a changed membership marks the segments
    referring to it) and builds the outcome."""

    def __init__(self, segments: SegmentSet, state: CustomerSegmentState, now: datetime) -> None:
        self.segments = segments
        self.before = state
        self.at = max(to_ms(now), state.as_of)
        self.revision = state.revision
        self.profile = state.profile
        self.static = state.static
        self.seen = state.seen
        self.features = {key: feature for key, feature in state.features.items() if self._kept(key, feature)}
        computed = segments.computed_ids
        self.members = {sid: since for sid, since in state.members.items() if sid in computed}
        self.timers = {
            sid: due for sid, due in state.timers.items() if sid in computed and not segments.waits(sid, self.revision)
        }
        self.dirty: set[str] = {sid for sid, due in self.timers.items() if due <= self.at}
        self.transitions: list[Transition] = []
        self._tidied: set[str] = set()
        self._answers: dict[str, bool] = {}
        self._flips: dict[str, int | None] = {}

    # -- inputs ---------------------------------------------------------------------------------------------
    def _kept(self, key: str, feature: AnyState) -> bool:
        spec = self.segments.features.get(key)
        return spec is not None and spec.kind == feature.k and not self._pending(key)

    def _pending(self, key: str) -> bool:
        return self.segments.feature_since(key) > self.revision

    def fold(self, occurrence: Occurrence, digest: str) -> bool:
        """Apply one event to the features of its name; True when any of them changed."""
        ts = to_ms(occurrence.timestamp)
        touched = False
        for spec in self.segments.features_for(occurrence.name):
            if self._pending(spec.key):
                continue  # the backfill fills it from the history, which holds this event too
            before = self._stored(spec)
            after = update(spec, before, ts, occurrence.properties, digest, self.at)
            if after != before:
                self._store(spec, after)
                self.dirty.update(self.segments.feature_users(spec.key))
                touched = True
        return touched

    def replay(self, history: Iterable[Occurrence], keys: set[str] | None) -> tuple[str, ...]:
        """Fill ``keys`` (None: every feature) from empty with a history, each event id once; the digests of
        the events that mattered."""
        fresh: dict[str, AnyState] = {}
        applied: dict[str, None] = {}
        done: set[str] = set()
        for occurrence in history:
            if occurrence.event_id in done:
                continue
            done.add(occurrence.event_id)
            specs = [spec for spec in self.segments.features_for(occurrence.name) if keys is None or spec.key in keys]
            if not specs:
                continue
            ts = to_ms(occurrence.timestamp)
            digest = event_hash(occurrence.event_id)
            for spec in specs:
                before = fresh.get(spec.key, empty_state(spec))
                after = update(spec, before, ts, occurrence.properties, digest, self.at)
                if after != before:
                    fresh[spec.key] = after
                    applied[digest] = None
        for key, feature in fresh.items():
            self._store(self.segments.features[key], feature)
            self.dirty.update(self.segments.feature_users(key))
        return tuple(applied)[-SEEN_EVENTS:]

    def set_profile(self, profile: dict[str, Any]) -> None:
        changes: list[tuple[str, bool]] = []
        _changes(self.profile, profile, "", changes)
        self.profile = profile
        for location, subtree in changes:
            for path in self.segments.paths_touched(location, subtree):
                self.dirty.update(self.segments.path_users(path))

    def set_static(self, static: tuple[str, ...]) -> None:
        for segment_id in set(self.static) ^ set(static):
            self.dirty.update(self.segments.ref_users(segment_id))
        self.static = static

    # -- features -------------------------------------------------------------------------------------------
    def _stored(self, spec: FeatureSpec) -> AnyState:
        stored = self.features.get(spec.key)
        return empty_state(spec) if stored is None else stored

    def _store(self, spec: FeatureSpec, feature: AnyState) -> None:
        """Keep a feature pruned at this call's clock, and only when it holds something."""
        self._tidied.add(spec.key)
        kept = prune(spec, feature, self.at)
        if kept == empty_state(spec):
            self.features.pop(spec.key, None)
        else:
            self.features[spec.key] = kept

    def _feature(self, spec: FeatureSpec) -> AnyState:
        if spec.key not in self._tidied and spec.key in self.features:
            self._store(spec, self.features[spec.key])
        return self._stored(spec)

    # -- evaluation -----------------------------------------------------------------------------------------
    def _leaf(self, leaf: TimedLeaf) -> bool:
        answer = self._answers.get(leaf.key)
        if answer is None:
            if isinstance(leaf, TraitLeaf):
                answer = trait_holds(leaf.node, self.profile, self.at)
            else:
                answer = leaf_holds(leaf, self._feature(leaf.spec), self.at)
            self._answers[leaf.key] = answer
        return answer

    def _flip(self, leaf: TimedLeaf) -> int | None:
        if leaf.key not in self._flips:
            if isinstance(leaf, TraitLeaf):
                self._flips[leaf.key] = trait_next_flip(leaf.node, self.profile, self.at)
            else:
                self._flips[leaf.key] = next_flip(leaf, self._feature(leaf.spec), self.at)
        return self._flips[leaf.key]

    def _ref(self, segment_id: str) -> bool:
        if self.segments.is_computed(segment_id):
            return segment_id in self.members
        return segment_id in self.static

    def _evaluate(self) -> None:
        segments = self.segments
        queue = [(segments.position(sid), sid) for sid in self.dirty if segments.is_computed(sid)]
        heapify(queue)
        done: set[str] = set()
        while queue:
            _, segment_id = heappop(queue)
            if segment_id in done:
                continue
            done.add(segment_id)
            if segments.waits(segment_id, self.revision):
                # Waiting for a backfill: keep the last known answer rather than guess from partial state.
                self.timers.pop(segment_id, None)
                continue
            inside = self._evaluate_segment(segment_id)
            if inside == (segment_id in self.members):
                continue
            if inside:
                self.members[segment_id] = self.at
            else:
                del self.members[segment_id]
            self.transitions.append(
                Transition(
                    segment_id=segment_id,
                    kind="entered" if inside else "left",
                    at=from_ms(self.at),
                    emit=segments.emits(segment_id),
                )
            )
            for user in segments.ref_users(segment_id):
                heappush(queue, (segments.position(user), user))

    def _evaluate_segment(self, segment_id: str) -> bool:
        """The segment's answer now; its timer follows its own leaves (references have their own timers)."""
        inside = evaluate(self.segments.root(segment_id), self._leaf, self._ref)
        flips = [flip for leaf in self.segments.leaves(segment_id) if (flip := self._flip(leaf)) is not None]
        if flips:
            self.timers[segment_id] = min(flips)
        else:
            self.timers.pop(segment_id, None)
        return inside

    def finish(self) -> Outcome:
        self._evaluate()
        before = self.before
        after = before.model_copy(
            update={
                "profile": self.profile,
                "static": self.static,
                "features": self.features,
                "revision": self.revision,
                "members": self.members,
                "timers": self.timers,
                "seen": self.seen,
            }
        )
        changed = after != before
        if changed:
            after = after.model_copy(update={"as_of": self.at})
        return Outcome(state=after, transitions=tuple(self.transitions), changed=changed)

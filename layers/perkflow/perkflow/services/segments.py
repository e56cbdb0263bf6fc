"""Real-time segments: keeping each customer's memberships current, and the segment catalogue.

Per customer and request: read the segment state item (one GetItem), fold in every input of the batch for
that customer, write it back once with an optimistic version check (one transaction, member items and
activities only when membership changes). Definitions come from a per-container cache, so the cost per event
does not grow with the number of segments or customers. Time-driven changes come from the minute sweep over
the due index; new or changed definitions are backfilled shard by shard through continuation jobs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal, Protocol

from perkflow.domain.activities import Activity, activity_id
from perkflow.domain.errors import InvalidPayload, NotFound, StaleWrite
from perkflow.domain.events import CustomerRef, CustomerSegmentEntered, CustomerSegmentLeft, OutboxEntry, SegmentRef
from perkflow.domain.ids import stable_id
from perkflow.domain.segments import (
    CustomerSegmentState,
    Occurrence,
    Outcome,
    SegmentSet,
    Transition,
    apply_event,
    apply_profile,
    backfill,
    initial_state,
    set_static_membership,
    sweep,
    validate_references,
)
from perkflow.domain.segments.catalogue import MembershipChange, SegmentRecord, StoredState, static_customers
from perkflow.domain.segments.inputs import SegmentInput, from_activity

MAX_ATTEMPTS = 5
BACKFILL_PAGE = 50


# -- ports ------------------------------------------------------------------------------------------------------


class SegmentStates(Protocol):
    def load(self, customer_id: str) -> StoredState: ...

    def save(
        self,
        customer_id: str,
        state: CustomerSegmentState,
        *,
        expected_version: int,
        defs_version: int,
        changes: Sequence[MembershipChange] = (),
        events: Sequence[OutboxEntry] = (),
    ) -> None:
        """Raises StaleWrite when the state changed since ``expected_version``."""
        ...

    def due(self, shard: int, now: datetime, *, limit: int = 100) -> list[str]: ...

    def count(self, segment_id: str) -> int: ...

    def members(
        self, segment_id: str, *, after: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def member_items(self, segment_id: str) -> Iterator[dict[str, Any]]: ...

    def forget_segment(self, segment_id: str, customer_id: str) -> None: ...


class SegmentDefinitions(Protocol):
    def version(self) -> int: ...

    def all(self) -> tuple[list[SegmentRecord], int]: ...

    def get(self, segment_id: str) -> SegmentRecord | None: ...

    def put(self, segment: SegmentRecord, *, new: bool) -> None: ...

    def finish_shard(self, segment_id: str, shard: int, revision: int) -> SegmentRecord | None: ...

    def delete(self, segment_id: str) -> None: ...


class CustomerHistory(Protocol):
    def profile(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's profile snapshot (None: no such customer)."""
        ...

    def history(self, customer_id: str) -> list[Activity]:
        """Every activity of the customer and of the profiles merged into it."""
        ...

    def page(self, shard: int, *, after: str | None = None, limit: int = 100) -> tuple[list[str], str | None]:
        """Customer ids of one listing shard, and the cursor of the next page."""
        ...


class Jobs(Protocol):
    def send(self, job: dict[str, Any]) -> None: ...


# -- definitions, cached per container ------------------------------------------------------------------------


class DefinitionsCache:
    """The compiled definitions, re-read when older than ``ttl`` seconds or older than a state has seen."""

    def __init__(
        self, definitions: SegmentDefinitions, ttl: float = 15.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.definitions = definitions
        self.ttl = ttl
        self.monotonic = monotonic
        self._loaded_at = float("-inf")
        self._version = -1
        self._records: dict[str, SegmentRecord] = {}
        self._set = SegmentSet([])

    def current(self, at_least: int = 0) -> tuple[SegmentSet, int, dict[str, SegmentRecord]]:
        expired = self.monotonic() - self._loaded_at > self.ttl
        # An expired cache first asks for the version alone: recompiling a thousand unchanged definitions
        # every few seconds would make every event pay for segments it does not touch.
        if self._version < at_least or (expired and self.definitions.version() != self._version):
            records, version = self._read()
            self._records = {record.id: record for record in records}
            self._set = SegmentSet(
                (record.engine_definition() for record in records),
                since={record.id: record.defs_version for record in records},
            )
            self._version = version
        if expired or self._version < at_least:
            self._loaded_at = self.monotonic()
        return self._set, self._version, self._records

    def _read(self) -> tuple[list[SegmentRecord], int]:
        """The definitions as of the version read with them. One written during the read (``defs_version``
        above that version) waits for the next load: a state backfilled with the set counts as holding every
        definition up to the set's revision, so the set must not skip one of those for a newer one."""
        for _ in range(3):
            records, version = self.definitions.all()
            if all(record.defs_version <= version for record in records):
                break
        return [record for record in records if record.defs_version <= version], version

    def forget(self) -> None:
        self._loaded_at = float("-inf")


# -- the engine side (the segments function) -----------------------------------------------------------------


@dataclass
class _Work:
    state: CustomerSegmentState
    transitions: list[Transition]
    changed: bool


class SegmentEngineService:
    def __init__(
        self,
        cache: DefinitionsCache,
        states: SegmentStates,
        customers: CustomerHistory,
        jobs: Jobs,
        clock: Callable[[], datetime],
        source: str,
        shards: int,
    ) -> None:
        self.cache = cache
        self.states = states
        self.customers = customers
        self.jobs = jobs
        self.clock = clock
        self.source = source
        self.shards = shards

    def apply(self, customer_id: str, inputs: Sequence[SegmentInput]) -> None:
        """Fold one customer's inputs (in order) into its state; one read, at most one write."""
        segments, _, _ = self.cache.current()
        reads_loyalty = any(path.split(".", 1)[0] == "loyalty" for path in segments.relevant_trait_paths())
        relevant = [
            item
            for item in inputs
            if item.occurrence is None
            or (item.loyalty and reads_loyalty)
            or segments.relevant_event(item.occurrence.name)
        ]
        if not relevant:
            return  # nothing any definition counts: no read, no write
        self._update(customer_id, lambda segments, state, now: self._fold(segments, state, relevant, now))

    def sweep_due(self, limit_per_shard: int = 200) -> int:
        """Let time pass for every customer whose next check is due. Returns how many were checked."""
        now = self.clock()
        checked = 0
        for shard in range(self.shards):
            for customer_id in self.states.due(shard, now, limit=limit_per_shard):
                self._update(customer_id, lambda segments, state, at: _single(sweep(segments, state, at)))
                checked += 1
        return checked

    def run_job(self, job: dict[str, Any]) -> None:
        kind = job.get("kind")
        if kind == "backfill":
            self._backfill_page(job)
        elif kind == "static":
            self._static_page(job)
        elif kind == "forget":
            self._forget_page(job)
        else:
            raise ValueError(f"unknown segments job {kind!r}")

    # -- internals ------------------------------------------------------------------------------------------
    def _fold(
        self, segments: SegmentSet, state: CustomerSegmentState, inputs: Sequence[SegmentInput], now: datetime
    ) -> _Work:
        work = _Work(state=state, transitions=[], changed=False)
        for item in inputs:
            if item.merged_from:
                # Another profile's history became this customer's: recompute from the merged history.
                rebuilt = self._rebuild(segments, item.customer_id, state, now)
                work = _Work(rebuilt.state, work.transitions + rebuilt.transitions, True)
                continue
            if item.occurrence is not None:
                outcome = apply_event(segments, work.state, item.occurrence, now)
            else:
                # Profile snapshots come from customer events, which know nothing of loyalty: keep its traits.
                profile = {**(item.profile or {}), **_loyalty_part(work.state.profile)}
                outcome = apply_profile(segments, work.state, profile, now)
            work = _Work(outcome.state, work.transitions + list(outcome.transitions), work.changed or outcome.changed)
            if item.loyalty:
                loyalty = {**work.state.profile.get("loyalty", {}), **item.loyalty}
                outcome = apply_profile(segments, work.state, {**work.state.profile, "loyalty": loyalty}, now)
                work = _Work(
                    outcome.state, work.transitions + list(outcome.transitions), work.changed or outcome.changed
                )
        return work

    def _history(self, customer_id: str) -> list[Occurrence]:
        return [
            occurrence for activity in self.customers.history(customer_id) for occurrence in from_activity(activity)
        ]

    def _rebuild(self, segments: SegmentSet, customer_id: str, state: CustomerSegmentState, now: datetime) -> _Work:
        history = self._history(customer_id)
        profile = {**(self.customers.profile(customer_id) or state.profile), **_loyalty_part(state.profile)}
        fresh = initial_state(segments, history, profile, now, static_segment_ids=state.static)
        return _Work(fresh, _diff(segments, state, fresh, now), True)

    def _update(self, customer_id: str, step: Callable[[SegmentSet, CustomerSegmentState, datetime], _Work]) -> None:
        for _ in range(MAX_ATTEMPTS):
            stored = self.states.load(customer_id)
            segments, defs_version, records = self.cache.current(at_least=stored.defs_version)
            now = self.clock()
            if stored.version == 0:
                # First time segments see this customer: start from its whole history, so definitions
                # created before it arrived still count its past.
                base = self._rebuild(segments, customer_id, CustomerSegmentState(), now)
                work = step(segments, base.state, now)
                work = _Work(work.state, base.transitions + work.transitions, True)
            else:
                work = step(segments, stored.state, now)
            if not work.changed and not work.transitions:
                return
            try:
                self._save(customer_id, stored.version, defs_version, work, records)
            except StaleWrite:
                continue  # another writer got there first: read again and re-apply
            return
        raise RuntimeError(f"segment state of {customer_id} kept changing")

    def _save(
        self, customer_id: str, expected: int, defs_version: int, work: _Work, records: dict[str, SegmentRecord]
    ) -> None:
        changes = []
        entries = []
        customer = _customer_ref(customer_id, work.state.profile)
        for transition in work.transitions:
            record = records.get(transition.segment_id)
            name = record.name if record else transition.segment_id
            entered = transition.kind == "entered"
            kind = "customer.segment.entered" if entered else "customer.segment.left"
            activity = Activity(
                id=activity_id(transition.at, customer_id, transition.segment_id, transition.kind),
                type=kind,
                customer=customer,
                created_at=transition.at,
                data={"segment": {"id": transition.segment_id, "name": name, "object": "segment"}},
            )
            changes.append(MembershipChange(transition.segment_id, entered, activity))
            if transition.emit:
                event_type = CustomerSegmentEntered if entered else CustomerSegmentLeft
                event = event_type(
                    event_id=stable_id(
                        "evt_",
                        customer_id,
                        transition.segment_id,
                        transition.kind,
                        str(int(transition.at.timestamp() * 1000)),
                    ),
                    occurred_at=transition.at,
                    customer=customer,
                    segment=SegmentRef(id=transition.segment_id, name=name),
                )
                entries.append(OutboxEntry.of(self.source, event))
        self.states.save(
            customer_id,
            work.state,
            expected_version=expected,
            defs_version=defs_version,
            changes=changes,
            events=entries,
        )

    def _backfill_page(self, job: dict[str, Any]) -> None:
        segment_id, shard, revision = str(job["segment_id"]), int(job["shard"]), int(job["revision"])
        record = self.cache.current()[2].get(segment_id)
        if record is None or record.revision != revision:
            self.cache.forget()  # the definition may be newer than this container's cache
            record = self.cache.current()[2].get(segment_id)
            if record is None or record.revision != revision:
                return  # deleted or redefined since: a newer backfill owns it
        customer_ids, cursor = self.customers.page(shard, after=job.get("after"), limit=BACKFILL_PAGE)
        for customer_id in customer_ids:
            self._update(customer_id, partial(self._backfill_one, customer_id=customer_id))
        if cursor:
            self.jobs.send({**job, "after": cursor})
            return
        self.cache.definitions.finish_shard(segment_id, shard, revision)

    def _backfill_one(
        self, segments: SegmentSet, state: CustomerSegmentState, now: datetime, *, customer_id: str
    ) -> _Work:
        # Always through backfill(): features a definition change added are only known pending once the
        # engine reconciles the stored state with the current definitions.
        history = self._history(customer_id)
        return _single(backfill(segments, state, history, now))

    def _static_page(self, job: dict[str, Any]) -> None:
        segment_id, member = str(job["segment_id"]), bool(job.get("member", True))
        for customer_id in job["customers"]:
            self._update(customer_id, partial(self._list_statically, segment_id=segment_id, member=member))

    @staticmethod
    def _list_statically(
        segments: SegmentSet, state: CustomerSegmentState, now: datetime, *, segment_id: str, member: bool
    ) -> _Work:
        """A static list names (or drops) the customer: the engine learns it, and the member item follows.
        Static segments never publish entered/left (Voucherify's static lists do not)."""
        outcome = set_static_membership(segments, state, segment_id, member, now)
        work = _single(outcome)
        if (segment_id in state.static) != member:
            kind: Literal["entered", "left"] = "entered" if member else "left"
            work.transitions.append(Transition(segment_id=segment_id, kind=kind, at=now, emit=False))
        return work

    def _forget_page(self, job: dict[str, Any]) -> None:
        segment_id = str(job["segment_id"])
        for item in list(self.states.member_items(segment_id)):
            self.states.forget_segment(segment_id, str(item["customer_id"]))


def _loyalty_part(profile: dict[str, Any]) -> dict[str, Any]:
    loyalty = profile.get("loyalty")
    return {"loyalty": loyalty} if isinstance(loyalty, dict) else {}


def _single(outcome: Outcome) -> _Work:
    return _Work(outcome.state, list(outcome.transitions), outcome.changed)


def _diff(
    segments: SegmentSet, before: CustomerSegmentState, after: CustomerSegmentState, now: datetime
) -> list[Transition]:
    old, new = before.member_ids(), after.member_ids()
    return [
        Transition(
            segment_id=segment_id,
            kind="entered" if segment_id in new else "left",
            at=now,
            emit=segments.emits(segment_id),
        )
        for segment_id in sorted(old ^ new)
    ]


def _customer_ref(customer_id: str, profile: dict[str, Any]) -> CustomerRef:
    return CustomerRef(
        id=customer_id, source_id=profile.get("source_id"), email=profile.get("email"), name=profile.get("name")
    )


# -- the catalogue side (the api function) ---------------------------------------------------------------------


class SegmentCatalogue:
    def __init__(
        self,
        definitions: SegmentDefinitions,
        jobs: Jobs,
        members: SegmentStates,
        resolve_customer: Callable[[str], str],
        clock: Callable[[], datetime],
        shards: int,
    ) -> None:
        self.definitions = definitions
        self.jobs = jobs
        self.members = members
        self.resolve_customer = resolve_customer
        self.clock = clock
        self.shards = shards

    def create(self, body: dict[str, Any]) -> SegmentRecord:
        record = SegmentRecord.create(body, self.clock(), self.shards)
        customers = static_customers(body) if record.type == "static" else []
        existing, _ = self.definitions.all()
        if record.definition is not None:
            validate_references(record.engine_definition(), [other.engine_definition() for other in existing])
        ids = [self.resolve_customer(customer) for customer in customers]
        self.definitions.put(record, new=True)
        for start in range(0, len(ids), 100):
            self.jobs.send({"kind": "static", "segment_id": record.id, "customers": ids[start : start + 100]})
        self._start_backfill(record)
        return record

    def get(self, segment_id: str) -> SegmentRecord:
        record = self.definitions.get(segment_id)
        if record is None:
            raise NotFound(
                f"Resource not found: segment {segment_id}",
                details=segment_id,
                extra={"resource_id": segment_id, "resource_type": "segment"},
            )
        return record

    def list(self) -> list[SegmentRecord]:
        records, _ = self.definitions.all()
        return sorted(records, key=lambda record: record.created_at)

    def delete(self, segment_id: str) -> None:
        record = self.get(segment_id)
        others = [other for other in self.list() if other.id != segment_id and other.definition is not None]
        users = [other.id for other in others if segment_id in _references(other)]
        if users:
            raise InvalidPayload("Other segments refer to this one", details=", ".join(users))
        self.definitions.delete(record.id)
        self.jobs.send({"kind": "forget", "segment_id": record.id})

    def rerun_backfill(self, segment_id: str) -> SegmentRecord:
        record = self.get(segment_id)
        if not record.computed():
            raise InvalidPayload("a static segment has nothing to compute", details=segment_id)
        rerun = record.model_copy(
            update={
                "status": "computing",
                "pending_shards": tuple(range(self.shards)),
                "shards": self.shards,
                "revision": record.revision + 1,
                "updated_at": self.clock(),
            }
        )
        self.definitions.put(rerun, new=False)
        self._start_backfill(rerun)
        return rerun

    def size(self, segment_id: str) -> int:
        return self.members.count(segment_id)

    def _start_backfill(self, record: SegmentRecord) -> None:
        for shard in record.pending_shards:
            self.jobs.send({"kind": "backfill", "segment_id": record.id, "shard": shard, "revision": record.revision})


def _references(record: SegmentRecord) -> Iterable[str]:
    from perkflow.domain.segments.definition import references

    return references(record.definition) if record.definition is not None else ()

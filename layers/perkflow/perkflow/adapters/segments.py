"""Segments in the table: definitions, each customer's segment state, members, the due index.

Items (docs/data-model.md):
- definition ``SEGDEF`` / ``SEG#<seg id>``; the definitions' version counter ``SEGDEF`` / ``VERSION``.
- state ``CUST#<cust id>`` / ``SEGSTATE``: the engine's :class:`CustomerSegmentState` as JSON, ``members`` (a
  string set the promotion rules read), ``version`` (optimistic writes) and ``defs_version`` (the definitions
  it was computed with); when time alone can change it, it is filed in gsi3 under ``DUE#<shard>`` by its next
  check instant, so the minute sweep finds exactly the customers due.
- member ``SEG#<seg id>`` / ``MEMBER#<cust id>``: one per member, for listing and counting a segment.
- activity ``SEGACT#<activity id>``: a ``customer.segment.entered``/``left`` activity of the customer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

from perkflow.adapters import outbox
from perkflow.adapters.customers import CustomerStore, activity_attributes
from perkflow.adapters.dynamo import (
    GSI3,
    Action,
    ConditionFailed,
    Delete,
    Item,
    Put,
    Table,
    TransactionCancelled,
    Update,
)
from perkflow.adapters.segment_memberships import segment_state_key
from perkflow.domain.activities import Activity
from perkflow.domain.errors import StaleWrite
from perkflow.domain.events import OutboxEntry
from perkflow.domain.segments import CustomerSegmentState
from perkflow.domain.segments.catalogue import MembershipChange, SegmentRecord, StoredState
from perkflow.domain.timeutil import iso

DEFINITIONS = "SEGDEF"
DUE_SHARDS = 16


def due_partition(customer_id: str) -> str:
    shard = int(hashlib.sha256(customer_id.encode()).hexdigest()[:8], 16) % DUE_SHARDS
    return f"DUE#{shard:02d}"


class SegmentDefinitionStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def version(self) -> int:
        item = self.table.get({"pk": DEFINITIONS, "sk": "VERSION"}, consistent=True)
        return int(item["version"]) if item else 0

    def all(self) -> tuple[list[SegmentRecord], int]:
        """Every stored segment and the definitions' version, read together. The query runs backwards, so
        the version (``VERSION`` sorts after ``SEG#``) is read first: every definition written at or before
        it is among the segments; one written during the read may be too, with a ``defs_version`` above it."""
        segments: list[SegmentRecord] = []
        version = 0
        for item in self.table.query_all("pk = :pk", {":pk": DEFINITIONS}, consistent=True, forward=False):
            if item["sk"] == "VERSION":
                version = int(item["version"])
            else:
                segments.append(SegmentRecord.model_validate_json(item["segment"]))
        return segments, version

    def get(self, segment_id: str) -> SegmentRecord | None:
        item = self.table.get({"pk": DEFINITIONS, "sk": f"SEG#{segment_id}"}, consistent=True)
        return SegmentRecord.model_validate_json(item["segment"]) if item else None

    def put(self, segment: SegmentRecord, *, new: bool) -> None:
        """Store a definition and bump the definitions' version in one transaction; the definition records
        the version it was written at (``defs_version``: the engine's ``since``). Retried from a fresh read
        of the version when another writer bumped it first."""
        for _ in range(10):
            current = self.version()
            stored = segment.model_copy(update={"defs_version": current + 1})
            item = {"pk": DEFINITIONS, "sk": f"SEG#{segment.id}", "segment": stored.model_dump_json()}
            bump = Update(
                key={"pk": DEFINITIONS, "sk": "VERSION"},
                expression="SET version = :next",
                condition="attribute_not_exists(version) OR version = :current",
                values={":next": current + 1, ":current": current},
            )
            try:
                self.table.transact([Put(item=item, condition="attribute_not_exists(pk)" if new else None), bump])
            except TransactionCancelled as refused:
                if refused.failed_at() == [1]:
                    continue  # the version moved: read it again
                raise
            return
        raise StaleWrite(segment.id)

    def finish_shard(self, segment_id: str, shard: int, revision: int) -> SegmentRecord | None:
        """Mark one backfill shard of ``revision`` done, and the segment ready when it was the last one, in
        one write conditional on the record read (a re-run or redefinition in between wins). Returns the
        segment when it became ready."""
        for _ in range(5):
            segment = self.get(segment_id)
            if segment is None or segment.revision != revision or shard not in segment.pending_shards:
                return None
            pending = tuple(s for s in segment.pending_shards if s != shard)
            done = segment.model_copy(update={"pending_shards": pending, "status": "computing" if pending else "ready"})
            item = {"pk": DEFINITIONS, "sk": f"SEG#{segment_id}", "segment": done.model_dump_json()}
            try:
                self.table.put(
                    item,
                    condition="#segment = :before",
                    names={"#segment": "segment"},
                    values={":before": segment.model_dump_json()},
                )
            except ConditionFailed:
                continue  # another shard finished at the same time: read again
            return done if not done.pending_shards else None
        raise StaleWrite(segment_id)

    def delete(self, segment_id: str) -> None:
        self.table.transact([Delete(key={"pk": DEFINITIONS, "sk": f"SEG#{segment_id}"}), self._bump()])

    @staticmethod
    def _bump() -> Action:
        return Update(key={"pk": DEFINITIONS, "sk": "VERSION"}, expression="ADD version :one", values={":one": 1})


class SegmentStateStore:
    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    def load(self, customer_id: str) -> StoredState:
        item = self.table.get(segment_state_key(customer_id), consistent=True)
        if item is None or "state" not in item:
            # No state computed yet (an item holding only ``members`` is not one): start from history.
            return StoredState(state=CustomerSegmentState(), version=0, defs_version=0)
        return StoredState(
            state=CustomerSegmentState.model_validate_json(item["state"]),
            version=int(item["version"]),
            defs_version=int(item.get("defs_version", 0)),
        )

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
        """Write the state (conditional on the version read), the member items and activities of the
        transitions, and the transitions' events on the state item — one transaction."""
        item: Item = {
            **segment_state_key(customer_id),
            "customer_id": customer_id,
            "state": state.model_dump_json(),
            "members": set(state.member_ids()) | set(state.static) or None,
            "version": expected_version + 1,
            "defs_version": defs_version,
        }
        if state.next_check_at is not None:
            item["gsi3pk"] = due_partition(customer_id)
            item["gsi3sk"] = f"{iso(state.next_check_at)}#{customer_id}"
        outbox.attach(item, list(events))
        condition = "attribute_not_exists(version)" if expected_version == 0 else "version = :expected"
        values = {} if expected_version == 0 else {":expected": expected_version}
        actions: list[Action] = [Put(item=item, condition=condition, values=values)]
        for change in changes:
            member_key = {"pk": f"SEG#{change.segment_id}", "sk": f"MEMBER#{customer_id}"}
            if change.entered:
                member: Item = {**member_key, "customer_id": customer_id, "since": iso(change.activity.created_at)}
                actions.append(Put(item=member))
            else:
                actions.append(Delete(key=member_key))
            activity_item: Item = {"pk": f"SEGACT#{change.activity.id}", "sk": "SEGACT"}
            activity_item.update(activity_attributes(customer_id, change.activity))
            actions.append(Put(item=activity_item))
        try:
            if len(actions) == 1:
                self.table.put(item, condition=condition, values=values or None)
            else:
                self.table.transact(actions)
        except (ConditionFailed, TransactionCancelled) as refused:
            if isinstance(refused, TransactionCancelled) and 0 not in refused.failed_at():
                raise
            raise StaleWrite(customer_id) from refused

    def due(self, shard: int, now: datetime, *, limit: int = 100) -> list[str]:
        """Customer ids whose next check is at or before ``now`` in one shard, earliest first."""
        page = self.table.query(
            "gsi3pk = :pk AND gsi3sk <= :now",
            {":pk": f"DUE#{shard:02d}", ":now": f"{iso(now)}#~"},
            index=GSI3,
            limit=limit,
        )
        return [str(item["customer_id"]) for item in page.items]

    def members(self, segment_id: str, *, after: str | None = None, limit: int = 100) -> tuple[list[Item], str | None]:
        values: dict[str, Any] = {":pk": f"SEG#{segment_id}", ":prefix": "MEMBER#"}
        condition = "pk = :pk AND begins_with(sk, :prefix)"
        page = self.table.query(
            condition, values, limit=limit, start={"pk": f"SEG#{segment_id}", "sk": after} if after else None
        )
        cursor = str(page.next_key["sk"]) if page.next_key else None
        return page.items, cursor

    def count(self, segment_id: str) -> int:
        return self.table.count(
            "pk = :pk AND begins_with(sk, :prefix)", {":pk": f"SEG#{segment_id}", ":prefix": "MEMBER#"}
        )

    def member_items(self, segment_id: str) -> Iterator[Item]:
        yield from self.table.query_all(
            "pk = :pk AND begins_with(sk, :prefix)", {":pk": f"SEG#{segment_id}", ":prefix": "MEMBER#"}
        )

    def forget_segment(self, segment_id: str, customer_id: str) -> None:
        """Drop a deleted segment's member item and its id from the customer's ``members``."""
        self.table.delete({"pk": f"SEG#{segment_id}", "sk": f"MEMBER#{customer_id}"})
        with suppress(ConditionFailed):  # no state item: nothing lists the segment
            self.table.update(
                segment_state_key(customer_id),
                "DELETE members :segment",
                values={":segment": {segment_id}},
                condition="attribute_exists(pk)",
            )


class CustomerHistorySource:
    """What segments read about a customer beyond their own state: profile, history, the listing."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def profile(self, customer_id: str) -> dict[str, Any] | None:
        customer = self.customers.get(customer_id)
        return customer.snapshot() if customer else None

    def history(self, customer_id: str) -> list[Activity]:
        return self.customers.history(customer_id)

    def page(self, shard: int, *, after: str | None = None, limit: int = 100) -> tuple[list[str], str | None]:
        customers, cursor = self.customers.page(shard, after=after, limit=limit)
        return [customer.id for customer in customers], cursor

"""Ingest: tracking messages in, customers, activities and the event schema updated, events announced.

Per request: validate every message; read every customer the batch can touch in one BatchGetItem; record
each message as one atomic write whose conditional put of the message record is the replay guard (no
separate dedupe table or lookup); update the schema registry once per distinct event name. Messages of
different customers are written in parallel; messages of one customer keep their order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perkflow.domain.customers import Customer
from perkflow.domain.event_schema import SchemaDelta
from perkflow.domain.recording import (
    Recording,
    StaleCustomers,
    customers_to_load,
    record,
    touched_customer_ids,
)
from perkflow.domain.tracking import Message, Rejection, parse_message
from perkflow.services.ports import Customers, EventSchemas

MAX_ATTEMPTS = 5


@dataclass
class IngestResult:
    rejected: list[Rejection] = field(default_factory=list)
    stored: list[Recording] = field(default_factory=list)
    replayed: list[Message] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.stored) + len(self.replayed)


class IngestService:
    def __init__(
        self, customers: Customers, schemas: EventSchemas, clock: Callable[[], datetime], parallelism: int = 8
    ) -> None:
        self.customers = customers
        self.schemas = schemas
        self.clock = clock
        self.parallelism = parallelism

    def ingest(
        self, raw_messages: Sequence[Any], *, kind: str | None = None, envelope: dict[str, Any] | None = None
    ) -> IngestResult:
        received_at = self.clock()
        result = IngestResult()
        messages: list[Message] = []
        for index, raw in enumerate(raw_messages):
            parsed = parse_message(raw, index, received_at=received_at, kind=kind, envelope=envelope)
            if isinstance(parsed, Rejection):
                result.rejected.append(parsed)
            else:
                messages.append(parsed)
        if not messages:
            return result

        known: dict[str, Customer | None] = {}
        self._load(messages, known)
        outcomes = self._record_in_groups(messages, known, received_at)
        for message, recording in outcomes:
            if recording is None:
                result.replayed.append(message)
            else:
                result.stored.append(recording)

        delta = SchemaDelta()
        for recording in result.stored:
            recorded = recording.recorded_event
            if recorded is not None:
                delta.add(recorded.name, recorded.properties)
        if delta.events:
            self.schemas.add(delta, received_at)
        return result

    def _load(
        self, messages: Sequence[Message], known: dict[str, Customer | None], *, consistent: bool = False
    ) -> None:
        # Merges point from one customer to another; each round follows one more hop.
        for _ in range(MAX_ATTEMPTS):
            needed = set().union(*(customers_to_load(message, known) for message in messages))
            if not needed:
                return
            known.update(self.customers.load(needed, consistent=consistent))

    def _record_in_groups(
        self, messages: list[Message], known: dict[str, Customer | None], received_at: datetime
    ) -> list[tuple[Message, Recording | None]]:
        groups = _group_by_customers(messages, known)
        if len(groups) == 1 or self.parallelism <= 1:
            return [pair for group in groups for pair in self._record_group(group, known, received_at)]
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(groups))) as pool:
            results = list(pool.map(lambda group: self._record_group(group, known, received_at), groups))
        ordered = [pair for group in results for pair in group]
        ordered.sort(key=lambda pair: pair[0].index)
        return ordered

    def _record_group(
        self, group: list[Message], known: dict[str, Customer | None], received_at: datetime
    ) -> list[tuple[Message, Recording | None]]:
        """Record one customer's messages in order. Groups share no customer, so ``known`` entries written
        here are never written by another thread."""
        outcomes: list[tuple[Message, Recording | None]] = []
        for message in group:
            outcomes.append((message, self._record_one(message, known, received_at)))
        return outcomes

    def _record_one(
        self, message: Message, known: dict[str, Customer | None], received_at: datetime
    ) -> Recording | None:
        for _ in range(MAX_ATTEMPTS):
            recording = record(message, known, received_at)
            try:
                stored = self.customers.save(recording)
            except StaleCustomers as stale:
                # Another request changed these customers: read them again (strongly) and re-record.
                known.update(self.customers.load(stale.customer_ids, consistent=True))
                self._load([message], known, consistent=True)
                continue
            if not stored:
                return None
            for write in recording.customer_writes:
                known[write.customer.id] = write.customer
            return recording
        raise RuntimeError(f"message {message.message_id} kept meeting concurrent changes")


def _group_by_customers(messages: list[Message], known: dict[str, Customer | None]) -> list[list[Message]]:
    """Messages that touch a common customer (directly or through a merge) form one ordered group."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    anchors: list[str] = []
    for message in messages:
        ids = touched_customer_ids(message, known)
        anchors.append(ids[0])
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    groups: dict[str, list[Message]] = {}
    for message, anchor in zip(messages, anchors, strict=True):
        groups.setdefault(find(anchor), []).append(message)
    return list(groups.values())

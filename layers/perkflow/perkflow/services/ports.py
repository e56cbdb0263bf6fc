"""What services need from the outside world, as structural types the adapters satisfy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from perkflow.domain.activities import Activity
from perkflow.domain.customers import Customer
from perkflow.domain.event_schema import EventSchema, SchemaDelta
from perkflow.domain.events import OutboxEntry
from perkflow.domain.recording import Recording


class EventPublisher(Protocol):
    def publish(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """Publish; return the entries that could not be published."""
        ...


class Customers(Protocol):
    def load(self, customer_ids: Iterable[str], *, consistent: bool = False) -> dict[str, Customer | None]: ...

    def get(self, customer_id: str) -> Customer | None: ...

    def summary(self, customer_id: str) -> dict[str, Any]: ...

    def loyalty_memberships(self, customer_id: str) -> list[dict[str, Any]]: ...

    def delete(self, customer_id: str) -> None: ...

    def save(self, recording: Recording) -> bool:
        """Store atomically; False if the message was stored before; StaleCustomers on a version clash."""
        ...

    def activities(
        self,
        customer_ids: Sequence[str],
        *,
        limit: int,
        newest_first: bool,
        after_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[list[Activity], bool]: ...


class EventSchemas(Protocol):
    def add(self, delta: SchemaDelta, seen_at: datetime) -> None: ...

    def list(self) -> list[EventSchema]: ...

    def get(self, event: str) -> EventSchema | None: ...


class SegmentMemberships(Protocol):
    def segment_ids(self, customer_id: str) -> set[str]:
        """Ids of every segment the customer is in now (empty for an unknown customer)."""
        ...

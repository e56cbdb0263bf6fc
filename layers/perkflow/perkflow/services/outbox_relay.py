"""Relays stored changes to the bus: the second half of the outbox (see perkflow.adapters.outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from perkflow.domain.events import OutboxEntry
from perkflow.services.ports import EventPublisher


@dataclass(frozen=True)
class StoredChange:
    """One stream record: its position and the events it added."""

    sequence_number: str
    entries: list[OutboxEntry]


def relay(changes: Sequence[StoredChange], publisher: EventPublisher) -> str | None:
    """Publish the events of ``changes`` in order.

    Returns the sequence number of the first change with an unpublished event (the stream then retries from
    there, re-sending later events, which consumers dedupe), or None when everything was published.
    """
    entries = [entry for change in changes for entry in change.entries]
    if not entries:
        return None
    failed = {entry.event_id for entry in publisher.publish(entries)}
    for change in changes:
        if any(entry.event_id in failed for entry in change.entries):
            return change.sequence_number
    return None

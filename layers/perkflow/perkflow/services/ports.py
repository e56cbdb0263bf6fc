"""What services need from the outside world, as structural types the adapters satisfy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from perkflow.domain.events import OutboxEntry


class EventPublisher(Protocol):
    def publish(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """Publish; return the entries that could not be published."""
        ...

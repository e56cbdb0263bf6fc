"""Puts outbox entries on the perkflow bus in chunks (10 entries, 256 KB), retrying failed entries."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from perkflow.adapters import aws
from perkflow.domain.events import OutboxEntry

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

_MAX_ENTRIES = 10
_MAX_BYTES = 256 * 1024


class EventBus:
    def __init__(self, name: str, client: EventBridgeClient | None = None, attempts: int = 3) -> None:
        self.name = name
        self._client = client
        self.attempts = attempts

    @property
    def client(self) -> EventBridgeClient:
        if self._client is None:
            self._client = aws.events()
        return self._client

    def publish(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """Publish all entries; returns those that still failed after the retries (empty: all published)."""
        failed: list[OutboxEntry] = []
        for chunk in self._chunks(entries):
            pending = chunk
            for attempt in range(self.attempts):
                pending = self._put(pending)
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)
            failed.extend(pending)
        return failed

    def _put(self, entries: list[OutboxEntry]) -> list[OutboxEntry]:
        request: list[Any] = [
            {
                "Source": entry.source,
                "DetailType": entry.detail_type,
                "Detail": json.dumps(entry.detail, separators=(",", ":")),
                "EventBusName": self.name,
            }
            for entry in entries
        ]
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.put_events(Entries=request)
        except (BotoCoreError, ClientError):
            # The whole call failed: every entry is still unpublished and goes back to the caller.
            return entries
        if not response.get("FailedEntryCount"):
            return []
        return [entry for entry, result in zip(entries, response["Entries"], strict=False) if result.get("ErrorCode")]

    @staticmethod
    def _chunks(entries: Sequence[OutboxEntry]) -> list[list[OutboxEntry]]:
        chunks: list[list[OutboxEntry]] = []
        current: list[OutboxEntry] = []
        size = 0
        for entry in entries:
            entry_size = len(json.dumps(entry.detail)) + len(entry.detail_type) + len(entry.source)
            if current and (len(current) == _MAX_ENTRIES or size + entry_size > _MAX_BYTES):
                chunks.append(current)
                current, size = [], 0
            current.append(entry)
            size += entry_size
        if current:
            chunks.append(current)
        return chunks

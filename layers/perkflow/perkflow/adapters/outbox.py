"""The outbox rides on the changed item itself.

A domain write stores its events in the item's ``outbox`` attribute (a JSON string) in the same
PutItem/UpdateItem/TransactWriteItems as the change, so an event exists exactly when its change was stored
and costs no extra item. The table stream (NEW_AND_OLD_IMAGES, filtered to images that carry an outbox)
delivers the change to the relay, which publishes the entries whose event ids were not already in the old
image. Stream delivery is at-least-once, so consumers dedupe on ``event_id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from perkflow.domain.events import OutboxEntry

OUTBOX_ATTRIBUTE = "outbox"


def encode(entries: Sequence[OutboxEntry]) -> str:
    return json.dumps([entry.model_dump(mode="json") for entry in entries], separators=(",", ":"))


def attach(item: dict[str, Any], entries: Sequence[OutboxEntry]) -> dict[str, Any]:
    """The item with its events attached (no attribute when there are none)."""
    if entries:
        item[OUTBOX_ATTRIBUTE] = encode(entries)
    return item


def read(image: Mapping[str, Any] | None) -> list[OutboxEntry]:
    raw = (image or {}).get(OUTBOX_ATTRIBUTE)
    if not raw:
        return []
    return [OutboxEntry.model_validate(entry) for entry in json.loads(str(raw))]


def new_entries(new_image: Mapping[str, Any] | None, old_image: Mapping[str, Any] | None) -> list[OutboxEntry]:
    """Entries of the new image that the old image did not already carry (those were published before)."""
    seen = {entry.event_id for entry in read(old_image)}
    return [entry for entry in read(new_image) if entry.event_id not in seen]

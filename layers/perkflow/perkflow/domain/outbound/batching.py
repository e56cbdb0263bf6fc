"""Packing messages into requests within each service's documented limits.

- Segment ``/v1/batch`` (reference/segment.md §2.3): 32 KB per message, 500 KB per request, 2,500 messages.
  perkflow stays under the SDKs' own margins (475,000 bytes per request).
- Klaviyo ``/api/event-bulk-create-jobs`` (reference/klaviyo_smile.md §2): up to 1,000 events, 5 MB; each
  element groups one profile with its events; a ``unique_id`` repeated for the same profile and metric fails
  the whole request, so duplicates are removed before packing.
- Klaviyo ``/api/profile-bulk-import-jobs`` (§3): up to 10,000 profiles, 5 MB, 100 KB per profile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

SEGMENT_MAX_MESSAGE_BYTES = 32 * 1024
SEGMENT_MAX_REQUEST_BYTES = 475_000
SEGMENT_MAX_MESSAGES = 2500

KLAVIYO_BULK_MAX_EVENTS = 1000
KLAVIYO_MAX_REQUEST_BYTES = 5 * 1024 * 1024 - 64 * 1024  # a margin for the envelope
KLAVIYO_BULK_MAX_PROFILES = 10_000
KLAVIYO_MAX_PROFILE_BYTES = 100 * 1024

T = TypeVar("T")


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


@dataclass
class Packed(Generic[T]):
    """Requests' worth of items, and the items that can never fit one request on their own."""

    chunks: list[list[T]] = field(default_factory=list)
    oversize: list[T] = field(default_factory=list)


def pack(
    items: Sequence[T],
    *,
    size: Callable[[T], int],
    max_item_bytes: int,
    max_request_bytes: int,
    max_items: int,
    overhead: int = 64,
) -> Packed[T]:
    """Greedy packing in order; ``overhead`` is the envelope around the items (brackets, commas, keys)."""
    packed: Packed[T] = Packed()
    current: list[T] = []
    used = overhead
    for item in items:
        item_size = size(item)
        if item_size > max_item_bytes:
            packed.oversize.append(item)
            continue
        if current and (len(current) >= max_items or used + item_size + 1 > max_request_bytes):
            packed.chunks.append(current)
            current, used = [], overhead
        current.append(item)
        used += item_size + 1
    if current:
        packed.chunks.append(current)
    return packed


def segment_batches(messages: Sequence[dict[str, Any]]) -> Packed[dict[str, Any]]:
    return pack(
        messages,
        size=json_size,
        max_item_bytes=SEGMENT_MAX_MESSAGE_BYTES,
        max_request_bytes=SEGMENT_MAX_REQUEST_BYTES,
        max_items=SEGMENT_MAX_MESSAGES,
        overhead=256,
    )


def _profile_key(profile: dict[str, Any]) -> str:
    attributes = profile.get("attributes", {})
    return json.dumps([attributes.get("email"), attributes.get("external_id")])


def without_duplicate_unique_ids(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``event`` resources minus later repeats of a (profile, metric, unique_id): Klaviyo keeps only the first
    anyway, and inside a bulk request a repeat would fail every event of it."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for event in events:
        attributes = event["attributes"]
        key = (
            _profile_key(attributes["profile"]["data"]),
            str(attributes["metric"]["data"]["attributes"]["name"]),
            str(attributes.get("unique_id")),
        )
        if key in seen:
            continue
        seen.add(key)
        kept.append(event)
    return kept


def klaviyo_bulk_body(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One event-bulk-create-job from ``event`` resources: one element per profile with its events."""
    groups: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for event in events:
        attributes = dict(event["attributes"])
        profile = attributes.pop("profile")["data"]
        key = _profile_key(profile)
        if key not in groups:
            groups[key] = (profile, [])
        else:
            # The newest properties win: later events of a batch carry the later state.
            stored = groups[key][0]
            merged = {**stored["attributes"].get("properties", {}), **profile["attributes"].get("properties", {})}
            if merged:
                stored["attributes"] = {**stored["attributes"], "properties": merged}
        groups[key][1].append({"type": "event", "attributes": attributes})
    elements = [
        {
            "type": "event-bulk-create",
            "attributes": {"profile": {"data": profile}, "events": {"data": profile_events}},
        }
        for profile, profile_events in groups.values()
    ]
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {"events-bulk-create": {"data": elements}},
        }
    }


def klaviyo_event_chunks(events: Sequence[dict[str, Any]], max_events: int) -> Packed[dict[str, Any]]:
    return pack(
        events,
        size=json_size,
        max_item_bytes=100 * 1024,
        max_request_bytes=KLAVIYO_MAX_REQUEST_BYTES,
        max_items=max(1, min(max_events, KLAVIYO_BULK_MAX_EVENTS)),
    )


def klaviyo_profile_import_body(profiles: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": list(profiles)}},
        }
    }


def klaviyo_profile_chunks(profiles: Sequence[dict[str, Any]]) -> Packed[dict[str, Any]]:
    return pack(
        profiles,
        size=json_size,
        max_item_bytes=KLAVIYO_MAX_PROFILE_BYTES,
        max_request_bytes=KLAVIYO_MAX_REQUEST_BYTES,
        max_items=KLAVIYO_BULK_MAX_PROFILES,
    )

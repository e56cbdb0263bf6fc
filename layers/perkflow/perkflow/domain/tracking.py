"""Segment Tracking API messages: validation, identity, timestamp correction (reference/segment.md §1-2).

A raw message (a JSON object from ``/v1/batch`` or a single-type path) becomes a :class:`Message`, or a
:class:`Rejection` with one of the entry keys of DESIGN §6. Nothing here touches storage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from perkflow.domain.ids import new_id
from perkflow.domain.timeutil import parse_iso

MAX_MESSAGE_BYTES = 32_768
MAX_BATCH_BYTES = 512_000
MAX_MESSAGE_ID_LENGTH = 100
KINDS = ("identify", "track", "page", "screen", "group", "alias")
Kind = Literal["identify", "track", "page", "screen", "group", "alias"]
RejectionKey = Literal["missing_identity", "invalid_type", "message_too_large", "invalid_message"]


@dataclass(frozen=True)
class Rejection:
    index: int
    message_id: str | None
    key: RejectionKey
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "messageId": self.message_id,
            "code": 400,
            "key": self.key,
            "message": self.message,
        }


@dataclass(frozen=True)
class Message:
    """A valid message, identities normalised to strings, ``timestamp`` corrected for client clock skew."""

    index: int
    kind: Kind
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    event: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    previous_id: str | None = None
    group_id: str | None = None
    # False when the sender gave no messageId: such a message is never a replay of another.
    deduplicated: bool = True

    @property
    def recorded_event_name(self) -> str | None:
        """The custom event name a track/page/screen is recorded under (None for the others)."""
        if self.kind == "track":
            return self.event
        if self.kind in ("page", "screen"):
            name = self.event or self.properties.get("name")
            label = "Page" if self.kind == "page" else "Screen"
            # As Segment's Voucherify destination names them: "Viewed {{name}} Page|Screen".
            return f"Viewed {name} {label}" if name else f"Viewed {label}"
        return None


class _Invalid(Exception):
    def __init__(self, key: RejectionKey, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def message_size(raw: Any) -> int:
    """Bytes of the message as compact JSON (what the SDKs measure against the 32 KB limit)."""
    return len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())


def parse_message(
    raw: Any,
    index: int,
    *,
    received_at: datetime,
    kind: str | None = None,
    envelope: dict[str, Any] | None = None,
) -> Message | Rejection:
    """Validate one message. ``kind`` comes from the path for single-type endpoints; ``envelope`` is the
    batch body, whose ``context``, ``integrations`` and ``sentAt`` apply to every item (Segment semantics)."""
    message_id = raw.get("messageId") if isinstance(raw, dict) else None
    shown_id = message_id if isinstance(message_id, str) else None
    try:
        if not isinstance(raw, dict):
            raise _Invalid("invalid_message", "a message must be a JSON object")
        if message_size(raw) > MAX_MESSAGE_BYTES:
            raise _Invalid("message_too_large", f"message is over {MAX_MESSAGE_BYTES} bytes")
        return _parse(raw, index, received_at=received_at, kind=kind, envelope=envelope or {})
    except _Invalid as invalid:
        return Rejection(index=index, message_id=shown_id, key=invalid.key, message=invalid.message)


def _parse(
    raw: dict[str, Any], index: int, *, received_at: datetime, kind: str | None, envelope: dict[str, Any]
) -> Message:
    message_kind = kind or raw.get("type")
    if not isinstance(message_kind, str) or message_kind not in KINDS:
        raise _Invalid("invalid_message", f"type must be one of {', '.join(KINDS)}")
    user_id = _identity(raw, "userId")
    anonymous_id = _identity(raw, "anonymousId")
    if message_kind != "alias" and user_id is None and anonymous_id is None:
        raise _Invalid("missing_identity", "userId or anonymousId is required")

    message_id = raw.get("messageId")
    if message_id is not None and not isinstance(message_id, str):
        raise _Invalid("invalid_type", "messageId must be a string")
    if isinstance(message_id, str) and len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise _Invalid("invalid_message", f"messageId is over {MAX_MESSAGE_ID_LENGTH} characters")

    context = {**_object(envelope, "context"), **_object(raw, "context")}
    properties = _object(raw, "properties")
    traits = _object(raw, "traits")
    event: str | None = None
    previous_id: str | None = None
    group_id: str | None = None
    if message_kind == "track":
        event = raw.get("event")
        if event is None or event == "":
            raise _Invalid("invalid_message", "track needs an event name")
        if not isinstance(event, str):
            raise _Invalid("invalid_type", "event must be a string")
    elif message_kind in ("page", "screen"):
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise _Invalid("invalid_type", "name must be a string")
        event = name or None
    elif message_kind == "alias":
        previous_id = _identity(raw, "previousId")
        if user_id is None or previous_id is None:
            raise _Invalid("missing_identity", "alias needs userId and previousId")
    elif message_kind == "group":
        group_id = _identity(raw, "groupId")
        if group_id is None:
            raise _Invalid("invalid_message", "group needs a groupId")

    return Message(
        index=index,
        kind=message_kind,  # type: ignore[arg-type]
        message_id=message_id or new_id("msg_"),
        user_id=user_id,
        anonymous_id=anonymous_id,
        timestamp=corrected_timestamp(raw, envelope, received_at),
        event=event,
        properties=properties,
        traits=traits,
        context=context,
        previous_id=previous_id,
        group_id=group_id,
        deduplicated=message_id is not None,
    )


def _identity(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    # Numbers are common user ids in shops' databases; Segment stores them as strings too.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid("invalid_type", f"{name} must be a string")
    return str(value)


def _object(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid("invalid_type", f"{name} must be an object")
    return value


def _instant(raw: dict[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid("invalid_type", f"{name} must be an ISO-8601 string")
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise _Invalid("invalid_type", f"{name} is not an ISO-8601 timestamp") from exc


def corrected_timestamp(raw: dict[str, Any], envelope: dict[str, Any], received_at: datetime) -> datetime:
    """Segment's skew correction: ``timestamp = receivedAt - (sentAt - originalTimestamp)``.

    A server library's ``timestamp`` is the original timestamp; ``sentAt`` falls back to the batch
    envelope's. Without a sent time the original timestamp is kept; without either, the receipt time.
    """
    original = _instant(raw, "originalTimestamp") or _instant(raw, "timestamp")
    sent = _instant(raw, "sentAt") or _instant(envelope, "sentAt")
    if original is None:
        return received_at
    if sent is None:
        return original
    return received_at - (sent - original)

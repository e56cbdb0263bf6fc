"""Helpers for the segment tests: building definitions, and a customer that checks itself against the reference."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from perkflow.domain.segments import (
    CustomerSegmentState,
    Occurrence,
    Outcome,
    SegmentDefinition,
    SegmentSet,
    apply_event,
    apply_profile,
    evaluate_history,
    initial_state,
    parse_segment,
    set_static_membership,
    sweep,
)

T0 = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def segment(segment_id: str, root: dict[str, Any], kind: str = "auto-update") -> SegmentDefinition:
    return parse_segment({"id": segment_id, "type": kind, "root": root})


def count(event: str, op: str, value: int, window: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "event_count", "event": event, "window": window or {"kind": "all_time"}, "op": op,
            "value": value, **extra}  # fmt: skip


def sliding(days: float) -> dict[str, Any]:
    return {"kind": "sliding", "seconds": int(days * 86_400)}


def trait(path: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node = {"type": "trait", "path": path, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


class Customer:
    """One customer driven through the engine; after every call the membership must equal the reference."""

    def __init__(
        self,
        definitions: Iterable[SegmentDefinition],
        profile: dict[str, Any] | None = None,
        now: datetime = T0,
        history: list[Occurrence] | None = None,
    ) -> None:
        self.segments = SegmentSet(definitions)
        self.profile = dict(profile or {})
        self.history = list(history or [])
        self.static: set[str] = set()
        self.now = now
        self.state: CustomerSegmentState = initial_state(self.segments, self.history, self.profile, now)
        self._serial = 0
        self._check()

    @property
    def members(self) -> frozenset[str]:
        return self.state.member_ids()

    def event(self, name: str, at: datetime | None = None, event_id: str | None = None, **props: Any) -> Outcome:
        self._serial += 1
        occurrence = Occurrence(
            event_id=event_id or f"evt_{self._serial}", name=name, timestamp=at or self.now, properties=props
        )
        return self.deliver(occurrence)

    def deliver(self, occurrence: Occurrence) -> Outcome:
        self.history.append(occurrence)
        return self._take(apply_event(self.segments, self.state, occurrence, self.now))

    def update_profile(self, **changes: Any) -> Outcome:
        self.profile = {**self.profile, **changes}
        return self._take(apply_profile(self.segments, self.state, self.profile, self.now))

    def list_in_static(self, segment_id: str, member: bool) -> Outcome:
        self.static = (self.static | {segment_id}) if member else (self.static - {segment_id})
        return self._take(set_static_membership(self.segments, self.state, segment_id, member, self.now))

    def sweep(self, at: datetime) -> Outcome:
        self.now = at
        return self._take(sweep(self.segments, self.state, at))

    def _take(self, outcome: Outcome) -> Outcome:
        before = self.state.member_ids()
        self.state = outcome.state
        entered = {t.segment_id for t in outcome.transitions if t.kind == "entered"}
        left = {t.segment_id for t in outcome.transitions if t.kind == "left"}
        assert entered == self.members - before
        assert left == before - self.members
        self._check()
        return outcome

    def _check(self) -> None:
        expected = evaluate_history(self.segments, self.history, self.profile, self.now, self.static)
        assert self.members == expected


def kinds(outcome: Outcome) -> list[tuple[str, str]]:
    return [(t.kind, t.segment_id) for t in outcome.transitions]

"""The one source of "now" for every function.

In Lambda this is the system clock in UTC. The local stack can freeze or shift it per invocation (DESIGN §6
``/_local/clock``) through :func:`set_local_clock`, so time-driven behaviour (windows, expiry, schedules) is
testable end to end without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class LocalClock:
    """A frozen instant, or an offset from real time (both None: real time)."""

    frozen_at: datetime | None = None
    offset_seconds: float = 0.0

    def now(self) -> datetime:
        if self.frozen_at is not None:
            return self.frozen_at
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def to_json(self) -> dict[str, object]:
        return {
            "frozen_at": self.frozen_at.isoformat() if self.frozen_at else None,
            "offset_seconds": self.offset_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LocalClock:
        frozen = data.get("frozen_at")
        offset = data.get("offset_seconds") or 0.0
        return cls(
            frozen_at=datetime.fromisoformat(str(frozen)) if frozen else None,
            offset_seconds=float(offset),  # type: ignore[arg-type]
        )


_local: LocalClock | None = None


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    if _local is not None:
        return _local.now()
    return datetime.now(UTC)


def set_local_clock(clock: LocalClock | None) -> None:
    """Used only by the local stack's workers before each invocation."""
    global _local
    _local = clock

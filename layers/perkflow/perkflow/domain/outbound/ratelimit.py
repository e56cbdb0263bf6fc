"""Rate-limit arithmetic: Klaviyo's tiers (burst per second, steady per minute, fixed windows) turned into a
generic cell rate algorithm (GCRA) that several containers share through one stored "theoretical arrival
time" (TAT).

For an emission interval T and a tolerance of b units, GCRA lets at most w/T + b + c units start in any window
of w seconds (c: the largest single request). Choosing T = (60 + d) / (steady - b - c) keeps every 60-second
window (the server's fixed windows included, whatever their phase) under the steady limit even when requests
arrive up to d seconds late, and b + c small keeps every second under the burst limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
ARRIVAL_JITTER_SECONDS = 1.0


@dataclass(frozen=True)
class Limit:
    count: int
    per_seconds: float

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``"350/s"``, ``"3500/m"`` (the spec's x-klaviyo-ratelimit values)."""
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"not a rate: {text!r}")
        return cls(int(match.group(1)), _UNIT_SECONDS[match.group(2)])


@dataclass(frozen=True)
class Pacing:
    interval: float  # T: seconds per unit
    tolerance: float  # tau = b * T
    max_cost: int  # the most units one request may carry


def pacing(burst: Limit, steady: Limit, *, max_cost: int = 1) -> Pacing:
    """GCRA parameters that respect both limits (see the module docstring)."""
    b = max(0, min(burst.count // 5, steady.count // 20))
    c = max(1, min(max_cost, max(1, burst.count // 5), steady.count // 4))
    steady_room = max(1, steady.count - b - c)
    burst_room = max(1, burst.count - b - c)
    interval = max(
        (steady.per_seconds + ARRIVAL_JITTER_SECONDS) / steady_room,
        (burst.per_seconds + ARRIVAL_JITTER_SECONDS) / burst_room,
    )
    return Pacing(interval=interval, tolerance=b * interval, max_cost=c)


@dataclass(frozen=True)
class Reservation:
    send_at: float  # when the request may go (epoch seconds)
    new_tat: float


def reserve(tat: float | None, now: float, cost: int, rule: Pacing, horizon: float) -> Reservation | None:
    """Book ``cost`` units; None when the request could not go within ``horizon`` seconds."""
    start = max(tat if tat is not None else now, now)
    send_at = max(now, start - rule.tolerance)
    if send_at - now > horizon:
        return None
    return Reservation(send_at=send_at, new_tat=start + cost * rule.interval)


def hold(tat: float | None, now: float, seconds: float, rule: Pacing) -> float:
    """The TAT after a 429 with ``Retry-After: seconds``: nobody sends before then."""
    held = now + seconds + rule.tolerance
    return max(tat or 0.0, held)

"""Fixed-window rate limits as Klaviyo enforces them: a burst window of 1 s and a steady window of 1 min per
scope; over either, 429 with ``Retry-After`` (whole seconds) and no RateLimit-* headers; under, the
RateLimit-Limit / -Remaining / -Reset headers of the steady window."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    burst: int  # per second
    steady: int  # per minute


@dataclass
class _Window:
    start: float
    used: int = 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0
    headers: dict[str, str] | None = None


class FixedWindows:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._origin = clock()
        self._windows: dict[tuple[str, float], _Window] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._origin = self.clock()
            self._windows.clear()

    def _window(self, scope: str, length: float, now: float) -> _Window:
        start = self._origin + math.floor((now - self._origin) / length) * length
        window = self._windows.get((scope, length))
        if window is None or window.start != start:
            window = _Window(start)
            self._windows[(scope, length)] = window
        return window

    def take(self, charges: list[tuple[str, Tier, int]]) -> Decision:
        """Count each ``(scope, tier, cost)`` if every window of every scope has room (else count nothing).
        The headers describe the first scope's steady window."""
        with self._lock:
            now = self.clock()
            windows = []
            for scope, tier, cost in charges:
                second = self._window(scope, 1.0, now)
                minute = self._window(scope, 60.0, now)
                if minute.used + cost > tier.steady:
                    return Decision(False, max(1, math.ceil(minute.start + 60.0 - now)))
                if second.used + cost > tier.burst:
                    return Decision(False, max(1, math.ceil(second.start + 1.0 - now)))
                windows.append((second, minute, tier, cost))
            for second, minute, _, cost in windows:
                second.used += cost
                minute.used += cost
            if not windows:
                return Decision(True, headers={})
            _, minute, tier, _ = windows[0]
            headers = {
                "RateLimit-Limit": str(tier.steady),
                "RateLimit-Remaining": str(tier.steady - minute.used),
                "RateLimit-Reset": str(max(1, math.ceil(minute.start + 60.0 - now))),
            }
            return Decision(True, headers=headers)

"""The stack's clock: one LocalClock state that every invocation carries to its worker.

``POST /_local/clock``: ``{"now": ISO-8601}`` freezes it there, ``{"advance_seconds": N}`` moves it (the
frozen instant, or the offset from real time), ``{}`` returns to real time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from perkflow.clock import LocalClock
from perkflow.domain.timeutil import iso, parse_iso


class StackClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = LocalClock()

    def current(self) -> LocalClock:
        with self._lock:
            return self._state

    def update(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a /_local/clock body; raises ValueError on a malformed one."""
        unknown = set(body) - {"now", "advance_seconds"}
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        with self._lock:
            if not body:
                self._state = LocalClock()
            if "now" in body:
                self._state = LocalClock(frozen_at=parse_iso(str(body["now"])))
            if "advance_seconds" in body:
                seconds = body["advance_seconds"]
                if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                    raise ValueError("advance_seconds must be a number")
                state = self._state
                if state.frozen_at is not None:
                    self._state = LocalClock(frozen_at=state.frozen_at + timedelta(seconds=seconds))
                else:
                    self._state = LocalClock(offset_seconds=state.offset_seconds + seconds)
        return self.describe()

    def describe(self) -> dict[str, Any]:
        state = self.current()
        return {"now": iso(state.now()), "frozen": state.frozen_at is not None}

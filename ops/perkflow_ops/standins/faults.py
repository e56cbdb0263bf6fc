"""Faults a stand-in injects on request (``POST /_standin/faults``), so tests can prove perkflow's retries.

    {"every": 3, "kinds": ["429", "500", "timeout"]}   the 1st, 4th, 7th ... API request fails, kinds in turn
    {"rate": 0.33, "seed": 7, "kinds": [...]}            a seeded random third
    {"fail_matching": "<text>", "status": 400}           a permanent refusal of bodies containing the text
    {"limit": 5}                                          at most 5 faults, then none
    {"latency_seconds": 0.5}                              every API request answered half a second later
    {}                                                    no faults

Kinds: "429" (with ``Retry-After: retry_after``), "500", "502", "503", "504", "timeout" (the request is
processed and accepted, but the answer comes only after ``stall_seconds``, past the client's timeout: the retry
that follows must not double anything), "reset" (the connection is closed without an answer).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("429", "500", "502", "503", "504", "timeout", "reset")


@dataclass
class FaultPlan:
    every: int = 0
    rate: float = 0.0
    kinds: list[str] = field(default_factory=lambda: ["500"])
    retry_after: float = 1.0
    stall_seconds: float = 3.0
    limit: int | None = None
    paths: list[str] = field(default_factory=list)  # only these paths (prefixes); empty: every API path
    fail_matching: str | None = None
    status: int = 400
    seed: int | None = None
    latency_seconds: float = 0.0  # every API request is answered this much later (a slow service)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultPlan:
        plan = cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})
        unknown = [kind for kind in plan.kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {list(KINDS)}")
        return plan


class Faults:
    def __init__(self) -> None:
        self._plan = FaultPlan(kinds=[])
        self._lock = threading.Lock()
        self._seen = 0
        self._injected = 0
        self._random = random.Random()

    def configure(self, data: dict[str, Any]) -> dict[str, Any]:
        plan = FaultPlan.from_json({"kinds": [], **data}) if data else FaultPlan(kinds=[])
        with self._lock:
            self._plan = plan
            self._seen = 0
            self._injected = 0
            self._random = random.Random(plan.seed)
        return self.describe()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            plan = self._plan
            return {
                "every": plan.every,
                "rate": plan.rate,
                "kinds": plan.kinds,
                "retry_after": plan.retry_after,
                "stall_seconds": plan.stall_seconds,
                "limit": plan.limit,
                "paths": plan.paths,
                "fail_matching": plan.fail_matching,
                "latency_seconds": plan.latency_seconds,
                "injected": self._injected,
            }

    def permanent(self, body: bytes) -> int | None:
        """The status of a permanent refusal for this body, if the plan has one."""
        with self._lock:
            marker = self._plan.fail_matching
            status = self._plan.status
        return status if marker and marker.encode() in body else None

    def draw(self, path: str) -> str | None:
        """The fault for this request, or None."""
        with self._lock:
            plan = self._plan
            if not plan.kinds or (plan.limit is not None and self._injected >= plan.limit):
                return None
            if plan.paths and not any(path.startswith(prefix) for prefix in plan.paths):
                return None
            self._seen += 1
            # every N: the 1st, (N+1)th, (2N+1)th ... request, so that even a single request is hit once
            hit = (self._seen - 1) % plan.every == 0 if plan.every else self._random.random() < plan.rate
            if not hit:
                return None
            kind = plan.kinds[self._injected % len(plan.kinds)]
            self._injected += 1
            return kind

    @property
    def latency(self) -> float:
        with self._lock:
            return self._plan.latency_seconds

    @property
    def retry_after(self) -> float:
        with self._lock:
            return self._plan.retry_after

    @property
    def stall_seconds(self) -> float:
        with self._lock:
            return self._plan.stall_seconds

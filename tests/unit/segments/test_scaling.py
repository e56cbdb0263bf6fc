"""Work per call follows what the call touches, not how many segments are defined (reference/perf.md,
``segments_*_ratio_1000_defs``). Counted, never timed: the Python function calls one operation makes
(``sys.setprofile``) and the segments it evaluates, with 1 and with 1,000 irrelevant definitions."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any

import pytest

from perkflow.domain.segments import (
    CustomerSegmentState,
    Occurrence,
    Outcome,
    SegmentDefinition,
    SegmentSet,
    apply_event,
    apply_profile,
    engine,
    initial_state,
    set_static_membership,
    sweep,
)
from tests.unit.segments.support import DAY, T0, count, segment, sliding, trait

VIEWED = "Product Viewed"
RELEVANT = [
    # The bench's segment: every view changes its counter, nobody reaches the bar.
    segment("seg_window_shoppers", count(VIEWED, "gte", 1_000_000)),
    segment("seg_recent_viewers", count(VIEWED, "gte", 3, sliding(1))),
    segment("seg_gold", trait("metadata.plan", "eq", "gold"), kind="passive"),
    segment(
        "seg_gold_viewers",
        {
            "type": "and",
            "children": [
                {"type": "segment", "segment_id": "seg_recent_viewers"},
                {"type": "segment", "segment_id": "seg_gold"},
            ],
        },
    ),
]


def irrelevant(count_: int) -> list[SegmentDefinition]:
    """Every kind of condition, on events this customer never sends and traits it never has; the ``not``
    ones hold for everybody (so the customer is a member), some refer to others and to a static list."""
    all_time = {"kind": "all_time"}
    shapes: list[Callable[[int], dict[str, Any]]] = [
        lambda n: count(f"other_{n}", "gte", 1),
        lambda n: {"type": "not", "child": count(f"other_{n}", "gte", 1, sliding(7))},
        lambda n: {"type": "event_agg", "event": f"other_{n}", "property": "total", "agg": "sum",
                   "window": sliding(30), "op": "gte", "value": 100},
        lambda n: {"type": "last_event", "event": f"other_{n}", "within_seconds": 3600},
        lambda n: trait(f"metadata.other_{n}", "eq", "x"),
        lambda n: trait(f"other_{n}_at", "within_last", seconds=86_400),
        lambda n: {"type": "and", "children": [
            {"type": "segment", "segment_id": f"seg_other_{n - 6}"}, {"type": "segment", "segment_id": "seg_list"},
        ]},
        lambda n: {"type": "or", "children": [
            {"type": "event_agg", "event": f"other_{n}", "property": "sku", "agg": "count_distinct",
             "window": all_time, "op": "gte", "value": 2},
            {"type": "not", "child": trait(f"other_{n}_at", "before_last", seconds=60)},
        ]},
    ]  # fmt: skip
    return [segment(f"seg_other_{n}", shapes[n % len(shapes)](n)) for n in range(count_)]


@dataclass
class Work:
    calls: int = 0
    evaluated: list[str] = field(default_factory=list)


@contextmanager
def counted() -> Iterator[Work]:
    work = Work()
    original = engine._Run._evaluate_segment

    def evaluate(run: Any, segment_id: str) -> bool:
        work.evaluated.append(segment_id)
        return original(run, segment_id)

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event in ("call", "c_call"):
            work.calls += 1

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine._Run, "_evaluate_segment", evaluate)
        gc.disable()  # a collection may run finalizers or weakref callbacks of other tests' objects
        sys.setprofile(profile)
        try:
            yield work
        finally:
            sys.setprofile(None)
            gc.enable()


def viewed(n: int, sku: str = "SKU-1") -> Occurrence:
    return Occurrence(
        event_id=f"view_{n}", name=VIEWED, timestamp=T0 + n * timedelta(seconds=1), properties={"sku": sku}
    )


def run(others: int) -> tuple[SegmentSet, dict[str, tuple[Outcome, Work]]]:
    """One customer through the kinds of calls the segments function makes; each call's outcome and work."""
    segments = SegmentSet(RELEVANT + irrelevant(others))
    history = [viewed(n) for n in range(5)]
    state: CustomerSegmentState = initial_state(segments, history, {"metadata": {"plan": "silver"}}, T0)
    now = T0 + timedelta(seconds=10)
    for n in range(5, 10):
        state = apply_event(segments, state, viewed(n), now).state
    calls: dict[str, Callable[[CustomerSegmentState], Outcome]] = {
        "event": lambda state: apply_event(segments, state, viewed(10), now),
        "redelivered": lambda state: apply_event(segments, state, viewed(10), now),
        "profile": lambda state: apply_profile(segments, state, {"metadata": {"plan": "gold"}}, now),
        "another event": lambda state: apply_event(segments, state, viewed(11), now),
        "static": lambda state: set_static_membership(segments, state, "seg_vip_list", True, now),
        "sweep, nothing due": lambda state: sweep(segments, state, now + timedelta(hours=1)),
        "sweep, due": lambda state: sweep(segments, state, now + 2 * DAY),
    }
    done: dict[str, tuple[Outcome, Work]] = {}
    for name, call in calls.items():
        with counted() as work:
            outcome = call(state)
        done[name] = (outcome, work)
        state = outcome.state
    return segments, done


def test_work_per_call_does_not_grow_with_irrelevant_definitions() -> None:
    _, alone = run(1)
    many_segments, many = run(1000)
    blank = many_segments.blank_members()
    assert len(blank) > 100  # the customer is in every "not" of the irrelevant ones
    for name, (outcome, work) in alone.items():
        crowded, crowded_work = many[name]
        assert crowded_work.evaluated == work.evaluated, name
        assert crowded_work.calls == work.calls, name
        assert [(t.segment_id, t.kind) for t in crowded.transitions] == [
            (t.segment_id, t.kind) for t in outcome.transitions
        ]
        # The state holds the same conditions and timers: only the memberships of the "not" segments differ.
        assert crowded.state.features == outcome.state.features, name
        assert crowded.state.timers == outcome.state.timers, name
        assert crowded.state.member_ids() - blank == outcome.state.member_ids() - blank, name
    evaluated = {name: work.evaluated for name, (_, work) in alone.items()}
    assert evaluated == {
        "event": ["seg_recent_viewers", "seg_window_shoppers"],
        "redelivered": [],
        "profile": ["seg_gold", "seg_gold_viewers"],  # gold entered: what refers to it follows
        "another event": ["seg_recent_viewers", "seg_window_shoppers"],
        "static": [],
        "sweep, nothing due": [],
        "sweep, due": ["seg_recent_viewers", "seg_gold_viewers"],  # the views slid out of the day
    }
    assert [(t.segment_id, t.kind) for t in alone["sweep, due"][0].transitions] == [
        ("seg_recent_viewers", "left"),
        ("seg_gold_viewers", "left"),
    ]
    assert alone["event"][0].changed
    assert not alone["redelivered"][0].changed


def test_the_bench_state_is_the_same_item_with_1_or_1000_definitions() -> None:
    """The bench's shape: one relevant segment, 999 counting events nobody sends."""
    others = [segment(f"seg_bench{n:06d}", count(f"bench_event_{n}", "gte", 1)) for n in range(999)]
    states = []
    for definitions in ([RELEVANT[0]], [RELEVANT[0], *others]):
        segments = SegmentSet(definitions)
        state = initial_state(segments, [], {}, T0)
        for n in range(3):
            state = apply_event(segments, state, viewed(n), T0).state
        states.append(state)
    assert states[0].model_dump_json() == states[1].model_dump_json()

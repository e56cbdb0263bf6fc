"""Real-time segments, the pure part: the definition language, Voucherify filters, the incremental engine.

Modules: ``definition`` (the typed language and its limits), ``voucherify_filter`` (Voucherify filter JSON
-> definition), ``conditions`` (what a comparison, path or time operator means), ``features`` (per-leaf
state), ``compiled`` (:class:`SegmentSet`, the index), ``engine`` (per-customer state and the operations),
``reference`` (from-scratch evaluation over the full history).
"""

from perkflow.domain.segments.compiled import SegmentSet
from perkflow.domain.segments.definition import (
    Node,
    SegmentDefinition,
    parse_node,
    parse_segment,
    validate_references,
)
from perkflow.domain.segments.engine import (
    CustomerSegmentState,
    Occurrence,
    Outcome,
    Transition,
    apply_event,
    apply_profile,
    backfill,
    initial_state,
    set_static_membership,
    sweep,
)
from perkflow.domain.segments.reference import evaluate_history
from perkflow.domain.segments.voucherify_filter import translate_filter

__all__ = [
    "CustomerSegmentState",
    "Node",
    "Occurrence",
    "Outcome",
    "SegmentDefinition",
    "SegmentSet",
    "Transition",
    "apply_event",
    "apply_profile",
    "backfill",
    "evaluate_history",
    "initial_state",
    "parse_node",
    "parse_segment",
    "set_static_membership",
    "sweep",
    "translate_filter",
    "validate_references",
]

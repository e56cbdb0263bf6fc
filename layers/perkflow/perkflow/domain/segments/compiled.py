"""A set of segment definitions compiled into the index the engine works from.

Compiling once per definition set (not per event) gives: event name -> the features it feeds; each segment's
tree with leaves bound to their features; the trait paths that matter; and an order in which every segment
comes after the segments it refers to, so one pass evaluates references from fresh results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from perkflow.domain.errors import InvalidPayload
from perkflow.domain.segments.conditions import canonical
from perkflow.domain.segments.definition import (
    AndNode,
    Node,
    NotNode,
    OrNode,
    SegmentDefinition,
    SegmentRefNode,
    TraitNode,
)
from perkflow.domain.segments.features import FeatureLeaf, FeatureSpec, compile_leaf


@dataclass(frozen=True, eq=False)
class TraitLeaf:
    key: str
    node: TraitNode


@dataclass(frozen=True, eq=False)
class RefLeaf:
    segment_id: str


@dataclass(frozen=True, eq=False)
class AllOf:
    children: tuple[Compiled, ...]


@dataclass(frozen=True, eq=False)
class AnyOf:
    children: tuple[Compiled, ...]


@dataclass(frozen=True, eq=False)
class Negation:
    child: Compiled


Compiled = AllOf | AnyOf | Negation | TraitLeaf | FeatureLeaf | RefLeaf
TimedLeaf = TraitLeaf | FeatureLeaf


class SegmentSet:
    """The compiled definitions of one project. Static segments may be included (references to them read the
    customer's static memberships) but are never computed. A reference to an id the set does not compute is
    read from the static memberships, so an unknown id is simply "not a member".

    Raises InvalidPayload on duplicate ids or a reference cycle (``validate_references`` rejects both on save).
    """

    def __init__(self, definitions: Iterable[SegmentDefinition]) -> None:
        self.definitions: dict[str, SegmentDefinition] = {}
        for definition in definitions:
            if definition.id in self.definitions:
                raise InvalidPayload("Duplicate segment id", details=definition.id)
            self.definitions[definition.id] = definition
        self._features: dict[str, FeatureSpec] = {}
        self._roots: dict[str, Compiled] = {}
        self._leaves: dict[str, tuple[TimedLeaf, ...]] = {}
        self._refs: dict[str, frozenset[str]] = {}
        self._trait_paths: set[str] = set()
        computed = {definition.id for definition in self.definitions.values() if definition.computed}
        for definition in self.definitions.values():
            if definition.root is not None:
                leaves: dict[str, TimedLeaf] = {}
                refs: set[str] = set()
                self._roots[definition.id] = self._compile(definition.root, leaves, refs)
                self._leaves[definition.id] = tuple(leaves.values())
                self._refs[definition.id] = frozenset(refs & computed)
        self.order: tuple[str, ...] = self._topological_order()
        self._by_event: dict[str, tuple[FeatureSpec, ...]] = {}
        for spec in self._features.values():
            self._by_event[spec.event] = (*self._by_event.get(spec.event, ()), spec)
        self._needs: dict[str, frozenset[str]] = {}
        for segment_id in self.order:
            own = {leaf.spec.key for leaf in self._leaves[segment_id] if isinstance(leaf, FeatureLeaf)}
            for ref in self._refs[segment_id]:
                own |= self._needs[ref]
            self._needs[segment_id] = frozenset(own)

    def _compile(self, node: Node, leaves: dict[str, TimedLeaf], refs: set[str]) -> Compiled:
        if isinstance(node, AndNode):
            return AllOf(tuple(self._compile(child, leaves, refs) for child in node.children))
        if isinstance(node, OrNode):
            return AnyOf(tuple(self._compile(child, leaves, refs) for child in node.children))
        if isinstance(node, NotNode):
            return Negation(self._compile(node.child, leaves, refs))
        if isinstance(node, SegmentRefNode):
            refs.add(node.segment_id)
            return RefLeaf(node.segment_id)
        leaf: TimedLeaf
        if isinstance(node, TraitNode):
            self._trait_paths.add(node.path)
            leaf = TraitLeaf(canonical(node.model_dump(mode="json")), node)
        else:
            leaf = compile_leaf(node)
            self._features.setdefault(leaf.spec.key, leaf.spec)
        return leaves.setdefault(leaf.key, leaf)

    def _topological_order(self) -> tuple[str, ...]:
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(segment_id: str, trail: list[str]) -> None:
            if state.get(segment_id) == "done":
                return
            if state.get(segment_id) == "open":
                cycle = [*trail[trail.index(segment_id) :], segment_id]
                raise InvalidPayload("Segment references form a cycle", details=" -> ".join(cycle))
            state[segment_id] = "open"
            for ref in sorted(self._refs[segment_id]):
                visit(ref, [*trail, segment_id])
            state[segment_id] = "done"
            order.append(segment_id)

        for segment_id in sorted(self._roots):
            visit(segment_id, [])
        return tuple(order)

    @property
    def features(self) -> Mapping[str, FeatureSpec]:
        """Every feature of every computed segment, by key."""
        return self._features

    def features_for(self, event: str) -> tuple[FeatureSpec, ...]:
        return self._by_event.get(event, ())

    def relevant_event(self, name: str) -> bool:
        """Whether an event of this name can change any segment (the caller can skip loading state if not)."""
        return name in self._by_event

    def relevant_trait_paths(self) -> frozenset[str]:
        """Profile paths some trait leaf reads (``metadata.plan``, ``birthdate`` ...)."""
        return frozenset(self._trait_paths)

    def is_computed(self, segment_id: str) -> bool:
        return segment_id in self._roots

    def emits(self, segment_id: str) -> bool:
        return self.definitions[segment_id].emits

    def root(self, segment_id: str) -> Compiled:
        return self._roots[segment_id]

    def leaves(self, segment_id: str) -> tuple[TimedLeaf, ...]:
        """The segment's own trait and feature leaves, each once (references excluded)."""
        return self._leaves[segment_id]

    def needs(self, segment_id: str) -> frozenset[str]:
        """Feature keys the segment depends on, through its references too."""
        return self._needs[segment_id]

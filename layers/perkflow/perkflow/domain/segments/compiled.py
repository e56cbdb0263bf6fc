"""A set of segment definitions compiled into the index the engine works from.

Compiling once per definition set (not per event) gives, for the engine to touch only what a call concerns:

* event name -> the features it feeds, feature -> the segments whose own leaves read it;
* profile key -> the trait paths under it, trait path -> the segments reading it;
* segment (or static list) id -> the segments referring to it, and an order in which every segment comes
  after the segments it refers to, so one pass in that order sees references fresh;
* *since*: the definitions' version each definition was written at. A feature's since is the oldest since of
  the segments measuring it (it has been maintained from then on), a segment's "needs since" the newest since
  among it and the segments it refers to, transitively. A customer state initialised or backfilled at revision
  ``r`` holds every feature with since <= r; later features are *pending* for it and the segments whose needs
  since is later than ``r`` *wait* (keep their membership) until a backfill (see ``engine``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, KeysView, Mapping
from dataclasses import dataclass

from perkflow.domain.errors import InvalidPayload
from perkflow.domain.segments.conditions import canonical, trait_holds
from perkflow.domain.segments.definition import (
    AndNode,
    Node,
    NotNode,
    OrNode,
    SegmentDefinition,
    SegmentRefNode,
    TraitNode,
)
from perkflow.domain.segments.features import FeatureLeaf, FeatureSpec, compile_leaf, empty_state, leaf_holds


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


def evaluate(node: Compiled, leaf: Callable[[TimedLeaf], bool], ref: Callable[[str], bool]) -> bool:
    """A compiled tree's answer, given how to answer a trait/feature leaf and a reference."""
    if isinstance(node, AllOf):
        return all(evaluate(child, leaf, ref) for child in node.children)
    if isinstance(node, AnyOf):
        return any(evaluate(child, leaf, ref) for child in node.children)
    if isinstance(node, Negation):
        return not evaluate(node.child, leaf, ref)
    if isinstance(node, RefLeaf):
        return ref(node.segment_id)
    return leaf(node)


class _PathIndex:
    """Trait paths by their dotted parts, to find the ones a change at one profile location can affect."""

    def __init__(self) -> None:
        self.children: dict[str, _PathIndex] = {}
        self.here: list[str] = []
        self.below: list[str] = []  # every path at or under this node

    def add(self, path: str) -> None:
        node = self
        for part in path.split("."):
            node = node.children.setdefault(part, _PathIndex())
            node.below.append(path)
        node.here.append(path)

    def touched(self, location: str, subtree: bool) -> list[str]:
        """Paths reading ``location``: the paths of its containers, itself, and (``subtree``) inside it."""
        found: list[str] = []
        node = self
        parts = location.split(".")
        for index, part in enumerate(parts):
            child = node.children.get(part)
            if child is None:
                return found
            node = child
            if index < len(parts) - 1:
                found += node.here
        return found + (node.below if subtree else node.here)


class SegmentSet:
    """The compiled definitions of one project. Static segments may be included (references to them read the
    customer's static memberships) but are never computed. A reference to an id the set does not compute is
    read from the static memberships, so an unknown id is simply "not a member".

    ``since`` maps a definition id to the definitions' version it was written at (absent: 0, known from the
    start). A definition changed in any way must come with a later since than any before it.

    Raises InvalidPayload on duplicate ids or a reference cycle (``validate_references`` rejects both on save).
    """

    def __init__(self, definitions: Iterable[SegmentDefinition], since: Mapping[str, int] | None = None) -> None:
        self.definitions: dict[str, SegmentDefinition] = {}
        for definition in definitions:
            if definition.id in self.definitions:
                raise InvalidPayload("Duplicate segment id", details=definition.id)
            self.definitions[definition.id] = definition
        written = since or {}
        self._since = {segment_id: int(written.get(segment_id, 0)) for segment_id in self.definitions}
        self._features: dict[str, FeatureSpec] = {}
        self._feature_since: dict[str, int] = {}
        self._feature_users: dict[str, list[str]] = {}
        self._path_users: dict[str, list[str]] = {}
        self._roots: dict[str, Compiled] = {}
        self._leaves: dict[str, tuple[TimedLeaf, ...]] = {}
        self._refs: dict[str, frozenset[str]] = {}
        self._ref_users: dict[str, list[str]] = {}
        computed = {definition.id for definition in self.definitions.values() if definition.computed}
        for definition in self.definitions.values():
            if definition.root is not None:
                leaves: dict[str, TimedLeaf] = {}
                refs: set[str] = set()
                self._roots[definition.id] = self._compile(definition.root, leaves, refs)
                self._leaves[definition.id] = tuple(leaves.values())
                self._refs[definition.id] = frozenset(refs & computed)
                for ref in refs:
                    self._ref_users.setdefault(ref, []).append(definition.id)
                self._index_leaves(definition.id)
        self.order: tuple[str, ...] = self._topological_order()
        self._position = {segment_id: position for position, segment_id in enumerate(self.order)}
        by_event: dict[str, list[FeatureSpec]] = {}
        for spec in self._features.values():
            by_event.setdefault(spec.event, []).append(spec)
        self._by_event = {event: tuple(specs) for event, specs in by_event.items()}
        self._paths = _PathIndex()
        for path in self._path_users:
            self._paths.add(path)
        self._needs: dict[str, frozenset[str]] = {}
        self._needs_since: dict[str, int] = {}
        for segment_id in self.order:
            own = {leaf.spec.key for leaf in self._leaves[segment_id] if isinstance(leaf, FeatureLeaf)}
            latest = self._since[segment_id]
            for ref in self._refs[segment_id]:
                own |= self._needs[ref]
                latest = max(latest, self._needs_since[ref])
            self._needs[segment_id] = frozenset(own)
            self._needs_since[segment_id] = latest
        self.revision: int = max(self._needs_since.values(), default=0)
        """The newest definition the set computes: a state backfilled with this set waits for nothing."""
        self._segments_by_since = sorted((since, segment_id) for segment_id, since in self._needs_since.items())
        self._features_by_since = sorted((since, key) for key, since in self._feature_since.items())
        self._blank: frozenset[str] | None = None

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
            leaf = TraitLeaf(canonical(node.model_dump(mode="json")), node)
        else:
            leaf = compile_leaf(node)
            self._features.setdefault(leaf.spec.key, leaf.spec)
        return leaves.setdefault(leaf.key, leaf)

    def _index_leaves(self, segment_id: str) -> None:
        since = self._since[segment_id]
        features: set[str] = set()
        paths: set[str] = set()
        for leaf in self._leaves[segment_id]:
            if isinstance(leaf, TraitLeaf):
                paths.add(leaf.node.path)
            else:
                features.add(leaf.spec.key)
        for key in features:
            self._feature_users.setdefault(key, []).append(segment_id)
            self._feature_since[key] = min(self._feature_since.get(key, since), since)
        for path in paths:
            self._path_users.setdefault(path, []).append(segment_id)

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

    # -- what the definitions are ---------------------------------------------------------------------------
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
        return frozenset(self._path_users)

    def is_computed(self, segment_id: str) -> bool:
        return segment_id in self._roots

    @property
    def computed_ids(self) -> KeysView[str]:
        """Ids of the computed segments (a view: ``in`` costs no call)."""
        return self._roots.keys()

    def emits(self, segment_id: str) -> bool:
        definition = self.definitions.get(segment_id)
        return definition is not None and definition.emits

    def root(self, segment_id: str) -> Compiled:
        return self._roots[segment_id]

    def leaves(self, segment_id: str) -> tuple[TimedLeaf, ...]:
        """The segment's own trait and feature leaves, each once (references excluded)."""
        return self._leaves[segment_id]

    def needs(self, segment_id: str) -> frozenset[str]:
        """Feature keys the segment depends on, through its references too."""
        return self._needs[segment_id]

    def position(self, segment_id: str) -> int:
        """The segment's place in :attr:`order` (references first)."""
        return self._position[segment_id]

    # -- what depends on what -------------------------------------------------------------------------------
    def feature_users(self, key: str) -> Iterable[str]:
        """Computed segments with a leaf on this feature (not those reaching it through references)."""
        return self._feature_users.get(key, ())

    def paths_touched(self, location: str, subtree: bool) -> list[str]:
        """Trait paths whose value can change when the profile changes at ``location`` (dotted keys): paths
        equal to it or leading to it, and with ``subtree`` (the value there was replaced, not just an object
        created or removed around its content) the paths inside it too."""
        return self._paths.touched(location, subtree)

    def path_users(self, path: str) -> Iterable[str]:
        """Computed segments with a trait leaf on this path."""
        return self._path_users.get(path, ())

    def ref_users(self, segment_id: str) -> Iterable[str]:
        """Computed segments referring to this segment or static list directly."""
        return self._ref_users.get(segment_id, ())

    # -- revisions ------------------------------------------------------------------------------------------
    def feature_since(self, key: str) -> int:
        return self._feature_since[key]

    def waits(self, segment_id: str, revision: int) -> bool:
        """Whether the segment is newer than a state at ``revision`` knows (it keeps its answer until backfill)."""
        return self._needs_since[segment_id] > revision

    def segments_after(self, revision: int) -> list[str]:
        """Computed segments that wait at ``revision``."""
        return [
            segment_id for _, segment_id in self._segments_by_since[self._after(self._segments_by_since, revision) :]
        ]

    def features_after(self, revision: int) -> list[str]:
        """Features pending at ``revision`` (a backfill fills them from the history)."""
        return [key for _, key in self._features_by_since[self._after(self._features_by_since, revision) :]]

    @staticmethod
    def _after(ordered: list[tuple[int, str]], revision: int) -> int:
        return bisect_right(ordered, revision, key=lambda item: item[0])

    def blank_members(self) -> frozenset[str]:
        """Segments a customer with no events, no profile and no static list is in (``not reviewed`` ...).

        Every leaf answers such a customer the same way at every instant (counts are 0, no timestamp exists,
        every trait is absent), so this is computed once per set."""
        if self._blank is None:
            inside: set[str] = set()

            def leaf(node: TimedLeaf) -> bool:
                if isinstance(node, TraitLeaf):
                    return trait_holds(node.node, {}, 0)
                return leaf_holds(node, empty_state(node.spec), 0)

            for segment_id in self.order:
                if evaluate(self._roots[segment_id], leaf, inside.__contains__):
                    inside.add(segment_id)
            self._blank = frozenset(inside)
        return self._blank

"""The definition language: the JSON of DESIGN §6 parses, and every limit answers invalid_payload precisely."""

from __future__ import annotations

from typing import Any

import pytest

from perkflow.domain.errors import InvalidPayload
from perkflow.domain.segments import SegmentSet, parse_node, parse_segment, validate_references
from perkflow.domain.segments.definition import (
    AndNode,
    EventCountNode,
    NotNode,
    SegmentRefNode,
    Sliding,
    TraitNode,
)
from tests.unit.segments.support import count, segment, sliding, trait

ENGAGED_VIPS = {
    "type": "and",
    "children": [
        {"type": "trait", "path": "address.country", "op": "eq", "value": "PL"},
        {"type": "trait", "path": "metadata.lifetime_spend", "op": "gte", "value": 500},
        {"type": "or", "children": [
            {"type": "event_count", "event": "review_left", "window": {"kind": "all_time"}, "op": "gte", "value": 1},
            {"type": "event_count", "event": "redemption.succeeded",
             "window": {"kind": "sliding", "seconds": 2592000}, "op": "gte", "value": 2},
            {"type": "event_agg", "event": "Order Completed", "property": "total", "agg": "sum",
             "window": {"kind": "absolute", "start": "2026-01-01", "end": "2027-01-01T00:00:00+00:00"},
             "op": "gte", "value": 99.5},
            {"type": "last_event", "event": "loyalty.tier.achieved", "where": [{"path": "direction", "op": "eq",
             "value": "up"}], "has": [{"path": "tier.rank", "op": "gte", "value": 2}], "within_seconds": 1209600},
        ]},
        {"type": "not", "child": {"type": "segment", "segment_id": "seg_fraud_watchlist"}},
    ],
}  # fmt: skip


def _invalid(data: Any) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as caught:
        parse_node(data)
    assert caught.value.key == "invalid_payload"
    assert caught.value.status == 400
    return caught.value


def _nest(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = trait("email", "exists")
    for _ in range(levels - 1):
        node = {"type": "not", "child": node}
    return node


def test_the_design_json_parses_into_typed_frozen_nodes() -> None:
    root = parse_node(ENGAGED_VIPS)

    assert isinstance(root, AndNode)
    assert isinstance(root.children[0], TraitNode)
    assert isinstance(root.children[3], NotNode)
    assert isinstance(root.children[3].child, SegmentRefNode)
    window = root.children[2].children[1].window  # type: ignore[union-attr]
    assert window == Sliding(seconds=2592000)
    # Timestamps come back as the API writes them, and the JSON round-trips.
    dumped = root.model_dump(mode="json")
    assert dumped["children"][2]["children"][2]["window"]["start"] == "2026-01-01T00:00:00.000Z"
    assert parse_node(dumped) == root


def test_segment_types_decide_whether_a_root_is_needed() -> None:
    assert parse_segment({"id": "seg_list", "type": "static"}).computed is False
    active = parse_segment({"id": "seg_a", "type": "auto-update", "root": ENGAGED_VIPS})
    passive = parse_segment({"id": "seg_p", "type": "passive", "root": ENGAGED_VIPS})
    assert (active.emits, passive.emits) == (True, False)
    with pytest.raises(InvalidPayload, match="Invalid segment") as caught:
        parse_segment({"id": "seg_x", "type": "passive"})
    assert "needs a definition" in caught.value.details
    with pytest.raises(InvalidPayload) as caught:
        parse_segment({"id": "seg_x", "type": "static", "root": ENGAGED_VIPS})
    assert "takes no definition" in caught.value.details
    with pytest.raises(InvalidPayload) as caught:
        parse_segment({"id": "seg_x", "type": "dynamic", "root": ENGAGED_VIPS})
    assert "type" in caught.value.details


def test_depth_is_limited_to_eight_levels() -> None:
    assert isinstance(parse_node(_nest(8)), NotNode)
    error = _invalid(_nest(9))
    assert error.details == "the definition is 9 levels deep; at most 8 are allowed"


def test_leaves_are_limited_to_fifty() -> None:
    fifty = {"type": "or", "children": [trait("metadata.n", "eq", n) for n in range(50)]}
    assert len(parse_node(fifty).children) == 50  # type: ignore[union-attr]
    error = _invalid({"type": "or", "children": [trait("metadata.n", "eq", n) for n in range(51)]})
    assert error.details == "the definition has 51 conditions; at most 50 are allowed"


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        ({"kind": "sliding", "seconds": 0}, "greater than 0"),
        ({"kind": "sliding", "seconds": 400 * 86_400 + 1}, "less than or equal to 34560000"),
        ({"kind": "absolute", "start": "2026-02-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}, "start < end"),
        ({"kind": "calendar", "unit": "month"}, "does not match any of the expected tags"),
    ],
)
def test_windows_are_bounded(window: dict[str, Any], fragment: str) -> None:
    assert fragment in _invalid(count("review_left", "gte", 1, window)).details


def test_four_hundred_days_is_the_longest_sliding_window() -> None:
    node = parse_node(count("review_left", "gte", 1, sliding(400)))
    assert isinstance(node, EventCountNode)


@pytest.mark.parametrize(
    ("node", "fragment"),
    [
        (trait("created_at", "within_last"), "'within_last' needs 'seconds'"),
        (trait("birthdate", "anniversary_within_next", days=366), "less than or equal to 365"),
        (trait("email", "eq", seconds=5), "'eq' takes no 'seconds'"),
        (trait("email", "exists", "x"), "'exists' takes no value"),
        (trait("metadata.plan", "in", "gold"), "takes a list"),
        (trait("name", "starts_with", 5), "takes a string"),
        (trait("name", "gt", True), "takes a number or a string"),
        (trait("name", "regex", "M.*"), "op"),
        ({"type": "trait", "path": "metadata..plan", "op": "exists"}, "pattern"),
        (count("review_left", "gte", 1001, sliding(1)), "at most 1000 events"),
        (count("review_left", "gte", -1), "greater than or equal to 0"),
        ({**count("review_left", "gte", 1), "extra": 1}, "Extra inputs are not permitted"),
        ({"type": "and", "children": []}, "at least 1 item"),
        ({"type": "event_agg", "event": "Order Completed", "property": "sku", "agg": "count_distinct",
          "window": {"kind": "all_time"}, "op": "gte", "value": 5000}, "at most 1000"),
        ({"type": "event_agg", "event": "Order Completed", "property": "total", "agg": "avg",
          "window": {"kind": "all_time"}, "op": "gte", "value": 5}, "agg"),
        ({"type": "last_event", "event": "x", "within_seconds": 0}, "greater than 0"),
    ],
)  # fmt: skip
def test_bad_leaves_name_the_problem(node: dict[str, Any], fragment: str) -> None:
    assert fragment in _invalid(node).details


def test_references_must_exist_and_stay_acyclic() -> None:
    fraud = parse_segment({"id": "seg_fraud", "type": "static"})
    reviewers = segment("seg_reviewers", count("review_left", "gte", 1))
    vip = segment("seg_vip", {"type": "and", "children": [
        {"type": "segment", "segment_id": "seg_reviewers"},
        {"type": "not", "child": {"type": "segment", "segment_id": "seg_fraud"}},
    ]})  # fmt: skip
    validate_references(vip, [fraud, reviewers])

    with pytest.raises(InvalidPayload) as caught:
        validate_references(vip, [reviewers])
    assert caught.value.details == "unknown segment ids: seg_fraud"

    # Editing seg_reviewers to point back at seg_vip would close a loop.
    looping = segment("seg_reviewers", {"type": "segment", "segment_id": "seg_vip"})
    with pytest.raises(InvalidPayload, match="cycle") as caught:
        validate_references(looping, [fraud, reviewers, vip])
    assert caught.value.details == "seg_reviewers -> seg_vip -> seg_reviewers"

    selfish = segment("seg_self", {"type": "segment", "segment_id": "seg_self"})
    with pytest.raises(InvalidPayload, match="cycle"):
        validate_references(selfish, [])


def test_a_segment_set_orders_references_and_refuses_cycles() -> None:
    a = segment("seg_a", {"type": "segment", "segment_id": "seg_b"})
    b = segment("seg_b", {"type": "segment", "segment_id": "seg_c"})
    c = segment("seg_c", count("review_left", "gte", 1))
    assert SegmentSet([a, b, c]).order == ("seg_c", "seg_b", "seg_a")

    with pytest.raises(InvalidPayload, match="cycle"):
        SegmentSet([a, b, segment("seg_c", {"type": "segment", "segment_id": "seg_a"})])
    with pytest.raises(InvalidPayload, match="Duplicate"):
        SegmentSet([c, c])


def test_identical_leaves_share_one_feature_across_segments() -> None:
    where_ab = [{"path": "a", "op": "eq", "value": 1}, {"path": "b", "op": "exists"}]
    first = segment("seg_1", count("Order Completed", "gte", 2, sliding(30), where=where_ab))
    # Same event, filters in another order, same window and threshold: one state entry.
    second = segment("seg_2", {"type": "not", "child": count("Order Completed", "gte", 2, sliding(30),
                                                             where=list(reversed(where_ab)))})  # fmt: skip
    # An all-time counter does not depend on the threshold; a sliding one keeps value + 1 timestamps.
    third = segment("seg_3", count("Order Completed", "gte", 7, where=where_ab))
    fourth = segment("seg_4", count("Order Completed", "lt", 3, where=where_ab))
    segments = SegmentSet([first, second, third, fourth])

    assert len(segments.features) == 2
    assert segments.relevant_event("Order Completed")
    assert not segments.relevant_event("Viewed Home Page")


def test_relevant_trait_paths_list_what_trait_leaves_read() -> None:
    segments = SegmentSet([
        segment("seg_1", {"type": "and", "children": [trait("metadata.plan", "eq", "gold"), trait("email", "exists")]}),
        segment("seg_2", trait("birthdate", "anniversary_within_next", days=7)),
    ])  # fmt: skip
    assert segments.relevant_trait_paths() == {"metadata.plan", "email", "birthdate"}

"""Voucherify segment filters, as the official SDKs send them, become definitions that mean the same."""

from __future__ import annotations

from typing import Any

import pytest

from perkflow.domain.errors import InvalidPayload
from perkflow.domain.segments import Occurrence, SegmentDefinition, SegmentSet, evaluate_history, translate_filter
from perkflow.domain.segments.definition import AndNode, EventCountNode
from tests.unit.segments.support import T0


def _json(filter_: dict[str, Any]) -> Any:
    return _compact(translate_filter(filter_).model_dump(mode="json", exclude_none=True))


def _compact(data: Any) -> Any:
    """The node JSON without empty ``where``/``has`` lists, as a person would write it."""
    if isinstance(data, dict):
        return {key: _compact(value) for key, value in data.items() if value != []}
    if isinstance(data, list):
        return [_compact(item) for item in data]
    return data


def _leaf(filter_path: str, conditions: dict[str, Any]) -> Any:
    return _json({"junction": "and", filter_path: {"conditions": conditions}})


def test_reviewers_example_counts_review_left_over_all_time() -> None:
    node = translate_filter({"junction": "and", "events.review_left.count": {"conditions": {"$more_than": ["0"]}}})
    assert isinstance(node, EventCountNode)
    assert (node.event, node.window.kind, node.op, node.value) == ("review_left", "all_time", "gt", 0)

    segments = SegmentSet([SegmentDefinition(id="seg_reviewers", type="auto-update", root=node)])
    review = Occurrence(event_id="e1", name="review_left", timestamp=T0)
    assert evaluate_history(segments, [], {}, T0) == frozenset()
    assert evaluate_history(segments, [review], {}, T0) == {"seg_reviewers"}


def test_birthday_next_month_example_from_the_spec() -> None:
    node = translate_filter(
        {
            "junction": "and",
            "birthdate": {"conditions": {"$next_month": [True]}},
            "address.country": {"conditions": {"$is": "Poland"}},
            "metadata.club_level": {"conditions": {"$in": ["Gold", "Silver"]}},
        }
    )
    assert isinstance(node, AndNode)
    assert _compact(node.model_dump(mode="json", exclude_none=True))["children"] == [
        {"type": "trait", "path": "birthdate", "op": "anniversary_next_month"},
        {"type": "trait", "path": "address.country", "op": "eq", "value": "Poland"},
        {"type": "trait", "path": "metadata.club_level", "op": "in", "value": ["Gold", "Silver"]},
    ]
    segments = SegmentSet([SegmentDefinition(id="seg_bday", type="auto-update", root=node)])
    profile = {"birthdate": "1990-12-05", "address": {"country": "Poland"}, "metadata": {"club_level": "Gold"}}
    assert evaluate_history(segments, [], profile, T0) == {"seg_bday"}  # T0 is in November
    assert evaluate_history(segments, [], {**profile, "metadata": {"club_level": "Bronze"}}, T0) == frozenset()


def test_event_names_may_hold_dots_and_spaces() -> None:
    assert _leaf("events.Order Completed.count", {"$count_more": 2})["event"] == "Order Completed"
    assert _leaf("events.loyalty.tier.achieved.count", {"$is": ["1"]})["event"] == "loyalty.tier.achieved"
    assert _leaf("events.x.count.count", {"$count": 1})["event"] == "x.count"


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"$is": ["1"]}, {"op": "eq", "value": 1}),
        ({"$count": 2}, {"op": "eq", "value": 2}),
        ({"$is_not": "0"}, {"op": "ne", "value": 0}),
        ({"$count_more": ["2"]}, {"op": "gt", "value": 2}),
        ({"$more_than_equal": [3.0]}, {"op": "gte", "value": 3}),
        ({"$count_less": [5]}, {"op": "lt", "value": 5}),
        ({"$less_than_or_equal": "5"}, {"op": "lte", "value": 5}),
    ],
)
def test_event_count_operators(conditions: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _leaf("events.cart_abandoned.count", conditions) == {
        "type": "event_count", "event": "cart_abandoned", "window": {"kind": "all_time"}, **expected,
    }  # fmt: skip


def test_event_count_in_lists_become_or_and_not_in_lists_become_and() -> None:
    assert [child["value"] for child in _leaf("events.x.count", {"$in": ["1", "3"]})["children"]] == [1, 3]
    not_in = _leaf("events.x.count", {"$not_in": [0, 2]})
    assert not_in["type"] == "and"
    assert [child["op"] for child in not_in["children"]] == ["ne", "ne"]


@pytest.mark.parametrize(
    ("path", "conditions", "expected"),
    [
        ("email", {"$is": ["a@b.c"]}, {"op": "eq", "value": "a@b.c"}),
        ("name", {"$is": ["Michael", "Dwight"]}, {"op": "in", "value": ["Michael", "Dwight"]}),
        ("metadata.plan", {"$is_not": ["free"]}, {"op": "ne", "value": "free"}),
        ("metadata.plan", {"$is_not": ["free", "trial"]}, {"op": "not_in", "value": ["free", "trial"]}),
        ("metadata.plan", {"$not_in": ["free"]}, {"op": "not_in", "value": ["free"]}),
        ("summary.orders.total_amount", {"$more_than": ["10000"]}, {"op": "gt", "value": 10000}),
        ("summary.orders.total_count", {"$less_than_equal": [2]}, {"op": "lte", "value": 2}),
        ("loyalty_points.campaigns.Dunder.points", {"$more_than_equal": ["99.5"]}, {"op": "gte", "value": 99.5}),
        ("phone", {"$starts_with": ["+48"]}, {"op": "starts_with", "value": "+48"}),
        ("email", {"$ends_with": "@dundermifflin.com"}, {"op": "ends_with", "value": "@dundermifflin.com"}),
        ("name", {"$contains": ["Scott"]}, {"op": "contains", "value": "Scott"}),
        ("created_at", {"$after": ["2021-12-01T00:00:00.000Z"]}, {"op": "gt", "value": "2021-12-01T00:00:00.000Z"}),
        ("created_at", {"$before": "2022-01-01"}, {"op": "lt", "value": "2022-01-01"}),
        ("address.city", {"$has_value": True}, {"op": "exists"}),
        ("birthday", {"$is_unknown": ""}, {"op": "not_exists"}),
        ("created_at", {"$less_than_ago": [30]}, {"op": "within_last", "seconds": 30 * 86_400}),
        ("created_at", {"$more_than_ago": ["P2W"]}, {"op": "before_last", "seconds": 14 * 86_400}),
        ("metadata.last_login", {"$less_than_ago": "PT12H"}, {"op": "within_last", "seconds": 12 * 3600}),
    ],
)
def test_trait_operators(path: str, conditions: dict[str, Any], expected: dict[str, Any]) -> None:
    trait_path = "birthdate" if path == "birthday" else path
    assert _leaf(path, conditions) == {"type": "trait", "path": trait_path, **expected}


def test_several_text_values_or_together_and_not_contain_negates() -> None:
    assert _leaf("email", {"$ends_with": [".pl", ".de"]})["type"] == "or"
    assert _leaf("name", {"$not_contain": ["test"]}) == {
        "type": "not", "child": {"type": "trait", "path": "name", "op": "contains", "value": "test"},
    }  # fmt: skip


def test_junctions_combine_fields_and_operators_of_one_field() -> None:
    either = _json({
        "junction": "OR",
        "metadata.plan": {"conditions": {"$is": "gold"}},
        "summary.orders.total_count": {"conditions": {"$more_than": ["5"], "$less_than": ["10"]}},
    })  # fmt: skip
    assert either["type"] == "or"
    assert either["children"][1]["type"] == "and"
    assert [child["op"] for child in either["children"][1]["children"]] == ["gt", "lt"]
    # A missing top-level junction means "and".
    assert (
        _json({"email": {"conditions": {"$has_value": True}}, "name": {"conditions": {"$has_value": True}}})["type"]
        == "and"
    )


@pytest.mark.parametrize(
    ("filter_", "details"),
    [
        ({"junction": "and", "events.review_left.count": {"conditions": {"$timeframe": ["P1D"]}}},
         "events.review_left.count: operator '$timeframe' is not supported"),
        ({"junction": "and", "birthdate": {"conditions": {"$is_days_in_future": [3]}}},
         "birthdate: operator '$is_days_in_future' is not supported"),
        ({"junction": "and", "favourite_colour": {"conditions": {"$is": "red"}}}, "unknown path 'favourite_colour'"),
        ({"junction": "and", "metadata": {"conditions": {"$is": "red"}}}, "unknown path 'metadata'"),
        ({"junction": "and", "events.review_left": {"conditions": {"$is": 1}}}, "unknown path 'events.review_left'"),
        ({"junction": "xor", "email": {"conditions": {"$is": "a"}}}, "junction: must be 'and' or 'or'"),
        ({"junction": "and"}, "filter has no conditions"),
        ({"junction": "and", "email": {"$is": "a"}}, "email: expected {'conditions': {'$op': ...}}"),
        ({"junction": "and", "events.x.count": {"conditions": {"$more_than": ["-1"]}}}, "needs a whole count"),
        ({"junction": "and", "events.x.count": {"conditions": {"$more_than": ["1.5"]}}}, "needs a whole count"),
        ({"junction": "and", "events.x.count": {"conditions": {"$more_than": [1, 2]}}}, "takes exactly one value"),
        ({"junction": "and", "created_at": {"conditions": {"$after": ["yesterday"]}}}, "ISO-8601 timestamp"),
        ({"junction": "and", "created_at": {"conditions": {"$more_than_ago": ["P1M"]}}}, "ISO-8601 duration"),
        ({"junction": "and", "metadata.plan": {"conditions": {"$in": [{"a": 1}]}}}, "takes a list of strings"),
    ],
)  # fmt: skip
def test_what_cannot_be_translated_is_named(filter_: dict[str, Any], details: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        translate_filter(filter_)
    assert caught.value.key == "invalid_payload"
    assert details in caught.value.details


def test_the_definition_limits_apply_to_translated_filters() -> None:
    wide = {"junction": "or", **{f"metadata.k{n}": {"conditions": {"$is": n}} for n in range(51)}}
    with pytest.raises(InvalidPayload) as caught:
        translate_filter(wide)
    assert "at most 50" in caught.value.details

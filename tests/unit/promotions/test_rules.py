"""Validation rules: creation checks, conditions, AND/OR logic with parentheses, keys and custom messages."""

from __future__ import annotations

from typing import Any

import pytest

from perkflow.domain.errors import PerkflowError
from perkflow.domain.promotions.rules import RuleContext, first_violation
from tests.unit.promotions.factories import rule_set

MICHAEL = RuleContext(
    customer_id="cust_1",
    segment_ids=frozenset({"seg_reviewers"}),
    customer_metadata={"plan": "gold", "age": 41, "address": {"city": "Scranton"}, "brands": ["Nike", "Adidas"]},
    order_amount=4000,
    order_metadata={"channel": "web"},
)


def _holds(rule: dict[str, Any], context: RuleContext = MICHAEL) -> bool:
    return rule_set({"1": rule}).evaluate(context) is None


@pytest.mark.parametrize("name", ["customer.segment", "customer.segments", "customer_segment"])
def test_segment_membership_under_every_spelling(name: str) -> None:
    assert _holds({"name": name, "conditions": {"$is": ["seg_reviewers"]}, "rules": {}})
    assert _holds({"name": name, "conditions": {"$in": ["seg_other", "seg_reviewers"]}})
    assert not _holds({"name": name, "conditions": {"$is": ["seg_other"]}})
    assert not _holds({"name": name, "conditions": {"$is_not": ["seg_reviewers"]}})
    assert _holds({"name": name, "conditions": {"$not_in": ["seg_other"]}})


@pytest.mark.parametrize(
    ("prop", "conditions", "expected"),
    [
        ("plan", {"$is": ["gold"]}, True),
        ("plan", {"$is_not": ["gold"]}, False),
        ("age", {"$is": ["41"]}, True),  # numbers sent as strings
        ("age", {"$more_than": [40], "$less_than": [42]}, True),
        ("age", {"$more_than_or_equal": [42]}, False),
        ("address.city", {"$starts_with": ["Scr"]}, True),
        ("address.city", {"$ends_with": ["ton"], "$contains": ["ant"]}, True),
        ("brands", {"$contains": ["Nike"]}, True),
        ("brands", {"$in": ["Puma"]}, False),
        ("plan", {"$has_value": True}, True),
        ("pet", {"$is_unknown": True}, True),
        ("pet", {"$has_value": True}, False),
        ("pet", {"$less_than": [1]}, False),
    ],
)
def test_customer_metadata_conditions(prop: str, conditions: dict[str, Any], expected: bool) -> None:
    assert _holds({"name": "customer.metadata", "property": prop, "conditions": conditions}) is expected


def test_order_rules_read_cents_and_order_metadata() -> None:
    assert _holds({"name": "order.amount", "conditions": {"$more_than": [3999]}})
    assert not _holds({"name": "order.amount", "conditions": {"$more_than": [4000]}})
    assert _holds({"name": "order.amount", "conditions": {"$is": [4000]}})
    assert _holds({"name": "order.metadata", "property": "channel", "conditions": {"$is": ["web"]}})
    no_order = RuleContext(customer_id="cust_1")
    assert not _holds({"name": "order.amount", "conditions": {"$less_than": [10]}}, no_order)


def test_redemptions_per_customer_count_the_one_being_attempted() -> None:
    once = {"name": "redemption.count.per_customer", "conditions": {"$less_than_or_equal": [1]}}

    assert _holds(once, RuleContext(customer_id="cust_1", customer_redemptions=0))
    assert not _holds(once, RuleContext(customer_id="cust_1", customer_redemptions=1))


def test_only_the_holder_redeems_a_linked_code() -> None:
    linked = {"name": "publication.redeemable_by_linked_customer", "conditions": {}}

    assert _holds(linked, RuleContext(customer_id="cust_1", holder_id="cust_1"))
    assert not _holds(linked, RuleContext(customer_id="cust_2", holder_id="cust_1"))
    assert not _holds(linked, RuleContext(customer_id="cust_1"))  # published to nobody


IN = {"name": "customer.segment", "conditions": {"$is": ["seg_reviewers"]}}
OUT = {"name": "customer.segment", "conditions": {"$is": ["seg_other"]}}
BIG = {"name": "order.amount", "conditions": {"$more_than": [10_000]}}


@pytest.mark.parametrize(
    ("logic", "blamed"),
    [
        # 1 (OUT) and 2 (BIG) fail for Michael, 3 (IN) holds.
        ("1 and 2 and 3", "1"),  # the first failing part of an and
        ("1 or 2 or 3", None),
        ("(1 or 2) and 3", "1"),  # an or whose parts all failed blames its first
        ("(1 or 3) and 2", "2"),  # the failing part of the and, not the failed branch of the or
        ("3 and (1 or 2)", "1"),
        ("1 and 2 or 3", None),  # and binds tighter: (1 and 2) or 3
        ("1 and (2 or 3)", "1"),
        ("(1 or 2) or ((3))", None),
        ("3 AND 2 OR 1", "2"),
    ],
)
def test_logic_with_parentheses_blames_the_rule_that_failed(logic: str, blamed: str | None) -> None:
    rules = rule_set(
        {
            "1": {**OUT, "error": {"message": "rule 1"}},
            "2": {**BIG, "error": {"message": "rule 2"}},
            "3": IN,
            "logic": logic,
        }
    )

    violation = rules.evaluate(MICHAEL)

    if blamed is None:
        assert violation is None
    else:
        assert violation is not None
        assert violation.custom_message == f"rule {blamed}"


def test_without_logic_every_rule_must_hold() -> None:
    rules = rule_set({"1": IN, "2": BIG})

    assert rules.logic == "1 and 2"
    assert rules.evaluate(MICHAEL) is not None


def test_each_family_answers_its_key_and_the_custom_message() -> None:
    customer = rule_set({"1": {**OUT, "error": {"message": "Reviewers only"}}}, error={"message": "fallback"})
    order = rule_set({"1": BIG}, error={"message": "Orders over $100"})
    redemption = rule_set({"1": {"name": "redemption.count.per_customer", "conditions": {"$less_than": [1]}}})

    failures = [rules.evaluate(MICHAEL) for rules in (customer, order, redemption)]

    assert all(failure is not None for failure in failures)
    answered = [failure.failure("Gift Card") for failure in failures if failure is not None]
    assert [(item.key, item.custom_message) for item in answered] == [
        ("customer_rules_violated", "Reviewers only"),  # the rule's own message wins over the set's
        ("order_rules_violated", "Orders over $100"),
        ("redemption_rules_violated", None),  # no message defined: no ``error`` in the answer
    ]
    assert answered[0].message == "customer does not match validation rules"
    assert answered[1].details == f"Gift Card cannot be redeemed because of violated validation rules: {order.id}"
    assert "error" not in answered[2].as_error("v-1")


def test_a_customer_rule_without_a_customer_is_missing_customer() -> None:
    violation = rule_set({"1": IN}).evaluate(RuleContext(order_amount=100))

    assert violation is not None
    failure = violation.failure("Gift Card")
    assert (failure.key, failure.message) == ("missing_customer", "Missing customer")


def test_every_assigned_rule_set_must_hold() -> None:
    passing, failing = rule_set({"1": IN}), rule_set({"1": BIG})

    assert first_violation((passing,), MICHAEL) is None
    violation = first_violation((passing, failing), MICHAEL)
    assert violation is not None
    assert violation.rule_id == failing.id


@pytest.mark.parametrize(
    ("rules", "fields"),
    [
        ({"1": {"name": "order.items.count", "conditions": {"$is": [1]}}}, {}),
        ({"1": {"name": "customer.segment", "conditions": {"$more_than": [1]}}}, {}),
        ({"1": {"name": "customer.metadata", "conditions": {"$is": ["gold"]}}}, {}),
        ({"1": {**IN, "rules": {"1": IN}}}, {}),
        ({"1": {"name": "order.amount", "conditions": {}}}, {}),
        ({"1": {"conditions": {}}}, {}),
        ({"logic": "1"}, {}),
        ({"1": IN, "logic": "1 and 2"}, {}),
        ({"1": IN, "2": IN, "logic": "1"}, {}),
        ({"1": IN, "logic": "1 and"}, {}),
        ({"1": IN, "logic": "(1"}, {}),
        ({"1": IN, "2": IN, "logic": "1 2"}, {}),
        ({"1": IN, "logic": "1 & 2"}, {}),
        ({"1": IN, "logic": ""}, {}),
        ({"1": IN, "logic": 1}, {}),
        ({"1": IN}, {"type": "fancy"}),
        ({"1": IN}, {"applicable_to": {"included": [{"object": "product", "id": "prod_1"}]}}),
    ],
)
def test_rules_perkflow_cannot_evaluate_are_refused(rules: dict[str, Any], fields: dict[str, Any]) -> None:
    with pytest.raises(PerkflowError) as caught:
        rule_set(rules, **fields)
    assert caught.value.key == "invalid_validation_rules"


def test_a_rule_set_reads_back_as_sent() -> None:
    rules = rule_set(
        {
            "1": {**IN, "error": {"message": "Reviewers only"}},
            "2": {"name": "customer.metadata", "property": "plan", "conditions": {"$is": ["gold"]}},
            "logic": "(1) and 2",
        },
        error={"message": "Not for you"},
    )

    body = rules.as_voucherify(assignments_count=2)

    assert body["id"].startswith("val_")
    assert body["object"] == "validation_rules"
    assert body["rules"]["logic"] == "(1) and 2"
    assert body["rules"]["1"] == {
        "name": "customer.segment",
        "property": None,
        "conditions": {"$is": ["seg_reviewers"]},
        "rules": {},
        "error": {"message": "Reviewers only"},
    }
    assert body["rules"]["2"]["property"] == "plan"
    assert body["error"] == {"message": "Not for you"}
    assert (body["type"], body["context_type"], body["assignments_count"]) == ("expression", "global", 2)
    assert body["applicable_to"] == {"excluded": [], "included": [], "included_all": False}

"""Validation and redemption math: gift credits, discounts, state checks, stacking, totals and records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from perkflow.domain.errors import PerkflowError
from perkflow.domain.promotions.redemptions import (
    RedemptionPlan,
    Refusal,
    Stack,
    StackableRequest,
    VoucherRequest,
    legacy_validation_response,
    redeem,
    validation_response,
)
from tests.unit.promotions.factories import NOW, candidate, coupon, gift_card, michael, rule_set, stack, story_campaign


def _applied(result: Stack) -> list[int]:
    return [outcome.applied for outcome in result.outcomes]


def _keys(result: Stack) -> list[str | None]:
    return [outcome.failure.key if outcome.failure else None for outcome in result.outcomes]


def _plan(result: Stack, **kwargs: Any) -> RedemptionPlan:
    plan = redeem(result, now=NOW, tracking_id="track_1", **kwargs)
    assert isinstance(plan, RedemptionPlan)
    return plan


def _refusal(result: Stack, **kwargs: Any) -> Refusal:
    refusal = redeem(result, now=NOW, tracking_id="track_1", **kwargs)
    assert isinstance(refusal, Refusal)
    return refusal


# -- gift cards ---------------------------------------------------------------------------------------------


def test_gift_credits_cover_what_the_order_needs() -> None:
    assert _applied(stack(candidate(gift_card(2500)), amount=4000)) == [2500]
    assert _applied(stack(candidate(gift_card(2500)), amount=1800)) == [1800]


def test_requested_credits_are_spent_as_asked_up_to_the_order() -> None:
    assert _applied(stack(candidate(gift_card(2500), credits=700), amount=4000)) == [700]
    assert _applied(stack(candidate(gift_card(2500), credits=2500), amount=1000)) == [1000]


@pytest.mark.parametrize(("balance", "credits"), [(2500, 2501), (0, None), (0, 1)])
def test_credits_above_the_balance_zero_included_are_gift_amount_exceeded(balance: int, credits: int | None) -> None:
    result = stack(candidate(gift_card(balance), credits=credits))

    assert not result.valid
    outcome = result.outcomes[0]
    assert outcome.status == "INAPPLICABLE"
    assert outcome.failure is not None
    assert (outcome.failure.key, outcome.failure.code, outcome.failure.message) == (
        "gift_amount_exceeded",
        400,
        "gift amount exceeded",
    )


def test_a_gift_card_needs_an_order_amount() -> None:
    assert _keys(stack(candidate(gift_card()), amount=None)) == ["missing_order"]
    assert _keys(stack(candidate(gift_card()), order={"items": [{"quantity": 1}]})) == ["missing_amount"]


def test_the_order_amount_can_come_from_its_items() -> None:
    order = {"items": [{"price": 1000, "quantity": 2}, {"amount": 500}]}

    result = stack(candidate(gift_card(10_000)), order=order)

    assert _applied(result) == [2500]


# -- discounts ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("discount", "amount", "off"),
    [
        ({"type": "AMOUNT", "amount_off": 1000}, 4000, 1000),
        ({"type": "AMOUNT", "amount_off": 5000}, 4000, 4000),  # never below zero
        ({"type": "PERCENT", "percent_off": 20}, 4000, 800),
        ({"type": "PERCENT", "percent_off": 12.5}, 999, 125),  # 124.875 rounds half up
        ({"type": "PERCENT", "percent_off": 50, "amount_limit": 1500}, 4000, 1500),
        ({"type": "FIXED", "fixed_amount": 2999}, 4000, 1001),  # the order now costs 29.99
        ({"type": "FIXED", "fixed_amount": 5000}, 4000, 0),  # already cheaper than the fixed price
        ({"type": "AMOUNT", "amount_off": 1000}, None, 0),  # no order: nothing to take off
    ],
)
def test_each_discount_type(discount: dict[str, Any], amount: int | None, off: int) -> None:
    result = stack(candidate(coupon(discount)), amount=amount)

    assert result.valid
    assert _applied(result) == [off]


def test_percent_applies_to_what_earlier_redeemables_left() -> None:
    # Voucherify's stacking guide: a 200000 order, 100 gift credits, then 20% -> 39980.
    result = stack(
        candidate(gift_card(20_300), credits=100),
        candidate(coupon({"type": "PERCENT", "percent_off": 20})),
        amount=200_000,
    )

    assert _applied(result) == [100, 39_980]
    assert [outcome.discount_so_far for outcome in result.outcomes] == [100, 40_080]
    body = validation_response(result, request_id="v-1", tracking_id="track_1")
    assert body["order"]["total_amount"] == 159_920
    second = body["redeemables"][1]["order"]
    assert (second["discount_amount"], second["applied_discount_amount"], second["total_amount"]) == (
        40_080,
        39_980,
        159_920,
    )


# -- state and time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("voucher_changes", "key"),
    [
        ({"active": False}, "voucher_disabled"),
        ({"expiration_date": NOW - timedelta(days=1)}, "voucher_expired"),
        ({"start_date": NOW + timedelta(days=1)}, "voucher_not_active"),
        ({"redemption_quantity": 3, "redeemed_quantity": 3}, "quantity_exceeded"),
    ],
)
def test_state_and_time_checks(voucher_changes: dict[str, Any], key: str) -> None:
    assert _keys(stack(candidate(gift_card(**voucher_changes)))) == [key]


def test_a_disabled_campaign_disables_its_codes() -> None:
    campaign = story_campaign().with_active(False, NOW)

    assert _keys(stack(candidate(gift_card(), campaign=campaign))) == ["voucher_disabled"]


def test_unknown_codes_and_promotion_tiers_are_not_found() -> None:
    result = stack(candidate(None, code="NOPE"), mode="PARTIAL")
    failure = result.outcomes[0].failure

    assert failure is not None
    assert (failure.key, failure.code, failure.details) == ("not_found", 404, "Cannot find voucher with id NOPE")
    assert (failure.resource_id, failure.resource_type) == ("NOPE", "voucher")


# -- rules in context ---------------------------------------------------------------------------------------


def test_segment_rule_is_checked_with_the_segments_given_now() -> None:
    reviewers = rule_set(
        {"1": {"name": "customer.segment", "conditions": {"$is": ["seg_reviewers"]}}, "logic": "1"},
        error={"message": "Reviewers only"},
    )
    card = candidate(gift_card(), rules=(reviewers,))

    outsider = stack(card, customer=michael())
    reviewer = stack(card, customer=michael(), segments=frozenset({"seg_reviewers"}))

    assert _keys(outsider) == ["customer_rules_violated"]
    error = validation_response(outsider, request_id="v-1", tracking_id="t")["redeemables"][0]["result"]["error"]
    assert error["error"] == {"message": "Reviewers only"}
    assert error["details"].startswith("Gift Card cannot be redeemed because of violated validation rules: val_")
    assert reviewer.valid


def test_order_amount_rules_see_the_amount_left_by_earlier_redeemables() -> None:
    minimum = rule_set({"1": {"name": "order.amount", "conditions": {"$more_than_or_equal": [3000]}}})

    first = stack(
        candidate(coupon({"type": "AMOUNT", "amount_off": 500}), rules=(minimum,)), candidate(gift_card(1500))
    )
    last = stack(candidate(gift_card(1500)), candidate(coupon({"type": "AMOUNT", "amount_off": 500}), rules=(minimum,)))

    assert first.valid
    assert _keys(last) == [None, "order_rules_violated"]


def test_per_customer_limit_uses_the_customers_earlier_redemptions() -> None:
    once = rule_set({"1": {"name": "redemption.count.per_customer", "conditions": {"$less_than_or_equal": [1]}}})

    assert stack(candidate(gift_card(), rules=(once,)), customer=michael()).valid
    again = stack(candidate(gift_card(), rules=(once,), customer_redemptions=1), customer=michael())
    assert _keys(again) == ["redemption_rules_violated"]


# -- stacking modes -----------------------------------------------------------------------------------------


def test_all_mode_skips_what_follows_a_failure() -> None:
    result = stack(
        candidate(coupon({"type": "AMOUNT", "amount_off": 500})),
        candidate(gift_card(active=False)),
        candidate(gift_card(code="OTHER")),
    )

    assert not result.valid
    assert [outcome.status for outcome in result.outcomes] == ["APPLICABLE", "INAPPLICABLE", "SKIPPED"]
    body = validation_response(result, request_id="v-1", tracking_id="t")
    assert body["valid"] is False
    assert [item["id"] for item in body["inapplicable_redeemables"]] == ["GIFT-AAAA-BBBB"]
    assert body["skipped_redeemables"][0]["result"]["details"]["key"] == "preceding_validation_failed"


def test_partial_mode_applies_what_it_can() -> None:
    result = stack(
        candidate(gift_card(active=False)),
        candidate(coupon({"type": "AMOUNT", "amount_off": 500})),
        mode="PARTIAL",
    )

    assert result.valid
    assert [outcome.status for outcome in result.outcomes] == ["INAPPLICABLE", "APPLICABLE"]
    assert result.discount == 500
    assert (
        validation_response(result, request_id="v", tracking_id="t")["stacking_rules"]["redeemables_application_mode"]
        == "PARTIAL"
    )


# -- answers ------------------------------------------------------------------------------------------------


def test_the_story_validation_answer() -> None:
    # reference/voucherify.md §4.4 step 9: valid, 2500 credits, total 1500.
    body = validation_response(
        stack(candidate(gift_card()), customer=michael()), request_id="v-1", tracking_id="track_1"
    )

    assert body["valid"] is True
    assert body["id"].startswith("valid_")
    (redeemable,) = body["redeemables"]
    assert redeemable["status"] == "APPLICABLE"
    assert redeemable["result"] == {"gift": {"credits": 2500, "balance": 2500}}
    order = body["order"]
    assert (order["amount"], order["discount_amount"], order["total_amount"]) == (4000, 2500, 1500)
    assert (order["applied_discount_amount"], order["total_applied_discount_amount"]) == (2500, 2500)
    assert order["customer_id"] == michael().id
    assert body["tracking_id"] == "track_1"


def test_a_session_is_echoed_only_on_a_valid_validation() -> None:
    request = StackableRequest.model_validate({"redeemables": [{"id": "X"}], "session": {"type": "LOCK"}})
    valid = validation_response(stack(candidate(gift_card())), request_id="v", tracking_id="t", session=request.session)
    invalid = validation_response(stack(candidate(None)), request_id="v", tracking_id="t", session=request.session)

    assert valid["session"]["key"].startswith("ssn_")
    assert (valid["session"]["type"], valid["session"]["ttl"], valid["session"]["ttl_unit"]) == ("LOCK", 7, "DAYS")
    assert "session" not in invalid


def test_legacy_validation_answers_200_shapes() -> None:
    valid = legacy_validation_response(stack(candidate(gift_card(2500))), request_id="v-1", tracking_id="t")
    invalid = legacy_validation_response(
        stack(candidate(gift_card(expiration_date=NOW))), request_id="v-1", tracking_id="t"
    )

    assert valid["valid"] is True
    assert valid["gift"] == {"amount": 2500, "subtracted_amount": 0, "balance": 2500, "effect": "APPLY_TO_ORDER"}
    assert valid["order"]["total_amount"] == 1500
    assert invalid == {
        "valid": False,
        "code": "GIFT-AAAA-BBBB",
        "reason": "voucher expired",
        "error": {
            "code": 400,
            "key": "voucher_expired",
            "message": "voucher expired",
            "details": "GIFT-AAAA-BBBB",
            "request_id": "v-1",
        },
        "tracking_id": "t",
        "customer_id": None,
        "metadata": {},
    }


# -- redemption ---------------------------------------------------------------------------------------------


def test_a_stacked_redemption_plans_records_and_voucher_changes() -> None:
    card = gift_card(2500, redemption_quantity=5, redeemed_quantity=1)
    result = stack(
        candidate(card), candidate(coupon({"type": "AMOUNT", "amount_off": 300})), amount=4000, customer=michael()
    )

    plan = _plan(result, order_id="ord_1")

    spent, discounted = plan.vouchers
    assert spent.gift is not None
    assert spent.gift.balance == 0
    assert (spent.redeemed_quantity, spent.redeemed_amount) == (2, 2500)
    assert (discounted.redeemed_quantity, discounted.redeemed_amount) == (1, 0)
    body = plan.as_voucherify("v-1")
    parent = body["parent_redemption"]
    children = body["redemptions"]
    assert parent["id"].startswith("r_")
    assert parent["related_object_type"] == "redemption"
    assert [child["redemption"] for child in children] == [parent["id"], parent["id"]]
    assert [child.get("amount") for child in children] == [2500, None]
    assert children[0]["voucher"]["gift"]["balance"] == 0
    assert body["order"]["id"] == "ord_1"
    assert body["order"]["status"] == "PAID"
    assert (body["order"]["discount_amount"], body["order"]["total_amount"]) == (2800, 1200)
    assert body["order"]["redemptions"][parent["id"]]["stacked"] == [child["id"] for child in children]
    assert children[1]["order"]["applied_discount_amount"] == 300


def test_a_legacy_redemption_is_one_record_without_parent() -> None:
    plan = _plan(stack(candidate(gift_card()), customer=michael()), stacked=False)

    body = plan.legacy_response()

    assert plan.parent is None
    assert plan.redemptions[0].parent_id is None
    assert "redemption" not in body
    assert "status" not in body
    assert (body["amount"], body["gift"]) == (2500, {"amount": 2500})
    assert body["order"]["id"].startswith("ord_")
    assert body["order"]["redemptions"][body["id"]]["related_object_type"] == "voucher"
    assert body["customer"]["source_id"] == "michael.scott"


def test_a_refused_redemption_keeps_a_failed_record_and_answers_the_key() -> None:
    refusal = _refusal(stack(candidate(gift_card(0)), customer=michael()))

    record = refusal.redemption.as_voucherify()
    assert record["id"].startswith("rf_")
    assert (record["result"], record["status"], record["failure_code"]) == ("FAILURE", "FAILED", "gift_amount_exceeded")
    error = refusal.error
    assert (error.status, error.key) == (400, "gift_amount_exceeded")
    assert error.body("v-1") == {
        "code": 400,
        "key": "gift_amount_exceeded",
        "message": "gift amount exceeded",
        "details": "GIFT-AAAA-BBBB",
        "request_id": "v-1",
        "resource_id": record["id"],
        "resource_type": "redemption",
    }


def test_redeeming_twice_drains_then_refuses() -> None:
    first = _plan(stack(candidate(gift_card(2500))))
    (drained,) = first.vouchers

    assert _refusal(stack(candidate(drained))).failure.key == "gift_amount_exceeded"


def test_a_refused_unknown_code_answers_404() -> None:
    refusal = _refusal(stack(candidate(None, code="NOPE")))

    assert (refusal.error.status, refusal.error.key) == (404, "not_found")
    assert refusal.redemption.related_object_id == "NOPE"


def test_partial_redemption_lists_what_it_left_out() -> None:
    result = stack(
        candidate(gift_card(active=False)), candidate(coupon({"type": "AMOUNT", "amount_off": 500})), mode="PARTIAL"
    )

    body = _plan(result).as_voucherify("v-1")

    assert len(body["redemptions"]) == 1
    assert [item["id"] for item in body["inapplicable_redeemables"]] == ["GIFT-AAAA-BBBB"]
    assert _refusal(stack(candidate(gift_card(active=False)), mode="PARTIAL")).failure.key == "voucher_disabled"


def test_nothing_to_redeem_is_invalid_redeemables() -> None:
    with pytest.raises(PerkflowError) as caught:
        redeem(stack(), now=NOW, tracking_id=None)
    assert caught.value.key == "invalid_redeemables"


# -- requests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redeemables", "key"),
    [
        ([], "invalid_redeemables"),
        ([{"object": "voucher", "id": f"C{index}"} for index in range(31)], "invalid_redeemables"),
        ([{"object": "voucher", "id": "A"}, {"object": "voucher", "id": "A"}], "duplicated_redeemables"),
    ],
)
def test_malformed_redeemables_are_refused(redeemables: list[dict[str, Any]], key: str) -> None:
    with pytest.raises(PerkflowError) as caught:
        StackableRequest.model_validate({"redeemables": redeemables}).checked()
    assert (caught.value.key, caught.value.status) == (key, 400)


def test_one_voucher_named_by_code_and_by_id_is_a_duplicate() -> None:
    card = gift_card()

    with pytest.raises(PerkflowError) as caught:
        stack(candidate(card), candidate(card, code=card.id))
    assert caught.value.key == "duplicated_redeemables"


def test_the_v2_sdk_stackable_body_parses() -> None:
    request = StackableRequest.model_validate(
        {
            "customer": {"source_id": "michael.scott"},
            "redeemables": [{"object": "voucher", "id": "GIFT-AAAA-BBBB", "gift": {"credits": 100}}],
            "order": {
                "amount": 4000,
                "items": [{"product_id": "prod_1", "quantity": 1, "price": 4000, "product": {"name": "Mug"}}],
            },
            "session": {"type": "LOCK", "ttl": 1, "ttl_unit": "HOURS"},
            "options": {"expand": ["order"]},
        }
    ).checked()

    assert request.redeemables[0].gift is not None
    assert request.redeemables[0].gift.credits == 100
    assert request.order is not None
    assert request.order.as_voucherify(discount_amount=0, applied_discount_amount=0, customer_id=None)["items"][0][
        "product"
    ] == {"name": "Mug"}


def test_a_legacy_body_is_a_stack_of_one() -> None:
    request = VoucherRequest.model_validate({"order": {"amount": 100}, "gift": {"credits": 50}, "tracking_id": "t"})

    stackable = request.as_stackable("GIFT-AAAA-BBBB")

    assert [(item.id, item.gift.credits if item.gift else None) for item in stackable.redeemables] == [
        ("GIFT-AAAA-BBBB", 50)
    ]
    assert stackable.order == request.order

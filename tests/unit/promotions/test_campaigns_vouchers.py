"""Campaigns, vouchers and gift balance: what the SDK sends, what is refused, what Voucherify shapes come back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from perkflow.domain.errors import PerkflowError
from perkflow.domain.promotions.campaigns import Campaign, CampaignCreateRequest, add_duration
from perkflow.domain.promotions.vouchers import (
    BalanceRequest,
    Discount,
    Voucher,
    VoucherCreateRequest,
    change_balance,
)
from tests.unit.promotions.factories import CHARSET, NOW, PATTERN, STORY_CAMPAIGN, coupon, gift_card, story_campaign


def _campaign_error(**changes: Any) -> PerkflowError:
    with pytest.raises(PerkflowError) as caught:
        story_campaign(**changes)
    return caught.value


def test_the_story_campaign_comes_back_in_voucherify_shape() -> None:
    campaign = story_campaign()

    body = campaign.as_voucherify()

    assert body["id"].startswith("camp_")
    assert body["object"] == "campaign"
    assert (body["name"], body["campaign_type"], body["type"]) == ("Review gift card", "GIFT_VOUCHERS", "AUTO_UPDATE")
    assert body["join_once"] is True
    assert body["vouchers_count"] == 100
    assert body["creation_status"] == body["vouchers_generation_status"] == "IN_PROGRESS"
    assert body["voucher"] == {
        "type": "GIFT_VOUCHER",
        "gift": {"amount": 2500, "balance": 2500, "effect": "APPLY_TO_ORDER"},
        "redemption": {"quantity": None},
        "code_config": {"length": 8, "charset": CHARSET, "pattern": PATTERN},
        "is_referral_code": False,
    }
    assert campaign.validation_rules == ("val_reviewers",)
    assert campaign.generation_finished(NOW).as_voucherify()["creation_status"] == "DONE"


def test_a_campaign_without_codes_to_generate_is_done_at_once() -> None:
    assert story_campaign(vouchers_count=0).generation_status == "DONE"


def test_campaign_type_and_voucher_type_follow_from_each_other() -> None:
    from_voucher = story_campaign(campaign_type=None)
    body = {**STORY_CAMPAIGN, "voucher": {"discount": {"type": "AMOUNT", "amount_off": 500}}}
    from_campaign = Campaign.create(
        CampaignCreateRequest.model_validate({**body, "campaign_type": "DISCOUNT_COUPONS"}), NOW
    )

    assert from_voucher.campaign_type == "GIFT_VOUCHERS"
    assert from_campaign.voucher.type == "DISCOUNT_VOUCHER"
    assert from_campaign.voucher.discount == Discount(type="AMOUNT", amount_off=500, effect="APPLY_TO_ORDER")


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"campaign_type": "PROMOTION"}, "invalid_campaign_params"),
        ({"campaign_type": "DISCOUNT_COUPONS"}, "invalid_campaign_params"),  # with a GIFT_VOUCHER template
        ({"campaign_type": None, "voucher": {"gift": {"amount": 1}}}, "invalid_campaign_params"),
        ({"type": "STANDALONE"}, "invalid_campaign_params"),
        ({"validity_day_of_week": [1, 2]}, "invalid_campaign_params"),
        ({"start_date": "2026-12-01", "expiration_date": "2026-11-01"}, "invalid_campaign_params"),
        ({"activity_duration_after_publishing": "30 days"}, "invalid_campaign_params"),
        ({"voucher": {"type": "GIFT_VOUCHER", "gift": {}}}, "invalid_voucher"),
        ({"voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 5, "effect": "APPLY_TO_ITEMS"}}}, "invalid_voucher"),
        (
            {
                "vouchers_count": 100,
                "voucher": {**STORY_CAMPAIGN["voucher"], "code_config": {"pattern": "G-###", "charset": "ABC"}},
            },
            "invalid_code_config",
        ),
    ],
)
def test_bad_campaigns_are_refused_with_voucherify_keys(changes: dict[str, Any], key: str) -> None:
    error = _campaign_error(**changes)

    assert error.key == key
    assert error.status == 400


def test_existing_codes_of_the_same_shape_count_against_capacity() -> None:
    request = CampaignCreateRequest.model_validate(
        {
            **STORY_CAMPAIGN,
            "vouchers_count": 10,
            "voucher": {**STORY_CAMPAIGN["voucher"], "code_config": {"length": 4, "charset": "Numbers"}},
        }
    )

    Campaign.create(request, NOW, existing_codes=90)
    with pytest.raises(PerkflowError, match="room to spare"):
        Campaign.create(request, NOW, existing_codes=91)


def test_unit_discounts_are_not_a_valid_request() -> None:
    with pytest.raises(ValidationError):
        CampaignCreateRequest.model_validate(
            {**STORY_CAMPAIGN, "voucher": {"discount": {"type": "UNIT", "unit_off": 1}}}
        )


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        ("P30D", datetime(2026, 12, 24, 12, tzinfo=UTC)),
        ("PT12H", datetime(2026, 11, 25, 0, tzinfo=UTC)),
        ("P1W", datetime(2026, 12, 1, 12, tzinfo=UTC)),
        ("P1Y2M3DT4H5M6S", datetime(2028, 1, 27, 16, 5, 6, tzinfo=UTC)),
    ],
)
def test_iso_durations_add_as_calendar_time(duration: str, expected: datetime) -> None:
    assert add_duration(NOW, duration) == expected


def test_a_month_after_january_31_is_the_end_of_february() -> None:
    assert add_duration(datetime(2028, 1, 31, tzinfo=UTC), "P1M") == datetime(2028, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize("duration", ["P", "PT", "30D", "P1.5D", "P1DT", "p30d"])
def test_malformed_durations_are_refused(duration: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        add_duration(NOW, duration)


def test_a_published_code_expires_after_the_activity_duration_but_not_after_the_campaign() -> None:
    campaign = story_campaign(activity_duration_after_publishing="P30D", expiration_date="2027-01-01T00:00:00Z")

    assert campaign.expiration_for(NOW) == NOW + timedelta(days=30)
    assert campaign.expiration_for(NOW + timedelta(days=20)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert story_campaign().expiration_for(NOW) is None


def test_a_campaign_code_copies_the_template_and_dates() -> None:
    campaign = story_campaign(start_date="2026-11-01", expiration_date="2027-11-01")

    voucher = campaign.new_voucher("GIFT-AAAA-BBBB", NOW)

    assert voucher.id.startswith("v_")
    assert (voucher.campaign, voucher.campaign_id, voucher.type) == ("Review gift card", campaign.id, "GIFT_VOUCHER")
    assert voucher.gift is not None
    assert (voucher.gift.amount, voucher.gift.balance) == (2500, 2500)
    assert voucher.start_date == datetime(2026, 11, 1, tzinfo=UTC)
    assert voucher.expiration_date == datetime(2027, 11, 1, tzinfo=UTC)


def test_publication_sets_the_holder_counts_and_moves_expiry() -> None:
    deadline = NOW + timedelta(days=30)

    published = gift_card().published_to("cust_1", NOW, deadline)

    body = published.as_voucherify()
    assert body["holder_id"] == "cust_1"
    assert body["publish"]["count"] == 1
    assert body["expiration_date"] == "2026-12-24T12:00:00.000Z"


def test_a_standalone_voucher_from_the_v2_sdk() -> None:
    # vouchers.create({code, type, discount, redemption, metadata}) -> POST /v1/vouchers/{code} with the same body
    request = VoucherCreateRequest.model_validate(
        {
            "code": "SUMMER/10%",
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "PERCENT", "percent_off": 10, "amount_limit": 1000, "amount_off": 5},
            "redemption": {"quantity": 2},
            "metadata": {"channel": "email"},
            "expiration_date": "2027-01-01T00:00:00+01:00",
        }
    )

    body = Voucher.create(request, NOW).as_voucherify()

    assert body["code"] == "SUMMER/10%"
    assert body["discount"] == {
        "type": "PERCENT",
        "percent_off": 10,
        "amount_limit": 1000,
        "effect": "APPLY_TO_ORDER",
        "is_dynamic": False,
    }
    assert body["redemption"]["quantity"] == 2
    assert body["redemption"]["url"] == "/v1/vouchers/SUMMER%2F10%25/redemptions?page=1&limit=10"
    assert body["expiration_date"] == "2026-12-31T23:00:00.000Z"
    assert body["metadata"] == {"channel": "email"}


def test_a_voucher_without_code_draws_one_from_its_code_config() -> None:
    request = VoucherCreateRequest.model_validate(
        {"type": "GIFT_VOUCHER", "gift": {"amount": 5000}, "code_config": {"pattern": PATTERN, "charset": CHARSET}}
    )

    voucher = Voucher.create(request, NOW)

    assert re.fullmatch(r"GIFT-[A-Z2-9]{4}-[A-Z2-9]{4}", voucher.code)
    assert voucher.gift is not None
    assert voucher.gift.balance == 5000


@pytest.mark.parametrize(
    "body",
    [
        {"code": "", "type": "GIFT_VOUCHER", "gift": {"amount": 1}},
        {"code": "A\tB", "type": "GIFT_VOUCHER", "gift": {"amount": 1}},
        {"code": "A", "type": "GIFT_VOUCHER"},
        {"code": "A", "type": "DISCOUNT_VOUCHER", "discount": {"type": "FIXED"}},
        {
            "code": "A",
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "AMOUNT", "amount_off": 1, "effect": "APPLY_TO_ITEMS"},
        },
    ],
)
def test_bad_vouchers_are_invalid_voucher(body: dict[str, Any]) -> None:
    with pytest.raises(PerkflowError) as caught:
        Voucher.create(VoucherCreateRequest.model_validate(body), NOW)
    assert caught.value.key == "invalid_voucher"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"active": False}, "voucher_disabled"),
        ({"start_date": NOW + timedelta(seconds=1)}, "voucher_not_active"),
        ({"expiration_date": NOW}, "voucher_expired"),
        ({"redemption_quantity": 1, "redeemed_quantity": 1}, "quantity_exceeded"),
    ],
)
def test_an_unusable_voucher_says_why(changes: dict[str, Any], key: str) -> None:
    failure = gift_card(**changes).unusable(NOW)

    assert failure is not None
    assert (failure.key, failure.details, failure.code) == (key, "GIFT-AAAA-BBBB", 400)


def test_a_voucher_in_its_window_and_under_its_limit_is_usable() -> None:
    voucher = gift_card(
        start_date=NOW, expiration_date=NOW + timedelta(seconds=1), redemption_quantity=2, redeemed_quantity=1
    )

    assert voucher.unusable(NOW) is None


def test_adding_balance_raises_income_and_balance() -> None:
    change = change_balance(gift_card(balance=100), BalanceRequest(amount=10_000), NOW)

    assert change.as_voucherify() == {
        "amount": 10_000,
        "total": 12_500,
        "balance": 10_100,
        "type": "gift_voucher",
        "operation_type": "MANUAL",
        "object": "balance",
        "related_object": {"type": "voucher", "id": "v_GIFT-AAAA-BBBB"},
    }
    assert change.voucher.updated_at == NOW


def test_removing_balance_counts_as_subtracted() -> None:
    change = change_balance(gift_card(balance=2000), BalanceRequest(amount=-500), NOW)

    assert change.voucher.gift is not None
    assert (change.voucher.gift.balance, change.voucher.gift.subtracted_amount, change.voucher.gift.amount) == (
        1500,
        500,
        2500,
    )


@pytest.mark.parametrize(
    ("voucher", "amount", "key"),
    [
        (gift_card(balance=400), -401, "gift_amount_exceeded"),
        (gift_card(), 0, "invalid_add_balance_params"),
        (coupon({"type": "AMOUNT", "amount_off": 100}), 100, "invalid_add_balance_params"),
    ],
)
def test_impossible_balance_changes_are_refused(voucher: Voucher, amount: int, key: str) -> None:
    with pytest.raises(PerkflowError) as caught:
        change_balance(voucher, BalanceRequest(amount=amount), NOW)
    assert caught.value.key == key


def test_the_voucher_event_ref_carries_money() -> None:
    ref = gift_card(balance=700).ref()

    assert (ref.code, ref.type, ref.gift_amount, ref.gift_balance) == ("GIFT-AAAA-BBBB", "GIFT_VOUCHER", 2500, 700)


def test_models_round_trip_through_json_for_storage() -> None:
    campaign = story_campaign(activity_duration_after_publishing="P30D", expiration_date="2027-01-01")
    voucher = campaign.new_voucher("GIFT-AAAA-BBBB", NOW).published_to("cust_1", NOW, campaign.expiration_for(NOW))
    percent = coupon({"type": "PERCENT", "percent_off": 12.5, "amount_limit": 100})

    for model in (campaign, voucher, percent):
        dumped = model.model_dump(mode="json")
        assert type(model).model_validate(dumped) == model
    assert voucher.model_dump(mode="json")["expiration_date"] == "2026-12-24T12:00:00.000Z"

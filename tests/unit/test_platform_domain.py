"""Pure domain pieces of the platform: ids, time, money, the event catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from perkflow.domain import events, ids, money, timeutil

DESIGN_DETAIL_TYPES = {
    "customer.created", "customer.updated", "customer.event.recorded", "customer.segment.entered",
    "customer.segment.left", "publication.succeeded", "redemption.succeeded", "redemption.failed",
    "redemption.rollback.succeeded", "voucher.gift.balance_added", "campaign.vouchers.generation.completed",
    "loyalty.points.earned", "loyalty.points.redeemed", "loyalty.points.expiring", "loyalty.points.expired",
    "loyalty.tier.achieved", "loyalty.referral.started", "loyalty.referral.completed",
    "loyalty.reward.issued", "loyalty.reward.expiring",
}  # fmt: skip


def test_catalogue_holds_exactly_the_design_detail_types() -> None:
    assert set(events.CATALOGUE) == DESIGN_DETAIL_TYPES


def test_every_detail_carries_id_version_and_utc_time() -> None:
    tier = events.LoyaltyTierAchieved(
        event_id="evt_1",
        occurred_at=datetime(2026, 11, 24, 6, 30, tzinfo=UTC),
        customer=events.CustomerRef(id="cust_1", source_id="michael.scott"),
        program=events.ProgramRef(id="camp_1", name="Dunder Points"),
        tier=events.TierRef(id="ltr_gold", name="Gold", rank=2),
        previous_tier=events.TierRef(id="ltr_silver", name="Silver", rank=1),
        direction="up",
    )

    detail = tier.detail()

    assert detail["event_id"] == "evt_1"
    assert detail["version"] == 1
    assert detail["occurred_at"] == "2026-11-24T06:30:00.000Z"
    parsed = events.parse_detail("loyalty.tier.achieved", detail)
    assert parsed == tier


def test_consumers_ignore_fields_added_later_but_reject_missing_ones() -> None:
    detail = {
        "event_id": "evt_2", "version": 1, "occurred_at": "2026-11-24T06:30:00Z",
        "customer": {"id": "cust_1", "future_field": 1}, "changed": ["email"], "new_optional": True,
    }  # fmt: skip
    assert events.parse_detail("customer.updated", detail).event_id == "evt_2"
    with pytest.raises(ValidationError):
        events.parse_detail("customer.updated", {"event_id": "evt_3", "version": 1})


def test_random_ids_are_prefixed_and_distinct_and_stable_ids_repeat() -> None:
    generated = {ids.new_id("cust_") for _ in range(1000)}
    assert len(generated) == 1000
    assert all(value.startswith("cust_") and len(value) == 29 for value in generated)
    assert ids.stable_id("evt_", "m-1", "track") == ids.stable_id("evt_", "m-1", "track")
    assert ids.stable_id("evt_", "m-1", "track") != ids.stable_id("evt_", "m-1", "identify")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T05:25:45.458+00:00", "2026-11-24T05:25:45.458Z"),
        ("2026-11-24T05:25:45.458123Z", "2026-11-24T05:25:45.458Z"),
        ("2026-11-24T07:25:45+02:00", "2026-11-24T05:25:45.000Z"),
        ("2026-11-24T05:25:45", "2026-11-24T05:25:45.000Z"),
        ("2026-11-24", "2026-11-24T00:00:00.000Z"),
    ],
)
def test_timestamps_parse_what_clients_send_and_print_utc_milliseconds(text: str, expected: str) -> None:
    assert timeutil.iso(timeutil.parse_iso(text)) == expected


def test_bad_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="Invalid isoformat"):
        timeutil.parse_iso("yesterday")


@pytest.mark.parametrize(
    ("amount", "cents"),
    [(25, 2500), ("12.345", 1235), (12.344, 1234), (0.1 + 0.2, 30), ("-1.005", -101), (99.995, 10000)],
)
def test_currency_units_become_integer_cents_half_up(amount: float | str, cents: int) -> None:
    assert money.to_cents(amount) == cents


def test_non_amounts_are_refused() -> None:
    for bad in ("abc", "NaN", float("inf")):
        with pytest.raises(ValueError, match="not an amount"):
            money.to_cents(bad)

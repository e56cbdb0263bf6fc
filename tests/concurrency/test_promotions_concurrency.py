"""Parallel redemptions and publications against the local stack, where each function runs in its own pool
of worker processes and races on DynamoDB Local as Lambda containers would."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from perkflow.domain.customers import customer_id_for
from perkflow_ops.local.harness import RunningStack
from tests.integration.test_promotions_http import api, bus_events, campaign_body, ok, wait_for
from tests.stack_fixtures import Aws

pytestmark = pytest.mark.concurrency


def test_fifty_parallel_redemptions_of_100_against_2500_exactly_25_succeed(race_stack: RunningStack) -> None:
    code = f"CARD-{uuid.uuid4().hex[:10]}"
    ok(race_stack, "POST", f"/v1/vouchers/{code}", {"type": "GIFT_VOUCHER", "gift": {"amount": 2500}})

    def redeem(index: int) -> tuple[int, Any]:
        body = {
            "customer": {"source_id": f"{code}-shopper-{index}"},
            "order": {"amount": 100},
            "redeemables": [{"object": "voucher", "id": code, "gift": {"credits": 100}}],
        }
        return api(race_stack, "POST", "/v1/redemptions", body)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(redeem, range(50)))

    statuses = Counter(status for status, _ in answers)
    refusals = Counter(answer["key"] for status, answer in answers if status != 200)
    voucher = ok(race_stack, "GET", f"/v1/vouchers/{code}")
    entries = ok(race_stack, "GET", f"/v1/vouchers/{code}/redemption")["redemption_entries"]
    assert statuses == {200: 25, 400: 25}, [answer for answer in answers if answer[0] != 200][:3]
    assert refusals == {"gift_amount_exceeded": 25}
    assert voucher["gift"]["balance"] == 0
    assert voucher["redemption"]["redeemed_quantity"] == 25
    assert Counter(entry["result"] for entry in entries) == {"SUCCESS": 25, "FAILURE": 25}
    # Each success answered the balance it left: 2,400 down to 0, each exactly once.
    left = sorted(answer["redemptions"][0]["voucher"]["gift"]["balance"] for status, answer in answers if status == 200)
    assert left == list(range(0, 2500, 100))


def test_parallel_redemptions_of_a_single_use_code_let_exactly_one_through(race_stack: RunningStack) -> None:
    code = f"ONCE-{uuid.uuid4().hex[:10]}"
    ok(
        race_stack,
        "POST",
        f"/v1/vouchers/{code}",
        {"type": "DISCOUNT_VOUCHER", "redemption": {"quantity": 1}, "discount": {"type": "AMOUNT", "amount_off": 500}},
    )

    def redeem(index: int) -> tuple[int, Any]:
        body = {
            "customer": {"source_id": f"{code}-shopper-{index}"},
            "order": {"amount": 1000},
            "redeemables": [{"object": "voucher", "id": code}],
        }
        return api(race_stack, "POST", "/v1/redemptions", body)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(redeem, range(20)))

    assert Counter(status for status, _ in answers) == {200: 1, 400: 19}
    assert {answer["key"] for status, answer in answers if status != 200} == {"quantity_exceeded"}


def test_parallel_publications_never_share_a_code(race_stack: RunningStack) -> None:
    run = uuid.uuid4().hex[:8]
    campaign = ok(race_stack, "POST", "/v1/campaigns", campaign_body(f"Pool {run}", 30, type="STATIC", join_once=False))

    def publish(index: int) -> tuple[int, Any]:
        return api(race_stack, "POST", "/v1/publications", {"campaign": campaign["id"], "customer": f"c{index}-{run}"})

    with ThreadPoolExecutor(max_workers=31) as pool:
        answers = list(pool.map(publish, range(31)))

    codes = [answer["voucher"]["code"] for status, answer in answers if status == 200]
    assert len(codes) == len(set(codes)) == 30
    assert [answer["key"] for status, answer in answers if status != 200] == ["no_voucher_suitable_for_publication"]


def test_twenty_parallel_segment_entries_for_one_customer_publish_exactly_once(
    race_stack: RunningStack, race_aws: Aws
) -> None:
    run = uuid.uuid4().hex[:8]
    segment, source_id = f"seg_{run}", f"michael-{run}"
    campaign = ok(race_stack, "POST", "/v1/campaigns", campaign_body(f"Join once {run}", 40))
    distribution = ok(
        race_stack,
        "POST",
        "/v1/distributions",
        {
            "name": run,
            "trigger": {"type": "customer.segment.entered", "segment_id": segment},
            "action": {"type": "publish", "campaign": campaign["id"]},
        },
    )
    ok(race_stack, "POST", "/v1/customers", {"source_id": source_id})
    bus = race_aws.name("buses", "Bus")

    def enter(index: int) -> None:
        # Ten different entries, each delivered twice (a redelivery carries the same event id).
        detail = {
            "event_id": f"evt_{run}_{index % 10}",
            "version": 1,
            "occurred_at": "2026-11-24T09:00:00.000Z",
            "customer": {"id": customer_id_for(source_id), "source_id": source_id},
            "segment": {"id": segment, "name": "Reviewers"},
        }
        race_aws.events.put_events(
            Entries=[
                {
                    "Source": "perkflow.segments",
                    "DetailType": "customer.segment.entered",
                    "Detail": json.dumps(detail),
                    "EventBusName": bus,
                }
            ]
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(enter, range(20)))

    wait_for(lambda: ok(race_stack, "GET", f"/v1/customers/{source_id}/redeemables")["data"], "a publication")
    time.sleep(3.0)  # let every delivery finish before counting
    wallet = ok(race_stack, "GET", f"/v1/customers/{source_id}/redeemables")["data"]
    published = bus_events(
        race_stack, "publication.succeeded", lambda detail: detail.get("distribution_id") == distribution["id"]
    )
    assert len(wallet) == 1
    assert len(published) == 1

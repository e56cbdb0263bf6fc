"""Campaigns and their codes: synchronous and background generation, exact counts, unique codes, capacity,
names, enable/disable, adding codes, code_config shapes."""

from __future__ import annotations

import re
from typing import Any

import boto3

from perkflow.domain.promotions.codes import NAMED_CHARSETS
from tests.component.promotions.conftest import PATTERN, Promo, enc, story_campaign


def _codes(promo: Promo, campaign_id: str) -> list[str]:
    """Every voucher item of the campaign, straight from the table."""
    client = boto3.client("dynamodb")
    found: list[str] = []
    kwargs: dict[str, Any] = {"TableName": promo.aws.table_name}
    while True:
        page = client.scan(**kwargs)
        found += [
            item["code"]["S"]
            for item in page["Items"]
            if item["sk"]["S"] == "VOUCHER" and item.get("campaign_id", {}).get("S") == campaign_id
        ]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_large_campaign_generates_in_the_background_then_reports_done_once(promo: Promo) -> None:
    created = promo.ok("POST", "/v1/campaigns", story_campaign(vouchers_count=150, name="Big"))
    while_running = promo.ok("GET", f"/v1/campaigns/{created['id']}")
    handled = promo.run_codegen_queue()
    done = promo.ok("GET", "/v1/campaigns/Big")
    events = [event for event in promo.aws.relay_outbox() if event["detail-type"].startswith("campaign.")]
    repeated = promo.run_codegen_queue()

    codes = _codes(promo, created["id"])
    assert created["creation_status"] == while_running["vouchers_generation_status"] == "IN_PROGRESS"
    assert handled == 1  # 150 codes fit in one chunk
    assert done["creation_status"] == "DONE"
    assert done["vouchers_count"] == 150
    assert len(codes) == len(set(codes)) == 150
    assert all(re.fullmatch(r"GIFT-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", code) for code in codes)
    assert [event["detail"]["vouchers_count"] for event in events] == [150]
    assert repeated == 0


def test_a_repeated_chunk_message_writes_nothing_more(promo: Promo, monkeypatch: Any) -> None:
    from perkflow.services.promotions import campaigns

    monkeypatch.setattr(campaigns, "CHUNK", 60)
    created = promo.ok("POST", "/v1/campaigns", story_campaign(vouchers_count=180, name="Chunks"))
    # The first chunk's message is delivered twice; the duplicate finds the chunk done.
    promo.ok("GET", f"/v1/campaigns/{created['id']}")
    import boto3 as aws_sdk

    sqs = aws_sdk.client("sqs")
    first = sqs.receive_message(QueueUrl=promo.codegen_queue_url)["Messages"][0]
    sqs.send_message(QueueUrl=promo.codegen_queue_url, MessageBody=first["Body"])
    sqs.change_message_visibility(
        QueueUrl=promo.codegen_queue_url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )

    handled = promo.run_codegen_queue()

    assert handled == 4  # chunks 0, 1, 2 and the duplicate of 0
    assert len(set(_codes(promo, created["id"]))) == 180
    assert promo.ok("GET", f"/v1/campaigns/{created['id']}")["creation_status"] == "DONE"


def test_a_drawn_code_that_exists_is_replaced_not_overwritten(promo: Promo, monkeypatch: Any) -> None:
    from perkflow.services.promotions import campaigns

    taken = promo.ok("POST", "/v1/vouchers/GIFT-AAAA-AAAA", {"type": "GIFT_VOUCHER", "gift": {"amount": 700}})
    from perkflow.domain.promotions.codes import generate as real_generate

    draws: list[list[str]] = []

    def colliding(config: Any, count: int, *, avoid: Any = frozenset()) -> list[str]:
        codes = real_generate(config, count, avoid=avoid)
        if not draws:
            codes[0] = "GIFT-AAAA-AAAA"  # the first draw hits the standalone voucher's code
        draws.append(codes)
        return codes

    monkeypatch.setattr(campaigns, "generate", colliding)
    campaign = promo.ok("POST", "/v1/campaigns", story_campaign(vouchers_count=30))

    codes = _codes(promo, campaign["id"])
    assert len(draws) == 2  # the refused batch was drawn again without the taken code
    assert "GIFT-AAAA-AAAA" not in codes
    assert len(set(codes)) == 30
    assert promo.ok("GET", "/v1/vouchers/GIFT-AAAA-AAAA")["gift"]["amount"] == taken["gift"]["amount"] == 700


def test_capacity_name_and_input_errors_write_nothing(promo: Promo) -> None:
    tiny = story_campaign(
        name="Tiny",
        vouchers_count=10,
        voucher={"type": "GIFT_VOUCHER", "gift": {"amount": 100}, "code_config": {"pattern": "##", "charset": "AB"}},
    )
    promo.ok("POST", "/v1/campaigns", story_campaign())

    too_small = promo.call("POST", "/v1/campaigns", tiny)
    duplicate = promo.call("POST", "/v1/campaigns", story_campaign())
    unknown_rule = promo.call("POST", "/v1/campaigns", story_campaign("val_nope", name="Ruled"))
    bad_type = promo.call("POST", "/v1/campaigns", story_campaign(name="Loyal", campaign_type="LOYALTY_PROGRAM"))
    not_json = promo.call("POST", "/v1/campaigns", None, headers={"content-type": "application/json"})
    listing = promo.ok("GET", "/v1/campaigns")

    assert (too_small.status, too_small.key) == (400, "invalid_code_config")
    assert (duplicate.status, duplicate.key) == (409, "duplicate_found")
    assert (unknown_rule.status, unknown_rule.key) == (404, "not_found")
    assert (bad_type.status, bad_type.key) == (400, "invalid_campaign_params")
    assert not_json.status == 400
    assert [campaign["name"] for campaign in listing["campaigns"]] == ["Review gift card"]
    assert listing["total"] == 1


def test_a_disabled_campaign_refuses_its_codes_until_enabled(promo: Promo) -> None:
    campaign = promo.ok("POST", "/v1/campaigns", story_campaign())
    promo.customer("jim")
    code = promo.ok("POST", "/v1/publications", {"campaign": campaign["id"], "customer": {"source_id": "jim"}})[
        "voucher"
    ]["code"]
    body = {
        "customer": {"source_id": "jim"},
        "redeemables": [{"object": "voucher", "id": code}],
        "order": {"amount": 100},
    }

    disabled = promo.ok("POST", f"/v1/campaigns/{campaign['id']}/disable")
    refused = promo.ok("POST", "/v1/validations", body)
    no_publication = promo.call("POST", "/v1/publications", {"campaign": campaign["id"], "customer": "jim"})
    enabled = promo.ok("POST", f"/v1/campaigns/{campaign['id']}/enable")
    accepted = promo.ok("POST", "/v1/validations", body)

    assert disabled["active"] is False
    assert refused["redeemables"][0]["result"]["error"]["key"] == "voucher_disabled"
    assert no_publication.key == "voucher_cannot_be_published"
    assert enabled["active"] is True
    assert accepted["valid"] is True


def test_codes_added_to_a_campaign_one_by_one_and_in_bulk(promo: Promo) -> None:
    campaign = promo.ok("POST", "/v1/campaigns", story_campaign(vouchers_count=0, type="STATIC"))

    given = promo.ok("POST", f"/v1/campaigns/{campaign['id']}/vouchers/{enc('GIFT 1/%')}", {})
    drawn = promo.ok("POST", f"/v1/campaigns/{enc('Review gift card')}/vouchers", {})
    bulk = promo.ok("POST", f"/v1/campaigns/{campaign['id']}/vouchers", {}, query="vouchers_count=120")
    promo.run_codegen_queue()
    fetched = promo.ok("GET", f"/v1/vouchers/{enc('GIFT 1/%')}")
    shown = promo.ok("GET", f"/v1/campaigns/{campaign['id']}")

    assert given["code"] == "GIFT 1/%"
    assert fetched["campaign_id"] == campaign["id"]
    assert re.fullmatch(PATTERN.replace("#", "[A-Z2-9]"), drawn["code"])
    assert bulk["async_action_id"].startswith("aa_")
    assert shown["vouchers_count"] == 122
    assert shown["creation_status"] == "DONE"
    assert len(set(_codes(promo, campaign["id"]))) == 122


def test_code_config_length_prefix_postfix_and_named_charsets(promo: Promo) -> None:
    config = {"length": 6, "prefix": "PF-", "postfix": "-Z", "charset": "Numbers"}
    campaign = promo.ok(
        "POST",
        "/v1/campaigns",
        story_campaign(
            name="Nums",
            vouchers_count=5,
            campaign_type="DISCOUNT_COUPONS",
            voucher={
                "type": "DISCOUNT_VOUCHER",
                "discount": {"type": "PERCENT", "percent_off": 10},
                "code_config": config,
            },
        ),
    )

    codes = _codes(promo, campaign["id"])
    assert campaign["voucher"]["code_config"]["charset"] == NAMED_CHARSETS["Numbers"]
    assert all(re.fullmatch(r"PF-\d{6}-Z", code) for code in codes)
    assert len(codes) == 5

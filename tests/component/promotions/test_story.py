"""The promotion story on the handlers: rule, campaign, publication, validation, redemption, rollback, balance."""

from __future__ import annotations

from tests.component.promotions.conftest import REVIEWERS, Promo, enc, reviewers_rule, story_campaign


def test_reviewer_gets_validates_redeems_and_rolls_back_a_gift_card(promo: Promo) -> None:
    rule = promo.ok("POST", "/v1/validation-rules", reviewers_rule())
    campaign = promo.ok("POST", "/v1/campaigns", story_campaign(rule["id"]))
    promo.customer("michael.scott", name="Michael Scott", email="michael@dundermifflin.com")
    promo.customer("dwight", name="Dwight")
    promo.enter_segment("michael.scott", REVIEWERS)

    publication = promo.ok(
        "POST",
        "/v1/publications",
        {"campaign": {"name": "Review gift card"}, "customer": {"source_id": "michael.scott"}},
    )
    code = publication["voucher"]["code"]
    order = {"amount": 4000}
    stranger = promo.ok(
        "POST",
        "/v1/validations",
        {"customer": {"source_id": "dwight"}, "redeemables": [{"object": "voucher", "id": code}], "order": order},
    )
    valid = promo.ok(
        "POST",
        "/v1/validations",
        {
            "customer": {"source_id": "michael.scott"},
            "redeemables": [{"object": "voucher", "id": code}],
            "order": order,
        },
    )
    redeemed = promo.ok(
        "POST",
        "/v1/redemptions",
        {
            "customer": {"source_id": "michael.scott"},
            "redeemables": [{"object": "voucher", "id": code}],
            "order": order,
        },
    )
    again = promo.call(
        "POST",
        "/v1/redemptions",
        {
            "customer": {"source_id": "michael.scott"},
            "redeemables": [{"object": "voucher", "id": code}],
            "order": order,
        },
    )
    after_redeem = promo.ok("GET", f"/v1/vouchers/{enc(code)}")
    rollback = promo.ok("POST", f"/v1/redemptions/{redeemed['parent_redemption']['id']}/rollbacks")
    after_rollback = promo.ok("GET", f"/v1/vouchers/{enc(code)}")
    balance = promo.ok("POST", f"/v1/vouchers/{enc(code)}/balance", {"amount": 1000})

    assert campaign["creation_status"] == "DONE"
    assert campaign["vouchers_count"] == 20
    assert publication["voucher"]["holder_id"] == publication["customer_id"]
    assert stranger["valid"] is False
    assert stranger["redeemables"][0]["result"]["error"]["key"] == "customer_rules_violated"
    assert stranger["redeemables"][0]["result"]["error"]["error"] == {"message": "Reviewers only"}
    assert valid["valid"] is True
    assert valid["redeemables"][0]["result"]["gift"]["credits"] == 2500
    assert valid["order"]["total_amount"] == 1500
    assert redeemed["parent_redemption"]["result"] == "SUCCESS"
    assert redeemed["redemptions"][0]["amount"] == 2500
    assert after_redeem["gift"]["balance"] == 0
    assert (again.status, again.key) == (400, "gift_amount_exceeded")
    assert again.body["resource_id"].startswith("rf_")
    assert rollback["parent_rollback"]["result"] == "SUCCESS"
    assert after_rollback["gift"]["balance"] == 2500
    assert balance["balance"] == 3500


def test_the_story_announces_every_change_once_and_keeps_the_summary(promo: Promo) -> None:
    michael = promo.customer("michael.scott", name="Michael Scott")
    promo.aws.relay_outbox()
    promo.ok("POST", "/v1/campaigns", story_campaign())
    publication = promo.ok(
        "POST", "/v1/publications", {"campaign": "Review gift card", "customer": {"source_id": "michael.scott"}}
    )
    code = publication["voucher"]["code"]
    body = {
        "customer": {"source_id": "michael.scott"},
        "redeemables": [{"object": "voucher", "id": code}],
        "order": {"source_id": "order-1", "amount": 1800},
    }
    redeemed = promo.ok("POST", "/v1/redemptions", body)
    refused = promo.call(
        "POST",
        "/v1/redemptions",
        {
            **body,
            "order": {"amount": 5000},
            "redeemables": [{"object": "voucher", "id": code, "gift": {"credits": 900}}],
        },
    )
    promo.ok("POST", f"/v1/redemptions/{redeemed['redemptions'][0]['id']}/rollback", query="reason=wrong+order")
    promo.ok("POST", f"/v1/vouchers/{enc(code)}/balance", {"amount": 500, "source_id": "topup-1"})

    events = promo.aws.relay_outbox()
    customer = promo.ok("GET", "/v1/customers/michael.scott")
    activity = promo.ok("GET", "/v1/customers/michael.scott/activity", query="limit=20")

    kinds = sorted(event["detail-type"] for event in events)
    assert kinds == [
        "campaign.vouchers.generation.completed",
        "publication.succeeded",
        "redemption.failed",
        "redemption.rollback.succeeded",
        "redemption.succeeded",
        "voucher.gift.balance_added",
    ]
    by_kind = {event["detail-type"]: event["detail"] for event in events}
    assert by_kind["publication.succeeded"]["voucher"]["code"] == code
    assert by_kind["publication.succeeded"]["customer"]["source_id"] == "michael.scott"
    assert by_kind["redemption.succeeded"]["amount"] == 1800
    assert by_kind["redemption.failed"]["failure_key"] == "gift_amount_exceeded"
    assert by_kind["voucher.gift.balance_added"]["balance"] == 2500 - 1800 + 1800 + 500
    assert refused.key == "gift_amount_exceeded"
    assert promo.aws.relay_outbox() == []  # nothing is announced twice
    summary = customer["summary"]["redemptions"]
    assert (summary["total_redeemed"], summary["total_succeeded"], summary["total_failed"]) == (2, 1, 1)
    assert (summary["total_rolled_back"], summary["total_rollback_succeeded"]) == (1, 1)
    assert summary["gift"] == {"redeemed_amount": 0, "amount_to_go": 3000}
    assert customer["summary"]["orders"]["total_amount"] == 1800
    assert customer["summary"]["orders"]["total_count"] == 1
    types = [item["type"] for item in activity["data"]]
    assert types.count("customer.publication.succeeded") == 1
    assert types.count("customer.redemption.succeeded") == 1
    assert types.count("customer.redemption.failed") == 1
    assert types.count("customer.redemption.rollback.succeeded") == 1
    assert michael["id"] == customer["id"]

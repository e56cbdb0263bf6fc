"""perkflow's promotion answers, taken over HTTP from the local stack, against Voucherify's published response
schemas (tests/contract/spec/voucherify_fragments.json: the parts used, with their source)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest

from perkflow_ops.local.harness import RunningStack
from tests.contract.checker import SCHEMAS, check, problems
from tests.integration.test_promotions_http import campaign_body, ok, static_segment

pytestmark = pytest.mark.integration


def test_the_checker_notices_broken_answers() -> None:
    # A contract test that cannot fail proves nothing: break a valid body and watch the checker object.
    valid = {"object": "list", "data_ref": "campaigns", "campaigns": [], "total": 0}
    assert check("GET /v1/campaigns", valid) == []
    assert check("GET /v1/campaigns", {**valid, "total": "0"}) == ["$.total: str where integer is expected"]
    assert check("GET /v1/campaigns", {**valid, "totl": 0}) == ["$.totl: not in the spec"]
    assert problems({"$ref": "#/components/schemas/RedemptionsGetResponseBody"}, {"object": "coupon"})
    assert "Voucher" in SCHEMAS


def _client_headers(stack: RunningStack) -> dict[str, str]:
    origin = stack.credentials["PERKFLOW_CLIENT_ORIGINS"].split(",")[0]
    return {
        "X-Client-Application-Id": stack.credentials["PERKFLOW_CLIENT_APP_ID"],
        "X-Client-Token": stack.credentials["PERKFLOW_CLIENT_TOKEN"],
        "Origin": origin,
    }


def test_every_promotion_answer_matches_the_voucherify_schema(stack: RunningStack) -> None:
    run = uuid.uuid4().hex[:8]
    answers: dict[str, Any] = {}
    michael = f"michael-{run}"
    ok(stack, "POST", "/v1/customers", {"source_id": michael, "name": "Michael Scott"})
    segment = static_segment(stack, f"Contract {run}", michael)
    rule = ok(
        stack,
        "POST",
        "/v1/validation-rules",
        {
            "name": f"rule {run}",
            "error": {"message": "Reviewers only"},
            "rules": {"1": {"name": "customer.segment", "conditions": {"$is": [segment]}}, "logic": "1"},
        },
    )
    answers["POST /v1/validation-rules"] = rule
    answers["POST /v1/campaigns"] = campaign = ok(stack, "POST", "/v1/campaigns", campaign_body(f"Contract {run}", 10))
    answers["POST /v1/validation-rules/{id}/assignments"] = ok(
        stack,
        "POST",
        f"/v1/validation-rules/{rule['id']}/assignments",
        {"related_object_type": "campaign", "related_object_id": campaign["id"]},
    )
    answers["GET /v1/validation-rules/{id}"] = ok(stack, "GET", f"/v1/validation-rules/{rule['id']}")
    answers["GET /v1/validation-rules"] = ok(stack, "GET", "/v1/validation-rules")
    answers["GET /v1/validation-rules/{id}/assignments"] = ok(
        stack, "GET", f"/v1/validation-rules/{rule['id']}/assignments"
    )
    answers["GET /v1/campaigns/{id}"] = ok(stack, "GET", f"/v1/campaigns/{campaign['id']}")
    answers["GET /v1/campaigns"] = ok(stack, "GET", "/v1/campaigns?limit=5")
    publication = ok(
        stack, "POST", "/v1/publications", {"campaign": campaign["name"], "customer": {"source_id": michael}}
    )
    answers["POST /v1/publications"] = publication
    answers["GET /v1/publications"] = ok(stack, "GET", f"/v1/publications?customer={michael}")
    answers["GET /v1/customers/{id}/redeemables"] = ok(stack, "GET", f"/v1/customers/{michael}/redeemables")
    code = quote(publication["voucher"]["code"], safe="")
    stackable = {
        "customer": {"source_id": michael},
        "order": {"amount": 4000, "items": [{"product_id": "prod_paper", "quantity": 2, "price": 2000}]},
        "redeemables": [{"object": "voucher", "id": publication["voucher"]["code"]}],
    }
    answers["POST /v1/validations"] = validated = ok(
        stack, "POST", "/v1/validations", {**stackable, "session": {"type": "LOCK"}}
    )
    redeemed = ok(stack, "POST", "/v1/redemptions", {**stackable, "session": {"key": validated["session"]["key"]}})
    answers["POST /v1/redemptions"] = redeemed
    answers["GET /v1/redemptions/{id}"] = ok(stack, "GET", f"/v1/redemptions/{redeemed['redemptions'][0]['id']}")
    answers["POST /v1/redemptions/{id}/rollbacks"] = ok(
        stack, "POST", f"/v1/redemptions/{redeemed['parent_redemption']['id']}/rollbacks"
    )
    legacy = ok(
        stack, "POST", f"/v1/vouchers/{code}/redemption", {"customer": {"source_id": michael}, "order": {"amount": 300}}
    )
    answers["POST /v1/redemptions/{id}/rollback"] = ok(
        stack, "POST", f"/v1/redemptions/{legacy['id']}/rollback?reason=r"
    )
    answers["GET /v1/redemptions"] = ok(stack, "GET", f"/v1/redemptions?customer={michael}")
    answers["POST /v1/vouchers/{code}/balance"] = ok(stack, "POST", f"/v1/vouchers/{code}/balance", {"amount": 100})
    answers["GET /v1/vouchers/{code}/transactions"] = ok(stack, "GET", f"/v1/vouchers/{code}/transactions")
    answers["GET /v1/vouchers/{code}/redemption"] = ok(stack, "GET", f"/v1/vouchers/{code}/redemption")
    answers["GET /v1/vouchers/{code}"] = ok(stack, "GET", f"/v1/vouchers/{code}")
    answers["POST /v1/vouchers/{code}/enable"] = ok(stack, "POST", f"/v1/vouchers/{code}/enable")
    answers["POST /v1/vouchers/{code}"] = ok(
        stack,
        "POST",
        f"/v1/vouchers/SAVE-{run}",
        {"type": "DISCOUNT_VOUCHER", "discount": {"type": "PERCENT", "percent_off": 10, "amount_limit": 500}},
    )
    client = _client_headers(stack)
    client_body = {**stackable, "redeemables": [{"object": "voucher", "id": f"SAVE-{run}"}]}
    for endpoint, path in (
        ("POST /client/v1/validations", "/client/v1/validations"),
        ("POST /client/v1/redemptions", "/client/v1/redemptions"),
    ):
        response = stack.request("POST", path, json=client_body, headers=client)
        assert response.status == 200, response.body
        answers[endpoint] = response.json()

    broken = {endpoint: found for endpoint, body in answers.items() if (found := check(endpoint, body))}
    assert broken == {}
    assert set(answers) == set(__import__("tests.contract.checker", fromlist=["FRAGMENTS"]).FRAGMENTS["roots"])

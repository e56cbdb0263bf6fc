"""The response bodies carry what Voucherify's spec requires, with the spec's types, enums and date formats;
the request models take what the v2 SDK sends (sdk_v2_bodies.json, captured from the SDK itself).

The schemas are copied into spec_fragments.json (its ``_source`` says from where), so CI needs no spec file.
The checker below reads the OpenAPI 3.0 subset those fragments use ($ref, allOf, oneOf/anyOf, type, enum,
required, properties, items, format date-time). It allows null for any field: Voucherify itself sends null for
fields its docs type as plain strings (the voucher of the legacy redemption example has ``expiration_date:
null``), and the v3 SDK accepts it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from perkflow.domain.promotions.campaigns import Campaign, CampaignCreateRequest
from perkflow.domain.promotions.redemptions import (
    RedemptionPlan,
    StackableRequest,
    VoucherRequest,
    legacy_validation_response,
    redeem,
    validation_response,
)
from perkflow.domain.promotions.rules import RuleContext, ValidationRule, ValidationRuleCreateRequest
from perkflow.domain.promotions.vouchers import BalanceRequest, Voucher, VoucherCreateRequest, change_balance
from tests.unit.promotions.factories import NOW, candidate, coupon, gift_card, michael, rule_set, stack, story_campaign

FRAGMENTS = json.loads((Path(__file__).parent / "spec_fragments.json").read_text())
# Fields Voucherify sends that its schemas do not name: the gift voucher in the legacy redemption example of
# documentation/openapi/redemptions.json carries ``redemption.redeemed_amount``.
EXTRAS = (".redemption.redeemed_amount",)
# The legacy order schema writes its map keyed by redemption id as one property named like this.
PLACEHOLDER = "redemption_ID"
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _utc_timestamp(text: str) -> bool:
    try:
        return text.endswith("Z") and datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def problems(schema: dict[str, Any], value: Any, schemas: dict[str, Any], path: str = "$") -> list[str]:
    if "$ref" in schema:
        return problems(schemas[schema["$ref"].rsplit("/", 1)[-1]], value, schemas, path)
    found: list[str] = []
    for part in schema.get("allOf", []):
        found += problems(part, value, schemas, path)
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            attempts = [problems(option, value, schemas, path) for option in schema[combinator]]
            if all(attempts):
                closest = min(attempts, key=len)
                found.append(f"{path}: matches no {combinator} option; closest: {closest}")
    if value is None:
        return found
    expected = schema.get("type")
    if expected is not None:
        if isinstance(value, bool) and expected in ("integer", "number"):
            return [*found, f"{path}: boolean where {expected} is expected"]
        if not isinstance(value, _TYPES[expected]):
            return [*found, f"{path}: {type(value).__name__} where {expected} is expected"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not in {schema['enum']}")
    if schema.get("format") == "date-time" and isinstance(value, str) and not _utc_timestamp(value):
        found.append(f"{path}: {value!r} is not a UTC date-time")
    if isinstance(value, dict):
        found += [f"{path}: missing required {name!r}" for name in schema.get("required", []) if name not in value]
        properties, others = schema.get("properties", {}), schema.get("additionalProperties")
        others = properties.get(PLACEHOLDER, others)
        for name, item in value.items():
            sub = properties.get(name, others if isinstance(others, dict) else None)
            if sub is not None:
                found += problems(sub, item, schemas, f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(schema["items"], item, schemas, f"{path}[{index}]")
    return found


def _level(schema: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema and every schema merged into the same JSON level through $ref, allOf, oneOf and anyOf."""
    if "$ref" in schema:
        return _level(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas)
    merged = [schema]
    for combinator in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(combinator, []):
            merged += _level(part, schemas)
    return merged


def unknown_fields(candidates: list[dict[str, Any]], value: Any, schemas: dict[str, Any], path: str = "$") -> list[str]:
    """Fields that no schema of this level names: a misspelt field passes ``problems`` but not this."""
    level = [part for schema in candidates for part in _level(schema, schemas)]
    found: list[str] = []
    if isinstance(value, dict):
        named = {name for part in level for name in part.get("properties", {})}
        others = [part["additionalProperties"] for part in level if part.get("additionalProperties")]
        others += [part["properties"][PLACEHOLDER] for part in level if PLACEHOLDER in part.get("properties", {})]
        if not named and not others:
            return []  # a free-form object (metadata ...)
        for name, item in value.items():
            subs = [part["properties"][name] for part in level if name in part.get("properties", {})]
            subs = subs or [other for other in others if isinstance(other, dict)]
            if name not in named and not others and not f"{path}.{name}".endswith(EXTRAS):
                found.append(f"{path}.{name}: not in the spec")
            found += unknown_fields(subs, item, schemas, f"{path}.{name}")
    elif isinstance(value, list):
        subs = [part["items"] for part in level if "items" in part]
        for index, item in enumerate(value):
            found += unknown_fields(subs, item, schemas, f"{path}[{index}]")
    return found


def check(file: str, root: str, body: dict[str, Any]) -> None:
    fragment = FRAGMENTS["files"][f"documentation/openapi/{file}.json"]
    assert root in fragment["roots"]
    schema = {"$ref": f"#/components/schemas/{root}"}
    assert problems(schema, body, fragment["schemas"]) == []
    assert unknown_fields([schema], body, fragment["schemas"]) == []


def _mixed_stack() -> Any:
    reviewers = rule_set({"1": {"name": "customer.segment", "conditions": {"$is": ["seg_reviewers"]}}})
    return stack(
        candidate(gift_card(), credits=1000),
        candidate(coupon({"type": "PERCENT", "percent_off": 10, "amount_limit": 200})),
        candidate(coupon({"type": "FIXED", "fixed_amount": 2000}, code="FIX")),
        candidate(coupon({"type": "AMOUNT", "amount_off": 100}, code="OUT"), rules=(reviewers,)),
        candidate(gift_card(code="LATER")),
        order={"amount": 4000, "status": "CREATED", "items": [{"product_id": "prod_1", "quantity": 2, "price": 2000}]},
        customer=michael(),
    )


def test_the_checker_notices_what_is_missing_or_mistyped() -> None:
    # A test that cannot fail proves nothing: break a valid answer and watch the checker object.
    body = validation_response(stack(candidate(gift_card())), request_id="v-1", tracking_id="t")
    schemas = FRAGMENTS["files"]["documentation/openapi/validations.json"]["schemas"]
    root = {"$ref": "#/components/schemas/ValidationsValidateResponseBody"}
    assert problems(root, body, schemas) == []

    assert unknown_fields([root], body, schemas) == []

    del body["stacking_rules"]
    body["redeemables"][0]["status"] = "MAYBE"
    body["order"]["amount"] = "4000"
    body["order"]["total_amout"] = 1500

    found = problems(root, body, schemas)
    assert any("missing required 'stacking_rules'" in item for item in found)
    assert any("$.redeemables[0]: matches no oneOf" in item for item in found)
    assert any("$.order.amount: str where integer" in item for item in found)
    assert unknown_fields([root], body, schemas) == ["$.order.total_amout: not in the spec"]


def test_stackable_validation_answers_match_the_spec() -> None:
    check(
        "validations",
        "ValidationsValidateResponseBody",
        validation_response(_mixed_stack(), request_id="v-1", tracking_id="t"),
    )
    partial = stack(candidate(None), candidate(coupon({"type": "AMOUNT", "amount_off": 5})), mode="PARTIAL")
    check(
        "validations",
        "ValidationsValidateResponseBody",
        validation_response(partial, request_id="v-1", tracking_id="t"),
    )


@pytest.mark.parametrize(
    "voucher",
    [gift_card(), coupon({"type": "AMOUNT", "amount_off": 100}), gift_card(expiration_date=NOW - timedelta(days=1))],
)
def test_legacy_validation_answers_match_the_spec(voucher: Any) -> None:
    body = legacy_validation_response(stack(candidate(voucher), customer=michael()), request_id="v-1", tracking_id="t")

    check("validations", "VouchersValidateResponseBody", body)


def test_redemption_answers_match_the_spec() -> None:
    partial = stack(
        candidate(gift_card()),
        candidate(None),
        candidate(coupon({"type": "AMOUNT", "amount_off": 100})),
        customer=michael(),
        mode="PARTIAL",
    )
    plan = redeem(partial, now=NOW, tracking_id="t")
    legacy = redeem(stack(candidate(gift_card()), customer=michael()), now=NOW, tracking_id="t", stacked=False)
    assert isinstance(plan, RedemptionPlan)
    assert isinstance(legacy, RedemptionPlan)

    check("redemptions", "RedemptionsRedeemResponseBody", plan.as_voucherify("v-1"))
    check("redemptions", "7_res_redeem_voucher", legacy.legacy_response())


def test_voucher_campaign_balance_and_rule_answers_match_the_spec() -> None:
    campaign = story_campaign(activity_duration_after_publishing="P30D", start_date="2026-11-01")
    voucher = campaign.new_voucher("GIFT-AAAA-BBBB", NOW).published_to("cust_1", NOW, campaign.expiration_for(NOW))
    assignment = {
        "id": "asgm_1",
        "rule_id": "val_1",
        "related_object_id": campaign.id,
        "related_object_type": "campaign",
        "created_at": "2026-11-24T12:00:00.000Z",
        "object": "validation_rules_assignment",
    }

    check("vouchers", "VouchersGetResponseBody", voucher.as_voucherify([assignment]))
    check("vouchers", "VouchersCreateResponseBody", coupon({"type": "FIXED", "fixed_amount": 10}).as_voucherify())
    check(
        "vouchers",
        "VouchersBalanceUpdateResponseBody",
        change_balance(voucher, BalanceRequest(amount=500), NOW).as_voucherify(),
    )
    check("campaigns", "CampaignsCreateResponseBody", campaign.as_voucherify([assignment]))
    rules = rule_set({"1": {"name": "order.amount", "conditions": {"$more_than": [100]}, "error": {"message": "m"}}})
    check("validation-rules", "ValidationRulesCreateResponseBody", rules.as_voucherify())


SDK_BODIES = {
    row["path"]: row["body"]
    for row in json.loads((Path(__file__).parent / "sdk_v2_bodies.json").read_text())["requests"]
}


def test_what_the_v2_sdk_sends_is_accepted() -> None:
    rules = ValidationRule.create(ValidationRuleCreateRequest.model_validate(SDK_BODIES["/v1/validation-rules"]), NOW)
    campaign = Campaign.create(CampaignCreateRequest.model_validate(SDK_BODIES["/v1/campaigns"]), NOW)
    with_code = Voucher.create(VoucherCreateRequest.model_validate(SDK_BODIES["/v1/vouchers/SUMMER10"]), NOW)
    drawn = Voucher.create(VoucherCreateRequest.model_validate(SDK_BODIES["/v1/vouchers/"]), NOW)
    gift = gift_card()
    balance = change_balance(gift, BalanceRequest.model_validate(SDK_BODIES["/v1/vouchers/SUMMER10/balance"]), NOW)
    stackable = StackableRequest.model_validate(SDK_BODIES["/v1/validations"]).checked()
    redemption = StackableRequest.model_validate(SDK_BODIES["/v1/redemptions"]).checked()
    legacy = VoucherRequest.model_validate(SDK_BODIES["/v1/vouchers/GIFT-1/validate"]).as_stackable("GIFT-1")
    legacy_redeem = VoucherRequest.model_validate(SDK_BODIES["/v1/vouchers/GIFT-1/redemption"]).as_stackable("GIFT-1")

    assert rules.evaluate(RuleContext(customer_id="cust_1", segment_ids=frozenset({"seg_1"}))) is None
    assert campaign.voucher.code_config.pattern == "GIFT-####-####"
    assert with_code.discount is not None
    assert with_code.discount.percent_off == 10
    assert re.fullmatch(r"G-\d{10}-X", drawn.code)  # the SDK's typing says suffix; it means postfix
    assert balance.as_voucherify()["balance"] == 3500
    assert stackable.redeemables[0].gift is not None
    assert stackable.redeemables[0].gift.credits == 100
    assert redemption.order is not None
    assert redemption.order.source_id == "o1"
    assert legacy.redeemables[0].gift is not None
    assert legacy.redeemables[0].gift.credits == 100
    assert legacy_redeem.order == redemption.order.model_copy(update={"source_id": None})

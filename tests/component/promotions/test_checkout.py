"""Validation and redemption on the handlers: legacy and stackable answers, rules, LOCK sessions,
idempotency, what a refusal writes, rollbacks and reads."""

from __future__ import annotations

from typing import Any

import boto3

from tests.component.promotions.conftest import Promo, enc

GIFT = {"type": "GIFT_VOUCHER", "gift": {"amount": 2500}}


def _items(promo: Promo) -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=promo.aws.table_name)["Items"]


def _stack(*codes: str, customer: str | None = "michael.scott", amount: int = 4000, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "redeemables": [{"object": "voucher", "id": code} for code in codes],
        "order": {"amount": amount},
    }
    if customer:
        body["customer"] = {"source_id": customer}
    body.update(extra)
    return body


def test_legacy_validate_is_200_either_way_and_legacy_redeem_refuses_with_400(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)
    promo.customer("michael.scott")

    valid = promo.ok(
        "POST", "/v1/vouchers/CARD/validate", {"customer": {"source_id": "michael.scott"}, "order": {"amount": 1000}}
    )
    too_much = promo.ok("POST", "/v1/vouchers/CARD/validate", {"order": {"amount": 5000}, "gift": {"credits": 3000}})
    unknown = promo.ok("POST", "/v1/vouchers/NOPE/validate", {"order": {"amount": 5000}})
    redeemed = promo.ok(
        "POST", "/v1/vouchers/CARD/redemption", {"customer": {"source_id": "michael.scott"}, "order": {"amount": 1000}}
    )
    refused = promo.call("POST", "/v1/vouchers/CARD/redemption", {"order": {"amount": 5000}, "gift": {"credits": 3000}})
    stored = promo.ok("GET", f"/v1/redemptions/{refused.body['resource_id']}")

    assert valid["valid"] is True
    assert valid["gift"]["balance"] == 2500
    assert valid["order"]["total_amount"] == 0
    assert (too_much["valid"], too_much["error"]["key"], too_much["reason"]) == (
        False,
        "gift_amount_exceeded",
        "gift amount exceeded",
    )
    assert (unknown["valid"], unknown["error"]["key"]) == (False, "not_found")
    assert redeemed["result"] == "SUCCESS"
    assert redeemed["voucher"]["gift"]["balance"] == 1500
    assert "parent_redemption" not in redeemed
    assert (refused.status, refused.key) == (400, "gift_amount_exceeded")
    assert (stored["result"], stored["status"], stored["failure_code"]) == ("FAILURE", "FAILED", "gift_amount_exceeded")


def test_a_refused_redemption_writes_exactly_its_failed_record(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)
    promo.customer("michael.scott")
    promo.ok("POST", "/v1/redemptions", _stack("CARD", amount=2500))  # spends the whole card
    before = {(item["pk"]["S"], item["sk"]["S"]): item for item in _items(promo)}

    refused = promo.call("POST", "/v1/redemptions", _stack("CARD"))

    after = {(item["pk"]["S"], item["sk"]["S"]): item for item in _items(promo)}
    new = sorted(set(after) - set(before))
    changed = sorted(key for key in before if before[key] != after.get(key))
    assert (refused.status, refused.key) == (400, "gift_amount_exceeded")
    assert new == [(f"RED#{refused.body['resource_id']}", "RED")]
    assert changed == [("CUST#" + promo.ok("GET", "/v1/customers/michael.scott")["id"], "SUMMARY")]
    assert promo.ok("GET", "/v1/vouchers/CARD")["gift"]["balance"] == 0


def test_malformed_requests_write_nothing(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)
    before = _items(promo)

    answers = [
        promo.call("POST", "/v1/redemptions", {"redeemables": []}),
        promo.call("POST", "/v1/redemptions", _stack("CARD", "CARD")),
        promo.call("POST", "/v1/redemptions", {"redeemables": "CARD"}),
        promo.call("POST", "/v1/redemptions", _stack("CARD", amount=-1)),
        promo.call("POST", "/v1/validations", {"redeemables": [{"object": "voucher"}]}),
    ]

    assert [(answer.status, answer.key) for answer in answers] == [
        (400, "invalid_redeemables"),
        (400, "duplicated_redeemables"),
        (400, "invalid_payload"),
        (400, "invalid_payload"),
        (400, "invalid_payload"),
    ]
    assert _items(promo) == before


def test_an_order_redeemed_twice_answers_the_first_redemption(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)
    body = _stack("CARD", customer="pam", amount=1000)
    body["order"]["source_id"] = "ord-42"

    first = promo.ok("POST", "/v1/redemptions", body)
    second = promo.ok("POST", "/v1/redemptions", body)
    legacy_body = {"order": {"source_id": "ord-43", "amount": 500}}
    legacy = promo.ok("POST", "/v1/vouchers/CARD/redemption", legacy_body)
    legacy_again = promo.ok("POST", "/v1/vouchers/CARD/redemption", legacy_body)

    assert first == second
    assert legacy == legacy_again
    assert promo.ok("GET", "/v1/vouchers/CARD")["gift"]["balance"] == 1000
    assert promo.ok("GET", "/v1/customers/pam")["summary"]["orders"]["total_count"] == 1


def test_stacked_discounts_and_gift_card_share_the_order(promo: Promo) -> None:
    promo.ok(
        "POST",
        "/v1/vouchers/TENPC",
        {
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "PERCENT", "percent_off": 10, "amount_limit": 300},
            "redemption": {"quantity": 1},
        },
    )
    promo.ok(
        "POST", "/v1/vouchers/FIVE", {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 500}}
    )
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)

    redeemed = promo.ok("POST", "/v1/redemptions", _stack("TENPC", "FIVE", "CARD", customer="kevin", amount=4000))
    spent = promo.ok("POST", "/v1/validations", _stack("TENPC", customer="kevin"))

    assert redeemed["order"]["total_discount_amount"] == 300 + 500 + 2500
    assert redeemed["order"]["total_amount"] == 700
    assert [item["amount"] for item in redeemed["redemptions"] if "amount" in item] == [2500]
    assert spent["redeemables"][0]["result"]["error"]["key"] == "quantity_exceeded"


def test_rules_read_segments_metadata_amounts_counts_and_holders(promo: Promo) -> None:
    def rule(name: str, conditions: dict[str, Any], **fields: Any) -> str:
        body = {"name": name, "rules": {"1": {"name": name, "conditions": conditions, **fields}, "logic": "1"}}
        created: str = promo.ok("POST", "/v1/validation-rules", body)["id"]
        return created

    gold = rule("customer.metadata", {"$is": ["gold"]}, property="plan")
    big = rule("order.amount", {"$more_than": [2000]})
    once = rule("redemption.count.per_customer", {"$less_than_or_equal": [1]})
    holder = rule("publication.redeemable_by_linked_customer", {})
    promo.customer("angela", metadata={"plan": "gold"})
    promo.customer("oscar", metadata={"plan": "free"})
    for code, rule_id in (("GOLD", gold), ("BIG", big), ("ONCE", once), ("MINE", holder)):
        voucher = promo.ok(
            "POST",
            f"/v1/vouchers/{code}",
            {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 100}},
        )
        promo.ok(
            "POST",
            f"/v1/validation-rules/{rule_id}/assignments",
            {"related_object_type": "voucher", "related_object_id": voucher["id"]},
        )
    promo.ok("POST", "/v1/publications", {"voucher": "MINE", "customer": {"source_id": "angela"}})

    def key(code: str, customer: str, amount: int = 4000) -> str | None:
        answer = promo.ok("POST", "/v1/validations", _stack(code, customer=customer, amount=amount))
        result = answer["redeemables"][0].get("result", {})
        return result.get("error", {}).get("key") if "error" in result else None

    promo.ok("POST", "/v1/redemptions", _stack("ONCE", customer="angela"))
    assignments = promo.ok("GET", f"/v1/validation-rules/{once}/assignments")

    assert key("GOLD", "angela") is None
    assert key("GOLD", "oscar") == "customer_rules_violated"
    assert key("BIG", "oscar", amount=2500) is None
    assert key("BIG", "oscar", amount=1500) == "order_rules_violated"
    assert key("ONCE", "oscar") is None
    assert key("ONCE", "angela") == "redemption_rules_violated"
    assert key("MINE", "angela") is None
    assert key("MINE", "oscar") == "redemption_rules_violated"
    assert promo.ok("GET", f"/v1/validation-rules/{once}")["assignments_count"] == 1
    assert assignments["data"][0]["related_object_type"] == "voucher"


def test_a_campaign_rule_assignment_can_be_added_and_removed(promo: Promo) -> None:
    from tests.component.promotions.conftest import REVIEWERS, reviewers_rule, story_campaign

    campaign = promo.ok("POST", "/v1/campaigns", story_campaign())
    rule = promo.ok("POST", "/v1/validation-rules", reviewers_rule())
    code = promo.ok("POST", "/v1/publications", {"campaign": "Review gift card", "customer": "stanley"})["voucher"][
        "code"
    ]
    body = _stack(code, customer="stanley")

    open_before = promo.ok("POST", "/v1/validations", body)["valid"]
    assignment = promo.ok(
        "POST",
        f"/v1/validation-rules/{rule['id']}/assignments",
        {"related_object_type": "campaign", "related_object_id": campaign["id"]},
    )
    duplicate = promo.call(
        "POST",
        f"/v1/validation-rules/{rule['id']}/assignments",
        {"related_object_type": "campaign", "related_object_id": campaign["id"]},
    )
    ruled = promo.ok("POST", "/v1/validations", body)["valid"]
    promo.enter_segment("stanley", REVIEWERS)
    member = promo.ok("POST", "/v1/validations", body)["valid"]
    removed = promo.call("DELETE", f"/v1/validation-rules/{rule['id']}/assignments/{assignment['id']}")
    shown = promo.ok("GET", f"/v1/campaigns/{campaign['id']}")

    assert (open_before, ruled, member) == (True, False, True)
    assert (duplicate.status, duplicate.key) == (409, "duplicate_found")
    assert removed.status == 204
    assert shown["validation_rules_assignments"]["total"] == 0


def test_a_lock_session_reserves_the_code_until_its_redemption(promo: Promo) -> None:
    promo.ok(
        "POST",
        "/v1/vouchers/ONCE",
        {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 100}, "redemption": {"quantity": 1}},
    )
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)

    locked = promo.ok(
        "POST",
        "/v1/validations",
        _stack("ONCE", "CARD", customer="pam", amount=2000, session={"type": "LOCK", "ttl": 1, "ttl_unit": "HOURS"}),
    )
    key = locked["session"]["key"]
    other = promo.ok("POST", "/v1/validations", _stack("ONCE", customer="jim"))
    other_card = promo.ok("POST", "/v1/validations", _stack("CARD", customer="jim", amount=1000))
    redeemed = promo.ok(
        "POST", "/v1/redemptions", _stack("ONCE", "CARD", customer="pam", amount=2000, session={"key": key})
    )
    replay = promo.ok(
        "POST", "/v1/redemptions", _stack("ONCE", "CARD", customer="pam", amount=2000, session={"key": key})
    )

    assert key.startswith("ssn_")
    assert locked["session"] == {"key": key, "type": "LOCK", "ttl": 1, "ttl_unit": "HOURS"}
    assert other["redeemables"][0]["result"]["error"]["key"] == "quantity_exceeded"
    assert other_card["redeemables"][0]["result"]["gift"]["credits"] == 600  # 1,900 of 2,500 are reserved
    assert redeemed["parent_redemption"]["result"] == "SUCCESS"
    assert replay == redeemed
    assert promo.ok("POST", "/v1/validations", _stack("CARD", customer="jim", amount=1000))["valid"] is True


def test_a_released_or_expired_session_frees_the_code(promo: Promo) -> None:
    from datetime import UTC, datetime, timedelta

    from perkflow import clock
    from perkflow.clock import LocalClock

    promo.ok(
        "POST",
        "/v1/vouchers/ONCE",
        {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 1}, "redemption": {"quantity": 1}},
    )
    start = datetime(2026, 11, 24, 12, tzinfo=UTC)
    clock.set_local_clock(LocalClock(frozen_at=start))
    first = promo.ok("POST", "/v1/validations", _stack("ONCE", customer="a", session={"type": "LOCK"}))["session"]
    released = promo.call("DELETE", f"/v1/vouchers/ONCE/sessions/{first['key']}")
    unknown = promo.call("DELETE", "/v1/vouchers/ONCE/sessions/ssn_nope")
    second = promo.ok(
        "POST",
        "/v1/validations",
        _stack("ONCE", customer="b", session={"type": "LOCK", "ttl": 30, "ttl_unit": "MINUTES"}),
    )
    held = promo.ok("POST", "/v1/validations", _stack("ONCE", customer="c"))["valid"]
    clock.set_local_clock(LocalClock(frozen_at=start + timedelta(minutes=31)))
    expired = promo.ok("POST", "/v1/validations", _stack("ONCE", customer="c"))["valid"]

    assert released.status == 204
    assert unknown.status == 404
    assert "session" in second
    assert (held, expired) == (False, True)


def test_rollbacks_restore_the_card_once(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)
    stacked = promo.ok("POST", "/v1/redemptions", _stack("CARD", customer="pam", amount=1000))
    legacy = promo.ok(
        "POST", "/v1/vouchers/CARD/redemption", {"customer": {"source_id": "pam"}, "order": {"amount": 500}}
    )
    child = stacked["redemptions"][0]["id"]
    parent = stacked["parent_redemption"]["id"]

    wrong_endpoint = promo.call("POST", f"/v1/redemptions/{parent}/rollback")
    not_parent = promo.call("POST", f"/v1/redemptions/{legacy['id']}/rollbacks")
    single = promo.ok(
        "POST",
        f"/v1/redemptions/{legacy['id']}/rollback",
        {"customer": {"source_id": "pam"}},
        query="reason=returned&tracking_id=t-1",
    )
    twice = promo.call("POST", f"/v1/redemptions/{legacy['id']}/rollback")
    rolled = promo.ok("POST", f"/v1/redemptions/{parent}/rollbacks", {"reason": "cancelled"})
    parent_twice = promo.call("POST", f"/v1/redemptions/{parent}/rollbacks")
    missing = promo.call("POST", "/v1/redemptions/r_nope/rollback")
    entries = promo.ok("GET", "/v1/vouchers/CARD/redemption")
    ledger = promo.ok("GET", "/v1/vouchers/CARD/transactions")
    listed = promo.ok("GET", "/v1/redemptions", query="customer=pam")

    assert (wrong_endpoint.status, wrong_endpoint.key) == (400, "invalid_redemption")
    assert not_parent.key == "invalid_redemption_parent"
    assert (single["amount"], single["reason"], single["tracking_id"]) == (-500, "returned", "t-1")
    assert twice.key == "already_rolled_back"
    assert rolled["rollbacks"][0]["redemption"] == child
    assert rolled["parent_rollback"]["redemption"] == parent
    assert parent_twice.key == "already_rolled_back"
    assert missing.status == 404
    assert promo.ok("GET", "/v1/vouchers/CARD")["gift"]["balance"] == 2500
    assert promo.ok("GET", f"/v1/redemptions/{child}")["status"] == "ROLLED_BACK"
    assert [entry["object"] for entry in entries["redemption_entries"]].count("redemption_rollback") == 2
    assert sorted(entry["type"] for entry in ledger["data"]) == [
        "CREDITS_REDEMPTION",
        "CREDITS_REDEMPTION",
        "CREDITS_REFUND",
        "CREDITS_REFUND",
    ]
    assert {entry["id"] for entry in listed["redemptions"]} >= {child, legacy["id"]}


def test_codes_with_reserved_characters_redeem_by_their_encoded_path(promo: Promo) -> None:
    code = "50%/ off"
    promo.ok("POST", f"/v1/vouchers/{enc(code)}", GIFT)

    validated = promo.ok("POST", f"/v1/vouchers/{enc(code)}/validate", {"order": {"amount": 100}})
    redeemed = promo.ok("POST", f"/v1/vouchers/{enc(code)}/redemption", {"order": {"amount": 100}})
    listed = promo.ok("GET", f"/v1/vouchers/{enc(code)}/redemption")

    assert validated["code"] == code
    assert redeemed["voucher"]["code"] == code
    assert listed["redeemed_quantity"] == 1

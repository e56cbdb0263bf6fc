"""Vouchers: create with a given or drawn code (both URL forms), read by code or id, URL-encoded codes,
gift balance changes and their ledger, enable/disable, error shapes."""

from __future__ import annotations

import re

from tests.component.promotions.conftest import Promo, enc

GIFT = {"type": "GIFT_VOUCHER", "gift": {"amount": 5000}}


def test_vouchers_with_given_and_drawn_codes_read_back_by_code_and_id(promo: Promo) -> None:
    given = promo.ok(
        "POST",
        "/v1/vouchers/SUMMER10",
        {"code": "SUMMER10", "type": "DISCOUNT_VOUCHER", "discount": {"type": "PERCENT", "percent_off": 10}},
    )
    drawn = promo.ok(
        "POST",
        "/v1/vouchers/",
        {
            "type": "GIFT_VOUCHER",
            "gift": {"amount": 100},
            "code_config": {"pattern": "G-##########", "suffix": "-X", "charset": "0123456789"},
        },
    )
    plain = promo.ok("POST", "/v1/vouchers", GIFT)
    by_id = promo.ok("GET", f"/v1/vouchers/{given['id']}")
    strange = promo.ok("POST", f"/v1/vouchers/{enc('50% off/ever')}", GIFT)
    strange_back = promo.ok("GET", f"/v1/vouchers/{enc('50% off/ever')}")
    duplicate = promo.call("POST", "/v1/vouchers/SUMMER10", {"type": "GIFT_VOUCHER", "gift": {"amount": 1}})
    missing = promo.call("GET", "/v1/vouchers/NOPE")
    invalid = promo.call("POST", "/v1/vouchers/BAD", {"type": "GIFT_VOUCHER"})

    assert given["discount"]["percent_off"] == 10
    assert re.fullmatch(r"G-\d{10}-X", drawn["code"])
    assert re.fullmatch(r"[0-9A-Za-z]{8}", plain["code"])
    assert by_id["code"] == "SUMMER10"
    assert strange["code"] == strange_back["code"] == "50% off/ever"
    assert (duplicate.status, duplicate.key) == (409, "duplicate_found")
    assert promo.ok("GET", "/v1/vouchers/SUMMER10")["type"] == "DISCOUNT_VOUCHER"  # not overwritten
    assert (missing.status, missing.key, missing.body["resource_type"]) == (404, "not_found", "voucher")
    assert set(missing.body) >= {"code", "key", "message", "details", "request_id"}
    assert (invalid.status, invalid.key) == (400, "invalid_voucher")


def test_gift_balance_moves_with_a_ledger_and_replays_by_source_id(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)

    added = promo.ok("POST", "/v1/vouchers/CARD/balance", {"amount": 1000, "source_id": "t-1", "reason": "gift"})
    replayed = promo.ok("POST", "/v1/vouchers/CARD/balance", {"amount": 1000, "source_id": "t-1"})
    removed = promo.ok("POST", "/v1/vouchers/CARD/balance", {"amount": -2000})
    too_much = promo.call("POST", "/v1/vouchers/CARD/balance", {"amount": -4001})
    zero = promo.call("POST", "/v1/vouchers/CARD/balance", {"amount": 0})
    on_discount = promo.ok(
        "POST", "/v1/vouchers/D", {"type": "DISCOUNT_VOUCHER", "discount": {"type": "AMOUNT", "amount_off": 5}}
    )
    not_gift = promo.call("POST", f"/v1/vouchers/{on_discount['code']}/balance", {"amount": 5})
    card = promo.ok("GET", "/v1/vouchers/CARD")
    ledger = promo.ok("GET", "/v1/vouchers/CARD/transactions")

    assert added == replayed
    assert (added["amount"], added["total"], added["balance"], added["object"]) == (1000, 6000, 6000, "balance")
    assert removed["balance"] == 4000
    assert (too_much.status, too_much.key) == (400, "gift_amount_exceeded")
    assert zero.key == "invalid_add_balance_params"
    assert not_gift.key == "invalid_add_balance_params"
    assert card["gift"] == {"amount": 6000, "subtracted_amount": 2000, "balance": 4000, "effect": "APPLY_TO_ORDER"}
    assert [(entry["type"], entry["details"]["balance"]["amount"]) for entry in ledger["data"]] == [
        ("CREDITS_REMOVAL", -2000),
        ("CREDITS_ADDITION", 1000),
    ]


def test_a_disabled_voucher_is_refused_and_enabled_again(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/CARD", GIFT)
    body = {"redeemables": [{"object": "voucher", "id": "CARD"}], "order": {"amount": 100}}

    promo.ok("POST", "/v1/vouchers/CARD/disable")
    refused = promo.ok("POST", "/v1/validations", body)
    promo.ok("POST", "/v1/vouchers/CARD/enable")

    assert refused["redeemables"][0]["result"]["error"]["key"] == "voucher_disabled"
    assert promo.ok("POST", "/v1/validations", body)["valid"] is True

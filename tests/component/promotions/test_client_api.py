"""The client-side API: publishable keys, the origin allow-list, CORS, and the SDK's client calls."""

from __future__ import annotations

from typing import Any

from tests.component.promotions.conftest import CLIENT_APP_ID, CLIENT_ORIGIN, CLIENT_TOKEN, Promo

CLIENT = {"x-client-application-id": CLIENT_APP_ID, "x-client-token": CLIENT_TOKEN, "origin": CLIENT_ORIGIN}


def _client(promo: Promo, method: str, path: str, body: Any = None, query: str = "", **headers: str) -> Any:
    return promo.call(method, path, body, query=query, headers={**CLIENT, **headers}, auth=False)


def test_client_calls_need_publishable_keys_and_an_allowed_origin(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/CARD", {"type": "GIFT_VOUCHER", "gift": {"amount": 1000}})
    body = {"redeemables": [{"object": "voucher", "id": "CARD"}], "order": {"amount": 100}}

    no_keys = promo.call("POST", "/client/v1/validations", body, auth=False, headers={"origin": CLIENT_ORIGIN})
    server_keys = promo.call("POST", "/client/v1/validations", body, headers={"origin": CLIENT_ORIGIN})
    wrong_origin = _client(promo, "POST", "/client/v1/validations", body, origin="https://evil.example.com")
    allowed = _client(promo, "POST", "/client/v1/validations", body)
    preflight = promo.call("OPTIONS", "/client/v1/validations", auth=False, headers={"origin": CLIENT_ORIGIN})
    client_keys_on_server_api = promo.call("GET", "/v1/vouchers/CARD", auth=False, headers=CLIENT)

    assert (no_keys.status, no_keys.key) == (401, "unauthorized")
    assert server_keys.status == 401
    assert (wrong_origin.status, wrong_origin.key) == (403, "forbidden")
    assert allowed.status == 200
    assert allowed.body["valid"] is True
    assert allowed.headers["Access-Control-Allow-Origin"] == CLIENT_ORIGIN
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == CLIENT_ORIGIN
    assert client_keys_on_server_api.status == 401


def test_client_validate_redeem_publish_and_track_as_the_sdk_sends_them(promo: Promo) -> None:
    from tests.component.promotions.conftest import story_campaign

    promo.ok("POST", "/v1/campaigns", story_campaign())
    published = _client(
        promo,
        "POST",
        "/client/v1/publish",
        {"customer": {"source_id": "erin"}, "channel": "Voucherify.js"},
        query="campaign=Review+gift+card",
    )
    code = published.body["voucher"]["code"]
    validated = _client(
        promo,
        "GET",
        "/client/v1/validate",
        query=f"code={code}&amount=1200&customer%5Bsource_id%5D=erin&session_type=LOCK",
    )
    redeemed = _client(
        promo,
        "POST",
        "/client/v1/redeem",
        {
            "customer": {"source_id": "erin"},
            "order": {"amount": 1200},
            "session": {"key": validated.body["session"]["key"]},
        },
        query=f"code={code}",
    )
    tracked = _client(
        promo,
        "POST",
        "/client/v1/events",
        {"event": "review_left", "customer": {"source_id": "erin"}, "metadata": {"stars": 5}},
    )
    stacked = _client(
        promo,
        "POST",
        "/client/v1/redemptions",
        {
            "customer": {"source_id": "erin"},
            "redeemables": [{"object": "voucher", "id": code}],
            "order": {"amount": 5000},
        },
    )
    activity = promo.ok("GET", "/v1/customers/erin/activity", query="type=customer.custom_event")

    assert published.status == 200
    assert published.body["channel"] == "Voucherify.js"
    assert (validated.status, validated.body["valid"]) == (200, True)
    assert validated.body["order"]["amount"] == 1200
    assert (redeemed.status, redeemed.body["voucher"]["gift"]["balance"]) == (200, 1300)
    assert (tracked.status, tracked.body["type"]) == (200, "review_left")
    assert stacked.body["redemptions"][0]["amount"] == 1300
    assert [item["data"]["event"]["type"] for item in activity["data"]] == ["review_left"]

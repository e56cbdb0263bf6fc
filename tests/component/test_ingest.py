"""The ingest function on events/ samples against moto: Segment Tracking API, webhooks, Voucherify destination."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from perkflow import clock
from perkflow.clock import LocalClock
from tests.component.conftest import APP_ID, APP_TOKEN, SEGMENT_SECRET, WRITE_KEY, Aws
from tests.support import http_event, invoke, json_body, sample_event

NOW = datetime(2026, 11, 24, 6, 30, 0, 500000, tzinfo=UTC)
BASIC = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


@pytest.fixture(autouse=True)
def frozen_clock(aws: Aws) -> None:
    clock.set_local_clock(LocalClock(frozen_at=NOW))


def api(method: str, path: str, query: str = "") -> tuple[int, Any]:
    headers = {"x-app-id": APP_ID, "x-app-token": APP_TOKEN}
    response = invoke("api", http_event(method, path, headers=headers, query=query))
    return response["statusCode"], json_body(response)


def send_batch(messages: list[Any], **envelope: Any) -> dict[str, Any]:
    body = json.dumps({"batch": messages, **envelope})
    response: dict[str, Any] = invoke(
        "ingest", http_event("POST", "/v1/batch", body=body, headers={"authorization": BASIC})
    )
    return response


def table_items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName="perkflow-test")["Items"]


# -- the Tracking API ----------------------------------------------------------------------------------------


def test_stock_client_batch_records_profile_activity_schema_and_announces_events(aws: Aws) -> None:
    response = invoke("ingest", sample_event("ingest/batch"))

    assert response["statusCode"] == 200
    assert json_body(response) == {"success": True}

    status, customer = api("GET", "/v1/customers/michael.scott")
    assert status == 200
    assert customer["object"] == "customer"
    assert customer["id"].startswith("cust_")
    assert customer["source_id"] == "michael.scott"
    assert customer["email"] == "michael@dundermifflin.com"
    assert customer["name"] == "Michael Scott"
    assert customer["birthdate"] == "1964-03-15"
    assert customer["metadata"] == {"title": "Regional Manager"}
    assert api("GET", f"/v1/customers/{customer['id']}")[1]["source_id"] == "michael.scott"

    status, activity = api("GET", "/v1/customers/michael.scott/activity")
    assert status == 200
    assert activity["object"] == "list"
    assert activity["data_ref"] == "data"
    kinds = [(item["type"], item["data"].get("event", {}).get("type")) for item in activity["data"]]
    assert kinds == [
        ("customer.custom_event", "review_left"),
        ("customer.custom_event", "Order Completed"),
        ("customer.created", None),
    ]
    order = activity["data"][1]
    assert order["data"]["event"]["metadata"]["order_id"] == "ord-1001"
    assert order["data"]["customer"]["source_id"] == "michael.scott"

    status, schema = api("GET", "/v1/event-schema/Order%20Completed")
    assert status == 200
    assert schema["count"] == 1
    assert schema["properties"]["total"] == {"types": ["number"], "count": 1}
    assert schema["properties"]["products"] == {"types": ["array"], "count": 1}
    assert schema["first_seen_at"] == schema["last_seen_at"] == "2026-11-24T06:30:00.500Z"
    listed = api("GET", "/v1/event-schema")[1]
    assert listed["total"] == 2
    assert [entry["event"] for entry in listed["data"]] == ["Order Completed", "review_left"]

    published = aws.relay_outbox()
    types = sorted(event["detail-type"] for event in published)
    assert types == ["customer.created", "customer.event.recorded", "customer.event.recorded"]
    assert all(event["source"] == "perkflow.ingest" for event in published)
    recorded = [event["detail"] for event in published if event["detail-type"] == "customer.event.recorded"]
    assert {detail["event"]["name"] for detail in recorded} == {"Order Completed", "review_left"}
    assert all(detail["customer"]["source_id"] == "michael.scott" for detail in recorded)


def test_a_replayed_batch_stores_and_announces_nothing_new(aws: Aws) -> None:
    invoke("ingest", sample_event("ingest/batch"))
    aws.relay_outbox()
    before = table_items()
    replay = sample_event("ingest/batch")
    body = json.loads(replay["body"])
    body["sentAt"] = "2026-11-24T06:31:00.000Z"  # a client retry carries a new sentAt
    replay["body"] = json.dumps(body)

    response = invoke("ingest", replay)

    assert json_body(response) == {"success": True}
    after = table_items()
    schema_items = {"SCHEMA"}
    assert [i for i in after if i["pk"]["S"] not in schema_items] == [
        i for i in before if i["pk"]["S"] not in schema_items
    ]
    assert aws.relay_outbox() == []
    assert api("GET", "/v1/event-schema/review_left")[1]["count"] == 1
    assert len(api("GET", "/v1/customers/michael.scott/activity")[1]["data"]) == 3


def test_gzip_body_from_the_python_client_is_inflated(aws: Aws) -> None:
    response = invoke("ingest", sample_event("ingest/batch_gzip"))

    assert json_body(response) == {"success": True}
    status, activity = api("GET", "/v1/customers/dwight.schrute/activity", query="type=customer.custom_event")
    assert status == 200
    [order] = activity["data"]
    assert order["data"]["event"]["type"] == "Order Completed"
    # timestamp = receivedAt - (sentAt - timestamp): 06:30:00.500 - (06:30:00.012345 - 06:29:59.458)
    assert order["created_at"] == "2026-11-24T06:29:59.945Z"


def test_single_track_endpoint_takes_the_write_key_from_the_body(aws: Aws) -> None:
    response = invoke("ingest", sample_event("ingest/track"))

    assert json_body(response) == {"success": True}
    assert api("GET", "/v1/customers/jim.halpert")[0] == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic " + base64.b64encode(b"wrong-key:").decode(), "Bearer " + WRITE_KEY, "Basic !!!"],
)
def test_missing_or_wrong_write_key_is_401_and_writes_nothing(aws: Aws, authorization: str | None) -> None:
    body = json.dumps({"batch": [{"type": "track", "userId": "u1", "event": "x", "messageId": "m1"}]})
    headers = {"authorization": authorization} if authorization else {}

    response = invoke("ingest", http_event("POST", "/v1/batch", body=body, headers=headers))

    assert response["statusCode"] == 401
    assert json_body(response)["key"] == "unauthorized"
    assert WRITE_KEY not in response["body"]
    assert table_items() == []


def test_malformed_bodies_are_400_invalid_payload_and_write_nothing(aws: Aws) -> None:
    for body in ("{not json", "[1, 2]", json.dumps({"batch": {"type": "track"}})):
        response = invoke("ingest", http_event("POST", "/v1/batch", body=body, headers={"authorization": BASIC}))
        assert response["statusCode"] == 400, body
        error = json_body(response)
        assert error["key"] == "invalid_payload"
        assert set(error) >= {"code", "key", "message", "details", "request_id"}
    assert table_items() == []


def test_body_over_512000_bytes_after_gunzip_is_413(aws: Aws) -> None:
    padding = "x" * 600_000
    body = gzip.compress(json.dumps({"batch": [], "pad": padding}).encode())
    assert len(body) < 10_000  # small on the wire, large once inflated

    response = invoke(
        "ingest",
        http_event(
            "POST",
            "/v1/batch",
            body=body,
            base64=True,
            headers={"authorization": BASIC, "content-encoding": "gzip"},
        ),
    )

    assert response["statusCode"] == 413
    assert json_body(response)["key"] == "payload_too_large"


def test_each_bad_message_is_rejected_with_its_key_and_the_rest_are_stored(aws: Aws) -> None:
    good = {"type": "track", "userId": "kevin.malone", "event": "Chili Made", "messageId": "good-1"}
    messages = [
        good,
        {"type": "track", "event": "No One", "messageId": "bad-1"},
        {"type": "track", "userId": {"id": 1}, "event": "x", "messageId": "bad-2"},
        {
            "type": "track",
            "userId": "u",
            "event": "big",
            "properties": {"blob": "y" * 33_000},
            "messageId": "bad-3",
        },
        {"type": "explode", "userId": "u", "messageId": "bad-4"},
        {"type": "track", "userId": "u", "messageId": "bad-5"},
        {"type": "track", "userId": "u", "event": "x", "properties": [1], "messageId": "bad-6"},
        {"type": "track", "userId": "u", "event": "x", "timestamp": "yesterday", "messageId": "bad-7"},
        "not an object",
    ]

    response = send_batch(messages)

    assert response["statusCode"] == 200
    body = json_body(response)
    assert body["success"] is True
    keys = [(entry["index"], entry["messageId"], entry["key"]) for entry in body["rejected"]]
    assert keys == [
        (1, "bad-1", "missing_identity"),
        (2, "bad-2", "invalid_type"),
        (3, "bad-3", "message_too_large"),
        (4, "bad-4", "invalid_message"),
        (5, "bad-5", "invalid_message"),
        (6, "bad-6", "invalid_type"),
        (7, "bad-7", "invalid_type"),
        (8, None, "invalid_message"),
    ]
    assert all(entry["code"] == 400 and entry["message"] for entry in body["rejected"])
    stored = {item["pk"]["S"] for item in table_items()}
    assert "MSG#good-1" in stored
    assert not any(key.startswith("MSG#bad") for key in stored)
    assert api("GET", "/v1/customers/u")[0] == 404


def test_when_every_message_is_rejected_the_answer_is_400_with_the_list(aws: Aws) -> None:
    response = send_batch([{"type": "track", "event": "x", "messageId": "a"}, {"type": "identify", "messageId": "b"}])

    assert response["statusCode"] == 400
    body = json_body(response)
    assert body["key"] == "invalid_payload"
    assert [entry["key"] for entry in body["rejected"]] == ["missing_identity", "missing_identity"]
    assert table_items() == []


def test_page_and_screen_are_recorded_as_viewed_events(aws: Aws) -> None:
    send_batch([
        {"type": "page", "userId": "toby", "name": "Pricing", "messageId": "p1"},
        {"type": "screen", "userId": "toby", "name": "Cart", "messageId": "s1"},
        {"type": "page", "userId": "toby", "messageId": "p2"},
    ])  # fmt: skip

    names = [entry["event"] for entry in api("GET", "/v1/event-schema")[1]["data"]]

    assert names == ["Viewed Cart Screen", "Viewed Page", "Viewed Pricing Page"]


def test_identify_updates_only_what_changed_and_records_it_as_customer_updated(aws: Aws) -> None:
    send_batch(
        [
            {
                "type": "identify",
                "userId": "angela",
                "traits": {"email": "a@dm.com", "cats": 3},
                "messageId": "i1",
            }
        ]
    )
    aws.relay_outbox()
    send_batch([
        {"type": "identify", "userId": "angela", "traits": {"email": "a@dm.com", "cats": 3}, "messageId": "i2"},
        {"type": "identify", "userId": "angela", "traits": {"cats": 4, "firstName": "Angela", "lastName": "Martin"},
         "messageId": "i3"},
    ])  # fmt: skip

    customer = api("GET", "/v1/customers/angela")[1]
    assert customer["name"] == "Angela Martin"
    assert customer["metadata"] == {"cats": 4}
    published = aws.relay_outbox()
    assert [event["detail-type"] for event in published] == ["customer.updated"]
    assert published[0]["detail"]["changed"] == ["metadata.cats", "name"]
    activity = api("GET", "/v1/customers/angela/activity")[1]["data"]
    assert [item["type"] for item in activity] == ["customer.updated", "customer.created"]


def test_anonymous_visitor_merges_into_the_customer_on_identify(aws: Aws) -> None:
    send_batch([
        {"type": "track", "anonymousId": "anon-42", "event": "Product Viewed", "messageId": "a1",
         "timestamp": "2026-11-24T06:00:00Z"},
        {"type": "identify", "anonymousId": "anon-42", "traits": {"email": "ryan@dm.com"}, "messageId": "a2"},
    ])  # fmt: skip
    anonymous = api("GET", "/v1/customers/anonymous:anon-42")[1]
    assert anonymous["source_id"] == "anonymous:anon-42"
    assert anonymous["email"] == "ryan@dm.com"

    send_batch([
        {"type": "identify", "userId": "ryan.howard", "anonymousId": "anon-42", "traits": {"name": "Ryan"},
         "messageId": "a3"},
        {"type": "track", "anonymousId": "anon-42", "event": "Order Completed", "messageId": "a4"},
    ])  # fmt: skip

    merged = api("GET", "/v1/customers/anonymous:anon-42")[1]
    assert merged["source_id"] == "ryan.howard"
    assert merged["email"] == "ryan@dm.com"
    assert merged["name"] == "Ryan"
    events = [
        item["data"]["event"]["type"]
        for item in api("GET", "/v1/customers/ryan.howard/activity", query="type=customer.custom_event")[1]["data"]
    ]
    assert events == ["Order Completed", "Product Viewed"]


def test_alias_links_the_previous_id_to_the_user(aws: Aws) -> None:
    send_batch([
        {"type": "alias", "previousId": "visitor-7", "userId": "creed", "messageId": "al1"},
        {"type": "track", "anonymousId": "visitor-7", "event": "Mystery", "messageId": "al2"},
    ])  # fmt: skip

    assert api("GET", "/v1/customers/anonymous:visitor-7")[1]["source_id"] == "creed"
    activity = api("GET", "/v1/customers/creed/activity", query="type=customer.custom_event")[1]["data"]
    assert [item["data"]["event"]["type"] for item in activity] == ["Mystery"]


def test_activity_pages_with_the_cursor_and_both_orders(aws: Aws) -> None:
    send_batch([
        {"type": "track", "userId": "oscar", "event": f"e{n}", "messageId": f"o{n}",
         "timestamp": f"2026-11-24T06:0{n}:00Z"}
        for n in range(5)
    ])  # fmt: skip

    first = api("GET", "/v1/customers/oscar/activity", query="limit=2&type=customer.custom_event")[1]
    second = api(
        "GET", "/v1/customers/oscar/activity",
        query=f"limit=2&type=customer.custom_event&starting_after_id={first['more_starting_after']}",
    )[1]  # fmt: skip
    oldest = api("GET", "/v1/customers/oscar/activity", query="limit=3&order=created_at")[1]

    assert [item["data"]["event"]["type"] for item in first["data"]] == ["e4", "e3"]
    assert first["has_more"] is True
    assert [item["data"]["event"]["type"] for item in second["data"]] == ["e2", "e1"]
    oldest_events = [item["data"].get("event", {}).get("type") for item in oldest["data"]]
    assert sorted(oldest_events, key=str) == sorted(["e0", "e1", None], key=str)
    assert api("GET", "/v1/customers/oscar/activity", query="limit=500")[1]["key"] == "invalid_query_params"


def test_unknown_customer_and_event_are_404(aws: Aws) -> None:
    assert api("GET", "/v1/customers/nobody") == (404, api("GET", "/v1/customers/nobody")[1])
    assert api("GET", "/v1/customers/nobody")[1]["key"] == "not_found"
    assert api("GET", "/v1/event-schema/never")[1]["key"] == "not_found"


# -- Segment webhook destinations ----------------------------------------------------------------------------


def test_signed_webhook_batch_is_verified_on_the_first_elements_raw_bytes(aws: Aws) -> None:
    response = invoke("ingest", sample_event("ingest/segment_webhook"))

    assert json_body(response) == {"success": True}
    assert api("GET", "/v1/customers/pam.beesly")[1]["email"] == "pam@dundermifflin.com"


def test_single_event_webhook_is_signed_over_the_whole_body(aws: Aws) -> None:
    body = '{"type":"track","userId":"stanley","event":"Pretzel Day","messageId":"w-9"}'
    signature = hmac.new(SEGMENT_SECRET.encode(), body.encode(), hashlib.sha1).hexdigest()

    ok = invoke("ingest", http_event("POST", "/v1/webhooks/segment", body=body, headers={"x-signature": signature}))
    tampered = invoke(
        "ingest",
        http_event(
            "POST",
            "/v1/webhooks/segment",
            body=body.replace("Pretzel", "Cake"),
            headers={"x-signature": signature},
        ),
    )
    unsigned = invoke("ingest", http_event("POST", "/v1/webhooks/segment", body=body))

    assert ok["statusCode"] == 200
    assert tampered["statusCode"] == 401
    assert unsigned["statusCode"] == 401
    assert json_body(tampered)["key"] == "unauthorized"


# -- Segment's Voucherify (Actions) destination ---------------------------------------------------------------


def test_voucherify_destination_upserts_the_customer_and_records_the_event(aws: Aws) -> None:
    assert invoke("ingest", sample_event("ingest/voucherify_destination_customer"))["statusCode"] == 200
    assert invoke("ingest", sample_event("ingest/voucherify_destination_event"))["statusCode"] == 200

    customer = api("GET", "/v1/customers/andy.bernard")[1]
    assert customer["name"] == "Andy Bernard"
    assert customer["address"] == {
        "city": "Scranton", "state": "PA", "line_1": "1725 Slough Avenue", "line_2": None,
        "country": "US", "postal_code": "18503",
    }  # fmt: skip
    assert customer["metadata"] == {"plan": "gold"}
    activity = api("GET", "/v1/customers/andy.bernard/activity", query="type=customer.custom_event")[1]["data"]
    assert activity[0]["data"]["event"]["metadata"] == {"rating": 3}


def test_voucherify_destination_needs_its_base64_headers(aws: Aws) -> None:
    event = sample_event("ingest/voucherify_destination_customer")
    wrong = copy.deepcopy(event)
    wrong["headers"]["secret-key"] = base64.b64encode(b"nope").decode()
    probe = http_event("GET", "/segmentio/test-authentication", headers={
        "authorization": "Basic " + base64.b64encode(APP_ID.encode()).decode(),
        "secret-key": base64.b64encode(APP_TOKEN.encode()).decode(),
    })  # fmt: skip

    assert invoke("ingest", wrong)["statusCode"] == 401
    assert invoke("ingest", probe)["statusCode"] == 200
    assert invoke("ingest", http_event("GET", "/segmentio/test-authentication"))["statusCode"] == 401

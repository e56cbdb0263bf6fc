"""Customers and custom events written through the API, as the Voucherify SDK writes them."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.component.conftest import APP_ID, APP_TOKEN, Aws
from tests.support import http_event, invoke, json_body

HEADERS = {"x-app-id": APP_ID, "x-app-token": APP_TOKEN, "content-type": "application/json"}


def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = invoke("api", http_event(method, path, body=json.dumps(body) if body is not None else None,
                                        headers=HEADERS))  # fmt: skip
    return response["statusCode"], json_body(response) if response.get("body") else None


def test_post_customers_upserts_by_source_id(aws: Aws) -> None:
    status, created = call("POST", "/v1/customers", {
        "source_id": "michael.scott", "name": "Michael Scott", "email": "michael@dundermifflin.com",
        "birthdate": "1964-03-15", "address": {"city": "Scranton", "line_1": "1725 Slough Ave"},
        "metadata": {"tier": "regional"}, "object": "customer",
    })  # fmt: skip
    assert status == 200
    assert created["object"] == "customer"
    assert created["metadata"] == {"tier": "regional"}
    assert created["address"]["line_1"] == "1725 Slough Ave"
    assert created["summary"]["redemptions"]["total_redeemed"] == 0

    status, again = call("POST", "/v1/customers/", {"source_id": "michael.scott", "phone": "+1 570 555 0100"})

    assert status == 200
    assert again["id"] == created["id"]
    assert again["phone"] == "+1 570 555 0100"
    assert again["email"] == "michael@dundermifflin.com"
    assert call("GET", f"/v1/customers/{created['id']}")[1] == again
    published = sorted(event["detail-type"] for event in aws.relay_outbox())
    assert published == ["customer.created", "customer.updated"]


def test_customer_without_source_id_gets_an_id_and_can_be_updated_by_it(aws: Aws) -> None:
    created = call("POST", "/v1/customers", {"email": "nobody@example.com"})[1]

    assert created["source_id"] is None
    updated = call("PUT", f"/v1/customers/{created['id']}", {"name": "Nobody"})[1]
    assert (updated["id"], updated["name"], updated["email"]) == (created["id"], "Nobody", "nobody@example.com")


def test_put_and_delete_need_an_existing_customer(aws: Aws) -> None:
    assert call("PUT", "/v1/customers/ghost", {"name": "x"})[1]["key"] == "not_found"
    call("POST", "/v1/customers", {"source_id": "toby"})

    status, _ = call("DELETE", "/v1/customers/toby")

    assert status == 204
    assert call("GET", "/v1/customers/toby")[0] == 404
    remaining = boto3.client("dynamodb").scan(TableName=aws.table_name)["Items"]
    assert not [item for item in remaining if item["pk"]["S"].startswith("CUST#")]


def test_post_events_records_the_event_as_ingest_does_and_creates_the_customer(aws: Aws) -> None:
    status, event = call("POST", "/v1/events", {
        "event": "review_left", "customer": {"source_id": "jim", "email": "jim@dm.com"},
        "metadata": {"rating": 4},
    })  # fmt: skip

    assert status == 200
    assert event["object"] == "event"
    assert event["type"] == "review_left"
    assert event["customer"]["source_id"] == "jim"
    assert event["metadata"] == {"rating": 4}
    activity = invoke("api", http_event("GET", "/v1/customers/jim/activity", headers=HEADERS,
                                        query="type=customer.custom_event"))  # fmt: skip
    [recorded] = json_body(activity)["data"]
    assert recorded["data"]["event"]["metadata"] == {"rating": 4}
    assert call("GET", "/v1/event-schema/review_left")[1]["count"] == 1
    # Never deduplicated: the same call twice is two events.
    call("POST", "/v1/events", {"event": "review_left", "customer": {"source_id": "jim"}})
    assert call("GET", "/v1/event-schema/review_left")[1]["count"] == 2


def test_bad_customer_and_event_bodies_are_400(aws: Aws) -> None:
    assert call("POST", "/v1/customers", {"source_id": 5})[1]["key"] == "invalid_payload"
    assert call("POST", "/v1/events", {"customer": {"source_id": "x"}})[1]["key"] == "invalid_payload"
    assert call("POST", "/v1/events", {"event": "x"})[1]["key"] == "invalid_payload"
    response = invoke("api", http_event("POST", "/v1/customers", body="{oops", headers=HEADERS))
    assert (response["statusCode"], json_body(response)["key"]) == (400, "invalid_payload")


def test_the_customer_shows_its_loyalty_memberships(aws: Aws) -> None:
    created = call("POST", "/v1/customers", {"source_id": "stanley"})[1]
    table = boto3.client("dynamodb")
    for program, points, tier in (("camp_a", 120, "ltr_gold"), ("camp_b", 30, None)):
        item = {"pk": {"S": f"CUST#{created['id']}"}, "sk": {"S": f"LOYALTY#{program}"},
                "program_id": {"S": program}, "program_name": {"S": f"Program {program}"},
                "points": {"N": str(points)}, "referred_customers": {"N": "1"}}  # fmt: skip
        if tier:
            item["tier_id"] = {"S": tier}
        table.put_item(TableName=aws.table_name, Item=item)

    loyalty = call("GET", "/v1/customers/stanley")[1]["loyalty"]

    assert loyalty == {
        "points": 150,
        "referred_customers": 2,
        "campaigns": {
            "Program camp_a": {"points": 120, "loyalty_tier": "ltr_gold", "referred_customers": 1},
            "Program camp_b": {"points": 30, "loyalty_tier": None, "referred_customers": 1},
        },
    }

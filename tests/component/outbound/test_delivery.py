"""The outbound handler on the sample batches of events/outbound/, against the stand-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from perkflow.domain import events as ev
from perkflow.domain.timeutil import parse_iso
from tests.component.outbound.conftest import Outbound

MICHAEL = ev.CustomerRef(id="cust_michael", source_id="michael.scott", email="michael@dundermifflin.com")
PROGRAM = ev.ProgramRef(id="camp_points", name="Dunder Points")


def points(n: int, *, customer: ev.CustomerRef = MICHAEL, balance: int = 100) -> ev.LoyaltyPointsEarned:
    return ev.LoyaltyPointsEarned(
        event_id=f"evt_points_{customer.id}_{n}",
        occurred_at=datetime(2026, 11, 24, 9, 0, n % 60, tzinfo=UTC),
        customer=customer,
        program=PROGRAM,
        points=10,
        balance=balance + n,
        source="event",
        transaction_id=f"ltx_{n}",
    )


def test_segment_gets_one_batch_of_tracks_and_identifies_as_a_source(outbound: Outbound) -> None:
    result = outbound.invoke("segment")

    assert result == {"batchItemFailures": []}
    segment = outbound.standins.segment
    received = segment.requests()
    assert len(received) == 1
    assert received[0]["path"] == "/v1/batch"
    assert received[0]["headers"]["authorization"] == "Basic ***"  # checked by the stand-in, never shown
    messages = {message["messageId"]: message for message in segment.state()["accepted"]}
    assert set(messages) == {
        "evt_sample_publication",
        "evt_sample_redemption",
        "evt_sample_points",
        "evt_sample_points-identify",
        "evt_sample_tier",
        "evt_sample_tier-identify",
    }
    publication = messages["evt_sample_publication"]
    assert publication["type"] == "track"
    assert publication["event"] == "Customer Publication Succeeded"
    assert publication["userId"] == "michael.scott"
    assert publication["timestamp"] == "2026-11-24T09:05:00.000Z"
    # Stamped by the stand-in on arrival, as Segment stamps receivedAt (the bench's latency figure reads it).
    assert abs(parse_iso(publication["receivedAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert publication["context"]["integration"] == {"name": "perkflow", "version": "1.0.0"}
    assert publication["context"]["perkflow"] == {"customer_id": "cust_michael"}
    assert publication["properties"]["voucher_code"] == "GIFT-7Q3K-9MZP"
    assert publication["properties"]["customer"]["source_id"] == "michael.scott"
    assert messages["evt_sample_redemption"]["event"] == "Customer Redemption Succeeded"
    assert messages["evt_sample_points"]["event"] == "Points Earned on Order"
    assert messages["evt_sample_points"]["properties"]["points_balance"] == 870
    assert messages["evt_sample_tier"]["event"] == "VIP Tier Achieved"
    assert messages["evt_sample_points-identify"]["traits"] == {
        "loyalty_points_balance": 870,
        "loyalty_state": "member",
    }
    assert messages["evt_sample_tier-identify"]["traits"] == {
        "loyalty_vip_tier_name": "Gold",
        "loyalty_vip_tier_id": "ltr_gold",
        "loyalty_state": "member",
    }
    assert segment.state()["dropped"] == []


def test_a_replayed_batch_sends_the_same_message_ids(outbound: Outbound) -> None:
    outbound.invoke("segment")
    outbound.invoke("segment")

    state = outbound.standins.segment.state()
    assert len(state["accepted"]) == 6
    assert state["duplicates"] == 6


def test_webhooks_are_signed_voucherify_envelopes(outbound: Outbound) -> None:
    result = outbound.invoke("webhook")

    assert result == {"batchItemFailures": []}
    receiver = outbound.standins.webhook
    deliveries = {envelope["id"]: envelope for envelope in receiver.state()["accepted"]}
    assert set(deliveries) == {
        "evt_sample_publication",
        "evt_sample_redemption",
        "evt_sample_points",
        "evt_sample_tier",
    }
    publication = deliveries["evt_sample_publication"]
    assert publication["type"] == "publication.succeeded"
    assert publication["event"]["id"] == "evt_sample_publication"
    assert publication["event"]["type"] == "publication.succeeded"
    assert publication["data"]["customer"]["object"] == "customer"
    assert publication["data"]["voucher"]["code"] == "GIFT-7Q3K-9MZP"
    assert publication["source"]["target_url"] == receiver.url
    assert deliveries["evt_sample_points"]["type"] == "loyalty.points.earned"
    assert {request["headers"]["x-voucherify-signature"] for request in receiver.requests()}  # signed (and verified)


def test_klaviyo_waits_until_connected_then_gets_events_with_profile_properties(outbound: Outbound) -> None:
    result = outbound.invoke("klaviyo")

    assert result == {"batchItemFailures": []}
    assert outbound.standins.klaviyo.requests() == []
    status, destination = outbound.api("GET", "/v1/destinations/klaviyo")
    assert status == 200
    assert destination["status"] == "paused"
    assert destination["pause_reason"] == "not_connected"
    assert destination["waiting"] == 4

    connected = outbound.connect_klaviyo()
    assert connected["status"] == "connected"
    assert connected["account_id"] == "XyZ123"
    outbound.run_queue("klaviyo")

    klaviyo = outbound.standins.klaviyo.state()
    events = {event["unique_id"]: event for event in klaviyo["accepted"]}
    assert set(events) == {"evt_sample_publication", "evt_sample_redemption", "evt_sample_points", "evt_sample_tier"}
    assert events["evt_sample_points"]["metric"] == "Points Earned on Order"
    assert events["evt_sample_tier"]["metric"] == "VIP Tier Achieved"
    assert events["evt_sample_redemption"]["value"] == 25.0
    assert events["evt_sample_points"]["profile"]["email"] == "michael@dundermifflin.com"
    assert events["evt_sample_points"]["profile"]["external_id"] == "michael.scott"
    profile = klaviyo["profiles"][0]
    assert profile["properties"] == {
        "Loyalty Points Balance": 870,
        "Loyalty State": "member",
        "Loyalty VIP Tier Name": "Gold",
        "Loyalty VIP Tier ID": "ltr_gold",
    }
    for request in outbound.standins.klaviyo.requests():
        if request["path"].startswith("/api/"):
            assert request["headers"]["revision"] == "2026-07-15"
            assert request["headers"]["authorization"] == "Bearer ***"
    assert outbound.api("GET", "/v1/destinations/klaviyo")[1]["waiting"] == 0


def test_smile_property_names_on_request(outbound: Outbound) -> None:
    outbound.connect_klaviyo()
    status, _ = outbound.api("PUT", "/v1/destinations/klaviyo", {"property_names": "smile"})
    assert status == 200

    outbound.invoke("klaviyo", [points(1, balance=500)])

    profile = outbound.standins.klaviyo.state()["profiles"][0]
    assert profile["properties"] == {"Smile Points Balance": 501, "Smile State": "member"}


def test_many_events_go_as_one_bulk_job(outbound: Outbound) -> None:
    outbound.connect_klaviyo()
    customers = [ev.CustomerRef(id=f"cust_{n}", source_id=f"c{n}", email=f"c{n}@example.com") for n in range(4)]
    batch = [points(n, customer=customers[n % 4]) for n in range(12)]

    result = outbound.invoke("klaviyo", batch)

    assert result == {"batchItemFailures": []}
    api_calls = [request for request in outbound.standins.klaviyo.requests() if request["path"].startswith("/api/")]
    assert [request["path"] for request in api_calls] == ["/api/accounts", "/api/event-bulk-create-jobs"]
    elements = api_calls[1]["body"]["data"]["attributes"]["events-bulk-create"]["data"]
    assert len(elements) == 4  # one profile with its events each
    assert len(outbound.standins.klaviyo.state()["accepted"]) == 12


def test_a_disabled_destination_drops_without_sending(outbound: Outbound) -> None:
    status, body = outbound.api("PUT", "/v1/destinations/webhook", {"enabled": False})
    assert status == 200
    assert body["status"] == "disabled"

    assert outbound.invoke("webhook") == {"batchItemFailures": []}

    assert outbound.standins.webhook.requests() == []
    assert outbound.queued("webhook") == 0


def test_a_paused_destination_parks_and_releases_on_resume(outbound: Outbound) -> None:
    outbound.api("PUT", "/v1/destinations/webhook", {"paused": True})

    assert outbound.invoke("webhook") == {"batchItemFailures": []}
    assert outbound.invoke("segment") == {"batchItemFailures": []}

    assert outbound.standins.webhook.state()["accepted"] == []
    assert len(outbound.standins.segment.state()["accepted"]) == 6  # the others never wait
    assert outbound.api("GET", "/v1/destinations/webhook")[1]["waiting"] == 4
    status, body = outbound.api("PUT", "/v1/destinations/webhook", {"paused": False})
    assert status == 200
    assert body["status"] == "delivering"
    outbound.run_queue("webhook")
    assert len(outbound.standins.webhook.state()["accepted"]) == 4
    assert outbound.api("GET", "/v1/destinations/webhook")[1]["waiting"] == 0


def test_a_permanent_refusal_goes_to_the_dlq_with_its_reason(outbound: Outbound) -> None:
    outbound.standins.webhook.faults.configure({"fail_matching": "evt_sample_redemption", "status": 400})

    result = outbound.invoke("webhook")

    assert result == {"batchItemFailures": []}
    dead = outbound.dead_letters("webhook")
    assert [letter["body"]["detail"]["event_id"] for letter in dead] == ["evt_sample_redemption"]
    attributes = dead[0]["attributes"]
    assert attributes["perkflow-destination"] == "webhook"
    assert attributes["perkflow-status"] == "400"
    assert "webhook answered 400" in attributes["perkflow-reason"]
    assert len(outbound.standins.webhook.state()["accepted"]) == 3


def test_transient_failures_are_retried_then_handed_back_to_sqs(outbound: Outbound) -> None:
    outbound.api("PUT", "/v1/destinations/segment", {"timeout_seconds": 2})  # time for every try
    outbound.standins.segment.faults.configure({"every": 1, "kinds": ["503"]})

    result = outbound.invoke("segment")

    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    assert failed == {f"segment-message-{n}" for n in range(4)}
    assert outbound.standins.segment.state()["requests"] == 4  # the in-invocation retries
    assert outbound.dead_letters("segment") == []


def test_on_the_last_receive_a_failing_message_goes_to_the_dlq(outbound: Outbound) -> None:
    outbound.standins.segment.faults.configure({"every": 1, "kinds": ["500"]})

    result = outbound.invoke("segment", receive_count=8)

    assert result == {"batchItemFailures": []}
    dead = outbound.dead_letters("segment")
    assert len(dead) == 4
    assert dead[0]["attributes"]["perkflow-reason"].startswith("gave up after 8 receives: segment answered 500")


@pytest.mark.parametrize("kinds", [["429"], ["500"], ["timeout"], ["reset"]])
def test_a_third_failing_is_absorbed_within_the_invocation(outbound: Outbound, kinds: list[str]) -> None:
    outbound.api("PUT", "/v1/destinations/webhook", {"timeout_seconds": 1})
    outbound.standins.webhook.faults.configure({"every": 3, "kinds": kinds, "retry_after": 1, "stall_seconds": 1.5})

    result = outbound.invoke("webhook")

    assert result == {"batchItemFailures": []}
    state = outbound.standins.webhook.state()
    assert sorted(state["ids"]) == sorted(
        ["evt_sample_publication", "evt_sample_redemption", "evt_sample_points", "evt_sample_tier"]
    )
    assert state["faults"]["injected"] >= 1


def test_a_long_retry_after_defers_the_message_instead_of_using_up_its_receives(outbound: Outbound) -> None:
    outbound.standins.webhook.faults.configure({"every": 1, "kinds": ["429"], "retry_after": 30, "limit": 1})

    result = outbound.invoke("webhook", receive_count=7)

    assert result == {"batchItemFailures": []}  # acknowledged: a copy waits in the queue
    assert outbound.dead_letters("webhook") == []
    assert len(outbound.standins.webhook.state()["accepted"]) == 3
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=outbound.queue_urls["webhook"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"

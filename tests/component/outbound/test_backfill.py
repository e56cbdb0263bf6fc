"""Klaviyo's initial "sync all customers": paged, counted, resumable, never counted twice."""

from __future__ import annotations

import base64
import json

import boto3
import pytest

from perkflow.services.outbound import backfill
from tests.component.conftest import WRITE_KEY
from tests.component.outbound.conftest import Outbound
from tests.support import http_event, invoke


def identify(customers: int) -> None:
    batch = [
        {"type": "identify", "userId": f"shopper-{n}", "messageId": f"sync-{n}",
         "traits": {"email": f"shopper{n}@example.com", "name": f"Shopper Number{n}"}}
        for n in range(customers)
    ]  # fmt: skip
    batch.append({"type": "identify", "userId": "no-email", "messageId": "sync-x", "traits": {"name": "Walk In"}})
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    response = invoke(
        "ingest",
        http_event("POST", "/v1/batch", body=json.dumps({"batch": batch}), headers={"authorization": auth}),
    )
    assert response["statusCode"] == 200, response


def test_sync_sends_every_customer_with_an_email_as_bulk_imports(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    identify(7)
    monkeypatch.setattr(backfill, "PAGE_SIZE", 3)  # several pages, so continuations are exercised
    outbound.connect_klaviyo()

    status, job = outbound.api("POST", "/v1/integrations/klaviyo/sync")
    assert (status, job["status"]) == (202, "running")
    outbound.run_queue("klaviyo", rounds=50)

    status, body = outbound.api("GET", "/v1/integrations/klaviyo")
    sync = body["sync"]
    assert (sync["status"], sync["customers_scanned"], sync["profiles_sent"], sync["customers_skipped"]) == (
        "done",
        8,
        7,
        1,
    )
    assert sync["pages"] >= 3
    profiles = {profile["email"]: profile for profile in outbound.standins.klaviyo.state()["profiles"]}
    assert set(profiles) == {f"shopper{n}@example.com" for n in range(7)}
    assert profiles["shopper3@example.com"]["external_id"] == "shopper-3"
    assert profiles["shopper3@example.com"]["first_name"] == "Shopper"
    imports = [r for r in outbound.standins.klaviyo.requests() if r["path"] == "/api/profile-bulk-import-jobs"]
    assert 3 <= len(imports) <= sync["pages"]  # one per page that had a customer with an email


def test_a_replayed_step_is_not_counted_twice(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    identify(4)
    outbound.connect_klaviyo()
    outbound.api("POST", "/v1/integrations/klaviyo/sync")
    step = outbound.sqs_event("klaviyo")
    queued = boto3.client("sqs").receive_message(QueueUrl=outbound.queue_urls["klaviyo"], MaxNumberOfMessages=10)
    body = next(message["Body"] for message in queued["Messages"] if "klaviyo.sync" in message["Body"])
    step["Records"] = [{**step["Records"][0], "messageId": "step-1", "body": body}]

    invoke("outbound", step)
    invoke("outbound", step)  # redelivered: its cursor is no longer the job's
    outbound.run_queue("klaviyo", rounds=50)
    invoke("outbound", step)  # and once more after the job finished

    sync = outbound.api("GET", "/v1/integrations/klaviyo")[1]["sync"]
    assert (sync["status"], sync["customers_scanned"], sync["profiles_sent"]) == ("done", 5, 4)


def test_sync_needs_an_enabled_klaviyo(outbound: Outbound) -> None:
    outbound.api("PUT", "/v1/destinations/klaviyo", {"enabled": False})

    status, error = outbound.api("POST", "/v1/integrations/klaviyo/sync")

    assert (status, error["key"]) == (409, "destination_disabled")

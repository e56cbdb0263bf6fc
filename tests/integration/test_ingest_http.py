"""Ingest end to end on the local stack: HTTP in, DynamoDB Local, the stream, the publisher, the bus."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from typing import Any

import pytest

from perkflow_ops.local.harness import RunningStack

pytestmark = pytest.mark.integration


def basic(stack: RunningStack) -> dict[str, str]:
    token = base64.b64encode(f"{stack.credentials['PERKFLOW_WRITE_KEY']}:".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def api(stack: RunningStack, path: str) -> Any:
    headers = {"X-App-Id": stack.credentials["PERKFLOW_APP_ID"], "X-App-Token": stack.credentials["PERKFLOW_APP_TOKEN"]}
    return stack.request("GET", path, headers=headers)


def published(stack: RunningStack, source_id: str, timeout: float = 15) -> list[dict[str, Any]]:
    """Bus events about one customer, once the publisher has caught up."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = [
            entry["event"] for entry in stack.events()
            if (entry["event"].get("detail", {}).get("customer") or {}).get("source_id") == source_id
        ]  # fmt: skip
        if len(seen) >= 3:
            break
        time.sleep(0.2)
    return seen


def test_batch_in_profile_and_activity_out_and_events_on_the_bus_once(stack: RunningStack) -> None:
    user = f"michael-{uuid.uuid4().hex[:6]}"
    batch = {
        "batch": [
            {"type": "identify", "userId": user, "traits": {"email": "michael@dundermifflin.com"},
             "messageId": f"{user}-1"},
            {"type": "track", "userId": user, "event": "Order Completed", "properties": {"total": 54.99},
             "messageId": f"{user}-2"},
            {"type": "track", "userId": user, "event": "review_left", "messageId": f"{user}-3"},
        ],
        "sentAt": "2026-11-24T06:30:00.000Z",
    }  # fmt: skip
    body = gzip.compress(json.dumps(batch).encode())
    headers = {**basic(stack), "Content-Type": "application/json", "Content-Encoding": "gzip"}

    first = stack.request("POST", "/v1/batch", body=body, headers=headers)
    events = published(stack, user)
    replay = stack.request("POST", "/v1/batch", body=body, headers=headers)
    time.sleep(1.5)  # give a wrongly re-published replay time to show up

    assert first.status == 200, first.body
    assert first.json() == {"success": True}
    assert replay.json() == {"success": True}
    assert sorted(event["detail-type"] for event in events) == [
        "customer.created", "customer.event.recorded", "customer.event.recorded",
    ]  # fmt: skip
    assert all(event["source"] == "perkflow.ingest" and event["account"] for event in events)
    assert len(published(stack, user, timeout=0.5)) == 3
    customer = api(stack, f"/v1/customers/{user}").json()
    assert customer["email"] == "michael@dundermifflin.com"
    activity = api(stack, f"/v1/customers/{user}/activity").json()
    assert [item["type"] for item in activity["data"]].count("customer.custom_event") == 2


def test_bad_input_over_http_answers_in_the_error_shape(stack: RunningStack) -> None:
    huge = gzip.compress(b'{"batch": [], "pad": "' + b"x" * 600_000 + b'"}')
    oversize = stack.request("POST", "/v1/batch", body=huge,
                             headers={**basic(stack), "Content-Encoding": "gzip"})  # fmt: skip
    malformed = stack.request("POST", "/v1/batch", body=b"{nope", headers=basic(stack))
    unauthorised = stack.request("POST", "/v1/track", json={"userId": "u", "event": "e"})

    assert (oversize.status, oversize.json()["key"]) == (413, "payload_too_large")
    assert (malformed.status, malformed.json()["key"]) == (400, "invalid_payload")
    assert (unauthorised.status, unauthorised.json()["key"]) == (401, "unauthorized")

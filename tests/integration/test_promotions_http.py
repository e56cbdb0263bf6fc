"""Promotions end to end on the local stack: the api and distribution functions over HTTP, DynamoDB Local,
the outbox on the bus, background code generation on the codegen queue, segment entries from the bus."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from perkflow.domain.customers import customer_id_for
from perkflow_ops.local.harness import RunningStack
from tests.stack_fixtures import Aws

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

pytestmark = pytest.mark.integration


def api(stack: RunningStack, method: str, path: str, body: Any = None, timeout: float = 120) -> tuple[int, Any]:
    """One call; the timeout is generous because parallel tiers queue many requests for a few workers."""
    headers = {"X-App-Id": stack.credentials["PERKFLOW_APP_ID"], "X-App-Token": stack.credentials["PERKFLOW_APP_TOKEN"]}
    response = stack.request(method, path, json=body, headers=headers, timeout=timeout)
    return response.status, response.json()


def ok(stack: RunningStack, method: str, path: str, body: Any = None) -> Any:
    status, answer = api(stack, method, path, body)
    assert status == 200, (method, path, status, answer)
    return answer


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def campaign_body(name: str, count: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "campaign_type": "GIFT_VOUCHERS",
        "type": "AUTO_UPDATE",
        "join_once": True,
        "vouchers_count": count,
        "voucher": {
            "type": "GIFT_VOUCHER",
            "gift": {"amount": 2500, "effect": "APPLY_TO_ORDER"},
            "code_config": {"pattern": "GIFT-####-####", "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"},
        },
    }
    body.update(changes)
    return body


def static_segment(stack: RunningStack, name: str, *source_ids: str) -> str:
    """A static segment of these customers, once the segments capability lists them in it (a static list
    survives the recomputations the customers' own events cause, so rules see it for the whole test)."""
    customers = [customer_id_for(source_id) for source_id in source_ids]
    segment = ok(stack, "POST", "/v1/segments", {"name": name, "type": "static", "customers": customers})

    def listed() -> bool:
        return all(
            segment["id"] in {entry["id"] for entry in ok(stack, "GET", f"/v1/customers/{customer}/segments")["data"]}
            for customer in customers
        )

    wait_for(listed, f"the members of {name}")
    return str(segment["id"])


def bus_events(stack: RunningStack, detail_type: str, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    return [
        entry["event"]
        for entry in stack.events()
        if entry["event"]["detail-type"] == detail_type and match(entry["event"]["detail"])
    ]


def test_gift_card_story_over_http_with_two_dynamodb_calls_per_redemption(stack: RunningStack) -> None:
    run = uuid.uuid4().hex[:8]
    michael, dwight = f"michael-{run}", f"dwight-{run}"
    for source_id in (michael, dwight):
        ok(stack, "POST", "/v1/customers", {"source_id": source_id, "name": source_id})
    segment = static_segment(stack, f"Reviewers {run}", michael)
    rule = ok(
        stack,
        "POST",
        "/v1/validation-rules",
        {
            "name": "Reviewers only",
            "error": {"message": "Reviewers only"},
            "rules": {"1": {"name": "customer.segment", "conditions": {"$is": [segment]}, "rules": {}}, "logic": "1"},
        },
    )
    campaign = ok(
        stack, "POST", "/v1/campaigns", campaign_body(f"Review gift card {run}", 50, validation_rules=[rule["id"]])
    )
    publication = ok(
        stack,
        "POST",
        "/v1/publications",
        {"campaign": {"name": campaign["name"]}, "customer": {"source_id": michael}, "join_once": True},
    )
    code = publication["voucher"]["code"]

    def stackable(customer: str, **extra: Any) -> dict[str, Any]:
        return {
            "customer": {"source_id": customer},
            "redeemables": [{"object": "voucher", "id": code}],
            "order": {"amount": 4000},
            **extra,
        }

    stranger = ok(stack, "POST", "/v1/validations", stackable(dwight))
    valid = ok(stack, "POST", "/v1/validations", stackable(michael))
    stack.reset_stats()
    redeemed = ok(stack, "POST", "/v1/redemptions", stackable(michael))
    calls = stack.stats()["api"]["ddb_calls"]
    refused_status, refused = api(stack, "POST", "/v1/redemptions", stackable(michael))
    rolled = ok(stack, "POST", f"/v1/redemptions/{redeemed['parent_redemption']['id']}/rollbacks")
    topped = ok(stack, "POST", f"/v1/vouchers/{quote(code, safe='')}/balance", {"amount": 1000})
    published = wait_for(
        lambda: bus_events(stack, "voucher.gift.balance_added", lambda detail: detail["voucher"]["code"] == code),
        "balance event",
    )

    assert campaign["creation_status"] == "DONE"
    assert stranger["valid"] is False
    assert stranger["redeemables"][0]["result"]["error"]["key"] == "customer_rules_violated"
    assert valid["valid"] is True
    assert redeemed["redemptions"][0]["amount"] == 2500
    assert calls <= 2
    assert (refused_status, refused["key"]) == (400, "gift_amount_exceeded")
    assert rolled["rollbacks"][0]["amount"] == -2500
    assert topped["balance"] == 3500
    assert published[0]["source"] == "perkflow.api"
    about_code = {
        entry["event"]["detail-type"]
        for entry in stack.events()
        if (entry["event"]["detail"].get("voucher") or {}).get("code") == code
    }
    assert about_code == {
        "publication.succeeded",
        "redemption.succeeded",
        "redemption.failed",
        "redemption.rollback.succeeded",
        "voucher.gift.balance_added",
    }


def test_background_generation_of_many_codes_reports_done_with_an_exact_count(stack: RunningStack) -> None:
    run = uuid.uuid4().hex[:8]
    created = ok(stack, "POST", "/v1/campaigns", campaign_body(f"Bulk {run}", 3000))

    done = wait_for(
        lambda: (found := ok(stack, "GET", f"/v1/campaigns/{created['id']}"))["creation_status"] == "DONE" and found,
        "generation",
        timeout=120,
    )
    events = wait_for(
        lambda: bus_events(
            stack, "campaign.vouchers.generation.completed", lambda detail: detail["campaign"]["id"] == created["id"]
        ),
        "completion event",
    )

    assert created["creation_status"] == "IN_PROGRESS"
    assert done["vouchers_count"] == 3000
    assert [event["detail"]["vouchers_count"] for event in events] == [3000]


def test_segment_entered_on_the_bus_publishes_through_a_distribution(stack: RunningStack, stack_aws: Aws) -> None:
    run = uuid.uuid4().hex[:8]
    segment, source_id = f"seg_{run}", f"pam-{run}"
    campaign = ok(stack, "POST", "/v1/campaigns", campaign_body(f"Dist {run}", 5))
    distribution = ok(
        stack,
        "POST",
        "/v1/distributions",
        {
            "name": f"dist {run}",
            "trigger": {"type": "customer.segment.entered", "segment_id": segment},
            "action": {"type": "publish", "campaign": campaign["id"]},
        },
    )
    ok(stack, "POST", "/v1/customers", {"source_id": source_id})
    detail = {
        "event_id": f"evt_{run}",
        "version": 1,
        "occurred_at": "2026-11-24T09:00:00.000Z",
        "customer": {"id": customer_id_for(source_id), "source_id": source_id},
        "segment": {"id": segment, "name": "Reviewers"},
    }
    entry: PutEventsRequestEntryTypeDef = {
        "Source": "perkflow.segments",
        "DetailType": "customer.segment.entered",
        "Detail": json.dumps(detail),
        "EventBusName": stack_aws.name("buses", "Bus"),
    }
    stack_aws.events.put_events(Entries=[entry, entry])

    wallet = wait_for(
        lambda: ok(stack, "GET", f"/v1/customers/{source_id}/redeemables")["data"], "the code in the wallet"
    )
    published = wait_for(
        lambda: bus_events(
            stack, "publication.succeeded", lambda found: found.get("distribution_id") == distribution["id"]
        ),
        "event",
    )
    time.sleep(1.0)

    assert len(wallet) == 1
    assert wallet[0]["campaign_id"] == campaign["id"]
    assert (
        len(
            bus_events(stack, "publication.succeeded", lambda found: found.get("distribution_id") == distribution["id"])
        )
        == 1
    )
    assert published[0]["detail"]["customer"]["source_id"] == source_id


def test_perkflow_codes_generate_adds_codes_with_a_progress_bar(stack: RunningStack) -> None:
    import os
    import subprocess
    import sys

    from perkflow_ops.template import ROOT

    run = uuid.uuid4().hex[:8]
    campaign = ok(stack, "POST", "/v1/campaigns", campaign_body(f"Cli {run}", 0, type="STATIC"))
    env = {**os.environ, "PERKFLOW_APP_ID": stack.credentials["PERKFLOW_APP_ID"],
           "PERKFLOW_APP_TOKEN": stack.credentials["PERKFLOW_APP_TOKEN"],
           "PYTHONPATH": os.pathsep.join([str(ROOT / "ops"), str(ROOT / "layers" / "perkflow")])}  # fmt: skip

    done = subprocess.run(
        [sys.executable, "-m", "perkflow_ops.cli", "codes", "generate", campaign["name"], "--count", "1500",
         "--api", stack.url],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    generation = ok(stack, "GET", f"/v1/campaigns/{campaign['id']}/generation")

    assert done.returncode == 0, done.stderr
    assert "100%" in done.stdout
    assert (generation["status"], generation["generated"], generation["target"]) == ("DONE", 1500, 1500)
    assert ok(stack, "GET", f"/v1/campaigns/{campaign['id']}")["vouchers_count"] == 1500


def test_codes_with_slashes_percents_and_spaces_round_trip_through_the_gateway(stack: RunningStack) -> None:
    code = f"50% OFF/{uuid.uuid4().hex[:6]}"
    path = f"/v1/vouchers/{quote(code, safe='')}"

    created = ok(stack, "POST", path, {"type": "GIFT_VOUCHER", "gift": {"amount": 100}})
    fetched = ok(stack, "GET", path)
    redeemed = ok(stack, "POST", f"{path}/redemption", {"order": {"amount": 100}})

    assert created["code"] == fetched["code"] == redeemed["voucher"]["code"] == code

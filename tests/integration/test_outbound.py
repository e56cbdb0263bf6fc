"""Outbound sync on the local stack: catalogue events put on the bus as the publisher puts them reach Segment,
Klaviyo and the webhook stand-ins through the template's rule, queues and the outbound function (DESIGN §1,
steps 4-6), and GET /_local/sinks shows what each received."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from perkflow.domain import events as ev
from perkflow_ops.local.harness import RunningStack
from perkflow_ops.standins.control import Outbound, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def out(stack: RunningStack) -> Iterator[Outbound]:
    outbound = Outbound(stack)
    outbound.clear_faults()
    outbound.ensure_klaviyo_connected()
    yield outbound
    outbound.clear_faults()


def story_events(tag: str) -> list[ev.DomainEvent]:
    at = datetime.now(UTC).replace(microsecond=0)
    michael = ev.CustomerRef(id=f"cust_{tag}", source_id=f"michael-{tag}", email=f"michael-{tag}@dundermifflin.com",
                             name="Michael Scott")  # fmt: skip
    program = ev.ProgramRef(id="camp_points", name="Dunder Points")
    voucher = ev.VoucherRef(id=f"v_{tag}", code=f"GIFT-{tag[:4].upper()}", type="GIFT_VOUCHER", gift_amount=2500)
    campaign = ev.CampaignRef(id="camp_reviewers", name="Reviewers $25")
    return [
        ev.PublicationSucceeded(event_id=f"evt_{tag}_pub", occurred_at=at, customer=michael,
                                publication_id=f"pub_{tag}", voucher=voucher, campaign=campaign),
        ev.RedemptionSucceeded(event_id=f"evt_{tag}_red", occurred_at=at, customer=michael, redemption_id=f"r_{tag}",
                               voucher=voucher, campaign=campaign, amount=2500,
                               order=ev.OrderRef(source_id=f"order-{tag}", amount=5900)),
        ev.LoyaltyPointsEarned(event_id=f"evt_{tag}_pts", occurred_at=at, customer=michael, program=program, points=59,
                               balance=870, source="order", transaction_id=f"ltx_{tag}"),
        ev.LoyaltyTierAchieved(event_id=f"evt_{tag}_tier", occurred_at=at, customer=michael, program=program,
                               tier=ev.TierRef(id="ltr_gold", name="Gold", rank=2), direction="up"),
        ev.LoyaltyReferralStarted(event_id=f"evt_{tag}_ref", occurred_at=at, customer=michael, program=program,
                                  referral_code="MICHAEL1", referral_url="https://dundermifflin.com/r/MICHAEL1"),
        ev.LoyaltyRewardIssued(event_id=f"evt_{tag}_bday", occurred_at=at, customer=michael, program=program,
                               reward=ev.RewardRef(id="rew_bday", name="$5 birthday gift"), reason="birthday",
                               code="BDAY-5"),
    ]  # fmt: skip


def by_key(requests: list[dict[str, Any]], destination: str) -> dict[str, dict[str, Any]]:
    """What a destination received, by dedupe key (Segment messageId, Klaviyo unique_id, webhook id)."""
    found: dict[str, dict[str, Any]] = {}
    for request in requests:
        body = request["body"]
        if destination == "segment" and request["path"] == "/v1/batch":
            found.update({message["messageId"]: message for message in body["batch"]})
        elif destination == "klaviyo" and request["path"] == "/api/events":
            found[body["data"]["attributes"]["unique_id"]] = body["data"]["attributes"]
        elif destination == "klaviyo" and request["path"] == "/api/event-bulk-create-jobs":
            for element in body["data"]["attributes"]["events-bulk-create"]["data"]:
                for event in element["attributes"]["events"]["data"]:
                    found[event["attributes"]["unique_id"]] = {**event["attributes"], **element["attributes"]}
        elif destination == "webhook" and request["path"] == "/" and isinstance(body, dict) and "id" in body:
            found[body["id"]] = body
    return found


def test_the_story_ends_in_the_right_calls_to_segment_klaviyo_and_the_webhook(out: Outbound) -> None:
    tag = uuid.uuid4().hex[:10]
    story = story_events(tag)
    ids = {event.event_id for event in story}

    out.publish(story)

    def arrived() -> dict[str, dict[str, dict[str, Any]]] | None:
        sinks = out.stack.sinks()
        got = {name: by_key(sinks[name], name) for name in ("segment", "klaviyo", "webhook")}
        complete = all(ids <= set(got[name]) for name in got)
        return got if complete else None

    got = wait_for(arrived, "the story's events at all three destinations", timeout=60)
    segment, klaviyo, webhook = got["segment"], got["klaviyo"], got["webhook"]
    assert segment[f"evt_{tag}_pub"]["event"] == "Customer Publication Succeeded"
    assert segment[f"evt_{tag}_pub"]["userId"] == f"michael-{tag}"
    assert segment[f"evt_{tag}_red"]["event"] == "Customer Redemption Succeeded"
    assert segment[f"evt_{tag}_pts-identify"]["traits"]["loyalty_points_balance"] == 870
    names = {key: value["metric"]["data"]["attributes"]["name"] for key, value in klaviyo.items() if tag in key}
    assert names == {
        f"evt_{tag}_pub": "Customer Publication Succeeded",
        f"evt_{tag}_red": "Customer Redemption Succeeded",
        f"evt_{tag}_pts": "Points Earned on Order",
        f"evt_{tag}_tier": "VIP Tier Achieved",
        f"evt_{tag}_ref": "Referral Started",
        f"evt_{tag}_bday": "Birthday Reward Issued",
    }
    profile = klaviyo[f"evt_{tag}_pts"]["profile"]["data"]["attributes"]
    assert profile["email"] == f"michael-{tag}@dundermifflin.com"
    assert profile["external_id"] == f"michael-{tag}"
    assert profile["properties"]["Loyalty Points Balance"] == 870
    assert klaviyo[f"evt_{tag}_ref"]["profile"]["data"]["attributes"]["properties"]["Loyalty Referral URL"] == (
        "https://dundermifflin.com/r/MICHAEL1"
    )
    assert {webhook[key]["type"] for key in ids} == {event.DETAIL_TYPE for event in story}
    received = {p["unique_id"]: p for p in out.state("klaviyo")["accepted"] if tag in p["unique_id"]}
    assert received[f"evt_{tag}_tier"]["profile_properties"]["Loyalty VIP Tier Name"] == "Gold"


def test_destinations_are_configured_through_the_api_on_the_stack(out: Outbound) -> None:
    segment = out.destination("segment")
    assert (segment["status"], segment["url"]) == ("delivering", out.sinks["segment"])
    assert out.klaviyo()["status"] == "connected"
    assert out.klaviyo()["account_id"] == "XyZ123"

    changed = out.destination("webhook", timeout_seconds=5)
    assert changed["timeout_seconds"] == 5
    assert out.destination("webhook", timeout_seconds=10)["timeout_seconds"] == 10


def test_sync_customers_from_the_cli_shows_progress_and_sends_profiles(out: Outbound, stack: RunningStack) -> None:
    tag = uuid.uuid4().hex[:8]
    import base64

    token = base64.b64encode(f"{stack.credentials['PERKFLOW_WRITE_KEY']}:".encode()).decode()
    batch = [
        {"type": "identify", "userId": f"sync-{tag}-{n}", "messageId": f"sync-{tag}-{n}",
         "traits": {"email": f"sync-{tag}-{n}@example.com", "name": "Sync Shopper"}}
        for n in range(5)
    ]  # fmt: skip
    answer = stack.request("POST", "/v1/batch", json={"batch": batch}, headers={"Authorization": f"Basic {token}"})
    assert answer.status == 200

    result = subprocess.run(
        [sys.executable, "-m", "perkflow_ops.cli", "klaviyo", "sync-customers", "--local", stack.url],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **stack.credentials},
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "done" in result.stdout
    emails = {profile.get("email") for profile in out.state("klaviyo")["profiles"]}
    assert {f"sync-{tag}-{n}@example.com" for n in range(5)} <= emails


def test_klaviyo_connect_from_the_cli(out: Outbound, stack: RunningStack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "perkflow_ops.cli", "klaviyo", "connect", "--local", stack.url],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **stack.credentials},
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "connected to Klaviyo account XyZ123" in result.stdout
    assert out.klaviyo()["status"] == "connected"

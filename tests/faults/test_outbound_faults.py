"""Fault tests of outbound sync on the local stack (issue 7, "Proof"): stand-ins that fail a third of the
time, an access token that expires under several concurrent invocations, a permanent refusal that lands in
the DLQ and comes back with ``perkflow dlq redrive``, a paused Klaviyo that holds nobody else back, and no
credential in any log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from perkflow.domain import events as ev
from perkflow_ops.local.harness import RunningStack
from perkflow_ops.standins.control import Outbound, wait_for
from perkflow_ops.template import ROOT

pytestmark = pytest.mark.integration
DESTINATIONS = ("segment", "klaviyo", "webhook")
PROGRAM = ev.ProgramRef(id="camp_points", name="Dunder Points")


@pytest.fixture(scope="module")
def out(stack: RunningStack) -> Iterator[Outbound]:
    outbound = Outbound(stack)
    outbound.deliver_everywhere()
    yield outbound
    outbound.deliver_everywhere()


@pytest.fixture
def clean(out: Outbound) -> Iterator[Outbound]:
    yield out
    out.deliver_everywhere()


def loyalty_events(tag: str, count: int, customers: int = 6) -> list[ev.DomainEvent]:
    at = datetime.now(UTC).replace(microsecond=0)
    people = [
        ev.CustomerRef(id=f"cust_{tag}_{n}", source_id=f"shopper-{tag}-{n}", email=f"shopper-{tag}-{n}@example.com")
        for n in range(customers)
    ]
    made: list[ev.DomainEvent] = []
    for n in range(count):
        customer = people[n % customers]
        if n % 3 == 2:
            voucher = ev.VoucherRef(id=f"v_{tag}_{n}", code=f"C{tag}{n}", type="DISCOUNT_VOUCHER")
            made.append(ev.PublicationSucceeded(event_id=f"evt_{tag}_{n}", occurred_at=at, customer=customer,
                                                publication_id=f"pub_{tag}_{n}", voucher=voucher))  # fmt: skip
        else:
            made.append(ev.LoyaltyPointsEarned(event_id=f"evt_{tag}_{n}", occurred_at=at, customer=customer,
                                               program=PROGRAM, points=10, balance=10 * n, source="event",
                                               transaction_id=f"ltx_{tag}_{n}"))  # fmt: skip
    return made


def accepted_keys(out: Outbound, destination: str, tag: str) -> list[str]:
    """The dedupe keys a stand-in accepted (each at most once: it dedupes as the real service does)."""
    state = out.state(destination)
    keys = {"segment": "message_ids", "klaviyo": "unique_ids", "webhook": "ids"}[destination]
    return [key for key in state[keys] if tag in key]


def expected_keys(events: list[ev.DomainEvent], destination: str) -> set[str]:
    keys = {event.event_id for event in events}
    if destination == "segment":  # loyalty events also send an identify with the loyalty traits
        keys |= {f"{event.event_id}-identify" for event in events if event.DETAIL_TYPE.startswith("loyalty.")}
    return keys


def dead_letters(out: Outbound, destination: str) -> int:
    url = out.queue_url(f"{destination.capitalize()}DLQ")
    attributes = out.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def all_delivered(out: Outbound, events: list[ev.DomainEvent], tag: str, destinations: tuple[str, ...]) -> bool:
    return all(set(accepted_keys(out, name, tag)) >= expected_keys(events, name) for name in destinations)


def dlq_listing(stack: RunningStack, destination: str) -> str:
    listed = subprocess.run(
        [sys.executable, "-m", "perkflow_ops.cli", "dlq", "list", "--destination", destination, "--local", stack.url],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **stack.credentials},
    )  # fmt: skip
    return listed.stdout + listed.stderr


def test_with_a_third_of_requests_failing_every_event_arrives_exactly_once_per_dedupe_key(
    clean: Outbound, stack: RunningStack
) -> None:
    out, tag = clean, uuid.uuid4().hex[:10]
    before = {name: out.state(name)["duplicates"] for name in DESTINATIONS}
    dead_before = {name: dead_letters(out, name) for name in DESTINATIONS}  # the session's stack is shared
    for name in DESTINATIONS:
        out.destination(name, timeout_seconds=1)
        out.faults(name, every=3, kinds=["429", "500", "timeout"], retry_after=1, stall_seconds=2,
                   paths=["/api/", "/v1/", "/"] if name != "klaviyo" else ["/api/"])  # fmt: skip
    events = loyalty_events(tag, 30)

    out.publish(events)

    wait_for(lambda: all_delivered(out, events, tag, DESTINATIONS), "every event at every destination", 180)
    for name in DESTINATIONS:
        keys = accepted_keys(out, name, tag)
        assert len(keys) == len(set(keys)) == len(expected_keys(events, name)), name
        assert set(keys) == expected_keys(events, name), name
        state = out.state(name)
        assert state["faults"]["injected"] >= 1, name  # the failures really happened ...
        gave_up = dead_letters(out, name) - dead_before[name]
        assert gave_up == 0, f"{name}: {dlq_listing(stack, name)}"  # ... and nothing gave up
    # A request that timed out had been accepted: its retry was a duplicate, which the dedupe key absorbed.
    assert sum(out.state(name)["duplicates"] - before[name] for name in DESTINATIONS) >= 1


def test_an_expired_token_is_refreshed_once_by_one_of_several_concurrent_invocations(clean: Outbound) -> None:
    out, tag = clean, uuid.uuid4().hex[:10]
    oauth_before = out.state("klaviyo")["oauth"]
    unauthorized_before = out.state("klaviyo")["statuses"].get("401", 0)
    out.control("klaviyo", "POST", "expire-tokens")
    # A slow Klaviyo keeps the first invocation busy while the next batches start with the expired token too.
    out.faults("klaviyo", latency_seconds=1.0, paths=["/api/"])
    events = loyalty_events(tag, 400, customers=40)

    out.publish(events)

    wait_for(lambda: all_delivered(out, events, tag, ("klaviyo",)), "every event at Klaviyo", 180)
    state = out.state("klaviyo")
    assert state["oauth"]["refreshes"] - oauth_before["refreshes"] == 1
    assert state["oauth"]["refused_refreshes"] == oauth_before["refused_refreshes"]  # no rotated token reused
    assert state["statuses"].get("401", 0) - unauthorized_before >= 2  # several invocations saw the expiry
    assert out.klaviyo()["status"] == "connected"
    assert len(accepted_keys(out, "klaviyo", tag)) == 400


def test_a_permanent_refusal_lands_in_the_dlq_and_redrive_delivers_it(clean: Outbound, stack: RunningStack) -> None:
    out, tag = clean, uuid.uuid4().hex[:10]
    events = loyalty_events(tag, 3)
    refused = events[1].event_id
    out.faults("webhook", fail_matching=refused, status=422)

    out.publish(events)

    wait_for(lambda: dead_letters(out, "webhook") == 1, "the refused event in the webhook DLQ", 60)
    wait_for(lambda: all_delivered(out, events, tag, ("segment", "klaviyo")), "the others everywhere else", 60)
    assert set(accepted_keys(out, "webhook", tag)) == {events[0].event_id, events[2].event_id}
    out.clear_faults()
    listed = dlq_listing(stack, "webhook")
    assert "webhook: 1 dead letters" in listed, listed
    time.sleep(1.5)  # listing hid the message for a second

    result = subprocess.run(
        [sys.executable, "-m", "perkflow_ops.cli", "dlq", "redrive", "--destination", "webhook", "--local", stack.url],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **stack.credentials},
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "webhook: 1 redriven" in result.stdout
    assert "webhook answered 422" in result.stdout  # the reason travelled with the dead letter
    wait_for(lambda: refused in accepted_keys(out, "webhook", tag), "the redriven event at the webhook", 60)
    assert dead_letters(out, "webhook") == 0
    assert sorted(accepted_keys(out, "webhook", tag)) == sorted(event.event_id for event in events)


def test_a_paused_klaviyo_holds_back_neither_segment_nor_webhooks(clean: Outbound) -> None:
    out, tag = clean, uuid.uuid4().hex[:10]
    waiting_before = out.destination("klaviyo")["waiting"]
    out.destination("klaviyo", paused=True)
    events = loyalty_events(tag, 12)

    out.publish(events)

    wait_for(lambda: all_delivered(out, events, tag, ("segment", "webhook")), "Segment and the webhook", 60)
    wait_for(lambda: out.destination("klaviyo")["waiting"] - waiting_before == 12, "Klaviyo's messages parked", 30)
    assert accepted_keys(out, "klaviyo", tag) == []
    status = out.klaviyo()
    assert (status["delivery"], status["pause_reason"]) == ("paused", "paused")

    out.destination("klaviyo", paused=False)

    wait_for(lambda: all_delivered(out, events, tag, ("klaviyo",)), "Klaviyo after it resumed", 60)
    assert sorted(accepted_keys(out, "klaviyo", tag)) == sorted(event.event_id for event in events)
    assert len(accepted_keys(out, "segment", tag)) == len(expected_keys(events, "segment"))  # nothing re-sent


def test_no_token_or_secret_appears_in_any_log(out: Outbound, stack: RunningStack) -> None:
    secrets: set[str] = {stack.credentials["PERKFLOW_APP_TOKEN"], stack.credentials["PERKFLOW_WRITE_KEY"]}
    for name in DESTINATIONS:
        secrets |= set(out.control(name, "GET", "secrets")["secrets"])
    secrets = {secret for secret in secrets if len(secret) >= 12}
    assert len(secrets) >= 8  # the client secret, API key, codes, access and refresh tokens, keys ...
    logs: dict[str, str] = {
        str(path.relative_to(ROOT)): path.read_text(errors="replace") for path in (ROOT / ".local" / "logs").glob("*")
    }
    assert "outbound.log" in {Path(name).name for name in logs}

    leaks = [(name, secret[:4] + "...") for name, text in logs.items() for secret in secrets if secret in text]

    assert leaks == []


def test_the_sinks_show_what_each_destination_received(out: Outbound, stack: RunningStack) -> None:
    sinks: dict[str, list[dict[str, Any]]] = stack.sinks()

    assert set(sinks) == set(DESTINATIONS)
    for name in DESTINATIONS:
        assert sinks[name], name
        assert set(sinks[name][-1]) == {"method", "path", "headers", "body"}
    assert all(
        request["headers"].get("authorization", "x ***").endswith("***")
        for name in DESTINATIONS
        for request in sinks[name]
    )

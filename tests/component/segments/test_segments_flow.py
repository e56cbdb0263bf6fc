"""Segments end to end in-process: API definitions, ingest events through the bus rule, the engine function,
memberships, entered/left events, sweeps and backfills (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from perkflow import clock, wiring
from perkflow.clock import LocalClock
from perkflow.domain.events import CustomerRef, OutboxEntry, RedemptionSucceeded
from perkflow.domain.segments.catalogue import SegmentRecord
from perkflow.domain.segments.definition import parse_node
from perkflow.services.segments import DefinitionsCache
from tests.component.conftest import APP_ID, APP_TOKEN, WRITE_KEY, Aws
from tests.component.delivery import deliver, drain
from tests.support import http_event, invoke, json_body, sample_event

HEADERS = {"x-app-id": APP_ID, "x-app-token": APP_TOKEN, "content-type": "application/json"}
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
REVIEWERS = {"junction": "and", "events.review_left.count": {"conditions": {"$more_than": [0]}}}


@pytest.fixture
def jobs(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    url = boto3.client("sqs").create_queue(QueueName="segment-jobs")["QueueUrl"]
    monkeypatch.setenv("PERKFLOW_SEGMENT_JOBS_URL", url)
    clock.set_local_clock(LocalClock(frozen_at=START))
    return url


def api(method: str, path: str, body: Any = None, query: str = "") -> tuple[int, Any]:
    response = invoke(
        "api",
        http_event(method, path, body=json.dumps(body) if body is not None else None, headers=HEADERS, query=query),
    )
    return response["statusCode"], json_body(response) if response.get("body") else None


def track(user: str, event: str, message_id: str, **extra: Any) -> None:
    body = json.dumps(
        {
            "writeKey": WRITE_KEY,
            "batch": [{"type": "track", "userId": user, "event": event, "messageId": message_id, **extra}],
        }
    )
    assert invoke("ingest", http_event("POST", "/v1/batch", body=body))["statusCode"] == 200


def settle(aws: Aws, jobs_url: str) -> list[dict[str, Any]]:
    """Publish what was stored, let segments consume it, run queued jobs; returns every event published."""
    published: list[dict[str, Any]] = []
    for _ in range(5):
        events = aws.relay_outbox()
        drained = drain("segments", jobs_url)
        if not events and not drained:
            return published
        published += events
        assert deliver("segments", "SegmentInputRule", events) == {"batchItemFailures": []}
    return published


def segment_events(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (event["detail-type"], event["detail"]["customer"]["source_id"], event["detail"]["segment"]["name"])
        for event in events
        if event["detail-type"].startswith("customer.segment.")
    ]


def test_a_review_puts_the_customer_in_reviewers_once(aws: Aws, jobs: str) -> None:
    status, created = api("POST", "/v1/segments", {"name": "Reviewers", "type": "auto-update", "filter": REVIEWERS})
    assert status == 200
    assert created["object"] == "segment"
    assert created["initial_sync_status"] == "IN_PROGRESS"
    settle(aws, jobs)
    assert api("GET", f"/v1/segments/{created['id']}")[1]["initial_sync_status"] == "DONE"

    invoke("ingest", sample_event("ingest/batch"))  # Michael's identify, order and review
    track("michael.scott", "review_left", "second-review")
    published = settle(aws, jobs)

    assert segment_events(published) == [("customer.segment.entered", "michael.scott", "Reviewers")]
    members = api("GET", f"/v1/segments/{created['id']}/customers")[1]
    assert [member["source_id"] for member in members["data"]] == ["michael.scott"]
    assert api("GET", f"/v1/segments/{created['id']}")[1]["size"] == 1
    mine = api("GET", "/v1/customers/michael.scott/segments")[1]
    assert mine["data"] == [{"id": created["id"], "name": "Reviewers", "object": "segment"}]
    activity = api("GET", "/v1/customers/michael.scott/activity", query="type=customer.segment.entered")[1]
    assert [item["data"]["segment"]["name"] for item in activity["data"]] == ["Reviewers"]


def test_redelivered_events_change_nothing(aws: Aws, jobs: str) -> None:
    api("POST", "/v1/segments", {"name": "Reviewers", "filter": REVIEWERS})
    settle(aws, jobs)
    track("pam", "review_left", "r1")
    events = aws.relay_outbox()
    deliver("segments", "SegmentInputRule", events)
    deliver("segments", "SegmentInputRule", events)  # the queue delivers it again

    assert segment_events(aws.relay_outbox()) == [("customer.segment.entered", "pam", "Reviewers")]


def test_existing_customers_are_backfilled_into_a_new_segment(aws: Aws, jobs: str) -> None:
    track("dwight", "review_left", "d1", timestamp="2026-11-01T10:00:00Z")
    track("jim", "Order Completed", "j1")
    settle(aws, jobs)

    created = api("POST", "/v1/segments", {"name": "Reviewers", "filter": REVIEWERS})[1]
    published = settle(aws, jobs)

    assert segment_events(published) == [("customer.segment.entered", "dwight", "Reviewers")]
    assert api("GET", f"/v1/segments/{created['id']}")[1]["size"] == 1


def test_a_sliding_window_lets_the_customer_leave_by_time_alone(aws: Aws, jobs: str) -> None:
    definition = {
        "type": "event_count",
        "event": "redemption.succeeded",
        "window": {"kind": "sliding", "seconds": 30 * 86400},
        "op": "gte",
        "value": 2,
    }
    created = api("POST", "/v1/segments", {"name": "Frequent redeemers", "definition": definition})[1]
    track("kevin", "Chili Made", "k0")  # the customer exists
    settle(aws, jobs)
    customer_id = api("GET", "/v1/customers/kevin")[1]["id"]
    redemptions = [
        RedemptionSucceeded(
            event_id=f"evt_r{n}",
            occurred_at=START - timedelta(days=days),
            redemption_id=f"r_{n}",
            customer=CustomerRef(id=customer_id, source_id="kevin"),
            amount=100,
        )
        for n, days in ((1, 20), (2, 10))
    ]
    bus = [
        {
            "detail-type": e.DETAIL_TYPE,
            "source": "perkflow.api",
            "detail": OutboxEntry.of("perkflow.api", e).detail,
            "version": "0",
            "id": e.event_id,
            "time": "2026-11-24T09:00:00Z",
            "region": "us-east-1",
            "resources": [],
        }
        for e in redemptions
    ]
    deliver("segments", "SegmentInputRule", bus)
    entered = segment_events(aws.relay_outbox())

    clock.set_local_clock(LocalClock(frozen_at=START + timedelta(days=11)))
    invoke("segments", sample_event("segments/sweep"))
    left = segment_events(aws.relay_outbox())

    assert entered == [("customer.segment.entered", "kevin", "Frequent redeemers")]
    assert left == [("customer.segment.left", "kevin", "Frequent redeemers")]
    assert api("GET", f"/v1/segments/{created['id']}")[1]["size"] == 0


def test_static_segment_lists_the_given_customers(aws: Aws, jobs: str) -> None:
    track("oscar", "x", "o1")
    track("angela", "x", "a1")
    settle(aws, jobs)
    created = api("POST", "/v1/segments", {"name": "Accounting", "type": "static", "customers": ["oscar", "angela"]})[1]
    settle(aws, jobs)

    assert api("GET", f"/v1/segments/{created['id']}")[1]["size"] == 2
    assert api("GET", "/v1/customers/oscar/segments")[1]["total"] == 1


def test_deleting_a_segment_cleans_its_members(aws: Aws, jobs: str) -> None:
    created = api("POST", "/v1/segments", {"name": "Reviewers", "filter": REVIEWERS})[1]
    track("erin", "review_left", "e1")
    settle(aws, jobs)
    assert api("GET", "/v1/customers/erin/segments")[1]["total"] == 1

    assert api("DELETE", f"/v1/segments/{created['id']}")[0] == 204
    settle(aws, jobs)

    assert api("GET", f"/v1/segments/{created['id']}")[1]["key"] == "not_found"
    assert api("GET", "/v1/customers/erin/segments")[1]["total"] == 0


def test_bad_definitions_are_400_and_store_nothing(aws: Aws, jobs: str) -> None:
    cases = [
        {"name": "x", "filter": {"junction": "and", "events.x.count": {"conditions": {"$wat": [1]}}}},
        {"name": "x", "definition": {"type": "segment", "segment_id": "seg_missing"}},
        {"name": "x", "definition": {"type": "and", "children": []}},
        {"type": "auto-update", "filter": REVIEWERS},
        {"name": "x", "filter": REVIEWERS, "definition": {"type": "trait", "path": "email", "op": "exists"}},
    ]
    for body in cases:
        status, error = api("POST", "/v1/segments", body)
        assert (status, error["key"]) == (400, "invalid_payload"), body
    assert api("GET", "/v1/segments")[1]["total"] == 0


def test_a_segment_of_customers_without_reviews_holds_for_existing_and_new_customers(aws: Aws, jobs: str) -> None:
    track("jim", "Order Completed", "j1")
    settle(aws, jobs)
    silent = {"type": "not", "child": {"type": "event_count", "event": "review_left", "window": {"kind": "all_time"},
                                       "op": "gte", "value": 1}}  # fmt: skip
    created = api("POST", "/v1/segments", {"name": "Silent", "definition": silent})[1]
    assert segment_events(settle(aws, jobs)) == [("customer.segment.entered", "jim", "Silent")]  # the backfill

    track("pam", "Order Completed", "p1")  # a customer the segments function first sees now
    assert segment_events(settle(aws, jobs)) == [("customer.segment.entered", "pam", "Silent")]
    track("pam", "review_left", "p2")
    assert segment_events(settle(aws, jobs)) == [("customer.segment.left", "pam", "Silent")]
    assert api("GET", f"/v1/segments/{created['id']}")[1]["size"] == 1


def test_definitions_record_the_version_they_were_written_at(aws: Aws, jobs: str) -> None:
    first = api("POST", "/v1/segments", {"name": "Reviewers", "filter": REVIEWERS})[1]
    second = api("POST", "/v1/segments", {"name": "Reviewers again", "filter": REVIEWERS})[1]
    store = wiring.segment_definitions()
    records, version = store.all()
    since = {record.id: record.defs_version for record in records}
    assert since[first["id"]] < since[second["id"]] == version
    api("POST", f"/v1/segments/{first['id']}/backfill")  # a re-run is a new definition for the engine
    rerun = store.get(first["id"])
    assert rerun is not None
    assert rerun.defs_version == version + 1 == store.version()


def test_a_definition_written_while_the_cache_reads_waits_for_the_next_load() -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    older = SegmentRecord(id="seg_old", name="old", type="passive", created_at=now, defs_version=3,
                          definition=parse_node({"type": "trait", "path": "email", "op": "exists"}))  # fmt: skip
    newer = older.model_copy(update={"id": "seg_new", "defs_version": 5})

    class Torn:
        """Reads the version (4), then finds a definition written after it."""

        def version(self) -> int:
            return 4

        def all(self) -> tuple[list[SegmentRecord], int]:
            return [older, newer], 4

    segments, version, records = DefinitionsCache(Torn()).current()  # type: ignore[arg-type]
    assert (version, set(records), segments.revision) == (4, {"seg_old"}, 3)


def test_loyalty_traits_come_from_loyalty_events_and_survive_profile_changes(aws: Aws, jobs: str) -> None:
    from perkflow.domain.events import LoyaltyPointsEarned, ProgramRef

    definition = {"type": "trait", "path": "loyalty.points", "op": "gte", "value": 100}
    api("POST", "/v1/segments", {"name": "Point hoarders", "definition": definition})
    track("ryan", "Order Completed", "ry1")
    settle(aws, jobs)
    customer_id = api("GET", "/v1/customers/ryan")[1]["id"]
    earned = LoyaltyPointsEarned(
        event_id="evt_earned_ryan", occurred_at=START, customer=CustomerRef(id=customer_id, source_id="ryan"),
        program=ProgramRef(id="camp_points", name="Dunder Points"), points=150, balance=150, source="order",
        transaction_id="ltx_1",
    )  # fmt: skip
    envelope = {"version": "0", "id": "e1", "time": "2026-11-24T09:00:00Z", "region": "us-east-1", "resources": []}
    bus = [{"detail-type": earned.DETAIL_TYPE, "source": "perkflow.loyalty", "detail": earned.detail(), **envelope}]

    deliver("segments", "SegmentInputRule", bus)
    entered = segment_events(aws.relay_outbox())
    body = json.dumps({"writeKey": WRITE_KEY, "batch": [
        {"type": "identify", "userId": "ryan", "traits": {"email": "ryan@dm.com"}, "messageId": "ry2"}]})  # fmt: skip
    invoke("ingest", http_event("POST", "/v1/batch", body=body))
    after_identify = settle(aws, jobs)

    assert entered == [("customer.segment.entered", "ryan", "Point hoarders")]
    assert segment_events(after_identify) == []
    assert api("GET", "/v1/customers/ryan/segments")[1]["total"] == 1


def test_a_new_segment_counts_internal_events_recorded_before_it(aws: Aws, jobs: str) -> None:
    from perkflow.adapters.customers import activity_attributes
    from perkflow.domain.activities import Activity, activity_id

    track("holly", "x", "h0")
    settle(aws, jobs)
    customer_id = api("GET", "/v1/customers/holly")[1]["id"]
    customer = CustomerRef(id=customer_id, source_id="holly")
    for n, days in ((1, 12), (2, 3)):
        at = START - timedelta(days=days)
        event = RedemptionSucceeded(event_id=f"evt_h{n}", occurred_at=at, redemption_id=f"r_h{n}", customer=customer)
        activity = Activity(id=activity_id(at, f"r_h{n}"), type="customer.redemption.succeeded", customer=customer,
                            created_at=at)  # fmt: skip
        # As the promotions adapter stores a redemption: the record, listed as an activity with its events.
        item = {"pk": {"S": f"RED#r_h{n}"}, "sk": {"S": "RED"}}
        for name, value in activity_attributes(customer_id, activity, [event]).items():
            item[name] = {"S": value}
        boto3.client("dynamodb").put_item(TableName=aws.table_name, Item=item)

    definition = {"type": "event_count", "event": "redemption.succeeded", "op": "gte", "value": 2,
                  "window": {"kind": "sliding", "seconds": 30 * 86400}}  # fmt: skip
    api("POST", "/v1/segments", {"name": "Frequent redeemers", "definition": definition})
    published = settle(aws, jobs)

    assert segment_events(published) == [("customer.segment.entered", "holly", "Frequent redeemers")]

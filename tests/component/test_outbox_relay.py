"""The outbox: a stored change that carries events reaches the bus, once per new event id."""

from __future__ import annotations

import copy
import json

from perkflow.adapters import outbox
from perkflow.domain.events import CustomerCreated, CustomerRef, OutboxEntry
from tests.component.conftest import Aws
from tests.support import invoke, sample_event


def test_stream_record_with_outbox_is_published_in_the_catalogue_shape(aws: Aws) -> None:
    result = invoke("publisher", sample_event("publisher/table_stream"))

    assert result == {"batchItemFailures": []}
    [event] = aws.bus_events()
    assert event["source"] == "perkflow.ingest"
    assert event["detail-type"] == "customer.created"
    detail = CustomerCreated.model_validate(event["detail"])
    assert detail.event_id == "evt_0123456789abcdefABCDEFGH"
    assert detail.customer.source_id == "michael.scott"


def test_events_already_in_the_old_image_are_not_published_again(aws: Aws) -> None:
    event = sample_event("publisher/table_stream")
    record = event["Records"][0]
    record["eventName"] = "MODIFY"
    record["dynamodb"]["OldImage"] = copy.deepcopy(record["dynamodb"]["NewImage"])

    assert invoke("publisher", event) == {"batchItemFailures": []}
    assert aws.bus_events() == []


def test_a_failed_put_names_the_first_unpublished_record_so_the_stream_retries_from_it(aws: Aws) -> None:
    event = sample_event("publisher/table_stream")
    second = copy.deepcopy(event["Records"][0])
    second["dynamodb"]["SequenceNumber"] = "111100000000000000000002"
    created = CustomerCreated(
        event_id="evt_second",
        occurred_at="2026-11-24T06:30:01Z",
        customer=CustomerRef(id="cust_2"),
    )
    second["dynamodb"]["NewImage"]["outbox"]["S"] = outbox.encode([OutboxEntry.of("perkflow.ingest", created)])
    event["Records"].append(second)

    import boto3

    boto3.client("events").delete_event_bus(Name=aws.bus_name)  # every put now fails

    result = invoke("publisher", event)

    assert result == {"batchItemFailures": [{"itemIdentifier": "111100000000000000000001"}]}


def test_outbox_entries_round_trip_through_the_item_attribute() -> None:
    created = CustomerCreated(
        event_id="evt_1",
        occurred_at="2026-11-24T06:30:00Z",
        customer=CustomerRef(id="cust_1"),
    )
    item = outbox.attach({"pk": "X", "sk": "Y"}, [OutboxEntry.of("perkflow.api", created)])

    [entry] = outbox.read(item)
    assert entry.detail_type == "customer.created"
    assert json.loads(item["outbox"])[0]["detail"]["occurred_at"] == "2026-11-24T06:30:00.000Z"
    assert outbox.new_entries(item, item) == []
    assert outbox.attach({"pk": "X"}, []) == {"pk": "X"}

"""Component tier: handlers invoked in-process on events/ samples, against moto's in-process AWS.

The table and bus are created from template.yaml itself, so code and infrastructure cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from perkflow import clock, wiring
from perkflow_ops import template

TABLE = "perkflow-test"
BUS = "perkflow-test"
APP_ID = "app_test"
APP_TOKEN = "token-test-0123456789"
WRITE_KEY = "wk_test_0123456789abcdef"
SEGMENT_SECRET = "segment-shared-secret-test"


@dataclass
class Aws:
    table_name: str
    bus_name: str
    tap_queue_url: str
    _stream_positions: dict[str, str] = field(default_factory=dict)

    def relay_outbox(self) -> list[dict[str, Any]]:
        """Run the real publisher over the table stream's new records; return what reached the bus."""
        from tests.support import invoke

        streams = boto3.client("dynamodbstreams")
        arn = boto3.client("dynamodb").describe_table(TableName=self.table_name)["Table"]["LatestStreamArn"]
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            position = self._stream_positions.get(shard_id)
            iterator_args: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": position}
                if position
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, **iterator_args)["ShardIterator"]
            for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
                records.append(json.loads(json.dumps(record, default=str)))
                self._stream_positions[shard_id] = record["dynamodb"]["SequenceNumber"]
        with_outbox = [r for r in records if "outbox" in r["dynamodb"].get("NewImage", {})]
        if with_outbox:
            result = invoke("publisher", {"Records": with_outbox})
            assert result == {"batchItemFailures": []}
        return self.bus_events()

    def bus_events(self) -> list[dict[str, Any]]:
        """Everything put on the bus so far (a catch-all rule feeds a tap queue)."""
        sqs = boto3.client("sqs")
        events: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.tap_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return events
            for message in batch:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.tap_queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "PERKFLOW_TABLE_NAME": TABLE,
        "PERKFLOW_BUS_NAME": BUS,
        "PERKFLOW_APP_ID": APP_ID,
        "PERKFLOW_APP_TOKEN": APP_TOKEN,
        "PERKFLOW_WRITE_KEY": WRITE_KEY,
        "PERKFLOW_SEGMENT_SHARED_SECRET": SEGMENT_SECRET,
        "POWERTOOLS_METRICS_NAMESPACE": "perkflow",
        "POWERTOOLS_SERVICE_NAME": "test",
        "PERKFLOW_FUNCTION": "test",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        wiring.reset()
        definition = template.table_definition(template.load())
        boto3.client("dynamodb").create_table(TableName=TABLE, **definition)
        events = boto3.client("events")
        events.create_event_bus(Name=BUS)
        sqs = boto3.client("sqs")
        tap_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
        events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "tap", "Arn": tap_arn}])
        yield Aws(table_name=TABLE, bus_name=BUS, tap_queue_url=tap_url)
        wiring.reset()
    clock.set_local_clock(None)


@pytest.fixture
def app_headers() -> dict[str, str]:
    return {"x-app-id": APP_ID, "x-app-token": APP_TOKEN}

"""Component tier: handlers invoked in-process on events/ samples, against moto's in-process AWS.

The table and bus are created from template.yaml itself, so code and infrastructure cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class Aws:
    table_name: str
    bus_name: str
    tap_queue_url: str

    def bus_events(self) -> list[dict[str, Any]]:
        """Everything put on the bus so far (a catch-all rule feeds a tap queue)."""
        sqs = boto3.client("sqs")
        events: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.tap_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
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
        "POWERTOOLS_METRICS_NAMESPACE": "perkflow",
        "POWERTOOLS_SERVICE_NAME": "test",
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
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
        events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "tap", "Arn": tap_arn}])
        yield Aws(table_name=TABLE, bus_name=BUS, tap_queue_url=tap_url)
        wiring.reset()
    clock.set_local_clock(None)


@pytest.fixture
def app_headers() -> dict[str, str]:
    return {"x-app-id": APP_ID, "x-app-token": APP_TOKEN}

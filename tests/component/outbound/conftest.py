"""Outbound component tier: the outbound and api handlers in-process on moto, against the stand-ins for
Segment, Klaviyo and a webhook receiver running in this process on 127.0.0.1 (real HTTP over loopback).

Queues, dead-letter queues and secrets are created from template.yaml's resources under the names the
sample events in events/outbound/ carry in their eventSourceARN.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from perkflow import wiring
from perkflow.domain.events import DomainEvent
from perkflow_ops import template
from perkflow_ops.standins import KlaviyoStandIn, SegmentStandIn, WebhookReceiver
from tests.component.conftest import Aws
from tests.support import http_event, invoke, json_body, sample_event

DESTINATIONS = ("segment", "klaviyo", "webhook")
QUEUES = {name: f"perkflow-test-{name.capitalize()}Queue" for name in DESTINATIONS}
DLQS = {name: f"perkflow-test-{name.capitalize()}DLQ" for name in DESTINATIONS}
REDIRECT_URI = "http://127.0.0.1:3000/v1/integrations/klaviyo/callback"


@dataclass
class StandIns:
    segment: SegmentStandIn
    klaviyo: KlaviyoStandIn
    webhook: WebhookReceiver

    def all(self) -> list[Any]:
        return [self.segment, self.klaviyo, self.webhook]


@pytest.fixture(scope="session")
def standins() -> Iterator[StandIns]:
    running = StandIns(SegmentStandIn("segment"), KlaviyoStandIn("klaviyo"), WebhookReceiver("webhook"))
    for standin in running.all():
        standin.start()
    yield running
    for standin in running.all():
        standin.stop()


@dataclass
class Outbound:
    aws: Aws
    standins: StandIns
    queue_urls: dict[str, str]
    dlq_urls: dict[str, str]
    app_headers: dict[str, str]

    # -- triggers ---------------------------------------------------------------------------------------------
    def invoke(self, destination: str, events: Sequence[DomainEvent] | None = None, receive_count: int = 1) -> Any:
        """The outbound handler on a batch of ``destination``'s queue (the sample file's events by default)."""
        return invoke("outbound", self.sqs_event(destination, events, receive_count))

    def sqs_event(self, destination: str, events: Sequence[DomainEvent] | None = None, receive_count: int = 1) -> Any:
        event = copy.deepcopy(sample_event(f"outbound/{destination}"))
        if events is not None:
            template_record = event["Records"][0]
            event["Records"] = []
            for index, item in enumerate(events):
                record = copy.deepcopy(template_record)
                record["messageId"] = f"{destination}-{item.event_id}-{index}"
                record["body"] = json.dumps(envelope(item))
                event["Records"].append(record)
        for record in event["Records"]:
            record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        return event

    def run_queue(self, destination: str, rounds: int = 20) -> list[Any]:
        """A tiny event source mapping: receive from the moto queue, invoke, delete what succeeded."""
        sqs = boto3.client("sqs")
        results = []
        for _ in range(rounds):
            messages = sqs.receive_message(
                QueueUrl=self.queue_urls[destination], MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                break
            records = [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{QUEUES[destination]}",
                    "awsRegion": "us-east-1",
                    "messageAttributes": {},
                    "md5OfBody": "",
                }
                for message in messages
            ]
            result = invoke("outbound", {"Records": records})
            results.append(result)
            failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
            for message in messages:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=self.queue_urls[destination], ReceiptHandle=message["ReceiptHandle"])
        return results

    def dead_letters(self, destination: str) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.dlq_urls[destination], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                attributes = {
                    name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()
                }
                found.append({"body": json.loads(message["Body"]), "attributes": attributes})
                sqs.delete_message(QueueUrl=self.dlq_urls[destination], ReceiptHandle=message["ReceiptHandle"])

    def queued(self, destination: str) -> int:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_urls[destination], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    # -- the API ------------------------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, auth: bool = True, query: str = "") -> tuple[int, Any]:
        headers = {**(self.app_headers if auth else {}), "content-type": "application/json"}
        event = http_event(method, path, body=None if body is None else json.dumps(body), headers=headers, query=query)
        response = invoke("api", event)
        return response["statusCode"], json_body(response) if response.get("body") else None

    def connect_klaviyo(self) -> dict[str, Any]:
        """The whole OAuth dance: connect, the stand-in's consent page, the callback."""
        status, body = self.api("POST", "/v1/integrations/klaviyo/connect")
        assert status == 200, body
        consent = requests.get(body["authorize_url"], allow_redirects=False, timeout=5)
        assert consent.status_code == 302
        location = urlsplit(consent.headers["Location"])
        status, connected = self.api("GET", location.path, auth=False, query=location.query)
        assert status == 200, connected
        return dict(connected)


def envelope(event: DomainEvent, source: str = "perkflow.test") -> dict[str, Any]:
    detail = event.detail()
    return {
        "version": "0",
        "id": f"bus-{event.event_id}",
        "detail-type": event.DETAIL_TYPE,
        "source": source,
        "account": "123456789012",
        "time": detail["occurred_at"],
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def query_of(url: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def outbound(
    aws: Aws, standins: StandIns, app_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Outbound]:
    for standin in standins.all():
        standin.reset()
    sqs = boto3.client("sqs")
    tpl = template.load()
    queue_urls, dlq_urls = {}, {}
    for name in DESTINATIONS:
        dlq_urls[name] = sqs.create_queue(QueueName=DLQS[name])["QueueUrl"]
        queue_urls[name] = sqs.create_queue(QueueName=QUEUES[name])["QueueUrl"]
    secrets = boto3.client("secretsmanager")
    for logical_id in template.resources(tpl, "AWS::SecretsManager::Secret"):
        arn = secrets.create_secret(Name=f"perkflow-test-{logical_id}", SecretString="{}")["ARN"]
        variable = "PERKFLOW_OUT_SECRETS_ARN" if logical_id == "OutboundSecrets" else "PERKFLOW_KLAVIYO_TOKENS_ARN"
        monkeypatch.setenv(variable, arn)
    for name in DESTINATIONS:
        monkeypatch.setenv(f"PERKFLOW_OUT_{name.upper()}_QUEUE_URL", queue_urls[name])
        monkeypatch.setenv(f"PERKFLOW_OUT_{name.upper()}_DLQ_URL", dlq_urls[name])
        monkeypatch.setenv(f"PERKFLOW_OUT_{name.upper()}_URL", getattr(standins, name).url)
    for standin in standins.all():
        for variable, value in standin.environment().items():
            monkeypatch.setenv(variable, value)
    monkeypatch.setenv("PERKFLOW_KLAVIYO_REDIRECT_URI", REDIRECT_URI)
    monkeypatch.setenv("PERKFLOW_OUT_MAX_RECEIVES", "8")
    wiring.reset()
    yield Outbound(aws, standins, queue_urls, dlq_urls, app_headers)
    wiring.reset()

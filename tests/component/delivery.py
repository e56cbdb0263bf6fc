"""Moving events between functions in component tests the way the deployed stack does.

Bus events are matched against the template's own rule patterns and handed to the consuming function as the
SQS batch its queue would deliver; job queues (moto) are drained through the function that consumes them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
from moto.events.models import EventPattern

from perkflow_ops import template
from tests.support import invoke


def rule_pattern(logical_id: str) -> dict[str, Any]:
    return template.event_patterns(template.load())[logical_id]


def sqs_record(body: dict[str, Any], queue: str = "queue") -> dict[str, Any]:
    message_id = str(uuid.uuid4())
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": json.dumps(body, separators=(",", ":")),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795507200000",
            "SenderId": "AIDAEVENTBRIDGE",
            "ApproximateFirstReceiveTimestamp": "1795507200001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
        "awsRegion": "us-east-1",
    }


def deliver(function: str, rule: str, bus_events: list[dict[str, Any]]) -> dict[str, Any]:
    """Hand ``function`` the bus events its rule matches, as one SQS batch (``account`` added as AWS sends it)."""
    pattern = EventPattern.load(json.dumps(rule_pattern(rule)))
    matched = [{"account": "123456789012", **event} for event in bus_events if pattern.matches_event(event)]  # type: ignore[arg-type]
    if not matched:
        return {"batchItemFailures": []}
    result: dict[str, Any] = invoke(function, {"Records": [sqs_record(event) for event in matched]})
    return result


def drain(function: str, queue_url: str, *, rounds: int = 50) -> int:
    """Run every job on a queue (and the jobs those jobs enqueue) through ``function``; returns how many."""
    sqs = boto3.client("sqs")
    handled = 0
    for _ in range(rounds):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return handled
        for message in messages:
            result = invoke(function, {"Records": [sqs_record(json.loads(message["Body"]))]})
            assert result == {"batchItemFailures": []}, result
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1
    raise AssertionError("jobs kept coming")

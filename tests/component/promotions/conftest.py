"""Promotion component tests: the api and distribution handlers in-process on moto, driven like the SDK.

``promo`` adds the code generation queue (as template.yaml wires it) to the ``aws`` fixture and gives the
tests a small client: HTTP calls to the api handler, the distribution queue drained into its handler, and the
segment state item written directly (the segments capability owns it; tests put a customer in a segment).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from perkflow.domain.customers import customer_id_for
from tests.component.conftest import APP_ID, APP_TOKEN, Aws
from tests.support import http_event, invoke, sample_event

CLIENT_APP_ID = "client_app_test"
CLIENT_TOKEN = "client-token-test-0123456789"
CLIENT_ORIGIN = "https://shop.example.com"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def key(self) -> str | None:
        return self.body.get("key") if isinstance(self.body, dict) else None


@dataclass
class Promo:
    aws: Aws
    codegen_queue_url: str

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Answer:
        sent = {"x-app-id": APP_ID, "x-app-token": APP_TOKEN} if auth else {}
        sent.update(headers or {})
        raw = json.dumps(body) if body is not None else None
        response = invoke("api", http_event(method, path, body=raw, headers=sent, query=query))
        text = response.get("body") or ""
        return Answer(response["statusCode"], json.loads(text) if text else None, response.get("headers") or {})

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        answer = self.call(method, path, body, **kwargs)
        assert answer.status == 200, (method, path, answer.status, answer.body)
        return answer.body

    def customer(self, source_id: str, **fields: Any) -> dict[str, Any]:
        return self.ok("POST", "/v1/customers", {"source_id": source_id, **fields})  # type: ignore[no-any-return]

    def enter_segment(self, source_id: str, *segment_ids: str) -> None:
        boto3.client("dynamodb").update_item(
            TableName=self.aws.table_name,
            Key={"pk": {"S": f"CUST#{customer_id_for(source_id)}"}, "sk": {"S": "SEGSTATE"}},
            UpdateExpression="ADD members :s",
            ExpressionAttributeValues={":s": {"SS": list(segment_ids)}},
        )

    def run_codegen_queue(self) -> int:
        """Hand every waiting code generation message to the distribution handler, as the event source
        mapping would (delays ignored); the number of messages handled."""
        sqs = boto3.client("sqs")
        handled = 0
        while True:
            messages = sqs.receive_message(QueueUrl=self.codegen_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return handled
            for message in messages:
                event = sample_event("distribution/codegen_chunk")
                event["Records"][0]["body"] = message["Body"]
                result = invoke("distribution", event)
                assert result == {"batchItemFailures": []}, result
                sqs.delete_message(QueueUrl=self.codegen_queue_url, ReceiptHandle=message["ReceiptHandle"])
                handled += 1

    def segment_entered(self, source_id: str, segment_id: str, event_id: str) -> dict[str, Any]:
        event = sample_event("distribution/segment_entered")
        envelope = json.loads(event["Records"][0]["body"])
        envelope["detail"]["event_id"] = event_id
        envelope["detail"]["customer"] = {"id": customer_id_for(source_id), "source_id": source_id}
        envelope["detail"]["segment"] = {"id": segment_id, "name": "Reviewers"}
        event["Records"][0]["body"] = json.dumps(envelope)
        return invoke("distribution", event)  # type: ignore[no-any-return]


def enc(code: str) -> str:
    return quote(code, safe="")


@pytest.fixture
def promo(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Promo]:
    url = boto3.client("sqs").create_queue(QueueName="perkflow-test-codegen")["QueueUrl"]
    monkeypatch.setenv("PERKFLOW_CODEGEN_QUEUE_URL", url)
    monkeypatch.setenv("PERKFLOW_CLIENT_APP_ID", CLIENT_APP_ID)
    monkeypatch.setenv("PERKFLOW_CLIENT_TOKEN", CLIENT_TOKEN)
    monkeypatch.setenv("PERKFLOW_CLIENT_ORIGINS", f"{CLIENT_ORIGIN},https://other.example.com")
    from perkflow import config, wiring
    from perkflow.services.promotions import campaigns

    # moto's TransactWriteItems copies the whole table and is not thread-safe: one writer lane here (the local
    # stack's integration tests run the parallel lanes against DynamoDB Local), and small background jobs.
    monkeypatch.setattr(campaigns, "LANES", 1)
    monkeypatch.setattr(campaigns, "SYNC_LIMIT", 100)
    config.get_settings.cache_clear()
    wiring.reset()
    yield Promo(aws=aws, codegen_queue_url=url)
    config.get_settings.cache_clear()


REVIEWERS = "seg_reviewers"
PATTERN = "GIFT-####-####"
CHARSET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def story_campaign(rule_id: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Review gift card",
        "campaign_type": "GIFT_VOUCHERS",
        "type": "AUTO_UPDATE",
        "join_once": True,
        "vouchers_count": 20,
        "voucher": {
            "type": "GIFT_VOUCHER",
            "gift": {"amount": 2500, "effect": "APPLY_TO_ORDER"},
            "redemption": {"quantity": None},
            "code_config": {"pattern": PATTERN, "charset": CHARSET},
        },
    }
    if rule_id:
        body["validation_rules"] = [rule_id]
    body.update(changes)
    return body


def reviewers_rule() -> dict[str, Any]:
    return {
        "name": "Reviewers only",
        "rules": {"1": {"name": "customer.segment", "conditions": {"$is": [REVIEWERS]}, "rules": {}}, "logic": "1"},
        "error": {"message": "Reviewers only"},
    }

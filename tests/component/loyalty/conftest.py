"""Loyalty component tests: the ``loyalty`` handler on the events/loyalty samples (and variations of them) and
the ``api`` handler's /v1/loyalties routes, in-process on moto, with the clock frozen where time matters."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import pytest

from perkflow import clock
from perkflow.domain.customers import customer_id_for
from tests.component.conftest import APP_ID, APP_TOKEN, Aws
from tests.support import http_event, invoke, sample_event

MICHAEL = "michael.scott"


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def key(self) -> str | None:
        return self.body.get("key") if isinstance(self.body, dict) else None


@dataclass
class Loyalty:
    aws: Aws
    queue_url: str

    # -- the api function --------------------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, query: str = "") -> Answer:
        raw = json.dumps(body) if body is not None else None
        headers = {"x-app-id": APP_ID, "x-app-token": APP_TOKEN}
        response = invoke("api", http_event(method, path, body=raw, headers=headers, query=query))
        text = response.get("body") or ""
        return Answer(response["statusCode"], json.loads(text) if text else None)

    def ok(self, method: str, path: str, body: Any = None, query: str = "") -> Any:
        answer = self.call(method, path, body, query)
        assert answer.status in (200, 204), (method, path, answer.status, answer.body)
        return answer.body

    def program(self, perkflow: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
        payload = {"name": body.pop("name", "Dunder Club"), "perkflow": perkflow or {}, **body}
        return self.ok("POST", "/v1/loyalties", payload)  # type: ignore[no-any-return]

    def customer(self, source_id: str, **fields: Any) -> dict[str, Any]:
        return self.ok("POST", "/v1/customers", {"source_id": source_id, **fields})  # type: ignore[no-any-return]

    def member(self, program_id: str, source_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/v1/loyalties/{program_id}/members/{source_id}")  # type: ignore[no-any-return]

    def balance(self, program_id: str, source_id: str) -> int:
        return int(self.member(program_id, source_id)["loyalty_card"]["balance"])

    # -- the loyalty function ----------------------------------------------------------------------------------
    def envelope(self, sample: str) -> dict[str, Any]:
        return json.loads(sample_event(f"loyalty/{sample}")["Records"][0]["body"])  # type: ignore[no-any-return]

    def deliver(self, *envelopes: dict[str, Any]) -> dict[str, Any]:
        """Hand envelopes to the loyalty handler as the queue's event source mapping would (one batch)."""
        event = sample_event("loyalty/order_completed")
        template = event["Records"][0]
        event["Records"] = []
        for index, envelope in enumerate(envelopes):
            record = copy.deepcopy(template)
            record["messageId"] = f"message-{index}"
            record["body"] = json.dumps(envelope)
            event["Records"].append(record)
        return invoke("loyalty", event)  # type: ignore[no-any-return]

    def sample(self, name: str) -> dict[str, Any]:
        return invoke("loyalty", sample_event(f"loyalty/{name}"))  # type: ignore[no-any-return]

    def track(self, source_id: str, name: str, properties: dict[str, Any], message_id: str) -> dict[str, Any]:
        envelope = self.envelope("order_completed")
        detail = envelope["detail"]
        detail["customer"] = {"id": customer_id_for(source_id), "source_id": source_id}
        detail["event"].update(name=name, properties=properties, message_id=message_id)
        detail["event_id"] = f"evt_{message_id}"
        result = self.deliver(envelope)
        assert result == {"batchItemFailures": []}, result
        return envelope

    def hourly(self, now: str) -> dict[str, Any]:
        self.at(now)
        event = sample_event("loyalty/hourly")
        event["time"] = now
        return invoke("loyalty", event)  # type: ignore[no-any-return]

    @staticmethod
    def at(now: str) -> None:
        clock.set_local_clock(clock.LocalClock(frozen_at=datetime.fromisoformat(now.replace("Z", "+00:00"))))

    def bus(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        events = self.aws.relay_outbox()
        return [event for event in events if detail_type is None or event["detail-type"] == detail_type]

    def continuations(self) -> list[dict[str, Any]]:
        messages = (
            boto3.client("sqs").receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        )
        return [json.loads(message["Body"]) for message in messages]


@pytest.fixture
def loyalty(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loyalty]:
    url = boto3.client("sqs").create_queue(QueueName="perkflow-test-loyalty")["QueueUrl"]
    codegen = boto3.client("sqs").create_queue(QueueName="perkflow-test-codegen")["QueueUrl"]
    monkeypatch.setenv("PERKFLOW_LOYALTY_QUEUE_URL", url)
    monkeypatch.setenv("PERKFLOW_CODEGEN_QUEUE_URL", codegen)
    from perkflow import config, wiring
    from perkflow.services.promotions import campaigns

    monkeypatch.setattr(campaigns, "LANES", 1)  # moto's transactions are not thread-safe (see promotions)
    config.get_settings.cache_clear()
    wiring.reset()
    Loyalty.at("2026-11-24T10:00:00Z")
    yield Loyalty(aws=aws, queue_url=url)
    clock.set_local_clock(None)
    config.get_settings.cache_clear()


ORDER_RULE: dict[str, Any] = {
    "event": "order.paid",
    "loyalty": {
        "type": "PROPORTIONAL",
        "calculation_type": "ORDER_AMOUNT",
        "order": {"amount": {"every": 100, "points": 1}},
    },
}


def discount_campaign(name: str = "Loyalty $5 off", count: int = 50) -> dict[str, Any]:
    return {
        "name": name,
        "campaign_type": "DISCOUNT_COUPONS",
        "type": "AUTO_UPDATE",
        "vouchers_count": count,
        "voucher": {
            "type": "DISCOUNT_VOUCHER",
            "discount": {"type": "AMOUNT", "amount_off": 500},
            "code_config": {"pattern": "SAVE5-#####", "charset": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"},
        },
    }

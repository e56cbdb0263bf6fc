"""template.yaml's outbound wiring, held against the event catalogue and DESIGN §6's outbound table."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from perkflow.domain.events import CATALOGUE
from perkflow.domain.outbound import wire
from perkflow.domain.outbound.catalogue import DESTINATIONS, NAMES, ROUTES, all_names
from perkflow_ops import template
from perkflow_ops.local.patterns import Pattern
from perkflow_ops.standins import openapi
from tests.component.conftest import Aws

# DESIGN §6, "Outbound": the detail-types that go out, and their Segment / Klaviyo names.
DESIGN_TABLE = {
    "publication.succeeded": {"Customer Publication Succeeded"},
    "redemption.succeeded": {"Customer Redemption Succeeded"},
    "redemption.failed": {"Customer Redemption Failed"},
    "redemption.rollback.succeeded": {"Customer Redemption Rollback Succeeded"},
    "voucher.gift.balance_added": {"Customer Gift Balance Added"},
    "customer.segment.entered": {"Customer Segment Entered"},
    "customer.segment.left": {"Customer Segment Left"},
    "loyalty.points.earned": {"Points Earned on Order", "Points Earned"},
    "loyalty.points.redeemed": {"Points Redeemed"},
    "loyalty.points.expiring": {"Points Expiring"},
    "loyalty.points.expired": {"Points Expired"},
    "loyalty.tier.achieved": {"VIP Tier Achieved"},
    "loyalty.referral.started": {"Referral Started"},
    "loyalty.referral.completed": {"Referral Completed"},
    "loyalty.reward.issued": {"Birthday Reward Issued", "Reward Issued"},
    "loyalty.reward.expiring": {"Reward Expiring"},
}
SMILE_EVENTS = {
    "Points Earned on Order", "Points Redeemed", "Points Expiring", "Referral Started", "Referral Completed",
    "Reward Expiring", "VIP Tier Achieved", "Birthday Reward Issued",
}  # fmt: skip
QUEUE_OF = {"segment": "SegmentQueue", "klaviyo": "KlaviyoQueue", "webhook": "WebhookQueue"}


@pytest.fixture(scope="module")
def tpl() -> dict[str, Any]:
    return template.load()


def _rules_targeting(tpl: dict[str, Any], queue: str) -> list[dict[str, Any]]:
    found = []
    for rule in template.resources(tpl, "AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            if target["Arn"] == {"Fn::GetAtt": [queue, "Arn"]}:
                found.append({"pattern": rule["Properties"]["EventPattern"], "target": target})
    return found


def test_perkflow_speaks_the_revision_and_tiers_of_the_copied_openapi_document() -> None:
    assert openapi.revision() == wire.KLAVIYO_REVISION
    for operation, limits in wire.KLAVIYO_RATE_LIMITS.items():
        assert limits == openapi.rate_limit(operation)


def test_the_outbound_names_are_designs_and_smiles() -> None:
    assert set(NAMES) == set(DESIGN_TABLE)
    assert all_names() == set().union(*DESIGN_TABLE.values())
    assert all_names() >= SMILE_EVENTS
    assert set(NAMES) <= set(CATALOGUE)


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_each_queue_receives_exactly_the_outbound_detail_types(tpl: dict[str, Any], destination: str) -> None:
    rules = _rules_targeting(tpl, QUEUE_OF[destination])
    assert len(rules) == 1
    pattern = Pattern(rules[0]["pattern"])

    routed = {
        detail_type
        for detail_type in CATALOGUE
        if pattern.matches({"source": "perkflow.loyalty", "detail-type": detail_type, "detail": {}})
    }

    assert routed == set(DESIGN_TABLE) == set(ROUTES[destination])
    assert not pattern.matches({"source": "shop.backend", "detail-type": "publication.succeeded", "detail": {}})


def test_the_rule_routes_real_events_in_moto(aws: Aws, tpl: dict[str, Any]) -> None:
    """The template's pattern evaluated by an EventBridge emulator (moto), not only by our matcher."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    url = sqs.create_queue(QueueName="outbound-pattern")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = _rules_targeting(tpl, "KlaviyoQueue")[0]["pattern"]
    events.put_rule(Name="outbound", EventBusName=aws.bus_name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="outbound", EventBusName=aws.bus_name, Targets=[{"Id": "q", "Arn": arn}])

    entries: list[Any] = [
        {"Source": "perkflow.test", "DetailType": detail_type, "Detail": "{}", "EventBusName": aws.bus_name}
        for detail_type in CATALOGUE
    ]
    for start in range(0, len(entries), 10):
        events.put_events(Entries=entries[start : start + 10])
    received = set()
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            received.add(json.loads(message["Body"])["detail-type"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    assert received == set(DESIGN_TABLE)


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_each_queue_has_its_own_dlq_and_the_function_reports_item_failures(
    tpl: dict[str, Any], destination: str
) -> None:
    queue = QUEUE_OF[destination]
    props = tpl["Resources"][queue]["Properties"]
    dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    function = next(f for f in template.functions(tpl) if f.logical_id == "OutboundFunction")
    sources = [e for e in function.events if e.type == "SQS" and e.properties["Queue"]["Fn::GetAtt"][0] == queue]

    assert dlq == queue.replace("Queue", "DLQ")
    assert tpl["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    assert props["RedrivePolicy"]["maxReceiveCount"] == int(function.environment["PERKFLOW_OUT_MAX_RECEIVES"])
    assert props["VisibilityTimeout"] >= 6 * function.timeout
    assert len(sources) == 1
    assert sources[0].properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _rules_targeting(tpl, queue)[0]["target"]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [dlq, "Arn"]}


def test_the_outbound_function_is_granted_its_own_resources_only(tpl: dict[str, Any]) -> None:
    statements = tpl["Resources"]["OutboundFunction"]["Properties"]["Policies"][0]["Statement"]
    text = json.dumps(statements)

    assert '"*"' not in text
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            named = json.dumps(resource)
            assert any(name in named for name in ("Table", "Queue", "DLQ", "OutboundSecrets", "KlaviyoTokens"))
    put_secret = [s for s in statements if s["Action"] == "secretsmanager:PutSecretValue"]
    assert put_secret[0]["Resource"] == {"Ref": "KlaviyoTokens"}  # it never writes destination credentials

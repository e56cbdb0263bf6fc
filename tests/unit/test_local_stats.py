"""The local stack's AWS call counter: what `GET /_local/stats` and the cost figure of `make bench` add up."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from perkflow_ops.local.stats import AwsCallCounter


def _client(service: str) -> tuple[Any, AwsCallCounter]:
    session = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    counter = AwsCallCounter()
    counter.register(session._session.get_component("event_emitter"))
    return session.client(service), counter  # type: ignore[call-overload]


def test_every_dynamodb_call_asks_for_its_capacity_and_transactions_count_twice() -> None:
    client, counter = _client("dynamodb")
    actions = [{"Put": {"TableName": "t", "Item": {"pk": {"S": str(index)}}}} for index in range(2)]
    with Stubber(client) as stub:
        consumed = [{"TableName": "t", "CapacityUnits": 2.0}]
        stub.add_response(
            "transact_write_items",
            {"ConsumedCapacity": consumed},
            {"TransactItems": actions, "ReturnConsumedCapacity": "INDEXES"},
        )
        stub.add_response(
            "get_item",
            {"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}},
            {"TableName": "t", "Key": {"pk": {"S": "0"}}, "ReturnConsumedCapacity": "INDEXES"},
        )
        stub.add_response("describe_table", {}, {"TableName": "t"})  # takes no ReturnConsumedCapacity
        client.transact_write_items(TransactItems=actions)
        client.get_item(TableName="t", Key={"pk": {"S": "0"}})
        client.describe_table(TableName="t")

    assert counter.take() == {"ddb_calls": 3, "ddb_items_written": 2, "ddb_write_units": 4.0, "ddb_read_units": 0.5}


def test_sqs_and_secrets_manager_calls_are_counted() -> None:
    sqs, counter = _client("sqs")
    with Stubber(sqs) as stub:
        stub.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"})
        sqs.send_message(QueueUrl="https://sqs.us-east-1.amazonaws.com/1/q", MessageBody="{}")
    secrets, other = _client("secretsmanager")
    with Stubber(secrets) as stub:
        stub.add_response("get_secret_value", {"SecretString": "{}"})
        secrets.get_secret_value(SecretId="s")

    assert counter.take() == {"sqs_calls": 1}
    assert other.take() == {"secrets_calls": 1}

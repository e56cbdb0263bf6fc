"""Promotion figures on the local stack (reference/perf.md):

- ``codegen_persist_ratio``: wall time from ``POST /v1/campaigns`` with 20,000 x scale codes until the campaign
  answers ``DONE`` (the product as it runs: the api function, the codegen queue, the distribution function's
  parallel writers, every code a conditional put) / wall time of bare ``BatchWriteItem``s of the same items
  (read back from the table, written under other keys) from one client, one call at a time, same run.
- ``redeem_txn_ratio``: median latency of one stackable gift-card redemption over HTTP (customer, order, a
  campaign with a ``customer.segment`` rule, as the story redeems) / median latency of one bare 2-item
  ``TransactWriteItems`` to the same DynamoDB Local, measured alternately, each on a settled stack: a
  redemption sets off the pipeline behind it (stream, publisher, bus, segments, outbound), which on a 2-CPU
  machine would otherwise slow whichever sample runs next. The customer is in a static segment
  (the segments capability keeps its state item), which the rule reads in the redemption's one BatchGetItem.
- ``redeem_ddb_calls``: DynamoDB calls the api function made per redemption (the local stack's instrumented
  client), the most any measured redemption made.
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import boto3

from perkflow.domain.customers import customer_id_for
from perkflow.domain.timeutil import parse_iso
from perkflow_ops.local.harness import RunningStack

CODES = 20_000
RUNS = 3
REDEMPTIONS = 40
WARMUP_REDEMPTIONS = 12
SHARDS = 16
SETTLE_SECONDS = 0.6  # the pipeline a redemption sets off is done within this on this machine
CHARSET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class Api:
    """The stack's API with a long timeout: creating a campaign of 20,000 codes answers after a while."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        return self.stack.api(method, path, body, timeout=120)


def _dynamodb(stack: RunningStack) -> tuple[Any, str]:
    endpoints = stack.endpoints()
    client = boto3.client(
        "dynamodb",
        endpoint_url=str(endpoints["dynamodb"]),
        region_name=str(endpoints["region"]),
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    return client, str(endpoints["tables"]["Table"])


def _campaign(name: str, count: int, rule_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "campaign_type": "GIFT_VOUCHERS",
        "type": "AUTO_UPDATE",
        "vouchers_count": count,
        "voucher": {
            "type": "GIFT_VOUCHER",
            "gift": {"amount": 2500, "effect": "APPLY_TO_ORDER"},
            "code_config": {"pattern": "GIFT-####-####", "charset": CHARSET},
        },
    }
    if rule_id:
        body["validation_rules"] = [rule_id]
    return body


# -- codegen_persist_ratio ------------------------------------------------------------------------------------


def _generate(api: Api, count: int, tag: str) -> tuple[float, str]:
    """Seconds from the create request to the generation's end, as the campaign's ``updated_at`` records it
    (polled slowly, so the polling adds no load to what it measures; the stack's clock is real time)."""
    started = time.time()
    created = api("POST", "/v1/campaigns", _campaign(f"bench-codes-{tag}", count))
    while created["creation_status"] != "DONE":
        time.sleep(0.5)
        created = api("GET", f"/v1/campaigns/{created['id']}")
    finished = parse_iso(str(created["updated_at"])).timestamp()
    return finished - started, str(created["id"])


def _codes_of(client: Any, table: str, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's voucher items as stored (its codes are all still free: in the AVAIL shards of gsi2)."""
    items: list[dict[str, Any]] = []
    for shard in range(SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"AVAIL#{campaign_id}#{shard}"}},
        }
        while True:
            page = client.query(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items


def _bare_batch_writes(client: Any, table: str, items: list[dict[str, Any]], tag: str) -> float:
    copies = [{**item, "pk": {"S": f"BENCH#{tag}#{item['pk']['S']}"}} for item in items]
    started = time.perf_counter()
    for start in range(0, len(copies), 25):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in copies[start : start + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return time.perf_counter() - started


def _codegen(stack: RunningStack, scale: float) -> float:
    api = Api(stack)
    client, table = _dynamodb(stack)
    count = max(2000, round(CODES * scale))
    _generate(api, 1500, f"warmup-{uuid.uuid4().hex[:6]}")  # every worker and writer warm
    ratios = []
    for run in range(RUNS):
        tag = uuid.uuid4().hex[:8]
        measured, campaign_id = _generate(api, count, tag)
        items = _codes_of(client, table, campaign_id)
        if len(items) != count:
            raise RuntimeError(f"the campaign has {len(items)} codes, not {count}")
        baseline = _bare_batch_writes(client, table, items, tag)
        ratios.append(measured / baseline)
        print(
            f"  codegen run {run + 1}: {count} codes stored in {measured:.2f}s, bare batch writes {baseline:.2f}s",
            flush=True,
        )
    return round(statistics.median(ratios), 3)


# -- redeem_txn_ratio and redeem_ddb_calls ----------------------------------------------------------------------


def _bare_transaction(client: Any, table: str, tag: str, index: int) -> float:
    started = time.perf_counter()
    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {"pk": {"S": f"BENCHTX#{tag}#{index}"}, "sk": {"S": "A"}, "data": {"S": "x" * 200}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": f"BENCHTX#{tag}"}, "sk": {"S": "COUNT"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    )
    return time.perf_counter() - started


def _redemptions(stack: RunningStack) -> tuple[float, float]:
    api = Api(stack)
    client, table = _dynamodb(stack)
    tag = uuid.uuid4().hex[:8]
    customer = f"bench-{tag}"
    api("POST", "/v1/customers", {"source_id": customer, "name": "Bench Customer"})
    static = {"name": f"bench {tag}", "type": "static", "customers": [customer_id_for(customer)]}
    segment = api("POST", "/v1/segments", static)["id"]
    rule = api(
        "POST",
        "/v1/validation-rules",
        {
            "name": f"bench {tag}",
            "rules": {"1": {"name": "customer.segment", "conditions": {"$is": [segment]}}, "logic": "1"},
        },
    )
    campaign = api("POST", "/v1/campaigns", _campaign(f"bench-redeem-{tag}", 0, rule["id"]))
    deadline = time.monotonic() + 30
    while not any(entry["id"] == segment for entry in api("GET", f"/v1/customers/{customer}/segments")["data"]):
        if time.monotonic() > deadline:
            raise RuntimeError("the bench customer never showed in its static segment")
        time.sleep(0.2)
    codes = [
        api("POST", f"/v1/campaigns/{campaign['id']}/vouchers/BENCH-{tag}-{index}", {})["code"]
        for index in range(WARMUP_REDEMPTIONS + REDEMPTIONS)
    ]

    def redeem(code: str, index: int) -> float:
        body = {
            "customer": {"source_id": customer},
            "redeemables": [{"object": "voucher", "id": code}],
            "order": {"source_id": f"bench-order-{tag}-{index}", "amount": 4000},
        }
        started = time.perf_counter()
        api("POST", "/v1/redemptions", body)
        return time.perf_counter() - started

    for index, code in enumerate(codes[:WARMUP_REDEMPTIONS]):
        redeem(code, index)
        _bare_transaction(client, table, tag, index)
    measured, baseline, calls = [], [], []
    for index, code in enumerate(codes[WARMUP_REDEMPTIONS:], start=WARMUP_REDEMPTIONS):
        time.sleep(SETTLE_SECONDS)
        stack.reset_stats()
        measured.append(redeem(code, index))
        calls.append(stack.stats()["api"]["ddb_calls"])
        time.sleep(SETTLE_SECONDS)
        baseline.append(_bare_transaction(client, table, tag, index))
    ratio = statistics.median(measured) / statistics.median(baseline)
    print(
        f"  redemption: median {statistics.median(measured) * 1000:.1f} ms over HTTP, bare 2-item transaction "
        f"{statistics.median(baseline) * 1000:.1f} ms; DynamoDB calls per redemption {sorted(set(calls))}",
        flush=True,
    )
    return round(ratio, 3), float(max(calls))


def measure(stack: RunningStack, scale: float) -> dict[str, float | None]:
    stack.clock()  # real time: the generation's end is read from the campaign's updated_at
    redeem_ratio, redeem_calls = _redemptions(stack)
    return {
        "codegen_persist_ratio": _codegen(stack, scale),
        "redeem_txn_ratio": redeem_ratio,
        "redeem_ddb_calls": redeem_calls,
    }


if __name__ == "__main__":
    import os

    from perkflow_ops.local.harness import start_stack

    with start_stack(env={"PERKFLOW_LOCAL_TIMERS": "off"}) as running:
        print(measure(running, float(os.environ.get("BENCH_SCALE", "0.2"))))

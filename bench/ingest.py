"""Ingest figures on the local stack (reference/perf.md):

- ``ingest_put_ratio``: wall time to ingest N messages of the standard mix through the HTTP API / wall time of
  N bare conditional PutItems to the same DynamoDB Local, one client, one call at a time.
- ``ingest_items_written_per_msg``: DynamoDB items the ingest function wrote per message (counted by the
  local stack's instrumented client).

Standard mix: messages of at most 1 KB from 50 customers, 10% identify and 90% track, in HTTP batches of 100,
sent by 4 concurrent senders (a CDP delivers batches in parallel). The stack runs with its table streams
off (``PERKFLOW_LOCAL_STREAMS=off``): in AWS what follows ingest (publisher, bus, segments, loyalty) runs on
other machines, while here it would share this machine's two CPUs with both sides of the ratio.
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from perkflow_ops.local.harness import RunningStack

MESSAGES = 5000
CUSTOMERS = 50
BATCH = 100
SENDERS = 4
RUNS = 3


def standard_mix(count: int, run: str) -> list[dict[str, Any]]:
    rng = random.Random(f"perkflow-bench-{run}")
    events = ["Product Viewed", "Product Added", "Order Completed", "review_left", "Checkout Started"]
    messages: list[dict[str, Any]] = []
    for index in range(count):
        user = f"bench-{rng.randrange(CUSTOMERS)}"
        common = {"userId": user, "messageId": f"{run}-{index}", "timestamp": "2026-11-24T09:00:00.000Z",
                  "context": {"library": {"name": "perkflow-bench", "version": "1"}}}  # fmt: skip
        if rng.random() < 0.1:
            traits = {"email": f"{user}@example.com", "plan": rng.choice(["free", "pro"]), "visits": rng.randrange(99)}
            messages.append({"type": "identify", "traits": traits, **common})
        else:
            properties = {"product_id": f"SKU-{rng.randrange(500)}", "price": round(rng.uniform(1, 200), 2),
                          "quantity": rng.randrange(1, 5), "note": "x" * rng.randrange(100, 500)}  # fmt: skip
            messages.append({"type": "track", "event": rng.choice(events), "properties": properties, **common})
    assert all(len(json.dumps(message)) <= 1024 for message in messages)
    return messages


def _send(stack: RunningStack, messages: list[dict[str, Any]]) -> float:
    token = base64.b64encode(f"{stack.credentials['PERKFLOW_WRITE_KEY']}:".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    batches = [messages[start : start + BATCH] for start in range(0, len(messages), BATCH)]

    def post(batch: list[dict[str, Any]]) -> None:
        response = stack.request("POST", "/v1/batch", json={"batch": batch}, headers=headers, timeout=120)
        if response.status != 200 or response.json() != {"success": True}:
            raise RuntimeError(f"ingest answered {response.status}: {response.body[:200]!r}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        list(pool.map(post, batches))
    return time.perf_counter() - started


def _bare_puts(stack: RunningStack, count: int, run: str) -> float:
    endpoints = stack.endpoints()
    client = boto3.client(
        "dynamodb", endpoint_url=str(endpoints["dynamodb"]), region_name=str(endpoints["region"]),
        aws_access_key_id="bench", aws_secret_access_key="bench",
    )  # fmt: skip
    table = str(endpoints["tables"]["Table"])
    payload = "x" * 300
    started = time.perf_counter()
    for index in range(count):
        client.put_item(
            TableName=table,
            Item={"pk": {"S": f"BENCH#{run}#{index}"}, "sk": {"S": "MSG"}, "data": {"S": payload}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    return time.perf_counter() - started


def measure(stack: RunningStack, scale: float) -> dict[str, float | None]:
    count = max(BATCH, int(MESSAGES * scale))
    _send(stack, standard_mix(2 * SENDERS * BATCH, "warmup"))  # every worker process up, handlers imported
    _bare_puts(stack, 200, "warmup")
    ratios, items = [], []
    for run in range(RUNS):
        tag = uuid.uuid4().hex[:8]
        baseline = _bare_puts(stack, count, tag)
        stack.reset_stats()
        measured = _send(stack, standard_mix(count, tag))
        written = stack.stats().get("ingest", {}).get("ddb_items_written", 0)
        ratios.append(measured / baseline)
        items.append(written / count)
        print(f"  ingest run {run + 1}: {count} msgs in {measured:.2f}s, {count} puts in {baseline:.2f}s, "
              f"{written / count:.3f} items/msg", flush=True)  # fmt: skip
    return {
        "ingest_put_ratio": round(statistics.median(ratios), 3),
        "ingest_items_written_per_msg": round(statistics.median(items), 3),
    }

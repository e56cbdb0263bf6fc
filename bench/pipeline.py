"""Whole-pipeline figures on the local stack (reference/perf.md):

- ``e2e_p50_ms`` / ``e2e_p95_ms``: from a shop's ``/v1/batch`` (identify + the event that puts the customer
  into an auto-update segment) answering 200 to the Segment stand-in receiving that customer's
  ``Customer Publication Succeeded`` (its ``receivedAt``): ingest, stream, publisher, bus, segments,
  distribution, publisher again, bus, the Segment queue (whose 20 s batching window dominates), outbound.
- ``usd_per_million_events``: the cost mix of reference/perf.md, scaled down (10 messages per customer as in
  1,000,000 from 100,000), sent through the HTTP API and left to drain; every function's invocations,
  durations, DynamoDB capacity units, events put and SQS/Secrets Manager calls are counted by the local
  stack and priced at the list prices of reference/perf.md, per million messages. What is not per message
  (the schedules, idle SQS long polls, storage) is left out; see docs/benchmarks.md.
"""

from __future__ import annotations

import math
import random
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.segments import Bench
from perkflow.domain.timeutil import parse_iso
from perkflow_ops import template as tpl
from perkflow_ops.local.harness import RunningStack
from perkflow_ops.standins.control import Outbound, wait_for

E2E_CUSTOMERS = 20
E2E_SPACING_SECONDS = 0.5
COST_MESSAGES = 3_000
MESSAGES_PER_CUSTOMER = 10
BATCH = 100
SENDERS = 4
# Not the segments figures' "Product Viewed": their 1,000 definitions must keep exactly one relevant segment.
STATE_EVENT = "Product Clicked"
SEGMENT_WINDOW_SECONDS = 20  # the Segment queue's MaximumBatchingWindowInSeconds: quiet for longer = drained

# reference/perf.md's list prices (us-east-1, on-demand, arm64), in USD.
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND = 0.0000133334
DDB_WRITE_UNIT = 0.625 / 1e6
DDB_READ_UNIT = 0.125 / 1e6
EVENTBRIDGE_EVENT = 1.00 / 1e6
SQS_REQUEST = 0.40 / 1e6
HTTP_API_REQUEST = 1.00 / 1e6
SECRETS_CALL = 0.05 / 10_000
SQS_RECEIVE_MAX = 10  # messages per ReceiveMessage / DeleteMessageBatch


@dataclass
class Story:
    """A segment entered by one event name, with a distribution publishing a gift card to whoever enters."""

    event: str
    segment_id: str


class Pipeline:
    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.bench = Bench(stack)
        self.outbound = Outbound(stack)
        self.api = stack.api

    def story(self, tag: str, codes: int) -> Story:
        event = f"bench_reviewed_{tag}"
        definition = {"type": "event_count", "event": event, "window": {"kind": "all_time"}, "op": "gte", "value": 1}
        segment = self.api("POST", "/v1/segments", {"name": f"bench reviewers {tag}", "type": "auto-update",
                                                    "definition": definition})  # fmt: skip
        campaign = self.api("POST", "/v1/campaigns", {
            "name": f"bench gift {tag}", "campaign_type": "GIFT_VOUCHERS", "type": "AUTO_UPDATE", "join_once": True,
            "vouchers_count": codes,
            "voucher": {"type": "GIFT_VOUCHER", "gift": {"amount": 2500}, "code_config": {"pattern": "E2E-######"}},
        })  # fmt: skip
        self.api("POST", "/v1/distributions", {
            "name": f"bench reviewers get a gift card {tag}",
            "trigger": {"type": "customer.segment.entered", "segment_id": segment["id"]},
            "action": {"type": "publish", "campaign": campaign["id"]},
        })  # fmt: skip
        wait_for(lambda: self.api("GET", f"/v1/segments/{segment['id']}")["initial_sync_status"] == "DONE",
                 "the bench segment", 120)  # fmt: skip
        wait_for(lambda: self.api("GET", f"/v1/campaigns/{campaign['id']}")["creation_status"] == "DONE",
                 "the bench codes", 120)  # fmt: skip
        return Story(event=event, segment_id=str(segment["id"]))

    def post_batch(self, batch: list[dict[str, Any]]) -> float:
        """Send one batch; the time it was answered 200."""
        response = self.stack.request("POST", "/v1/batch", json={"batch": batch}, headers=self.bench.ingest_headers)
        if response.status != 200:
            raise RuntimeError(f"/v1/batch answered {response.status}: {response.body[:300]!r}")
        return time.time()


# -- e2e_p50_ms / e2e_p95_ms ------------------------------------------------------------------------------------


def latency(pipeline: Pipeline, scale: float) -> dict[str, float | None]:
    tag = uuid.uuid4().hex[:8]
    customers = max(10, round(E2E_CUSTOMERS * scale))
    story = pipeline.story(tag, customers + 5)
    users = [f"bench-e2e-{tag}-{index}" for index in range(customers)]

    def arrive(index: int) -> tuple[str, float]:
        time.sleep(index * E2E_SPACING_SECONDS)  # a steady trickle, not one burst
        user = users[index]
        answered = pipeline.post_batch([
            {"type": "identify", "userId": user, "messageId": f"{user}-identify",
             "traits": {"email": f"{user}@example.com", "name": f"Bench {index}"}},
            {"type": "track", "userId": user, "event": story.event, "messageId": f"{user}-event",
             "properties": {"rating": 5}},
        ])  # fmt: skip
        return user, answered

    with ThreadPoolExecutor(max_workers=customers) as pool:
        answered = dict(pool.map(arrive, range(customers)))

    def received() -> dict[str, float]:
        accepted = pipeline.outbound.state("segment")["accepted"]
        return {
            message["userId"]: _epoch(message["receivedAt"])
            for message in accepted
            if message.get("event") == "Customer Publication Succeeded" and message.get("userId") in answered
        }

    arrivals = wait_for(lambda: len(received()) == customers and received(), "every publication at Segment", 180)
    latencies = sorted((arrivals[user] - answered[user]) * 1000 for user in users)
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]
    print(f"  e2e: {customers} customers, ingest 200 -> Segment receives the publication: "
          f"p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)  # fmt: skip
    return {"e2e_p50_ms": round(p50), "e2e_p95_ms": round(p95)}


def _epoch(iso: str) -> float:
    return parse_iso(iso).timestamp()


# -- usd_per_million_events ---------------------------------------------------------------------------------------


def cost_mix(tag: str, count: int, story: Story) -> list[dict[str, Any]]:
    """reference/perf.md's cost mix: 10% identify, 90% track; 10% of tracks change a segment's state (Product
    Clicked, counted by a segment no one reaches), 5% of messages earn points (Order Completed), 0.1% put a
    customer into the segment that publishes a code; the rest is traffic no segment or rule reads."""
    rng = random.Random(tag)
    customers = [f"bench-cost-{tag}-{index}" for index in range(max(1, count // MESSAGES_PER_CUSTOMER))]
    reviewers = iter(customers)
    messages = []
    for index in range(count):
        user, draw, message_id = customers[index % len(customers)], rng.random(), f"{tag}-{index}"
        if draw < 0.10:
            traits = {"email": f"{user}@example.com", "plan": rng.choice(["free", "pro"])}
            messages.append({"type": "identify", "userId": user, "messageId": message_id, "traits": traits})
            continue
        track: dict[str, Any] = {"type": "track", "userId": user, "messageId": message_id}
        if draw < 0.19:
            track.update(event=STATE_EVENT, properties={"product_id": f"SKU-{rng.randrange(500)}"})
        elif draw < 0.24:
            total = round(rng.uniform(10, 200), 2)
            track.update(event="Order Completed", properties={"order_id": message_id, "total": total,
                                                              "currency": "USD"})  # fmt: skip
        elif draw < 0.241:
            track.update(userId=next(reviewers), event=story.event, properties={"rating": 5})
        else:
            track.update(event="Products Searched", properties={"query": rng.choice(["paper", "ink", "desk"])})
        messages.append(track)
    return messages


def _cost_setup(pipeline: Pipeline, tag: str, count: int) -> Story:
    shoppers = {"type": "event_count", "event": STATE_EVENT, "window": {"kind": "all_time"},
                "op": "gte", "value": 1_000_000}  # fmt: skip
    pipeline.bench.create_segment(f"bench window shoppers {tag}", shoppers)
    program = pipeline.api("POST", "/v1/loyalties", {"name": f"bench points {tag}"})
    pipeline.api("POST", f"/v1/loyalties/{program['id']}/earning-rules", [{
        "event": "order.paid",
        "loyalty": {"type": "PROPORTIONAL", "calculation_type": "ORDER_AMOUNT",
                    "order": {"amount": {"every": 100, "points": 1}}},
    }])  # fmt: skip
    return pipeline.story(tag, max(10, count // 500))


def price(stats: dict[str, dict[str, float]], memory_mb: dict[str, int], messages: int) -> dict[str, float]:
    """USD per million messages, by service, from what the functions were counted doing."""
    per_million = 1e6 / messages
    total = {name: sum(counts.get(name, 0) for counts in stats.values()) for name in next(iter(stats.values()))}
    gb_seconds = sum(
        counts.get("duration_ms_total", 0) / 1000 * memory_mb.get(function, 128) / 1024
        for function, counts in stats.items()
    )
    http_requests = sum(stats.get(function, {}).get("invocations", 0) for function in ("ingest", "api"))
    sqs_polls = sum(
        2 * max(counts.get("invocations", 0), math.ceil(counts.get("sqs_records", 0) / SQS_RECEIVE_MAX))
        for counts in stats.values()
        if counts.get("sqs_records", 0)
    )
    sqs_requests = total["sqs_records"] + sqs_polls + total["sqs_calls"]
    return {
        "lambda": (total["invocations"] * LAMBDA_REQUEST + gb_seconds * LAMBDA_GB_SECOND) * per_million,
        "dynamodb": (total["ddb_write_units"] * DDB_WRITE_UNIT + total["ddb_read_units"] * DDB_READ_UNIT) * per_million,
        "eventbridge": total["events_put"] * EVENTBRIDGE_EVENT * per_million,
        "sqs": sqs_requests * SQS_REQUEST * per_million,
        "http_api": http_requests * HTTP_API_REQUEST * per_million,
        "secrets_manager": total["secrets_calls"] * SECRETS_CALL * per_million,
    }


def cost(pipeline: Pipeline, scale: float) -> dict[str, float | None]:
    tag = uuid.uuid4().hex[:8]
    count = max(1000, round(COST_MESSAGES * scale))
    story = _cost_setup(pipeline, tag, count)
    messages = cost_mix(tag, count, story)
    pipeline.bench.drain(quiet=SEGMENT_WINDOW_SECONDS + 5, timeout=600)
    pipeline.stack.reset_stats()
    batches = [messages[start : start + BATCH] for start in range(0, count, BATCH)]
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        list(pool.map(pipeline.post_batch, batches))
    stats = pipeline.bench.drain(quiet=SEGMENT_WINDOW_SECONDS + 5, timeout=1200)
    memory = {function.short_name: function.memory_size for function in tpl.functions(tpl.load())}
    by_service = price(stats, memory, count)
    usd = sum(by_service.values())
    shares = ", ".join(f"{service} {value:.2f}" for service, value in by_service.items())
    print(f"  cost mix: {count} messages -> USD {usd:.2f} per million ({shares})", flush=True)
    for function, counts in sorted(stats.items()):
        if counts.get("invocations"):
            print(f"    {function:<13} {counts['invocations']:>6} invocations, {counts['duration_ms_total']:>9.0f} ms, "
                  f"{counts['ddb_write_units']:>8.1f} WRU, {counts['ddb_read_units']:>8.1f} RRU, "
                  f"{counts['events_put']:>5} events, {counts['sqs_records']:>6} SQS records", flush=True)  # fmt: skip
    return {"usd_per_million_events": round(usd, 3)}


def measure(stack: RunningStack, scale: float) -> dict[str, float | None]:
    stack.clock()  # real time: latencies compare the stand-in's receivedAt with this machine's clock
    pipeline = Pipeline(stack)
    pipeline.outbound.deliver_everywhere()
    results = latency(pipeline, scale)
    results.update(cost(pipeline, scale))
    return results


if __name__ == "__main__":
    import os

    from perkflow_ops.local.harness import start_stack

    with start_stack(env={"PERKFLOW_LOCAL_TIMERS": "off"}) as running:
        print(measure(running, float(os.environ.get("BENCH_SCALE", "0.2"))))
